"""The only module that talks HTTP: one hardened client for every outbound request.

Every request, whoever makes it (feeds, pages, robots.txt, discovery), goes through
``Fetcher.fetch``, which:

- accepts only http(s) URLs without credentials, and follows redirects itself, hop by hop,
  recording each and re-checking each target;
- connects only to vetted addresses: the network backend resolves the host once, refuses it if
  any answer is not public (unless inside ``allow_networks``), and connects to that very address,
  so neither a redirect nor DNS rebinding can swap it;
- enforces a whole-request deadline (every DNS lookup, connect and read is clamped to what is
  left of it), a cap on the body counted after decompression (one Content-Encoding layer,
  decoded by bounded decoders of our own), and per-host politeness (concurrency, delay,
  Retry-After);
- never raises for a network outcome: failures come back as a ``FetchResult`` with ``error`` set.

What ``FetchResult.error`` can say, by where it comes from::

    refused before any connection
        unsupported_scheme, credentials_in_url, bad_url     urls.BadURL (every hop)
        blocked_address                                     addresses.BlockedAddress (every connect)
    FetchError, raised inside this module
     ├── TooLarge                                           too_large
     ├── DeadlineExceeded                                   deadline
     ├── BadEncoding                                        bad_encoding, unexpected_encoding
     ├── HostDeferred                                       host_deferred
     └── (too many hops)                                    too_many_redirects
    httpx / httpcore errors, classified by _classify
        timeout, dns, refused, tls, truncated (the connection ended before the announced body),
        protocol_error, connection_error
    a response with an error status                         http_NNN (body kept, status set)

When headers arrived before the failure (say, ``too_large``), the result keeps the status and
headers as evidence, never the body. URLs and messages in a result never carry credentials.
"""

from __future__ import annotations

import email.utils
import hashlib
import ipaddress
import logging
import socket
import ssl
import threading
import time
import zlib
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Iterator, Mapping
from urllib.parse import urljoin

import brotli
import httpcore
import httpx

from archiver.net.addresses import BlockedAddress, IPNetwork, vet_address
from archiver.settings import Config
from archiver.content.urls import BadURL, check_url, host_of, redact_url, redact_userinfo

log = logging.getLogger(__name__)
# httpcore logs raw response headers at DEBUG (a Set-Cookie, a Location carrying credentials);
# they must never reach a log. The fetcher logs one redacted line per request instead.
logging.getLogger("httpcore").setLevel(logging.INFO)

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
ACCEPT_ENCODING = "gzip, deflate, br"  # exactly what _Decoder decodes: never zstd, never stacked
_CHUNK = 64 * 1024
_DROPPED_HEADERS = frozenset({"set-cookie", "set-cookie2", "authorization", "proxy-authorization"})
_deadline = threading.local()


class FetchError(Exception):
    """A request that ended without a usable response; ``kind`` classifies it."""

    kind = "fetch_error"

    def __init__(self, message: str, kind: str | None = None):
        super().__init__(message)
        if kind:
            self.kind = kind


class HopRefused(FetchError):
    """A redirect target the caller's check (robots.txt) does not allow; it was not requested."""


class TooLarge(FetchError):
    """The body is larger than the configured cap."""

    kind = "too_large"


class DeadlineExceeded(FetchError):
    """The whole request took longer than the configured deadline."""

    kind = "deadline"


class BadEncoding(FetchError):
    """The Content-Encoding is unknown, stacked, or the compressed data is corrupt."""

    kind = "bad_encoding"


class HostDeferred(FetchError):
    """The host asked us (Retry-After) to come back later than this request can wait."""

    kind = "host_deferred"

    def __init__(self, message: str, until: float):
        super().__init__(message)
        self.until = until


@dataclass(frozen=True)
class Origin:
    """Where an exchange read back from an archive file (a WARC record) came from."""

    file: str  # the file's name and sha256
    record_id: str | None
    offset: int


@dataclass(frozen=True)
class FetchResult:
    """One HTTP exchange as it happened, including failed ones. ``request_headers`` are the
    headers sent (the last hop's), ``ip_address`` the vetted address that answered; ``origin``
    is set only for an exchange read from an archive file instead of the network."""

    requested_url: str
    final_url: str
    status: int | None
    headers: Mapping[str, str]
    redirects: tuple[Mapping[str, Any], ...]
    started_at: str
    elapsed_ms: int | None  # None: not measured (an exchange read from an archive file)
    body: bytes | None = None
    error: str | None = None
    error_detail: str | None = None
    request_headers: Mapping[str, str] = field(default_factory=dict)
    ip_address: str | None = None
    origin: Origin | None = None

    @cached_property
    def body_sha256(self) -> str | None:
        """The body's sha256, computed once, whichever thread asks first (None: no body)."""
        return hashlib.sha256(self.body).hexdigest() if self.body else None

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 300

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")

    @property
    def media_type(self) -> str | None:
        ct = self.content_type
        return ct.split(";", 1)[0].strip().lower() or None if ct else None

    @property
    def reason(self) -> str:
        """One line saying what went wrong (or the status when nothing did)."""
        if self.error_detail:
            return f"{self.error}: {self.error_detail}"
        return self.error or f"HTTP {self.status}"


# -- the guarded network backend ---------------------------------------------------------------

def _remaining(timeout: float | None) -> float | None:
    """Clamp a per-operation timeout to what is left of the current request's deadline."""
    deadline = getattr(_deadline, "at", None)
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise DeadlineExceeded("request deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A network stream whose reads and writes never outlive the request's deadline."""

    def __init__(self, inner: httpcore.NetworkStream):
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _remaining(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _remaining(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, _remaining(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _LazyTLSContext:
    """httpx's verifying TLS context, built at the first https connection instead of at start:
    loading the CA bundle takes about 25 ms, which a run then spends while waiting on the network
    (and a run over plain http never spends)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._context: Any = None

    def __getattr__(self, name: str) -> Any:  # set_alpn_protocols, wrap_socket, ...
        if name.startswith("_"):
            raise AttributeError(name)
        with self._lock:
            if self._context is None:
                self._context = httpx.create_ssl_context(trust_env=False)
        return getattr(self._context, name)


class GuardedBackend(httpcore.NetworkBackend):
    """Resolve once, vet every answer, connect to the vetted address itself."""

    def __init__(self, allowed: tuple[IPNetwork, ...],
                 resolve: Callable[..., list[Any]] = socket.getaddrinfo):
        self._allowed = allowed
        self._resolve = resolve
        self._plain = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None, socket_options: Any = None) -> httpcore.NetworkStream:
        address = self.vetted_address(host, port, _remaining(timeout))
        stream = self._plain.connect_tcp(address, port, _remaining(timeout), local_address, socket_options)
        return _DeadlineStream(stream)

    def vetted_address(self, host: str, port: int, timeout: float | None = None) -> str:
        """The address to connect to; BlockedAddress if any answer for ``host`` is not allowed."""
        answers = self._answers(host, port, timeout)
        addresses = list(dict.fromkeys(str(a[4][0]) for a in answers))
        if not addresses:
            raise httpcore.ConnectError(f"cannot resolve {host}: no addresses")
        for address in addresses:
            vet_address(host, address, self._allowed)
        return addresses[0]

    def _answers(self, host: str, port: int, timeout: float | None) -> list[Any]:
        """getaddrinfo, given at most ``timeout`` seconds (the system resolver has no timeout of
        its own that we control; a lookup left running ends on its own, in a daemon thread).
        An address literal asks no resolver (``AI_NUMERICHOST``): it is read on this thread."""
        box: dict[str, Any] = {}

        def lookup(flags: int = 0) -> None:
            try:
                box["answers"] = self._resolve(host, port, type=socket.SOCK_STREAM, flags=flags)
            except (OSError, UnicodeError) as exc:
                box["error"] = exc

        if _is_address(host):
            lookup(socket.AI_NUMERICHOST)
            return self._answered(host, box)

        thread = threading.Thread(target=lookup, name=f"resolve {host}", daemon=True)
        thread.start()
        thread.join(timeout)
        if thread.is_alive():
            raise httpcore.ConnectTimeout(f"cannot resolve {host}: no answer within {timeout:.1f}s")
        return self._answered(host, box)

    @staticmethod
    def _answered(host: str, box: dict[str, Any]) -> list[Any]:
        if "error" in box:
            raise httpcore.ConnectError(f"cannot resolve {host}: {box['error']}") from box["error"]
        return box["answers"]

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        raise BlockedAddress("unix socket", "-", "unix sockets are never used")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def _is_address(host: str) -> bool:
    """Whether ``host`` is an IP address literal (a thread to look it up would be wasted: one
    less thread started per connection, about 10% of the CPU of an unchanged re-poll of 300
    hosts)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class LinearPool(httpcore.ConnectionPool):
    """httpcore's connection pool, with its bookkeeping in linear time and its idle checks only
    where they matter.

    Whenever a request starts or ends, ``httpcore.ConnectionPool._assign_requests_to_connections``
    walks its connections and, for each idle one, counts the whole pool again
    (``len([connection.is_idle() for connection in self._connections])``, which is only the pool's
    size): with 32 connections, mostly idle while a run goes from host to host, that is a thousand
    calls a request, the largest single cost of an unchanged re-poll of 300 hosts (more than a
    third of its CPU under a profiler; 15% of its CPU measured without one). ``LinearPool`` does the
    same thing with the size counted once a step.

    httpcore also asks every connection ``has_expired()`` at every step: for an idle one, a poll
    of its socket (has the server closed it?) and a look at the clock (keep-alive over?). Here a
    connection is asked when it is about to take a request, which is where a dead one would do
    harm, and all of them at most once every ``sweep_every`` seconds, which closes the dead ones
    nobody asks for. Over 300 hosts that is 13% less CPU (medians of 12, interleaved).

    Everything else is httpcore's method as it is in the versions that pyproject.toml admits;
    ``tests/test_pool.py`` fails when an upgrade changes that method, so that this one is looked
    at again.
    """

    sweep_every = 1.0  # seconds between checks of every connection
    _next_sweep = 0.0  # monotonic time of the next one

    def _assign_requests_to_connections(self) -> list[httpcore.ConnectionInterface]:
        closing_connections: list[httpcore.ConnectionInterface] = []
        now = time.monotonic()
        sweep = now >= self._next_sweep
        if sweep:
            self._next_sweep = now + self.sweep_every

        # Closed connections go, expired ones are closed (at a sweep), and idle ones beyond the
        # keep-alive limit are closed (httpcore's rule: while the pool holds more connections
        # than that).
        for connection in list(self._connections):
            if connection.is_closed():
                self._connections.remove(connection)
            elif sweep and connection.has_expired():
                self._connections.remove(connection)
                closing_connections.append(connection)
            elif connection.is_idle() and len(self._connections) > self._max_keepalive_connections:
                self._connections.remove(connection)
                closing_connections.append(connection)

        # Queued requests go to an available connection for their origin, else a new one, else a
        # new one in place of the oldest idle connection.
        for pool_request in [request for request in self._requests if request.is_queued()]:
            origin = pool_request.request.url.origin
            available = None
            for connection in [c for c in self._connections
                               if c.can_handle_request(origin) and c.is_available()]:
                if connection.has_expired():  # never hand out a connection that is dead
                    self._connections.remove(connection)
                    closing_connections.append(connection)
                else:
                    available = connection
                    break
            if available is not None:
                pool_request.assign_to_connection(available)
                continue
            if len(self._connections) < self._max_connections:
                connection = self.create_connection(origin)
                self._connections.append(connection)
                pool_request.assign_to_connection(connection)
                continue
            idle = next((connection for connection in self._connections if connection.is_idle()), None)
            if idle is not None:
                self._connections.remove(idle)
                closing_connections.append(idle)
                connection = self.create_connection(origin)
                self._connections.append(connection)
                pool_request.assign_to_connection(connection)

        return closing_connections


# -- bounded decoding -------------------------------------------------------------------------

class _Decoder:
    """Decode one Content-Encoding layer without ever producing more than ``limit`` bytes."""

    def __init__(self, encoding: str, limit: int):
        self.limit = limit
        self.produced = 0
        self._fed = False
        self._zlib: Any = None
        self._brotli: Any = None
        if encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif encoding == "deflate":
            self._zlib = zlib.decompressobj()
        elif encoding == "br":
            self._brotli = brotli.Decompressor()
        elif encoding not in ("", "identity"):
            raise BadEncoding(f"unsupported Content-Encoding {encoding!r}", "unexpected_encoding")

    def feed(self, data: bytes) -> bytes:
        self._fed = self._fed or bool(data)
        try:
            if self._zlib is not None:
                out = self._zlib.decompress(data, self._room())
                if self._zlib.unconsumed_tail:
                    raise TooLarge("body larger than the cap after decompression")
            elif self._brotli is not None:
                out = self._brotli.process(data, output_buffer_limit=self._room())
                if not self._brotli.can_accept_more_data():
                    raise TooLarge("body larger than the cap after decompression")
            else:
                out = data
        except (zlib.error, brotli.error) as exc:
            raise BadEncoding(f"corrupt compressed body: {exc}") from exc
        self.produced += len(out)
        if self.produced > self.limit:
            raise TooLarge(f"body larger than {self.limit} bytes")
        return out

    def finish(self) -> None:
        """BadEncoding unless the compressed stream ended properly (a cut-off stream is not a body)."""
        if self.produced == 0 and not self._fed:
            return  # an empty body with a Content-Encoding header: nothing to decode
        if self._zlib is not None and not self._zlib.eof:
            raise BadEncoding("compressed body ends before its compressed stream does")
        if self._brotli is not None and not self._brotli.is_finished():
            raise BadEncoding("compressed body ends before its compressed stream does")

    def _room(self) -> int:
        return self.limit - self.produced + 1


def content_encoding(value: str) -> str:
    """The one Content-Encoding layer a header value names ("" for none); BadEncoding if stacked."""
    layers = [p.strip().lower() for p in value.split(",")]
    layers = [p for p in layers if p and p != "identity"]
    if len(layers) > 1:
        raise BadEncoding(f"stacked Content-Encoding {', '.join(layers)} refused", "unexpected_encoding")
    return layers[0] if layers else ""


def decode_body(chunks: Iterable[bytes], encoding: str, max_bytes: int) -> bytes:
    """A body read from somewhere other than the network (an archive file), decoded exactly as
    a fetched one: one Content-Encoding layer, by the bounded decoders, never more than
    ``max_bytes``; TooLarge or BadEncoding otherwise."""
    decoder = _Decoder(encoding, max_bytes)
    parts = [decoder.feed(chunk) for chunk in chunks]
    decoder.finish()
    return b"".join(parts)


# -- politeness ------------------------------------------------------------------------------

class HostGate:
    """Per-host politeness shared by everything in one process: concurrency, delay, Retry-After."""

    def __init__(self, per_host: int, delay: float, clock: Callable[[], float] = time.monotonic):
        self._per_host = max(1, per_host)
        self._delay = delay
        self._clock = clock
        self._cond = threading.Condition()
        self._active: dict[str, int] = defaultdict(int)
        self._next_start: dict[str, float] = defaultdict(float)

    def defer(self, host: str, seconds: float) -> None:
        """Hold every request to ``host`` back for ``seconds`` (a Retry-After)."""
        with self._cond:
            self._next_start[host] = max(self._next_start[host], self._clock() + seconds)

    def ready_in(self, host: str, patience: float) -> float:
        """Seconds until a request to ``host`` could start (0: now). A wait longer than
        ``patience`` (a long Retry-After) counts as now: such a request fails at once."""
        with self._cond:
            wait = self._next_start[host] - self._clock()
            if wait > patience:
                return 0.0
            if self._active[host] >= self._per_host:
                return max(wait, 0.05)
            return max(wait, 0.0)

    @contextmanager
    def slot(self, host: str, max_wait: float) -> Iterator[None]:
        """Wait for a turn at ``host``; HostDeferred if that would take longer than ``max_wait``."""
        with self._cond:
            while True:
                now = self._clock()
                wait = self._next_start[host] - now
                if wait > max_wait:
                    raise HostDeferred(f"{host} asked to wait {wait:.0f}s", self._next_start[host])
                if self._active[host] < self._per_host and wait <= 0:
                    break
                self._cond.wait(timeout=wait if wait > 0 else 1.0)
            self._active[host] += 1
            self._next_start[host] = now + self._delay
        try:
            yield
        finally:
            with self._cond:
                self._active[host] -= 1
                self._cond.notify_all()


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a Retry-After header asks for (delta or HTTP date); None when absent or invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


# -- the client ------------------------------------------------------------------------------

def _utcnow_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def default_headers(config: Config) -> dict[str, str]:
    """The headers every request carries (besides ``Host`` and a caller's validators)."""
    return {"User-Agent": config.user_agent, "Accept-Encoding": ACCEPT_ENCODING,
            "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def _sent_headers(request: httpx.Request) -> dict[str, str]:
    """The headers of a request as they go on the wire, in order, with their case."""
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in request.headers.raw}


def _peer_address(response: httpx.Response) -> str | None:
    """The address the response came from: the vetted address the connection was made to."""
    stream = response.extensions.get("network_stream")
    try:
        peer = stream.get_extra_info("server_addr") if stream is not None else None
    except OSError:
        return None
    return str(peer[0]) if peer else None


def kept_headers(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Response headers as the archive keeps them: names lowercased, repeated ones joined, and
    never a cookie or a credential."""
    kept: dict[str, str] = {}
    for key, value in pairs:
        key = key.lower()
        if key not in _DROPPED_HEADERS:
            kept[key] = f"{kept[key]}, {value}" if key in kept else value
    return kept


class Fetcher:
    """One HTTP client per run. Use as a context manager; ``fetch`` is safe from many threads.

    Requests go straight to an httpx transport, not through ``httpx.Client``: the client would
    read proxies and certificates from the environment, keep cookies, log every URL, and parse
    every ``Location`` header itself (raising on ones like ``data:text/html,...``) before we
    could vet it. What we need of it (timeouts, headers, redirects) is done here.
    """

    def __init__(self, config: Config, resolve: Callable[..., list[Any]] | None = None,
                 in_flight: int | None = None):
        self.config = config
        # The most requests this fetcher has in flight at once: the runner's threads
        # (max_connections), or a cluster worker's when it has more.
        self.in_flight = max(config.max_connections, in_flight or 0)
        self.gate = HostGate(config.per_host_connections, config.per_host_delay)
        self.backend = GuardedBackend(config.networks, resolve or socket.getaddrinfo)
        self.headers = default_headers(config)
        self._transport = self._build_transport()

    def _build_transport(self) -> httpx.HTTPTransport:
        # As many connections as requests in flight: to open one for a new host, the pool closes
        # its oldest idle one. A pool twice that size kept up to as many idle connections again,
        # and the pool checks every idle connection (a poll of its socket) whenever a request
        # starts or ends: over 300 hosts, 15% of a re-poll's CPU. Pages fetched from 20 hosts go
        # as fast either way. LinearPool: see its docstring.
        limits = httpx.Limits(max_connections=self.in_flight, max_keepalive_connections=self.in_flight)
        # httpx 0.28 takes no network backend; the pool is rebuilt with ours (same arguments)
        # and the lazy TLS context. The transport is handed a bare client context (which would
        # verify, and is never used), else it would load the CA bundle itself, 20 ms of every
        # run's start-up that the lazy context is there to save.
        transport = httpx.HTTPTransport(verify=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), limits=limits,
                                        trust_env=False)
        transport._pool = LinearPool(
            ssl_context=_LazyTLSContext(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=self.backend,
        )
        return transport

    def __enter__(self) -> "Fetcher":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._transport.close()

    def fetch(self, url: str, headers: Mapping[str, str] | None = None,
              max_bytes: int | None = None,
              may_follow: Callable[[str], FetchResult | None] | None = None) -> FetchResult:
        """GET ``url`` following redirects ourselves; never raises for network outcomes.

        ``may_follow`` (robots.txt, for pages) is asked about every redirect target before it is
        requested; a failed FetchResult it returns ends the fetch with that error and reason."""
        exchange = _Exchange(self, url, dict(headers or {}), max_bytes or self.config.max_body_bytes,
                             may_follow)
        result = exchange.run()
        log.debug("GET %s: %s (%s ms)", result.requested_url, result.reason, result.elapsed_ms)
        return result


class _Exchange:
    """The state of one ``Fetcher.fetch`` call: hops so far, the clock, the outcome."""

    def __init__(self, fetcher: Fetcher, url: str, headers: dict[str, str], max_bytes: int,
                 may_follow: Callable[[str], FetchResult | None] | None = None):
        self.fetcher = fetcher
        self.may_follow = may_follow
        self.config = fetcher.config
        self.requested_url = url
        self.current_url = url
        self.headers = headers
        self.max_bytes = max_bytes
        self.redirects: list[dict[str, Any]] = []
        self.last_fetched_url = url
        self.response: httpx.Response | None = None  # the final hop's, once its headers are in
        self.sent_headers: dict[str, str] | None = None  # the last request's, once it was sent
        self.ip_address: str | None = None  # the last hop's peer
        self.started_at = _utcnow_iso()
        self.t0 = time.monotonic()

    def run(self) -> FetchResult:
        try:
            return self._follow()
        except HopRefused as exc:
            return self._failure(exc.kind, str(exc), refused=True)
        except FetchError as exc:
            return self._failure(exc.kind, str(exc))
        except BadURL as exc:
            return self._failure(exc.reason, str(exc), refused=True)
        except BlockedAddress as exc:
            return self._failure("blocked_address", str(exc), refused=True)
        except httpx.TimeoutException as exc:
            kind = "deadline" if self._past_deadline() else "timeout"
            return self._failure(kind, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        except (httpx.HTTPError, httpx.InvalidURL, httpcore.ConnectError) as exc:
            return self._failure(_classify(exc), str(exc) or type(exc).__name__)
        finally:
            _deadline.at = None

    def _past_deadline(self) -> bool:
        return time.monotonic() - self.t0 >= self.config.deadline - 0.05

    def _follow(self) -> FetchResult:
        for _ in range(self.config.max_redirects + 1):
            check_url(self.current_url)
            if self.redirects and self.may_follow is not None:
                refusal = self.may_follow(self.current_url)
                if refusal is not None:
                    raise HopRefused(refusal.error_detail or "redirect target refused",
                                     refusal.error or "robots_disallowed")
            host = host_of(self.current_url)
            max_wait = self.config.deadline if not self.redirects else self._left()
            with self.fetcher.gate.slot(host, max_wait=max_wait):
                if not self.redirects:
                    self.t0 = time.monotonic()  # waiting for a turn is not the request's time
                _deadline.at = self.t0 + self.config.deadline
                result = self._one_hop(host)
            if result is not None:
                return result
        raise FetchError(f"more than {self.config.max_redirects} redirects", "too_many_redirects")

    def _left(self) -> float:
        left = self.t0 + self.config.deadline - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded(f"redirects not resolved after {self.config.deadline:.0f}s")
        return left

    def _hop_timeout(self) -> httpx.Timeout:
        """httpx's per-phase timeouts, none longer than what is left of the deadline."""
        cfg, left = self.config, self._left()
        return httpx.Timeout(connect=min(cfg.connect_timeout, left), read=min(cfg.read_timeout, left),
                             write=min(cfg.read_timeout, left), pool=left)

    def _one_hop(self, host: str) -> FetchResult | None:
        request = httpx.Request("GET", self.current_url, headers={**self.fetcher.headers, **self.headers},
                                extensions={"timeout": self._hop_timeout().as_dict()})
        self.ip_address = None
        response = self.fetcher._transport.handle_request(request)
        response.request = request
        self.sent_headers = _sent_headers(request)
        self.ip_address = _peer_address(response)
        self.last_fetched_url = self.current_url
        try:
            if response.status_code in REDIRECT_STATUSES and response.headers.get("location"):
                target = _join(self.current_url, response.headers["location"])
                self.redirects.append({"url": redact_url(self.current_url),
                                       "status": response.status_code,
                                       "location": redact_url(target)})
                self.current_url = target
                return None
            self.response = response
            self._note_retry_after(host, response)
            body = self._read_body(response)
            return self._result(response, body)
        finally:
            response.close()

    def _note_retry_after(self, host: str, response: httpx.Response) -> None:
        if response.status_code in (429, 503):
            seconds = retry_after_seconds(response.headers.get("retry-after"))
            if seconds:
                self.fetcher.gate.defer(host, min(seconds, self.config.retry_after_cap))

    def _read_body(self, response: httpx.Response) -> bytes:
        length = response.headers.get("content-length", "").strip()
        if length.isdigit() and int(length) > self.max_bytes:
            # compressed or not: the raw bytes alone would pass the cap, so nothing is read
            raise TooLarge(f"Content-Length {length} is over the {self.max_bytes}-byte cap")
        decoder = _Decoder(content_encoding(",".join(response.headers.get_list("content-encoding"))),
                           self.max_bytes)
        parts: list[bytes] = []
        raw_total = 0
        for chunk in response.iter_raw(_CHUNK):
            raw_total += len(chunk)
            if raw_total > self.max_bytes:
                raise TooLarge(f"body larger than {self.max_bytes} bytes")
            parts.append(decoder.feed(chunk))
            if self._past_deadline():
                raise DeadlineExceeded(f"body not complete after {self.config.deadline:.0f}s")
        decoder.finish()
        return b"".join(parts)

    def _result(self, response: httpx.Response, body: bytes) -> FetchResult:
        status = response.status_code
        error = None if status < 400 or status == 304 else f"http_{status}"
        detail = None if error is None else f"HTTP {status} {response.reason_phrase}".strip()
        return FetchResult(
            requested_url=redact_url(self.requested_url), final_url=str(response.url),
            status=status,
            headers=kept_headers(response.headers.multi_items()), redirects=tuple(self.redirects),
            started_at=self.started_at, elapsed_ms=self._elapsed_ms(), body=body,
            error=error, error_detail=detail, request_headers=self.sent_headers or self.headers,
            ip_address=self.ip_address,
        )

    def _failure(self, kind: str, detail: str, refused: bool = False) -> FetchResult:
        """A FetchResult for a request that ended without a usable response. For a refusal
        (bad URL, blocked address) the final URL is the last hop actually fetched; the refused
        target is the last redirect's ``location``."""
        final = self.last_fetched_url if refused and self.redirects else self.current_url
        response = self.response  # headers that arrived before the body failed are evidence too
        return FetchResult(
            requested_url=redact_url(self.requested_url), final_url=redact_url(final),
            status=response.status_code if response is not None else None,
            headers=kept_headers(response.headers.multi_items()) if response is not None else {},
            redirects=tuple(self.redirects), started_at=self.started_at,
            elapsed_ms=self._elapsed_ms(), error=kind, error_detail=redact_userinfo(detail)[:500],
            request_headers=self.sent_headers or self.headers,
            ip_address=self.ip_address if response is not None else None,
        )

    def _elapsed_ms(self) -> int:
        return int((time.monotonic() - self.t0) * 1000)


def _join(base: str, location: str) -> str:
    """The absolute URL a Location header points to; BadURL when it cannot be one."""
    try:
        return urljoin(base, location.strip())
    except ValueError as exc:
        raise BadURL("bad_url", f"redirect to a malformed URL: {exc}") from None


def _classify(exc: Exception) -> str:
    text = str(exc).lower()
    if isinstance(exc, httpx.UnsupportedProtocol):
        return "unsupported_scheme"
    if isinstance(exc, httpx.InvalidURL):
        return "bad_url"
    if "without sending complete message body" in text:
        return "truncated"
    if "resolve" in text or "name or service" in text or "nodename" in text:
        return "dns"
    if "refused" in text:
        return "refused"
    if "ssl" in text or "certificate" in text or "tls" in text:
        return "tls"
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.LocalProtocolError)):
        return "protocol_error"
    return "connection_error"

"""Many loopback web hosts for the benchmarks: one ThreadingHTTPServer per address 127.0.0.1,
127.0.0.2 ... (up to 1,016 hosts), each answering after a fixed latency, with ETag / Last-Modified and 304 on a match.

    with LoopbackSites(hosts=20, latency=0.05) as sites:
        url = sites.add(3, "/a.html", Resource(b"<html>...", "text/html; charset=utf-8"))
        ...
        print(sites.stats.summary())

Every response (200, 304 or 404, /robots.txt included, which is always 404 unless added) waits
``latency`` seconds before its status line. HTTP/1.1 with keep-alive, as real sites answer.
Addresses other than 127.0.0.1 need a Linux loopback that owns 127.0.0.0/8 (the default, and
what ``tests/isolated`` sets up). ``in_loopback_namespace()`` and ``rerun_isolated()`` let a
benchmark move itself into such a namespace.
"""

from __future__ import annotations

import email.utils
import hashlib
import http.server
import os
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

SERVED_SINCE = datetime(2024, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Resource:
    """One response body and the headers that describe it. ``etag`` and ``last_modified`` are
    filled in from the body (a hash) and ``SERVED_SINCE`` when not given."""

    body: bytes
    content_type: str
    content_encoding: str | None = None
    etag: str | None = None
    last_modified: str | None = None

    def __post_init__(self) -> None:
        if self.etag is None:
            object.__setattr__(self, "etag", '"' + hashlib.sha256(self.body).hexdigest()[:20] + '"')
        if self.last_modified is None:
            object.__setattr__(self, "last_modified", email.utils.format_datetime(SERVED_SINCE, usegmt=True))


@dataclass
class ServerStats:
    """What the servers saw: responses by status, conditional requests, concurrency per host."""

    statuses: Counter[int] = field(default_factory=Counter)
    conditional: int = 0
    in_flight: Counter[str] = field(default_factory=Counter)
    max_in_flight: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.statuses.clear()
            self.max_in_flight.clear()
            self.conditional = 0

    def summary(self) -> str:
        by_status = ", ".join(f"{n}x{status}" for status, n in sorted(self.statuses.items()))
        most = max(self.max_in_flight.values(), default=0)
        return (f"{sum(self.statuses.values())} responses ({by_status or 'none'}); "
                f"{self.conditional} conditional requests; at most {most} at once to one host")


def _not_modified(headers: Any, etag: str, modified: str) -> bool:
    """RFC 9110 §13.1: If-None-Match decides when present; If-Modified-Since only otherwise."""
    match = headers.get("If-None-Match")
    if match is not None:
        tags = [t.strip().removeprefix("W/") for t in match.split(",")]
        return "*" in tags or etag in tags
    since = headers.get("If-Modified-Since")
    if since is None:
        return False
    try:
        return email.utils.parsedate_to_datetime(since) >= email.utils.parsedate_to_datetime(modified)
    except (TypeError, ValueError):
        return False


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes: with Nagle's algorithm a small body would wait for
    # the client's delayed ACK of the headers, 40 ms on top of --latency. Real servers (nginx,
    # Apache) set TCP_NODELAY too.
    disable_nagle_algorithm = True
    server: "_Server"

    def do_GET(self) -> None:
        site = self.server.sites
        host = self.server.server_address[0]
        stats = site.stats
        with stats.lock:
            stats.in_flight[host] += 1
            stats.max_in_flight[host] = max(stats.max_in_flight[host], stats.in_flight[host])
        try:
            time.sleep(site.latency)
            self._answer(site.routes.get((host, self.path.split("?", 1)[0])))
        finally:
            with stats.lock:
                stats.in_flight[host] -= 1

    def _answer(self, resource: Resource | None) -> None:
        stats = self.server.sites.stats
        conditional = "If-None-Match" in self.headers or "If-Modified-Since" in self.headers
        if resource is None:
            status, headers, body = 404, {"Content-Type": "text/plain"}, b"not found\n"
        else:
            headers = {"ETag": resource.etag or "", "Last-Modified": resource.last_modified or ""}
            if _not_modified(self.headers, headers["ETag"], headers["Last-Modified"]):
                status, body = 304, b""
            else:
                status, body = 200, resource.body
                headers["Content-Type"] = resource.content_type
                if resource.content_encoding:
                    headers["Content-Encoding"] = resource.content_encoding
        with stats.lock:
            stats.statuses[status] += 1
            stats.conditional += conditional
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the stdlib's name)
        return None


MAX_HOSTS = 254 * 4  # addresses in 127.0.0.0/22; the archiver children allow 127.0.0.0/16


def host_address(index: int) -> str:
    """The loopback address of the ``index``-th host (0: 127.0.0.1), never a .0 or .255."""
    return f"127.0.{index // 254}.{index % 254 + 1}"


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], sites: "LoopbackSites"):
        self.sites = sites
        super().__init__(address, _Handler)


class LoopbackSites:
    """``hosts`` HTTP servers on 127.0.0.1, 127.0.0.2 ... (254 to a /24, then 127.0.1.1 and on),
    sharing one route table and one set of statistics. A context manager; each server runs on its
    own thread."""

    def __init__(self, hosts: int = 20, latency: float = 0.05):
        if not 1 <= hosts <= MAX_HOSTS:
            raise ValueError(f"hosts must be between 1 and {MAX_HOSTS}")
        self.latency = latency
        self.stats = ServerStats()
        self.routes: dict[tuple[str, str], Resource] = {}
        self.servers = [_Server((host_address(n), 0), self) for n in range(hosts)]
        self._threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in self.servers]
        for thread in self._threads:
            thread.start()

    def __enter__(self) -> "LoopbackSites":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()

    def base(self, index: int) -> str:
        """The origin of the ``index``-th host (taken modulo the number of hosts: round-robin)."""
        host, port = self.servers[index % len(self.servers)].server_address[:2]
        return f"http://{host}:{port}"

    def add(self, index: int, path: str, resource: Resource) -> str:
        """Serve ``resource`` at ``path`` on host ``index`` (modulo the host count); its URL."""
        server = self.servers[index % len(self.servers)]
        self.routes[(server.server_address[0], path)] = resource
        return self.base(index) + path


def in_loopback_namespace() -> bool:
    """Whether this process's network namespace has no interface but ``lo`` (as under
    ``tests/isolated``), read from /proc/self/net/dev, which shows the current namespace."""
    try:
        lines = open("/proc/self/net/dev", encoding="ascii").read().splitlines()[2:]
    except OSError:
        return False
    return [line.split(":", 1)[0].strip() for line in lines] == ["lo"]


def rerun_isolated(script: str, args: list[str]) -> None:
    """Replace this process with ``tests/isolated python script args``: the same benchmark in
    a loopback-only network namespace, so nothing it does can leave the machine."""
    isolated = Path(__file__).resolve().parents[1] / "tests" / "isolated"
    print(f"re-running inside a loopback-only network namespace: {isolated} ...", flush=True)
    os.execv("/bin/sh", ["sh", str(isolated), sys.executable, script, *args])

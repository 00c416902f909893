"""SECURITY.md §4 section B: hostile HTTP and resource exhaustion (items 13-22).

A raw-socket publisher on 127.0.0.2 (``allow_networks = ["127.0.0.2/32"]``) sends whatever
bytes a test wants: bombs, trickles, tarpits, garbage. The budgets are asserted on the process
doing the work, run as a child so that its peak memory can be measured:

- ``archiver fetch`` itself (the whole pipeline: robots.txt, fetch, extraction workers, store),
  whose capture records the classified failure; its peak RSS, and that of every process it
  starts, must stay under 300 MB, and the fetch must end within the configured deadline;
- a lean child that runs only ``Fetcher.fetch`` (SECURITY.md's "child RSS < 100 MB" for the
  decoders, which the full CLI's imports alone would not leave room to measure).

Compression bombs are built without ever holding the expanded bytes: 1 GB of gzip is one
deflate block for 1 MiB of zeros, flushed with Z_FULL_FLUSH so that it can be repeated, and a
zstd bomb is a frame of RLE blocks written by hand.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import socket
import ssl
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import brotli
import httpx
import pytest
import zstandard

from conftest import Site, db_rows

from archiver.net.fetcher import ACCEPT_ENCODING, Fetcher
from archiver.settings import SETTINGS, load_config

GB = 1 << 30
MB = 1 << 20
CAP = next(s for s in SETTINGS if s.name == "max_body_bytes").default
MAX_REDIRECTS = next(s for s in SETTINGS if s.name == "max_redirects").default
PEAK_MB = 300        # issue 6: peak memory of the process doing the work
LEAN_PEAK_MB = 100   # SECURITY.md B.14-17: RSS of a child that only fetches
DEADLINE = 3.0       # ARCHIVER_DEADLINE for the tests that wait for it (the default is 30 s)

PARAGRAPHS = [
    "The regional council approved the budget for the new cycling routes on Thursday, after a "
    "debate that ran late into the evening and ended with a narrow majority in favour.",
    "The first route will link the railway station with the university campus, and work is "
    "expected to begin in the spring once the contracts have been signed with the builders.",
    "Opponents argued that the money would be better spent on repairing the existing roads, "
    "many of which have not been resurfaced since the floods of the previous decade.",
]


def article(title: str) -> bytes:
    body = "".join(f"<p>{p}</p>" for p in PARAGRAPHS)
    return (f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>{body}"
            f"</article></body></html>").encode()


# -- bombs -----------------------------------------------------------------------------------------

def gzip_zeros(size: int) -> bytes:
    """A valid gzip stream of ``size`` zero bytes (size a multiple of 1 MiB), ~1 KB per MiB,
    built in milliseconds: one full-flushed deflate block of 1 MiB of zeros, repeated."""
    chunk = bytes(MB)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = deflate.compress(chunk) + deflate.flush(zlib.Z_FULL_FLUSH)
    again = deflate.compress(chunk) + deflate.flush(zlib.Z_FULL_FLUSH)
    assert again == block  # after a full flush the same input gives the same bytes
    end = deflate.flush()
    crc = 0
    for _ in range(size // MB):
        crc = zlib.crc32(chunk, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = crc.to_bytes(4, "little") + (size & 0xFFFFFFFF).to_bytes(4, "little")
    return header + block * (size // MB) + end + trailer


def brotli_zeros(size: int) -> bytes:
    """A brotli stream of ``size`` zero bytes, compressed 1 MiB at a time (~1.6 KB per GB)."""
    compressor = brotli.Compressor(quality=5)
    chunk = bytes(MB)
    parts = [compressor.process(chunk) for _ in range(size // MB)]
    return b"".join(parts) + compressor.finish()


def zstd_zeros(size: int) -> bytes:
    """A zstd frame of ``size`` zero bytes made of RLE blocks (4 bytes per 128 KiB), by hand:
    no zstd library is needed to build it. ``zstandard`` is installed (the archive compresses
    bodies with it), which is what makes httpx able to decode zstd: SECURITY.md B.17."""
    block = 128 * 1024
    count = size // block
    frame = bytearray(b"\x28\xb5\x2f\xfd")  # magic number
    frame += bytes([0x00, 0x38])              # no content size; window 128 KiB
    for i in range(count):
        last = 1 if i == count - 1 else 0
        frame += ((block << 3) | (1 << 1) | last).to_bytes(3, "little") + b"\x00"
    return bytes(frame)


@pytest.fixture(scope="session")
def bombs() -> dict[str, bytes]:
    """The compressed payloads, built once per session."""
    gzip_200mb = gzip_zeros(200 * MB)
    return {
        "gzip_1gb": gzip_zeros(GB),
        "br_1gb": brotli_zeros(GB),
        "zstd_1gb": zstd_zeros(GB),
        "gzip_200mb": gzip_200mb,
        "gzip_gzip": gzip.compress(gzip_200mb, 9, mtime=0),
        "deflate_1gb": zlib_zeros(GB),
    }


def zlib_zeros(size: int) -> bytes:
    """``Content-Encoding: deflate`` (zlib-wrapped) zeros, built like gzip_zeros."""
    chunk = bytes(MB)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = deflate.compress(chunk) + deflate.flush(zlib.Z_FULL_FLUSH)
    end = deflate.flush()
    adler = 1
    for _ in range(size // MB):
        adler = zlib.adler32(chunk, adler)
    return b"\x78\xda" + block * (size // MB) + end + adler.to_bytes(4, "big")


def test_bomb_builders_are_valid() -> None:
    """SECURITY.md B.14-B.17 (harness): the hand-built bombs decode to what they claim
    (checked on small sizes)."""
    assert gzip.decompress(gzip_zeros(4 * MB)) == bytes(4 * MB)
    assert zlib.decompress(zlib_zeros(3 * MB)) == bytes(3 * MB)
    assert brotli.decompress(brotli_zeros(2 * MB)) == bytes(2 * MB)
    frame = zstd_zeros(MB)
    assert len(frame) == 6 + 8 * 4 and frame[:4] == b"\x28\xb5\x2f\xfd"
    assert zstandard.ZstdDecompressor().decompressobj().decompress(frame) == bytes(MB)


# -- a raw publisher -------------------------------------------------------------------------------

@dataclass
class RawRequest:
    path: str
    headers: dict[str, str]


class Out:
    """The socket a handler writes to; counts what was sent."""

    def __init__(self, conn: socket.socket, server: "RawServer"):
        self.conn = conn
        self.server = server

    def send(self, data: bytes) -> None:
        self.conn.sendall(data)
        with self.server.lock:
            self.server.bytes_sent += len(data)

    def head(self, status: str = "200 OK", headers: dict[str, str] | None = None) -> None:
        lines = [f"HTTP/1.1 {status}"] + [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def respond(self, body: bytes, status: str = "200 OK", **headers: str) -> None:
        fields = {"Content-Type": "text/html; charset=utf-8", "Content-Length": str(len(body)),
                  "Connection": "close"}
        fields.update({k.replace("_", "-"): v for k, v in headers.items()})
        self.head(status, fields)
        self.send(body)


Handler = Callable[[Out, RawRequest], None]


class RawServer:
    """A TCP server on a loopback address; each path's handler writes raw bytes (or nothing).
    ``/robots.txt`` is a 404 unless routed. ``tls`` wraps every connection in TLS."""

    def __init__(self, host: str = "127.0.0.2", tls: ssl.SSLContext | None = None,
                 handshake: bool = True):
        self.routes: dict[str, Handler] = {}
        self.requests: list[RawRequest] = []
        self.connections = 0
        self.bytes_sent = 0
        self.lock = threading.Lock()
        self.tls = tls
        self.handshake = handshake
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(64)
        self.host, self.port = self.sock.getsockname()
        self.base = f"{'https' if tls else 'http'}://{host}:{self.port}"
        self._open: list[socket.socket] = []
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path: str) -> str:
        return self.base + path

    def route(self, path: str, handler: Handler) -> str:
        self.routes[path] = handler
        return self.url(path)

    def hits(self, path: str | None = None) -> int:
        with self.lock:
            return sum(1 for r in self.requests if path is None or r.path == path)

    def page_hits(self) -> int:
        """Requests for anything but robots.txt."""
        with self.lock:
            return sum(1 for r in self.requests if r.path != "/robots.txt")

    def close(self) -> None:
        self._closed.set()
        self.sock.close()
        for conn in list(self._open):
            try:
                conn.close()
            except OSError:
                pass

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                self._open.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            if self.tls is not None:
                if not self.handshake:
                    self._closed.wait(60)  # a TLS tarpit: never answer the ClientHello
                    return
                conn = self.tls.wrap_socket(conn, server_side=True)
                self._open.append(conn)
            request = self._read_request(conn)
            if request is None:
                return
            with self.lock:
                self.requests.append(request)
            handler = self.routes.get(request.path.split("?")[0])
            if handler is None:
                handler = _not_found
            handler(Out(conn, self), request)
        except (OSError, ssl.SSLError):
            pass  # the client went away, as it should when it refuses what it is sent
        finally:
            try:
                conn.close()
            except OSError:
                pass

    @staticmethod
    def _read_request(conn: socket.socket) -> RawRequest | None:
        conn.settimeout(10)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            data += chunk
        conn.settimeout(None)
        lines = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        return RawRequest(lines[0].split(" ")[1], headers)


def _not_found(out: Out, request: RawRequest) -> None:
    out.respond(b"not found", "404 Not Found", Content_Type="text/plain")


@pytest.fixture
def raw() -> Iterator[RawServer]:
    server = RawServer()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def _publisher_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARCHIVER_ALLOW_NETWORKS", "127.0.0.2/32")


# -- measuring the process doing the work ----------------------------------------------------------

class TreeWatcher:
    """Peak RSS (VmHWM) of a process and every descendant it starts, sampled from /proc."""

    def __init__(self, root: int):
        self.root = root
        self.peaks: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in self._tree():
                kb = _vm_hwm_kb(pid)
                if kb is not None:
                    self.peaks[pid] = max(self.peaks.get(pid, 0), kb)
            self._stop.wait(0.05)

    def _tree(self) -> set[int]:
        parents: dict[int, int] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                except OSError:
                    continue
                parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
        tree = {self.root}
        grew = True
        while grew:
            grew = False
            for pid, parent in parents.items():
                if parent in tree and pid not in tree:
                    tree.add(pid)
                    grew = True
        return tree


def _vm_hwm_kb(pid: int) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
    return int(match.group(1)) if match else None


@dataclass
class Run:
    code: int
    out: str
    err: str
    seconds: float
    peak_mb: float                       # the command's own peak RSS (ru_maxrss)
    tree_peaks_mb: dict[int, float] = field(default_factory=dict)  # every descendant's VmHWM

    @property
    def worst_mb(self) -> float:
        return max([self.peak_mb, *self.tree_peaks_mb.values()])


# Runs the command as its child and reports getrusage(RUSAGE_CHILDREN).ru_maxrss. The command is
# not started from the test process itself, because a child started by fork or vfork carries
# the RSS of the process it was forked from into its ru_maxrss, and pytest is large.
MEASURE = r"""
import resource, subprocess, sys
code = subprocess.call(sys.argv[2:])
with open(sys.argv[1], "w") as report:
    report.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(code)
"""


def run_measured(args: list[str], env: dict[str, str] | None = None, timeout: float = 120) -> Run:
    """Run ``args`` as a child; its exit code, output, wall time and peak memory (its own,
    from ru_maxrss, and that of every process it starts, from /proc)."""
    full_env = {**os.environ, **(env or {})}
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "maxrss"
        out_path, err_path = Path(scratch) / "out", Path(scratch) / "err"
        with out_path.open("wb") as out, err_path.open("wb") as err:
            started = time.monotonic()
            proc = subprocess.Popen([sys.executable, "-c", MEASURE, str(report), *args], stdout=out,
                                    stderr=err, env=full_env, start_new_session=True)
            watcher = TreeWatcher(proc.pid)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # the session this call started, by its id
                proc.wait()
            finally:
                watcher.stop()
        seconds = time.monotonic() - started
        peak_kb = int(report.read_text()) if report.exists() else 0
        watcher.peaks.pop(proc.pid, None)  # the measuring wrapper itself
        return Run(proc.returncode, out_path.read_text(errors="replace"),
                   err_path.read_text(errors="replace"), seconds, peak_kb / 1024,
                   {pid: kb / 1024 for pid, kb in watcher.peaks.items()})


def archiver_fetch(*urls: str, env: dict[str, str] | None = None) -> Run:
    return run_measured([sys.executable, "-m", "archiver", "fetch", *urls], env)


LEAN_FETCH = r"""
import json, sys
from archiver.net.fetcher import Fetcher
from archiver.settings import load_config
headers = json.loads(sys.argv[1])
with Fetcher(load_config()) as fetcher:
    for url in sys.argv[2:]:
        r = fetcher.fetch(url, headers=headers)
        print(json.dumps({"url": url, "error": r.error, "status": r.status, "detail": r.error_detail,
                          "elapsed_ms": r.elapsed_ms, "size": None if r.body is None else len(r.body)}))
"""


def lean_fetch(*urls: str, headers: dict[str, str] | None = None,
               env: dict[str, str] | None = None) -> tuple[Run, list[dict[str, Any]]]:
    """``Fetcher.fetch`` of each URL in a child that imports nothing else."""
    run = run_measured([sys.executable, "-c", LEAN_FETCH, json.dumps(headers or {}), *urls], env)
    assert run.code == 0, run.err
    return run, [json.loads(line) for line in run.out.splitlines()]


def capture(db: Path, url: str) -> dict[str, Any]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        row = conn.execute("SELECT * FROM captures WHERE requested_url = ? ORDER BY id DESC",
                           [url]).fetchone()
        assert row is not None, f"no capture recorded for {url}"
        return dict(row)
    finally:
        conn.close()


def snapshot_count(db: Path) -> int:
    return db_rows(db, "SELECT count(*) FROM snapshots")[0][0]


def assert_budget(run: Run, url: str, db: Path, errors: set[str], deadline: float = 30.0) -> dict:
    """The capture is a classified failure, recorded within the deadline, with no snapshot and
    no stored body, by a process tree that stayed under PEAK_MB."""
    assert "Traceback" not in run.err, run.err
    assert run.code == 1, (run.out, run.err)
    row = capture(db, url)
    assert row["error"] in errors, row
    assert row["body_sha256"] is None, row
    assert row["elapsed_ms"] <= (deadline + 1) * 1000, row
    assert run.worst_mb < PEAK_MB, (run.peak_mb, run.tree_peaks_mb)
    assert snapshot_count(db) == 0
    return row


def test_default_budgets() -> None:
    """SECURITY.md B.13/B.18 and §5: the defaults the tests below rely on: a whole-request
    deadline of at most 30 s, a 15 MB body cap, at most 5 redirects."""
    config = load_config(environ={})
    assert 0 < config.deadline <= 30
    assert config.connect_timeout <= config.deadline and config.read_timeout <= config.deadline
    assert config.max_body_bytes == CAP <= 15_000_000
    assert config.max_redirects == MAX_REDIRECTS <= 5


# -- B.13 oversized bodies -----------------------------------------------------------------------

def stream(out: Out, total: int, chunk: bytes) -> None:
    sent = 0
    while sent < total:
        out.send(chunk)
        sent += len(chunk)


HTML_CHUNK = b"<p>" + b"lorem ipsum dolor sit amet " * 2400 + b"</p>\n"
ITEM_CHUNK = b"<item><title>t</title><link>http://127.0.0.2/x</link></item>\n" * 1000


def test_200mb_page_with_content_length(raw: RawServer, tmp_path: Path) -> None:
    """SECURITY.md B.13(a), issue 6 'a 200 MB page': ``Content-Length: 209715200`` is refused
    before the body is read, as ``too_large``, quickly and within the memory budget."""
    def handler(out: Out, request: RawRequest) -> None:
        out.head("200 OK", {"Content-Type": "text/html", "Content-Length": str(200 * MB)})
        stream(out, 200 * MB, HTML_CHUNK)

    url = raw.route("/big", handler)
    run = archiver_fetch(url)
    row = assert_budget(run, url, tmp_path / "archive.db", {"too_large"})
    assert row["elapsed_ms"] < 3000
    assert row["status"] == 200
    assert raw.bytes_sent < 200 * MB


def test_200mb_page_without_length(raw: RawServer, tmp_path: Path) -> None:
    """SECURITY.md B.13(c), issue 6 'a 200 MB page': 200 MB of HTML (close-delimited, no
    length announced) is cut off at the cap as ``too_large``; nothing is stored."""
    def handler(out: Out, request: RawRequest) -> None:
        out.head("200 OK", {"Content-Type": "text/html", "Connection": "close"})
        stream(out, 200 * MB, HTML_CHUNK)

    url = raw.route("/big", handler)
    run = archiver_fetch(url)
    assert_budget(run, url, tmp_path / "archive.db", {"too_large"})
    assert raw.bytes_sent < 200 * MB


def test_endless_chunked_and_huge_feed(raw: RawServer, tmp_path: Path) -> None:
    """SECURITY.md B.13(b)(c): chunked transfer that never ends, and 50 MB of ``<item>``
    elements served as RSS: both aborted at the cap with ``too_large``; the publisher sent no
    more than the cap plus what socket buffers hold; nothing stored."""
    def endless(out: Out, request: RawRequest) -> None:
        out.head("200 OK", {"Content-Type": "text/html", "Transfer-Encoding": "chunked"})
        piece = b"%x\r\n%s\r\n" % (len(HTML_CHUNK), HTML_CHUNK)
        while True:
            out.send(piece)

    def items(out: Out, request: RawRequest) -> None:
        out.head("200 OK", {"Content-Type": "application/rss+xml", "Connection": "close"})
        out.send(b'<?xml version="1.0"?><rss version="2.0"><channel><title>big</title>')
        stream(out, 50 * MB, ITEM_CHUNK)
        out.send(b"</channel></rss>")

    endless_url = raw.route("/endless", endless)
    run = archiver_fetch(endless_url)
    assert_budget(run, endless_url, tmp_path / "archive.db", {"too_large"})
    assert raw.bytes_sent < CAP + 32 * MB  # the cap, plus loopback socket buffers at most

    sent_before = raw.bytes_sent
    feed_url = raw.route("/feed.xml", items)
    run = archiver_fetch(feed_url)
    assert_budget(run, feed_url, tmp_path / "archive.db", {"too_large"})
    assert raw.bytes_sent - sent_before < CAP + 32 * MB


# -- B.14-17 compression bombs ---------------------------------------------------------------------

def bomb_handler(payload: bytes, encoding: str, content_type: str = "text/html") -> Handler:
    def handler(out: Out, request: RawRequest) -> None:
        out.respond(payload, Content_Encoding=encoding, Content_Type=content_type)
    return handler


def test_gzip_bomb_1gb(raw: RawServer, tmp_path: Path, bombs: dict[str, bytes]) -> None:
    """SECURITY.md B.14, issue 6 'a 1 GB gzip bomb': 1 MB of gzip expanding to 1 GB is
    stopped at the decompressed cap: ``too_large``, within the deadline and memory budget."""
    url = raw.route("/bomb", bomb_handler(bombs["gzip_1gb"], "gzip"))
    run = archiver_fetch(url)
    row = assert_budget(run, url, tmp_path / "archive.db", {"too_large"})
    assert row["elapsed_ms"] < 10_000


def test_brotli_bomb_unasked(raw: RawServer, tmp_path: Path, bombs: dict[str, bytes]) -> None:
    """SECURITY.md B.15, issue 6 'a brotli bomb sent unasked': ~1.6 KB of brotli expanding to
    1 GB, sent whatever Accept-Encoding said, is decoded with a bounded output: ``too_large``."""
    url = raw.route("/bomb", bomb_handler(bombs["br_1gb"], "br"))
    run = archiver_fetch(url)
    row = assert_budget(run, url, tmp_path / "archive.db", {"too_large"})
    assert row["elapsed_ms"] < 10_000


def test_bombs_in_a_lean_child(raw: RawServer, bombs: dict[str, bytes]) -> None:
    """SECURITY.md B.14, B.15, B.17: with the fetcher alone in a child process, the gzip,
    deflate and brotli bombs (also when the request said ``Accept-Encoding: identity``) and a
    zstd bomb stay under 100 MB RSS; zstd is refused as ``unexpected_encoding``, never decoded."""
    urls = {
        "gzip": raw.route("/gzip", bomb_handler(bombs["gzip_1gb"], "gzip")),
        "x-gzip": raw.route("/x-gzip", bomb_handler(bombs["gzip_1gb"], "x-gzip")),
        "deflate": raw.route("/deflate", bomb_handler(bombs["deflate_1gb"], "deflate")),
        "br": raw.route("/br", bomb_handler(bombs["br_1gb"], "br")),
        "zstd": raw.route("/zstd", bomb_handler(bombs["zstd_1gb"], "zstd")),
    }
    run, results = lean_fetch(*urls.values())
    errors = {r["url"]: r["error"] for r in results}
    for name in ("gzip", "x-gzip", "deflate", "br"):
        assert errors[urls[name]] == "too_large", (name, results)
    assert errors[urls["zstd"]] == "unexpected_encoding"
    assert run.peak_mb < LEAN_PEAK_MB, run.peak_mb

    unasked, results = lean_fetch(urls["br"], urls["gzip"], headers={"Accept-Encoding": "identity"})
    assert [r["error"] for r in results] == ["too_large", "too_large"]
    assert unasked.peak_mb < LEAN_PEAK_MB, unasked.peak_mb
    assert raw.requests[-1].headers["accept-encoding"] == "identity"


def test_stacked_and_bogus_encodings(raw: RawServer, bombs: dict[str, bytes]) -> None:
    """SECURITY.md B.16: ``gzip, gzip`` (<1 KB becoming 200 MB), ``gzip, br``, two
    Content-Encoding lines, ``x-custom`` and ``compress`` are refused as
    ``unexpected_encoding``; gzip announced over a plain or cut-off body is ``bad_encoding``;
    ``identity, gzip`` is one layer and bounded. No crash, under 100 MB."""
    plain = article("Plain")
    cut = gzip.compress(plain)[:-30]

    def doubled(out: Out, request: RawRequest) -> None:
        body = bombs["gzip_gzip"]
        out.send(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Encoding: gzip\r\n"
                 b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)

    cases = {
        "gzip, gzip": (bomb_handler(bombs["gzip_gzip"], "gzip, gzip"), "unexpected_encoding"),
        "gzip, br": (bomb_handler(bombs["gzip_gzip"], "gzip, br"), "unexpected_encoding"),
        "two lines": (doubled, "unexpected_encoding"),
        "x-custom": (bomb_handler(plain, "x-custom"), "unexpected_encoding"),
        "compress": (bomb_handler(plain, "compress"), "unexpected_encoding"),
        "zstd": (bomb_handler(plain, "zstd"), "unexpected_encoding"),
        "gzip over plain": (bomb_handler(plain, "gzip"), "bad_encoding"),
        "br over plain": (bomb_handler(plain, "br"), "bad_encoding"),
        "cut-off gzip": (bomb_handler(cut, "gzip"), "bad_encoding"),
        "identity, gzip": (bomb_handler(bombs["gzip_200mb"], "identity, gzip"), "too_large"),
    }
    urls = {name: raw.route(f"/c{i}", handler) for i, (name, (handler, _)) in enumerate(cases.items())}
    run, results = lean_fetch(*urls.values())
    by_url = {r["url"]: r for r in results}
    for name, (_, expected) in cases.items():
        assert by_url[urls[name]]["error"] == expected, (name, by_url[urls[name]])
        assert by_url[urls[name]]["size"] is None
    assert run.peak_mb < LEAN_PEAK_MB, run.peak_mb


def test_zstd_never_advertised(raw: RawServer, tmp_path: Path, bombs: dict[str, bytes]) -> None:
    """SECURITY.md B.17: zstd is neither advertised nor decoded: the Accept-Encoding sent is
    exactly what the bounded decoders handle, and a zstd bomb is refused as
    ``unexpected_encoding`` through `archiver fetch`, within the memory budget."""
    assert "zstd" not in ACCEPT_ENCODING
    url = raw.route("/zstd", bomb_handler(bombs["zstd_1gb"], "zstd"))
    run = archiver_fetch(url)
    assert_budget(run, url, tmp_path / "archive.db", {"unexpected_encoding"})
    sent = raw.requests[-1].headers["accept-encoding"]
    assert {p.strip() for p in sent.split(",")} <= {"gzip", "deflate", "br", "identity"}, sent


# -- B.18 slowloris body -----------------------------------------------------------------------------

def trickle(out: Out, request: RawRequest) -> None:
    """Headers at once, then one byte a second for two minutes."""
    out.head("200 OK", {"Content-Type": "text/html", "Content-Length": "120"})
    for _ in range(120):
        out.send(b"x")
        time.sleep(1)


def test_slowloris_body(raw: RawServer, tmp_path: Path) -> None:
    """SECURITY.md B.18, issue 6 'a body that trickles one byte a second': every read is well
    under the read timeout, yet the fetch ends at the whole-request deadline (3 s here; the
    default, asserted above, is at most 30 s) as ``deadline``, within the memory budget."""
    url = raw.route("/slow", trickle)
    run = archiver_fetch(url, env={"ARCHIVER_DEADLINE": str(DEADLINE)})
    row = assert_budget(run, url, tmp_path / "archive.db", {"deadline"}, deadline=DEADLINE)
    assert row["elapsed_ms"] >= (DEADLINE - 0.5) * 1000
    assert row["elapsed_ms"] <= (DEADLINE + 2) * 1000
    assert run.seconds < DEADLINE + 15  # process start, robots.txt, workers, store included


def test_slowloris_in_process(raw: RawServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """SECURITY.md B.18 (in process): the deadline holds with a read timeout far longer than the
    trickle's gaps, for the status line, the headers and the body alike."""
    def slow_head(out: Out, request: RawRequest) -> None:
        for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok":
            out.send(bytes([byte]))
            time.sleep(0.5)

    urls = [raw.route("/body", trickle), raw.route("/head", slow_head)]
    monkeypatch.setenv("ARCHIVER_DEADLINE", "2")
    with Fetcher(load_config()) as fetcher:
        for url in urls:
            started = time.monotonic()
            result = fetcher.fetch(url)
            took = time.monotonic() - started
            assert result.error == "deadline", result
            assert 1.5 <= took <= 3.5, took
            assert result.body is None


# -- B.19 tarpits --------------------------------------------------------------------------------------

def silent(out: Out, request: RawRequest) -> None:
    time.sleep(60)


def partial_status(out: Out, request: RawRequest) -> None:
    out.send(b"HTTP/1.1 20")
    time.sleep(60)


TEST_CERT = """-----BEGIN CERTIFICATE-----
MIIDJDCCAgygAwIBAgIBATANBgkqhkiG9w0BAQsFADAiMSAwHgYDVQQDDBdhcmNo
aXZlciB0ZXN0IHB1Ymxpc2hlcjAgFw0wMDAxMDEwMDAwMDBaGA8yMTI1MDEwMTAw
MDAwMFowIjEgMB4GA1UEAwwXYXJjaGl2ZXIgdGVzdCBwdWJsaXNoZXIwggEiMA0G
CSqGSIb3DQEBAQUAA4IBDwAwggEKAoIBAQCkDMEjDI/w7TLD1Gb2CN/Y+nZg6BfB
udRR+aFbDQCPbBJRRjeFb0W6xPqwijJrWNeeSVFpzA7WlFzIgpFLPg52X1QMyVq2
Bsber0GZxfAUiRK0Sw+Jjm7imIeL29IAXkxk+L5KApeF2l0Dt6FIGcC9qkHfiOt6
ce7N87P/fYXJJRp0U0Mg0eJSW2gEXibw3AUYlDJLpD6MQZWuETYLOAQLRaqaeYud
JCRIqIbG6AwGHTH651UhEmFa13MnKjRRF0izWlC5TdJGvEx0TE/QJzJfked9Vhb0
zQEITubdAuZCoNmu76hjvakKihJmescotL3NcZgVcA/mBlr98VTJ6Xf5AgMBAAGj
YzBhMB8GA1UdEQQYMBaHBH8AAAKCDnB1Ymxpc2hlci50ZXN0MA8GA1UdEwEB/wQF
MAMBAf8wDgYDVR0PAQH/BAQDAgKkMB0GA1UdDgQWBBSic5f6RcldH/5dW6AVfNqY
TBPxkjANBgkqhkiG9w0BAQsFAAOCAQEAoytaZnVfAmCnWv0yxslL7NxI6vz8MaVS
U5Au8LNyZZ1e6WoVRx8qNpnCBiG10jaX4F/cBZdIGXBxtOC17ddVhwAsh07E6FOL
yHJ4EHtYemxGdctBq3uh/+McsnkPQeH7LpK4KZAvffVsxRD8d9bLYp35nPEEzlhi
Rc1zdqlbVUdcqCZTfIrU10Y6s4wYCYSRZgda6nup68hPAOv4u81lw3Gt3cLUCPSu
hzMo3XQYMrPeOTCNSHtItS1mAc8cC1T9vQFTsA8xzfvjN7VgPuYj3UsOBof7SbyN
WiMHF25SixDeKzXT1GA0jsoRLUELYJFSfQBc/9ASyY+9RuNZIbMntg==
-----END CERTIFICATE-----
"""

# A throwaway key for the self-signed test certificate above (127.0.0.2, valid 2000-2125).
# It protects nothing: it exists so that the TLS tests need no openssl at run time.
TEST_KEY = """-----BEGIN PRIVATE KEY-----
MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQCkDMEjDI/w7TLD
1Gb2CN/Y+nZg6BfBudRR+aFbDQCPbBJRRjeFb0W6xPqwijJrWNeeSVFpzA7WlFzI
gpFLPg52X1QMyVq2Bsber0GZxfAUiRK0Sw+Jjm7imIeL29IAXkxk+L5KApeF2l0D
t6FIGcC9qkHfiOt6ce7N87P/fYXJJRp0U0Mg0eJSW2gEXibw3AUYlDJLpD6MQZWu
ETYLOAQLRaqaeYudJCRIqIbG6AwGHTH651UhEmFa13MnKjRRF0izWlC5TdJGvEx0
TE/QJzJfked9Vhb0zQEITubdAuZCoNmu76hjvakKihJmescotL3NcZgVcA/mBlr9
8VTJ6Xf5AgMBAAECggEACIRbAKFV1cnS0WT1JX/nc0HppHVYSmgF9G2T6YC+zzNq
rgqJtmVFBwHUDBdYr8cQhrjCv83m1VAlkwloVrI1mQKw/+rySTIH4CbULpIeuUo2
jOK6v0cETcJigynZ+Mfsim95nakNydbA7oD5oB8qKQ6uVdcrdpN0tP+akECpkfxE
WWijKq1bvfk2aSc3gUrp3TUjcLWMYEMVGNN7mKQCRcJP2A9Hvq24VFXAPmfFLYRX
Qc2bc7AhFsOSB+xktpemkM+zW1TW2DSRolXWnUeY/OMeEilm8v4MdZdVWnKMiVa3
/+c+kSr5oiWY4etsjqcDKPjntbjHVBY5bQmjcJV5wQKBgQDXi0CPRPLnGzhVO/j8
+n42lqNjYPWyMmXkKDfFqihAEkGB9uHPfzGyqfAM5SSvCEOMaSWAvbAOUYHjmOJ5
7Eni2VdhAfcXx9dXHUDez1ENLwa9nu7Bns/SNgPgMfyq9fngxjxKzNpzlspn8WbY
nNykAM1XZHlQwJ8Z+SSfHlR5SQKBgQDC1z4Scq9vvDzjlJ8MWu3gjkeVyMmgt6V+
l9NQF6iBvg9v0xi/F43sl/sOd3y+0WuW4xAYrs4LpJPWF7WkRk2hZ+3un2+LR6z0
hQSF8sncePP5bnzrJO73ZcbV7ggmxIarXcD8bNNscUk83upweliMKduKHWJCVccl
Fd+/K9U5MQKBgALk68kAtAJGa0s5su4yrt8sxqTe+G2cH6IgqB8PWdsCY77LAd03
aANuJLsHmKaBBecswkQoR+TpU0UrGF9qvNM+991lmVvIYyvYSLa1MfFrYDvLlokj
CMdZ0lOAWFQzWVebUdPvTD+hFraulyLxeET7fcZeowJik8BViBha3+eBAoGAPolt
f+hVjOyDMpyiTAnnbfrc2SOgK7imIrLCfWOKj1IcjEzaFYOO5xCE4UjSvkBjYwOw
R+vbcHs7hC0J/RcflZ3RDZUY7UBtL/J92CxsRBqCXF3tNGAfX0LIhiOndCICA4DN
D3gyiAz4b9QwtTdfsmVA9NynjBkSGUIjFa4Q+xECgYB7WLY+SjrGmmBw9LH7hShZ
WYY6mhvYjFwECzsHAJ0AUocIy6M19FEiH6KYPNzs4AtMoiBVdOl/Wzty6SrBQZiG
50H32YO37YUU09SjB1rRpU/1Dv2PWrM2vPdqdBkcXSJi8IsfFfKyHvBwGX05JU2K
QBIEekryjEBCHEAYiNmUmg==
-----END PRIVATE KEY-----
"""


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "publisher.crt", tmp_path / "publisher.key"
    cert.write_text(TEST_CERT)
    key.write_text(TEST_KEY)
    return cert, key


def tls_server(tls_files: tuple[Path, Path], **kwargs: Any) -> RawServer:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls_files)
    return RawServer(tls=context, **kwargs)


def test_tarpits(raw: RawServer, tmp_path: Path, tls_files: tuple[Path, Path]) -> None:
    """SECURITY.md B.19: a server that accepts and never sends a status line, one that sends
    half a status line, and a TLS server that never answers the ClientHello: each ends at the
    deadline, classified as ``deadline``; the page is scheduled again later (backoff), not
    dropped."""
    tarpit_tls = tls_server(tls_files, handshake=False)
    try:
        urls = [raw.route("/silent", silent), raw.route("/partial", partial_status),
                tarpit_tls.url("/")]
        run = archiver_fetch(*urls, env={"ARCHIVER_DEADLINE": str(DEADLINE)})
        db = tmp_path / "archive.db"
        assert run.code == 1 and "Traceback" not in run.err, run.err
        for url in urls:
            row = capture(db, url)
            assert row["error"] == "deadline", row
            assert row["elapsed_ms"] <= (DEADLINE + 1) * 1000, row
        rows = db_rows(db, "SELECT url, error_count, last_checked_at, next_check_at FROM pages")
        assert len(rows) == 3
        for _url, errors, checked, next_check in rows:
            assert errors == 1 and next_check is not None and next_check > checked
        assert run.worst_mb < PEAK_MB
        assert run.seconds < DEADLINE * 3 + 15
    finally:
        tarpit_tls.close()


def test_tls_stall_after_handshake(monkeypatch: pytest.MonkeyPatch,
                                   tls_files: tuple[Path, Path]) -> None:
    """SECURITY.md B.19: a TLS server whose certificate is trusted completes the handshake and
    then never answers: ``deadline``. (The trust is given in process, by handing the fetcher an
    SSL context that knows the test CA; the fetcher itself reads no CA from the environment.)"""
    server = tls_server(tls_files)
    try:
        server.route("/stall", silent)
        server.route("/ok", lambda out, request: out.respond(b"fine"))
        trusting = ssl.create_default_context(cafile=str(tls_files[0]))
        monkeypatch.setattr(httpx, "create_ssl_context", lambda **kwargs: trusting)
        monkeypatch.setenv("ARCHIVER_DEADLINE", "2")
        with Fetcher(load_config()) as fetcher:
            assert fetcher.fetch(server.url("/ok")).body == b"fine"
            started = time.monotonic()
            result = fetcher.fetch(server.url("/stall"))
            assert result.error == "deadline", result
            assert time.monotonic() - started < 3.5
    finally:
        server.close()


def test_certificates_are_checked_and_loaded_only_for_https(monkeypatch: pytest.MonkeyPatch,
                                                             tls_files: tuple[Path, Path]) -> None:
    """The CA bundle is loaded at the first https connection, not when the fetcher is made (a
    run over plain http never spends those 20 ms), and the context that is loaded checks
    certificates: a self-signed one is refused as ``tls``."""
    server = tls_server(tls_files)
    loads: list[Any] = []
    real = ssl.SSLContext.load_verify_locations

    def counted(self: ssl.SSLContext, *args: Any, **kwargs: Any) -> None:
        loads.append(args or kwargs)
        real(self, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counted)
    try:
        server.route("/ok", lambda out, request: out.respond(b"fine"))
        with Fetcher(load_config()) as fetcher:
            assert loads == []
            result = fetcher.fetch(server.url("/ok"))
            again = fetcher.fetch(server.url("/ok"))
        assert result.error == again.error == "tls", result
        assert len(loads) == 1, loads
    finally:
        server.close()


def test_resolver_that_never_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """SECURITY.md B.19 (in process): a DNS lookup that hangs (the system resolver has no
    timeout we control) still ends at the whole-request deadline, as ``deadline``."""
    real = socket.getaddrinfo
    release = threading.Event()

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "tarpit.test":
            release.wait(30)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setenv("ARCHIVER_DEADLINE", "1.5")
    try:
        with Fetcher(load_config()) as fetcher:
            started = time.monotonic()
            result = fetcher.fetch("http://tarpit.test/")
            took = time.monotonic() - started
        assert result.error == "deadline", result
        assert took < 2.5, took
    finally:
        release.set()


# -- B.20 redirect loops and long chains ----------------------------------------------------------------

def redirect_to(location: str | Callable[[RawRequest], str], status: str = "302 Found") -> Handler:
    def handler(out: Out, request: RawRequest) -> None:
        target = location(request) if callable(location) else location
        out.respond(b"", status, Location=target)
    return handler


def test_redirect_loops_and_chains(raw: RawServer, tmp_path: Path) -> None:
    """SECURITY.md B.20: ``/loop{n}`` -> ``/loop{n+1}`` forever, ping-pong between two
    publisher ports, a 301 to itself and a 6-hop chain stop with ``too_many_redirects`` after
    at most max_redirects + 1 requests each, with no snapshot; a 5-hop chain is followed."""
    other = RawServer()
    try:
        def loop(request: RawRequest) -> str:
            return f"/loop{int(request.path.removeprefix('/loop')) + 1}"

        for n in range(50):
            raw.route(f"/loop{n}", redirect_to(loop))
        raw.route("/ping", redirect_to(other.url("/pong"), "307 Temporary Redirect"))
        other.route("/pong", redirect_to(raw.url("/ping"), "308 Permanent Redirect"))
        raw.route("/self", redirect_to("/self", "301 Moved Permanently"))
        for n in range(6):
            raw.route(f"/six{n}", redirect_to(f"/six{n + 1}"))
            raw.route(f"/five{n}", redirect_to(f"/five{n + 1}"))
        raw.route("/six6", lambda out, request: out.respond(article("End of six")))
        raw.route("/five5", lambda out, request: out.respond(article("End of five")))

        starts = {"loop": raw.url("/loop0"), "ping": raw.url("/ping"), "self": raw.url("/self"),
                  "six": raw.url("/six0")}
        for name, url in starts.items():
            before = raw.page_hits() + other.page_hits()
            run = archiver_fetch(url)
            assert run.code == 1, (name, run.out, run.err)
            row = capture(tmp_path / "archive.db", url)
            assert row["error"] == "too_many_redirects", (name, row)
            assert len(json.loads(row["redirects"])) == MAX_REDIRECTS + 1
            assert raw.page_hits() + other.page_hits() - before <= MAX_REDIRECTS + 1, name
        assert snapshot_count(tmp_path / "archive.db") == 0

        five = raw.url("/five0")
        run = archiver_fetch(five)
        assert run.code == 0, (run.out, run.err)
        assert capture(tmp_path / "archive.db", five)["final_url"] == raw.url("/five5")
        assert snapshot_count(tmp_path / "archive.db") == 1
    finally:
        other.close()


# -- B.21 protocol garbage ---------------------------------------------------------------------------

def test_protocol_garbage(raw: RawServer, tmp_path: Path, tls_files: tuple[Path, Path]) -> None:
    """SECURITY.md B.21: a 200 KB header, 10k headers, a truncated body (Content-Length 100,
    10 bytes sent), a truncated chunked body, conflicting Content-Lengths, a garbage status
    line, an immediate close and an untrusted certificate each give a classified capture; a
    truncated body is never a snapshot (even a truncated article that would extract); the TLS
    failure is not retried without verification (one connection)."""
    page = article("Truncated article")

    def big_header(out: Out, request: RawRequest) -> None:
        out.send(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 200_000 + b"\r\nContent-Length: 2\r\n\r\nok")

    def many_headers(out: Out, request: RawRequest) -> None:
        headers = b"".join(b"X-H%d: v\r\n" % i for i in range(10_000))
        out.send(b"HTTP/1.1 200 OK\r\n" + headers + b"Content-Type: text/html\r\nContent-Length: %d"
                 b"\r\nConnection: close\r\n\r\n" % len(page) + page)

    def truncated(out: Out, request: RawRequest) -> None:
        out.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n"
                 % (len(page) + 100) + page)

    def truncated_chunked(out: Out, request: RawRequest) -> None:
        out.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n"
                 + b"%x\r\n%s\r\n" % (len(page), page))

    def cl_100(out: Out, request: RawRequest) -> None:
        out.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")

    def conflicting(out: Out, request: RawRequest) -> None:
        out.send(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nContent-Length: 20\r\n\r\n0123456789")

    def garbage(out: Out, request: RawRequest) -> None:
        out.send(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")

    def hang_up(out: Out, request: RawRequest) -> None:
        out.conn.close()

    cases = {
        "big header": (big_header, {"protocol_error"}),
        "truncated": (truncated, {"truncated"}),
        "truncated chunked": (truncated_chunked, {"truncated"}),
        "cl 100": (cl_100, {"truncated"}),
        "conflicting": (conflicting, {"protocol_error"}),
        "garbage": (garbage, {"protocol_error"}),
        "hang up": (hang_up, {"protocol_error"}),
    }
    urls = {name: raw.route(f"/g{i}", handler) for i, (name, (handler, _)) in enumerate(cases.items())}
    many = raw.route("/many", many_headers)
    untrusted = tls_server(tls_files)
    try:
        untrusted.route("/", lambda out, request: out.respond(page))
        run = archiver_fetch(*urls.values(), many, untrusted.url("/"))
        assert "Traceback" not in run.err, run.err
        db = tmp_path / "archive.db"
        for name, (_, expected) in cases.items():
            row = capture(db, urls[name])
            assert row["error"] in expected, (name, row)
            assert row["body_sha256"] is None, (name, row)
        tls_row = capture(db, untrusted.url("/"))
        assert tls_row["error"] == "tls", tls_row
        assert untrusted.connections == 1 and untrusted.hits() == 0
        assert capture(db, many)["error"] is None  # 10k small headers are accepted
        snapshots = db_rows(db, "SELECT c.requested_url FROM snapshots s JOIN captures c "
                                "ON c.id = s.capture_id")
        assert snapshots == [(many,)]
        assert run.worst_mb < PEAK_MB
    finally:
        untrusted.close()


# -- B.22 starvation (at the pipeline level) ------------------------------------------------------------

def test_slow_hosts_do_not_starve_a_healthy_one(tmp_path: Path) -> None:
    """SECURITY.md B.22, at the level of one `archiver fetch` run (the daemon's scheduler is
    not built yet): 20 slowloris pages on 10 hosts, more than there are fetch threads, listed
    before 1 healthy page on another host. The deadline frees the threads, so the healthy page
    is archived about one deadline in, every slow fetch ends as ``deadline``, and the run ends
    in about two deadlines."""
    deadline = 2.0
    slow_hosts = [RawServer(f"127.0.0.{10 + i}") for i in range(10)]
    healthy = Site("127.0.0.3")
    try:
        good = healthy.route("/news", article("Healthy host"))
        slow = [server.route(f"/slow{j}", trickle) for server in slow_hosts for j in range(2)]
        allowed = ",".join(f"127.0.0.{n}/32" for n in [3, *range(10, 20)])
        env = {"ARCHIVER_DEADLINE": str(deadline), "ARCHIVER_ALLOW_NETWORKS": allowed,
               "ARCHIVER_OBEY_ROBOTS": "false", "PYTHONUNBUFFERED": "1"}
        started = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "archiver", "fetch", *slow, good],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, **env})
        good_at = None
        lines = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if good in line:
                good_at = time.monotonic() - started
        proc.wait(timeout=120)
        total = time.monotonic() - started
        assert good_at is not None and "new snapshot" in "".join(lines), lines
        db = tmp_path / "archive.db"
        assert db_rows(db, "SELECT count(*) FROM captures WHERE error = 'deadline'") == [(20,)]
        # the healthy page waited for a free thread (one deadline), never for all the slow ones
        assert good_at < total - deadline / 2, (good_at, total)
        assert good_at < 2 * deadline + 5, good_at
        assert total < 3 * deadline + 10, total
        print(f"healthy page archived after {good_at:.1f}s of a {total:.1f}s run")
        assert all(sum(1 for r in s.requests if r.path.startswith("/slow")) == 2 for s in slow_hosts)
    finally:
        healthy.close()
        for server in slow_hosts:
            server.close()

"""Shared test harness: real HTTP servers on loopback, a real SQLite file, the real CLI."""

from __future__ import annotations

import gzip
import http.server
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "corpus"
MOSCOW = SHARED / "fixtures" / "moscowtimes"


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0            # seconds before answering
    trickle: float | None = None  # seconds between single bytes of the body


Handler = Callable[["Request"], Response]


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    started: float
    ended: float = 0.0


class Site:
    """A real HTTP server on a loopback address, serving per-path responses and logging requests."""

    def __init__(self, host: str = "127.0.0.1"):
        self.routes: dict[str, Response | Handler] = {}
        self.requests: list[Request] = []
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()
        self.server = http.server.ThreadingHTTPServer((host, 0), self._handler_class())
        self.server.daemon_threads = True
        self.host, self.port = self.server.server_address[:2]
        self.base = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return self.base + path

    def route(self, path: str, body: bytes | str = b"", status: int = 200,
              content_type: str = "text/html; charset=utf-8", **kwargs: Any) -> str:
        headers = dict(kwargs.pop("headers", {}))
        if content_type:
            headers.setdefault("Content-Type", content_type)
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.routes[path] = Response(status, data, headers, **kwargs)
        return self.url(path)

    def handle(self, path: str, handler: Handler) -> str:
        self.routes[path] = handler
        return self.url(path)

    def hits(self, path: str | None = None) -> int:
        return sum(1 for r in self.requests if path is None or r.path == path)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler_class(self) -> type[http.server.BaseHTTPRequestHandler]:
        site = self

        class _Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body leave in two writes: with Nagle's algorithm the body would wait
            # for the client's delayed ACK of the headers (40 ms a response). Real servers set
            # TCP_NODELAY too.
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                return None

            def do_GET(self) -> None:
                request = Request(self.path, {k.lower(): v for k, v in self.headers.items()},
                                  time.monotonic())
                with site._lock:
                    site.requests.append(request)
                    site.active += 1
                    site.max_active = max(site.max_active, site.active)
                try:
                    site._respond(self, request)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    request.ended = time.monotonic()
                    with site._lock:
                        site.active -= 1

        return _Handler

    def _respond(self, handler: http.server.BaseHTTPRequestHandler, request: Request) -> None:
        route = self.routes.get(request.path) or self.routes.get(request.path.split("?")[0])
        if route is None:
            response = Response(404, b"not found", {"Content-Type": "text/plain"})
        elif callable(route):
            response = route(request)
        else:
            response = route
        if response.delay:
            time.sleep(response.delay)
        handler.send_response(response.status)
        for key, value in response.headers.items():
            handler.send_header(key, value)
        if response.trickle is None:
            handler.send_header("Content-Length", str(len(response.body)))
        else:
            handler.send_header("Connection", "close")
        handler.end_headers()
        if response.trickle is None:
            handler.wfile.write(response.body)
            return
        for i in range(len(response.body)):
            handler.wfile.write(response.body[i:i + 1])
            handler.wfile.flush()
            time.sleep(response.trickle)


class Clock:
    """An injectable clock for a Session: time moves only when a test moves it."""

    def __init__(self) -> None:
        self.start = self.now = datetime.now(timezone.utc).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def at(self, **delta: float) -> datetime:
        self.now = self.start + timedelta(**delta)
        return self.now


@pytest.fixture
def clocked_session(tmp_path: Path) -> Iterator[tuple[Any, Clock]]:
    """An in-process Session on a fresh archive, with one worker and a Clock the test moves."""
    from archiver.jobs.session import Session
    from archiver.settings import load_config

    clock = Clock()
    config = load_config(environ={"ARCHIVER_ALLOW_NETWORKS": "127.0.0.1/32", "ARCHIVER_PER_HOST_DELAY": "0",
                                  "ARCHIVER_WORKERS": "1", "ARCHIVER_DB": str(tmp_path / "a.db")})
    with Session(config, clock=clock) as session:
        yield session, clock


@pytest.fixture
def site() -> Iterator[Site]:
    server = Site()
    yield server
    server.close()


@pytest.fixture(scope="session")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The small archive that test_serve and test_browser read (and never write), built once per
    run by test_serve.build_archive."""
    from test_serve import build_archive

    site = Site()
    try:
        yield build_archive(site, tmp_path_factory.mktemp("archive"))
    finally:
        site.close()


@pytest.fixture(scope="session")
def server(archive: Any) -> Iterator[Any]:
    """``archiver serve`` on that archive, shared the same way."""
    from test_serve import serving

    with serving(archive.db, archive.workdir, archive.env) as running:
        yield running


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test runs in its own directory with settings that reach only loopback servers."""
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith("ARCHIVER_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("ARCHIVER_ALLOW_NETWORKS", "127.0.0.1/32")
    monkeypatch.setenv("ARCHIVER_PER_HOST_DELAY", "0")
    monkeypatch.setenv("ARCHIVER_DB", str(tmp_path / "archive.db"))


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_cli(*args: str, input: str | None = None, env: dict[str, str] | None = None,
            timeout: float = 120) -> Result:
    """Run the real `archiver` command in a child process."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "archiver", *args], capture_output=True, text=True,
                          input=input, env=full_env, timeout=timeout)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def assert_clean_error(result: Result, *needles: str) -> None:
    """A one-line error naming the problem, a non-zero exit, and no traceback."""
    assert result.code != 0, result
    assert "Traceback" not in result.err + result.out, result.err
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) >= 1, result
    for needle in needles:
        assert needle.lower() in result.err.lower(), (needle, result.err)


def moscow_site(site: Site) -> dict[str, str]:
    """Serve the Moscow Times fixture on ``site``; return its URLs by name."""
    feed = (MOSCOW / "feed.xml").read_text(encoding="utf-8").replace("{{BASE}}", site.base)
    urls = {"feed": site.route("/rss/news", feed, content_type="application/rss+xml; charset=utf-8")}
    for name, path in {
        "article": "/2015/01/13/kim-jong-un-reportedly-due-to-visit-moscow-in-may-a42825",
        "tram-line": "/2015/01/13/city-council-approves-new-tram-line-a42824",
        "winter-festival": "/2015/01/12/winter-festival-opens-in-gorky-park-a42810",
    }.items():
        urls[name] = site.route(path, (MOSCOW / f"{name}.html").read_bytes())
    return urls


def gunzip_file(path: Path) -> bytes:
    return gzip.decompress(path.read_bytes())


def db_rows(db_path: Path | str, sql: str, params: tuple = ()) -> list[tuple]:
    import sqlite3
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()

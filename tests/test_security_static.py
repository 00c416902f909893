"""Static guards (issue 6, SECURITY.md A.8, A.11, D.36): checks on the source of archiver/, by
its syntax tree, so that a side path around the one guarded client cannot creep in.

- only ``archiver/net/fetcher.py`` imports an HTTP (or other network) client library, and only
  ``archiver/jobs/cluster.py`` the job broker's clients (Dramatiq, redis-py);
- only ``archiver/net/fetcher.py`` opens sockets (others may ask for their host name);
- every ``feedparser.parse`` call is handed ``io.BytesIO(...)``, never a str or bytes that
  feedparser would try as a path or URL; feedparser's own fetcher is never used;
- trafilatura's downloader is never called, and in any process that has imported
  ``archiver.content.extractor`` it raises instead of touching the network.
"""

from __future__ import annotations

import ast
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator

import pytest

from conftest import REPO

PACKAGE = REPO / "archiver"
FETCHER = PACKAGE / "net" / "fetcher.py"

NETWORK_MODULES = {
    "httpx", "httpcore", "h11", "h2", "requests", "urllib3", "aiohttp", "pycurl", "http.client",
    "urllib.request", "ftplib", "telnetlib", "smtplib", "poplib", "imaplib", "nntplib",
    "xmlrpc.client", "webbrowser", "socketserver", "asyncio.streams", "websocket", "websockets",
} | {"redis", "dramatiq", "pika", "kombu", "celery"}
# The job broker of distributed mode (issue 14) is reached by one module. It is user configuration
# (``broker_url``), like a notification target, never an address taken from fetched content, and
# it carries no fetch: every request for untrusted content still goes through the fetcher, on the
# worker. So its clients are allowed there, and there only.
BROKER = PACKAGE / "jobs" / "cluster.py"
BROKER_CLIENTS = {"redis", "dramatiq"}
DOWNLOADER = {"fetch_url", "fetch_response", "is_live_page", "buffered_downloads",
              "buffered_response_downloads", "_send_urllib_request", "_send_pycurl_request",
              "find_feed_urls", "sitemap_search", "focused_crawler", "urlopen", "urlretrieve"}


def sources() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def imported_modules(tree: ast.Module) -> Iterator[tuple[str, int]]:
    """Every module an import statement names, with the line, ``from a import b`` giving both
    ``a`` and ``a.b`` (so ``from urllib import request`` is ``urllib.request``)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, node.lineno
            for alias in node.names:
                yield f"{node.module}.{alias.name}", node.lineno
        elif isinstance(node, ast.Call) and _dotted(node.func) in ("importlib.import_module",
                                                                   "__import__", "import_module"):
            if node.args and isinstance(node.args[0], ast.Constant):
                yield str(node.args[0].value), node.lineno


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _is_network(module: str) -> bool:
    return any(module == m or module.startswith(m + ".") for m in NETWORK_MODULES)


def test_the_package_is_found() -> None:
    """SECURITY.md A.11 (harness): the checks below see the whole package."""
    files = [p.name for p, _ in sources()]
    assert "fetcher.py" in files and len(files) > 5


def test_only_the_fetcher_imports_network_clients() -> None:
    """SECURITY.md A.11, issue 6 static guards: httpx, httpcore, requests, urllib3, aiohttp,
    http.client, urllib.request (and other network clients) are imported by
    archiver/net/fetcher.py alone."""
    offenders = [f"{path.relative_to(REPO)}:{line} imports {module}"
                 for path, tree in sources() if path != FETCHER
                 for module, line in imported_modules(tree) if _is_network(module)
                 and not (path == BROKER and module.split(".")[0] in BROKER_CLIENTS)]
    assert offenders == []


def test_the_broker_module_imports_its_clients_and_no_http_client() -> None:
    """Issue 14 (harness): the exception above is not vacuous (the broker module does import
    Dramatiq and redis-py) and is no wider than the broker's clients."""
    modules = {m for m, _ in imported_modules(ast.parse(BROKER.read_text()))}
    assert {"dramatiq", "redis"} <= modules
    assert not [m for m in modules if _is_network(m) and m.split(".")[0] not in BROKER_CLIENTS]


def test_the_fetcher_does_import_its_client() -> None:
    """SECURITY.md A.11 (harness): the guard above is not vacuous: the fetcher's own imports
    are seen."""
    modules = {m for m, _ in imported_modules(ast.parse(FETCHER.read_text()))}
    assert {"httpx", "httpcore"} <= modules


def test_no_sockets_outside_the_fetcher() -> None:
    """SECURITY.md A.11: no module but the fetcher opens a connection itself (``socket.socket``,
    ``create_connection``, ``getaddrinfo``, ``urlopen``...). Asking for the host name is fine."""
    allowed = {"socket.gethostname", "socket.getfqdn"}
    offenders = []
    for path, tree in sources():
        if path == FETCHER:
            continue
        for node in ast.walk(tree):
            name = _dotted(node.func) if isinstance(node, ast.Call) else ""
            if name.startswith("socket.") and name not in allowed or name.endswith(
                    ("create_connection", "getaddrinfo", "urlopen", "urlretrieve")):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno} calls {name}")
            if isinstance(node, (ast.ImportFrom,)) and node.module == "socket":
                names = {a.name for a in node.names}
                if names - {"gethostname", "getfqdn"}:
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno} imports from socket")
    assert offenders == []


def feedparser_calls(tree: ast.Module) -> Iterator[ast.Call]:
    """Calls of feedparser's ``parse``, however it was imported."""
    local_names = {"feedparser.parse", "feedparser.api.parse"}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("feedparser", "feedparser.api"):
            for alias in node.names:
                if alias.name == "parse":
                    local_names.add(alias.asname or alias.name)
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "feedparser" and alias.asname:
                    local_names.add(f"{alias.asname}.parse")
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _dotted(node.func) in local_names:
            yield node


def _is_bytesio(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and _dotted(node.func) in ("io.BytesIO", "BytesIO")


def test_feedparser_is_only_given_bytesio() -> None:
    """SECURITY.md A.8, issue 6 static guards: every ``feedparser.parse(`` call in archiver/
    passes ``io.BytesIO(...)`` as its document (a str or bytes may be opened as a path or URL,
    verified in SECURITY.md §0.2), and there is at least one such call."""
    calls, offenders = 0, []
    for path, tree in sources():
        for call in feedparser_calls(tree):
            calls += 1
            document = call.args[0] if call.args else next(
                (k.value for k in call.keywords if k.arg == "url_file_stream_or_string"), None)
            if document is None or not _is_bytesio(document):
                offenders.append(f"{path.relative_to(REPO)}:{call.lineno}")
    assert offenders == []
    assert calls >= 1, "feedparser.parse is not called anywhere: is the check still looking right?"


def test_feedparser_fetcher_never_used() -> None:
    """SECURITY.md §1.2: feedparser's own fetcher (urllib, no cap, no address check) is not
    imported, and feedparser is used from one module only."""
    users, offenders = set(), []
    for path, tree in sources():
        for module, line in imported_modules(tree):
            if module == "feedparser" or module.startswith("feedparser."):
                users.add(path.name)
            if module.startswith(("feedparser.http", "feedparser.api._open_resource")):
                offenders.append(f"{path.relative_to(REPO)}:{line} imports {module}")
    assert offenders == []
    assert users == {"feeds.py"}, users


def test_trafilatura_downloader_never_called() -> None:
    """SECURITY.md D.36: no module in archiver/ calls trafilatura's (or any) downloader:
    ``fetch_url``, ``fetch_response``, ``is_live_page``, ``urlopen``... (replacing them, as the
    extractor does, is not calling them); trafilatura is imported by the extractor alone, and by
    its speedups (archiver.content.speedups), which only the extractor imports."""
    offenders, users, speedups_users = [], set(), set()
    for path, tree in sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                name = _dotted(node.func).rsplit(".", 1)[-1]
                if name in DOWNLOADER:
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno} calls {name}")
        for module, _line in imported_modules(tree):
            if module == "trafilatura" or module.startswith("trafilatura."):
                users.add(path.name)
            if module == "archiver.content.speedups":
                speedups_users.add(path.name)
    assert offenders == []
    assert users == {"extractor.py", "speedups.py"}, users
    assert speedups_users == {"extractor.py"}, speedups_users


TRAFILATURA_PROBE = r"""
import sys
import archiver.content.extractor  # disables trafilatura's network functions in this process
import trafilatura, trafilatura.downloads, trafilatura.feeds, trafilatura.settings, trafilatura.sitemaps
# trafilatura's own SSRF guard would refuse loopback: turn it off, so that only archiver's
# patch stands between these calls and the server
trafilatura.settings.DEFAULT_CONFIG["DEFAULT"]["SSRF_PROTECTION"] = "off"
url = sys.argv[1]
config = trafilatura.settings.DEFAULT_CONFIG
calls = {
    "trafilatura.fetch_url": lambda: trafilatura.fetch_url(url),
    "trafilatura.fetch_response": lambda: trafilatura.fetch_response(url),
    "downloads.fetch_url": lambda: trafilatura.downloads.fetch_url(url),
    "downloads.fetch_response": lambda: trafilatura.downloads.fetch_response(url),
    "downloads._send_urllib_request": lambda: trafilatura.downloads._send_urllib_request(url, False, config),
    "downloads.is_live_page": lambda: trafilatura.downloads.is_live_page(url),
    "feeds.fetch_url": lambda: trafilatura.feeds.fetch_url(url),
    # these two catch every exception themselves; what matters is that they reach nothing
    "feeds.find_feed_urls": lambda: trafilatura.feeds.find_feed_urls(url),
    "sitemaps.sitemap_search": lambda: trafilatura.sitemaps.sitemap_search(url),
}
for name, call in calls.items():
    try:
        result = call()
    except Exception as exc:
        print(f"{name}: raised {type(exc).__name__}")
    else:
        print(f"{name}: returned {result!r:.80}")
"""
MUST_RAISE = ("trafilatura.fetch_url", "trafilatura.fetch_response", "downloads.fetch_url",
              "downloads.fetch_response", "downloads._send_urllib_request", "downloads.is_live_page",
              "feeds.fetch_url")


class Listener:
    """A loopback TCP listener that counts connections (any method, HEAD included) and answers
    each with a small HTML page."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/"
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(65536)
                    body = b"<html><body><p>" + b"served " * 50 + b"</p></body></html>"
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: "
                                 + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()


def test_trafilatura_downloader_raises_after_extractor_import(tmp_path: Path) -> None:
    """SECURITY.md D.36: in a fresh process that imports ``archiver.content.extractor`` (as every
    extraction worker does), trafilatura's network entry points raise, and a listener on
    loopback gets no connection at all, even with trafilatura's own SSRF guard switched off:
    the downloader (with its insecure TLS fallback) is unusable, whatever the address."""
    listener = Listener()
    try:
        probe = subprocess.run([sys.executable, "-c", TRAFILATURA_PROBE, listener.url],
                               capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert probe.returncode == 0, probe.stderr
        outcomes = dict(line.split(": ", 1) for line in probe.stdout.splitlines())
        assert set(outcomes) >= set(MUST_RAISE), probe.stdout
        not_raised = {k: outcomes[k] for k in MUST_RAISE if not outcomes[k].startswith("raised")}
        assert not_raised == {}, probe.stdout
        assert listener.connections == 0, probe.stdout
    finally:
        listener.close()


def test_trafilatura_probe_would_reach_the_server(tmp_path: Path) -> None:
    """SECURITY.md D.36 (harness): the probe above is not vacuous: without
    ``archiver.content.extractor`` imported, the same calls do connect to the loopback listener."""
    listener = Listener()
    try:
        probe_without = TRAFILATURA_PROBE.replace("import archiver.content.extractor", "pass")
        subprocess.run([sys.executable, "-c", probe_without, listener.url],
                       capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert listener.connections > 0
    finally:
        listener.close()


@pytest.mark.parametrize("fragment", ["verify=False", "trust_env=True", "CERT_NONE",
                                      "check_hostname = False"])
def test_no_tls_or_proxy_weakening(fragment: str) -> None:
    """SECURITY.md B.21 / A.10: nothing in archiver/ turns certificate checks off or lets
    httpx read proxies from the environment."""
    offenders = [str(p.relative_to(REPO)) for p, _ in sources()
                 if fragment.replace(" ", "") in p.read_text().replace(" ", "")]
    assert offenders == []

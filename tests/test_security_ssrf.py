"""SECURITY.md §4 section A: SSRF and URL policy (items 1-12).

The set-up of every test here: a *publisher* on 127.0.0.2 (the allowed "public" host, through
``allow_networks = ["127.0.0.2/32"]``) and a *victim* on 127.0.0.1 that must never be reached.
The ``victim`` fixture fails the test at teardown if it got a single request.

Two kinds of test:
- in-process, on ``Fetcher`` itself, with ``httpcore.SyncBackend.connect_tcp`` wrapped so that
  every connect attempt is recorded (and one to anything but loopback fails the test without a
  packet being sent): this proves that a blocked address is refused *before* any connect, and is
  where the resolver is controlled (``socket.getaddrinfo`` patched) for items 4 and 5;
- end to end, through the real ``archiver fetch`` in a child process, on real loopback addresses
  only, asserting on the captures it records.
"""

from __future__ import annotations

import http.server
import ipaddress
import itertools
import json
import os
import socket
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import httpcore
import pytest

from conftest import Response, Site, assert_clean_error, db_rows, run_cli

from archiver.net.addresses import BlockedAddress, embedded_ipv4, vet_address, why_not_public
from archiver.net.fetcher import Fetcher
from archiver.settings import SETTINGS, load_config
from archiver.content.urls import BadURL, canonical_url, check_url, redact_url

PUBLISHER_ONLY = "127.0.0.2/32"
REFUSALS = {"blocked_address", "bad_url", "unsupported_scheme", "credentials_in_url"}

PARAGRAPHS = [
    "The harbour authority published its annual report on Monday, describing a year in which "
    "traffic through the port grew for the first time since the closure of the old shipyard.",
    "Officials said the new container terminal had attracted three shipping lines, and that the "
    "dredging of the outer channel would be finished before the winter storms arrive.",
    "Residents of the waterfront district welcomed the figures but asked again for a noise "
    "barrier along the rail line that carries containers through the town at night.",
]


def article(title: str, extra: str = "") -> str:
    """An HTML article page the extractor keeps, with ``extra`` markup in its body."""
    body = "".join(f"<p>{p}</p>" for p in PARAGRAPHS)
    return (f"<html><head><title>{title}</title></head><body><nav>Home | Port | City</nav>"
            f"<article><h1>{title}</h1>{body}{extra}</article><footer>Contact</footer></body></html>")


# -- fixtures ------------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def _publisher_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test allowlist of SECURITY.md §4 harness 2: only the publisher's address is allowed."""
    monkeypatch.setenv("ARCHIVER_ALLOW_NETWORKS", PUBLISHER_ONLY)


def site_on(host: str, port: int) -> Site:
    """A conftest ``Site`` bound to a chosen port (a victim on the publisher's very port)."""
    class FixedPort(http.server.ThreadingHTTPServer):
        def __init__(self, address: Any, handler: Any) -> None:
            super().__init__((address[0], port), handler)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(http.server, "ThreadingHTTPServer", FixedPort)
        return Site(host)


@pytest.fixture
def pair() -> Iterator[tuple[Site, Site]]:
    """(publisher on 127.0.0.2:P, victim on 127.0.0.1:P): the same port, so that only the address
    decides which one a request reaches. The victim must end with 0 hits."""
    for _ in range(20):
        publisher = Site("127.0.0.2")
        try:
            victim = site_on("127.0.0.1", publisher.port)
        except OSError:
            publisher.close()
            continue
        break
    else:
        pytest.fail("no port free on both 127.0.0.1 and 127.0.0.2")
    victim.route("/", "victim")
    yield publisher, victim
    publisher.close()
    victim.close()
    assert victim.hits() == 0, [r.path for r in victim.requests]


@pytest.fixture
def victim() -> Iterator[Site]:
    """The internal service on 127.0.0.1; the test fails if it receives any request."""
    server = Site("127.0.0.1")
    server.route("/", "internal admin page")
    server.route("/latest/meta-data/", "ami-id\ninstance-id\n", content_type="text/plain")
    yield server
    server.close()
    assert server.hits() == 0, [r.path for r in server.requests]


@pytest.fixture
def publisher() -> Iterator[Site]:
    server = Site("127.0.0.2")
    yield server
    server.close()


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every TCP connect the in-process fetcher attempts, as (address, port). A connect to
    anything but loopback fails the test before a packet leaves (SECURITY.md: never let a test
    send a packet beyond loopback)."""
    attempts: list[tuple[str, int]] = []
    real = httpcore.SyncBackend.connect_tcp

    def recording(self: Any, host: str, port: int, timeout: float | None = None,
                  local_address: str | None = None, socket_options: Any = None) -> Any:
        attempts.append((host, port))
        ip = ipaddress.ip_address(host)
        ip = getattr(ip, "ipv4_mapped", None) or ip
        if not ip.is_loopback:
            raise AssertionError(f"the fetcher tried to connect to {host}:{port}")
        return real(self, host, port, timeout, local_address, socket_options)

    monkeypatch.setattr(httpcore.SyncBackend, "connect_tcp", recording)
    return attempts


@pytest.fixture
def fetcher(connects: list[tuple[str, int]]) -> Iterator[Fetcher]:
    """The real Fetcher with the effective settings (allowlist: the publisher only)."""
    with Fetcher(load_config()) as client:
        yield client


def fake_dns(monkeypatch: pytest.MonkeyPatch, names: dict[str, Callable[[], list[str]]]) -> None:
    """Patch socket.getaddrinfo: each name in ``names`` answers what its function returns;
    everything else (IP literals the backend connects to) goes to the real resolver."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        name = host.decode() if isinstance(host, bytes) else host
        if name in names:
            answers = []
            for address in names[name]():
                if ":" in address:
                    answers.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0)))
                else:
                    answers.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)))
            return answers
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def fetch_cli(*urls: str, env: dict[str, str] | None = None) -> Any:
    return run_cli("fetch", *urls, env=env, timeout=120)


def captures_by_url(db: Path) -> dict[str, dict[str, Any]]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return {r["requested_url"]: dict(r) for r in conn.execute("SELECT * FROM captures")}
    finally:
        conn.close()


def snapshot_urls(db: Path) -> set[str]:
    rows = db_rows(db, "SELECT c.requested_url FROM snapshots s JOIN captures c ON c.id = s.capture_id")
    return {r[0] for r in rows}


def database_text(db: Path) -> str:
    """Every value in every table, bodies decompressed: for 'this never reached the archive'."""
    from archiver.store.db import load_body, open_db

    conn = sqlite3.connect(db)
    try:
        chunks = []
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            cursor = conn.execute(f'SELECT * FROM "{table}"')
            columns = [d[0] for d in cursor.description]
            for row in cursor:
                fields = dict(zip(columns, row))
                for value in row:
                    if isinstance(value, bytes):
                        if table == "bodies":
                            value = load_body(open_db(db), fields["sha256"])
                        value = value.decode("utf-8", "replace")
                    chunks.append(str(value))
        return "\n".join(chunks)
    finally:
        conn.close()


# -- A.1 private and reserved targets ---------------------------------------------------------------

PRIVATE_LITERALS = ["169.254.169.254", "10.0.0.1", "172.16.0.1", "192.168.1.1", "100.64.0.1",
                    "[fc00::1]", "[fe80::1]", "224.0.0.1", "0.0.0.0", "[::1]", "127.0.0.1",
                    "[::]", "255.255.255.255", "198.18.0.1"]


def test_private_and_reserved_literals_refused_before_connect(fetcher: Fetcher, victim: Site,
                                                               connects: list) -> None:
    """SECURITY.md A.1: private, loopback, link-local, CGNAT, ULA, multicast and unspecified
    addresses are refused with ``blocked_address`` before any TCP connect is attempted."""
    for host in PRIVATE_LITERALS:
        result = fetcher.fetch(f"http://{host}:{victim.port}/latest/meta-data/")
        assert result.error == "blocked_address", (host, result)
        assert result.body is None and result.status is None
    assert connects == []


def test_localhost_names_refused(fetcher: Fetcher, victim: Site, connects: list) -> None:
    """SECURITY.md A.1: ``localhost`` (any case, trailing dot) resolves to loopback: refused
    (``localhost.`` does not resolve at all on some systems: then it is a ``dns`` failure)."""
    for host in ("localhost", "LOCALHOST", "localhost.", "LocalHost."):
        result = fetcher.fetch(f"http://{host}:{victim.port}/")
        expected = {"blocked_address", "dns"} if host.endswith(".") else {"blocked_address"}
        assert result.error in expected, (host, result)
    assert connects == []


def test_cli_private_targets_recorded_publisher_archived(publisher: Site, victim: Site,
                                                        tmp_path: Path) -> None:
    """SECURITY.md A.1 (end to end): `archiver fetch` of loopback targets records a capture
    with ``blocked_address`` and no snapshot for each, while the publisher's page is archived."""
    good = publisher.route("/news/port", article("Port traffic grows"))
    blocked = [f"http://{h}:{victim.port}/" for h in ("127.0.0.1", "localhost", "[::1]", "0.0.0.0")]
    result = fetch_cli(good, *blocked)
    assert result.code == 1, result
    assert "Traceback" not in result.err
    db = tmp_path / "archive.db"
    captures = captures_by_url(db)
    for url in blocked:
        assert captures[url]["error"] == "blocked_address", captures[url]
        assert captures[url]["body_sha256"] is None
    assert captures[good]["error"] is None
    assert snapshot_urls(db) == {good}
    assert publisher.hits("/news/port") == 1


# -- A.2 alternative IPv4 notations -------------------------------------------------------------

NEVER_FETCHED = {"blocked_address", "bad_url", "dns"}  # dns: `localhost.` may not resolve
NOTATIONS = ["2130706433", "0x7f000001", "0x7f.0.0.1", "127.1", "0177.0.0.1", "127。0。0。1",
             "127．0．0．1", "LOCALHOST", "localhost.", "017700000001", "127.0.1"]


def test_alternative_ipv4_notations_never_fetched(fetcher: Fetcher, victim: Site,
                                                  connects: list) -> None:
    """SECURITY.md A.2: decimal, hex, octal, short and full-width-dot spellings of 127.0.0.1
    are refused (blocked or invalid URL), with no connect attempted."""
    for host in NOTATIONS:
        result = fetcher.fetch(f"http://{host}:{victim.port}/")
        assert result.error in NEVER_FETCHED, (host, result)
    assert connects == []


def test_cli_alternative_notations(publisher: Site, victim: Site, tmp_path: Path) -> None:
    """SECURITY.md A.2 (end to end): every notation is recorded as refused, none reaches the
    victim, and the publisher's page in the same run is archived."""
    good = publisher.route("/story", article("Ferry timetable changes"))
    odd = [f"http://{host}:{victim.port}/" for host in NOTATIONS[:7]]
    result = fetch_cli(good, *odd)
    assert result.code == 1, result
    captures = captures_by_url(tmp_path / "archive.db")
    refused = {url: c for url, c in captures.items() if url != good}
    assert all(c["error"] in NEVER_FETCHED for c in refused.values()), refused
    # spellings with the same canonical URL (the two full-width dots) are one page
    assert len(refused) == len({canonical_url(u) for u in odd}), sorted(refused)
    assert snapshot_urls(tmp_path / "archive.db") == {good}


# -- A.3 IPv6 forms that embed IPv4 --------------------------------------------------------------

def teredo_for(client: str, server: str = "65.54.227.120") -> str:
    """The Teredo address (2001::/32) whose obfuscated client field is ``client``."""
    value = (0x20010000 << 96) | (int(ipaddress.IPv4Address(server)) << 64)
    value |= int(ipaddress.IPv4Address(client)) ^ 0xFFFFFFFF
    return str(ipaddress.IPv6Address(value))


EMBEDDING = ["::ffff:127.0.0.1", "::ffff:7f00:1", "64:ff9b::7f00:1", "2002:7f00:1::",
             teredo_for("127.0.0.1"), "::127.0.0.1", "64:ff9b::a9fe:a9fe", "::ffff:169.254.169.254",
             "64:ff9b:1::a00:1", "2002:a00:1::1"]


@pytest.mark.parametrize("address, why", [
    ("127.0.0.1", "loopback"), ("10.0.0.1", "private"), ("172.16.0.1", "private"),
    ("192.168.1.1", "private"), ("169.254.169.254", "link-local"), ("100.64.0.1", "not public"),
    ("0.0.0.0", "unspecified"), ("224.0.0.1", "multicast"), ("239.255.255.250", "multicast"),
    ("255.255.255.255", None), ("192.0.0.1", None), ("192.88.99.1", None), ("198.18.0.1", None),
    ("240.0.0.1", None), ("::1", "loopback"), ("::", "unspecified"), ("fc00::1", "private"),
    ("fd12:3456::1", "private"), ("fe80::1", "link-local"), ("ff02::1", "multicast"),
    ("2001:db8::1", None), ("100::1", None),
    ("::ffff:127.0.0.1", "embeds 127.0.0.1"), ("::ffff:7f00:1", "embeds 127.0.0.1"),
    ("64:ff9b::7f00:1", "embeds 127.0.0.1"), ("64:ff9b::a9fe:a9fe", "embeds 169.254.169.254"),
    ("2002:7f00:1::", "embeds 127.0.0.1"), (teredo_for("127.0.0.1"), "embeds 127.0.0.1"),
    ("::127.0.0.1", "embeds 127.0.0.1"), ("64:ff9b:1::1", None),
])
def test_classifier_table(address: str, why: str | None) -> None:
    """SECURITY.md A.3 (and §2 ipaddress truth table): the classifier unwraps mapped, NAT64,
    6to4, Teredo and IPv4-compatible addresses, and catches what ``is_global`` misses
    (multicast, CGNAT, NAT64, 6to4)."""
    reason = why_not_public(ipaddress.ip_address(address))
    assert reason is not None, address
    if why is not None:
        assert reason.startswith(why), (address, reason)


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111",
                                     "::ffff:8.8.8.8", "2002:808:808::1", "64:ff9b::808:808"])
def test_classifier_public(address: str) -> None:
    """SECURITY.md A.3: public addresses (also when embedded) are not refused."""
    assert why_not_public(ipaddress.ip_address(address)) is None
    assert vet_address("example.org", address)


def test_embedded_ipv4_unwrapping() -> None:
    """SECURITY.md A.3: the IPv4 address each IPv6 form carries."""
    for address in EMBEDDING[:6]:
        assert embedded_ipv4(ipaddress.IPv6Address(address)) == ipaddress.IPv4Address("127.0.0.1")
    assert embedded_ipv4(ipaddress.IPv4Address("127.0.0.1")) is None
    assert embedded_ipv4(ipaddress.IPv6Address("2606:4700::1")) is None


def test_ipv6_embedding_ipv4_never_connected(fetcher: Fetcher, victim: Site, connects: list) -> None:
    """SECURITY.md A.3: ``[::ffff:127.0.0.1]``, ``[::ffff:7f00:1]``, NAT64, 6to4, Teredo and
    IPv4-compatible forms of internal addresses are refused before connect."""
    for address in EMBEDDING:
        result = fetcher.fetch(f"http://[{address}]:{victim.port}/")
        assert result.error == "blocked_address", (address, result)
    assert connects == []


def test_cli_ipv4_mapped(publisher: Site, victim: Site, tmp_path: Path) -> None:
    """SECURITY.md A.3 (end to end): the mapped forms, which a dual-stack socket would deliver
    to 127.0.0.1, are refused and recorded."""
    good = publisher.route("/a", article("Tide tables"))
    mapped = [f"http://[{a}]:{victim.port}/" for a in ("::ffff:127.0.0.1", "::ffff:7f00:1")]
    result = fetch_cli(good, *mapped)
    assert result.code == 1, result
    captures = captures_by_url(tmp_path / "archive.db")
    assert all(captures[u]["error"] == "blocked_address" for u in mapped), captures
    assert snapshot_urls(tmp_path / "archive.db") == {good}


# -- A.4 names resolving to private addresses -----------------------------------------------------

def test_names_resolving_to_private_addresses(monkeypatch: pytest.MonkeyPatch,
                                              pair: tuple[Site, Site]) -> None:
    """SECURITY.md A.4: ``internal-name.test`` -> 127.0.0.1 is refused, and ``multi.test`` ->
    [127.0.0.2, 127.0.0.1] is refused because *any* answer is private, even though the first
    answer is the allowed publisher. Neither server is reached."""
    publisher, victim = pair
    publisher.route("/", article("Should not be fetched"))
    fake_dns(monkeypatch, {"internal-name.test": lambda: ["127.0.0.1"],
                           "multi.test": lambda: ["127.0.0.2", "127.0.0.1"],
                           "multi6.test": lambda: ["127.0.0.2", "::1"],
                           "cloud.test": lambda: ["169.254.169.254"]})
    with Fetcher(load_config()) as client:
        for name in ("internal-name.test", "multi.test", "multi6.test", "cloud.test"):
            result = client.fetch(f"http://{name}:{publisher.port}/")
            assert result.error == "blocked_address", (name, result)
    assert publisher.hits() == 0


def test_allowed_name_is_fetched(monkeypatch: pytest.MonkeyPatch, pair: tuple[Site, Site]) -> None:
    """SECURITY.md A.4 (control): a name whose only answer is allowed is fetched normally."""
    publisher, _victim = pair
    publisher.route("/", article("Fetched by name"))
    fake_dns(monkeypatch, {"publisher.test": lambda: ["127.0.0.2"]})
    with Fetcher(load_config()) as client:
        result = client.fetch(f"http://publisher.test:{publisher.port}/")
    assert result.ok, result
    assert publisher.hits() == 1


def test_address_literals_need_no_resolver_thread(monkeypatch: pytest.MonkeyPatch,
                                                  pair: tuple[Site, Site]) -> None:
    """An address literal is read where it is (``AI_NUMERICHOST``), without the thread that
    bounds a name's lookup; a name still gets that thread. Both answers are vetted alike."""
    import threading

    publisher, _victim = pair
    publisher.route("/", article("By address and by name"))
    fake_dns(monkeypatch, {"publisher.test": lambda: ["127.0.0.2"]})
    started: list[str] = []

    class Recorded(threading.Thread):
        def start(self) -> None:
            started.append(self.name)
            super().start()

    monkeypatch.setattr(threading, "Thread", Recorded)
    with Fetcher(load_config()) as client:
        by_address = client.fetch(f"http://127.0.0.2:{publisher.port}/")
        assert by_address.ok, by_address
        assert not [n for n in started if n.startswith("resolve")], started
        by_name = client.fetch(f"http://publisher.test:{publisher.port}/")
        blocked = client.fetch(f"http://127.0.0.1:{publisher.port}/")
    assert by_name.ok, by_name
    assert [n for n in started if n.startswith("resolve")] == ["resolve publisher.test"], started
    assert blocked.error == "blocked_address", blocked


# -- A.5 DNS rebinding ----------------------------------------------------------------------------

@pytest.mark.parametrize("keep_alive", [True, False])
def test_dns_rebinding(monkeypatch: pytest.MonkeyPatch, pair: tuple[Site, Site],
                       keep_alive: bool, connects: list) -> None:
    """SECURITY.md A.5: ``rebind.test`` alternates 127.0.0.2 (allowed) and 127.0.0.1 over 20
    sequential fetches, with keep-alive on and off. The address vetted is the address connected
    to: the victim (same port) gets 0 hits, the publisher at least one."""
    publisher, victim = pair
    headers = {} if keep_alive else {"Connection": "close"}
    publisher.route("/", article("Rebinding"), headers=headers)
    answers = itertools.cycle([["127.0.0.2"], ["127.0.0.1"]])
    fake_dns(monkeypatch, {"rebind.test": lambda: next(answers)})
    outcomes = []
    with Fetcher(load_config()) as client:
        for _ in range(20):
            result = client.fetch(f"http://rebind.test:{publisher.port}/")
            outcomes.append(result.error or "ok")
    assert publisher.hits() >= 1
    assert set(outcomes) <= {"ok", "blocked_address"}
    assert all(host == "127.0.0.2" for host, _port in connects), connects
    if not keep_alive:
        assert outcomes.count("blocked_address") >= 9, outcomes


# -- A.6 redirects into the internal network ------------------------------------------------------

def test_redirects_into_internal_network(publisher: Site, victim: Site, tmp_path: Path) -> None:
    """SECURITY.md A.6: 301, 302, 303, 307 and 308 to the victim, to ``2130706433``, to a
    protocol-relative URL, to a mapped IPv6 literal after a host switch and a relative hop, and a
    3-hop chain whose last hop is internal: every hop is vetted, the fetch fails with
    ``blocked_address``, no snapshot, and ``final_url`` is the last allowed hop."""
    second = Site("127.0.0.2")
    try:
        v = victim.port
        urls: dict[str, str] = {}
        for status in (301, 302, 303, 307, 308):
            urls[f"r{status}"] = publisher.route(f"/r{status}", "", status=status,
                                                 headers={"Location": f"http://127.0.0.1:{v}/"})
        urls["numeric"] = publisher.route("/numeric", "", status=302,
                                          headers={"Location": f"http://2130706433:{v}/"})
        urls["proto"] = publisher.route("/proto", "", status=302,
                                        headers={"Location": f"//127.0.0.1:{v}/latest/meta-data/"})
        urls["localhost"] = publisher.route("/lh", "", status=307,
                                            headers={"Location": f"http://localhost:{v}/"})
        # host switch to a second allowed server, a relative hop there, then internal
        urls["switch"] = publisher.route("/switch", "", status=302,
                                         headers={"Location": second.url("/start")})
        second.route("/start", "", status=301, headers={"Location": "/next"})
        second.route("/next", "", status=302, headers={"Location": f"http://[::ffff:7f00:1]:{v}/"})
        # a 3-hop chain on the publisher, only the last hop internal
        urls["chain"] = publisher.route("/c1", "", status=301, headers={"Location": "/c2"})
        publisher.route("/c2", "", status=302, headers={"Location": "c3"})
        publisher.route("/c3", "", status=307, headers={"Location": f"http://0x7f000001:{v}/"})
        good = publisher.route("/fine", article("Still archived"))

        result = fetch_cli(good, *urls.values())
        assert result.code == 1, result
        db = tmp_path / "archive.db"
        captures = captures_by_url(db)
        for name, url in urls.items():
            capture = captures[url]
            assert capture["error"] == "blocked_address", (name, capture)
            assert capture["body_sha256"] is None
            hops = json.loads(capture["redirects"])
            assert capture["final_url"] == hops[-1]["url"], (name, capture)
        assert captures[urls["chain"]]["final_url"] == publisher.url("/c3")
        assert len(json.loads(captures[urls["chain"]]["redirects"])) == 3
        assert captures[urls["switch"]]["final_url"] == second.url("/next")
        assert snapshot_urls(db) == {good}
        assert second.hits("/next") == 1
    finally:
        second.close()


def test_redirect_refusal_in_process(fetcher: Fetcher, publisher: Site, victim: Site,
                                     connects: list) -> None:
    """SECURITY.md A.6 (in process): a redirect to a private literal is refused before connect;
    the only connects are to the publisher."""
    for target in ("http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/",
                   f"http://[::ffff:127.0.0.1]:{victim.port}/", "http://[fe80::1]/"):
        start = publisher.route("/go", "", status=302, headers={"Location": target})
        result = fetcher.fetch(start)
        assert result.error == "blocked_address", (target, result)
        assert result.final_url == start
        assert result.redirects[-1]["location"] == target
    assert {host for host, _ in connects} == {"127.0.0.2"}


# -- A.7 non-HTTP schemes ---------------------------------------------------------------------------

@pytest.fixture
def sentinel(tmp_path: Path) -> tuple[Path, str]:
    """A local file whose content must never reach the archive."""
    secret = f"SECRET-{uuid.uuid4().hex}"
    path = tmp_path / "private" / "credentials.txt"
    path.parent.mkdir()
    path.write_text(secret + "\n")
    return path, secret


def test_non_http_schemes_refused(publisher: Site, victim: Site, tmp_path: Path,
                                  sentinel: tuple[Path, str]) -> None:
    """SECURITY.md A.7: redirects to ``file://``, ``ftp://``, ``gopher://``, ``dict://``,
    ``data:``, ``javascript:`` and ``feed://`` are refused with ``unsupported_scheme``; the
    sentinel file's content never appears in the database; the victim gets 0 hits."""
    path, secret = sentinel
    v = victim.port
    targets = [path.as_uri(), f"ftp://127.0.0.1:{v}/", f"gopher://127.0.0.1:{v}/_INFO",
               f"dict://127.0.0.1:{v}/info", "data:text/html,<p>hello</p>", "javascript:alert(1)",
               f"feed://127.0.0.1:{v}/", f"file://localhost{path}", "mailto:x@example.org"]
    urls = [publisher.route(f"/s{i}", "", status=302, headers={"Location": t})
            for i, t in enumerate(targets)]
    result = fetch_cli(*urls)
    assert result.code == 1, result
    db = tmp_path / "archive.db"
    captures = captures_by_url(db)
    for url, target in zip(urls, targets):
        assert captures[url]["error"] == "unsupported_scheme", (target, captures[url])
    assert db_rows(db, "SELECT count(*) FROM snapshots") == [(0,)]
    assert secret not in database_text(db)
    assert secret not in result.out + result.err


def test_cli_refuses_non_http_arguments(victim: Site, sentinel: tuple[Path, str],
                                        tmp_path: Path) -> None:
    """SECURITY.md A.7: given directly on the command line, non-http(s) URLs are a one-line
    error naming the problem, and nothing is fetched or read."""
    path, secret = sentinel
    for url in (path.as_uri(), f"gopher://127.0.0.1:{victim.port}/_INFO", "feed://example.org/rss",
                "data:text/plain,hello", str(path)):
        result = fetch_cli(url)
        assert_clean_error(result)
        assert secret not in result.out + result.err
    db = tmp_path / "archive.db"
    if db.exists():
        assert secret not in database_text(db)


def test_check_url_schemes() -> None:
    """SECURITY.md A.7 (unit): only http and https pass ``check_url``."""
    for url in ("file:///etc/passwd", "ftp://x/", "gopher://x/", "dict://x/", "data:,x",
                "javascript:alert(1)", "feed://x/", "ws://x/", "//x/", "/etc/passwd", "x"):
        with pytest.raises(BadURL) as caught:
            check_url(url)
        assert caught.value.reason in ("unsupported_scheme", "bad_url"), url
    assert check_url("https://example.org/").hostname == "example.org"


# -- A.8 a body that is a path or a URL ----------------------------------------------------------

def test_body_that_is_a_path_or_url(publisher: Site, victim: Site, tmp_path: Path,
                                    sentinel: tuple[Path, str]) -> None:
    """SECURITY.md A.8: a 200 body that is exactly a local path, a ``file:`` URL or an internal
    URL, served as HTML, RSS or plain text, is treated as data: never opened, never fetched."""
    path, secret = sentinel
    bodies = [str(path), path.as_uri(), f"http://127.0.0.1:{victim.port}/latest/meta-data/"]
    types = ["text/html", "application/rss+xml", "text/plain", "application/xml"]
    urls = [publisher.route(f"/b{i}-{j}", body, content_type=ct)
            for i, body in enumerate(bodies) for j, ct in enumerate(types)]
    result = fetch_cli(*urls)
    assert "Traceback" not in result.err
    db = tmp_path / "archive.db"
    assert secret not in database_text(db)
    assert secret not in result.out + result.err
    assert len(captures_by_url(db)) == len(urls)


# -- A.9 userinfo and parser differentials ----------------------------------------------------------

def test_userinfo_and_parser_differentials(fetcher: Fetcher, victim: Site, connects: list) -> None:
    """SECURITY.md A.9: URLs with credentials, backslashes or an ``@`` that splits parsers are
    refused before any connect; the host connected to is always the host vetted."""
    v = victim.port
    for url in (f"http://u:p@127.0.0.2:{v}/feed", f"http://127.0.0.1:{v}\\@127.0.0.2/",
                f"http://127.0.0.2@127.0.0.1:{v}/", f"http://[::ffff:127.0.0.1]@127.0.0.2:{v}/",
                f"http://127.0.0.1%2f@127.0.0.2:{v}/", f"http://127.0.0.2:{v}@127.0.0.1:{v}/",
                f"http://127.0.0.1:{v}#@127.0.0.2/", f"http://127.0.0.1:{v}?@127.0.0.2/"):
        result = fetcher.fetch(url)
        assert result.error in REFUSALS, (url, result)
        assert "u:p" not in json.dumps(result.__dict__, default=str)
    assert connects == []


def test_credentials_never_stored(publisher: Site, victim: Site, tmp_path: Path) -> None:
    """SECURITY.md A.9: a redirect to a URL with credentials is refused
    (``credentials_in_url``); the user name and password appear in no table and no log line."""
    target = f"http://archuser:s3cretpw@127.0.0.2:{publisher.port}/feed"
    start = publisher.route("/login", "", status=302, headers={"Location": target})
    publisher.route("/feed", article("Members only"))
    result = fetch_cli(start, "--log-level", "DEBUG")
    assert result.code == 1, result
    db = tmp_path / "archive.db"
    assert captures_by_url(db)[start]["error"] == "credentials_in_url"
    everything = database_text(db)
    assert "s3cretpw" not in everything and "archuser" not in everything
    assert "s3cretpw" not in result.out + result.err
    assert publisher.hits("/feed") == 0


def test_redact_url() -> None:
    """SECURITY.md A.9 (unit): what is stored of a URL with credentials."""
    assert redact_url("http://u:p@h:1/x?q#f") == "http://***@h:1/x?q#f"
    assert redact_url("http://h/x") == "http://h/x"
    assert "p@" not in redact_url("http://a:b@c@h/")


# -- A.10 environment proxies ---------------------------------------------------------------------

def test_environment_proxies_ignored(publisher: Site, tmp_path: Path) -> None:
    """SECURITY.md A.10: with HTTP_PROXY, HTTPS_PROXY and ALL_PROXY (both cases) pointing at a
    logging "proxy" on 127.0.0.2, the proxy gets 0 requests and the page is fetched directly."""
    proxy = Site("127.0.0.2")
    try:
        proxy.handle("/", lambda request: Response(200, b"proxied", {}))
        good = publisher.route("/direct", article("Fetched directly"))
        proxy_url = proxy.base
        env = {name: proxy_url for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy",
                                             "https_proxy", "all_proxy")}
        env["NO_PROXY"] = env["no_proxy"] = ""
        result = fetch_cli(good, env=env)
        assert result.code == 0, result
        assert proxy.hits() == 0
        assert publisher.hits("/direct") == 1
        assert snapshot_urls(tmp_path / "archive.db") == {good}
    finally:
        proxy.close()


def test_environment_proxies_ignored_in_process(monkeypatch: pytest.MonkeyPatch, publisher: Site,
                                                connects: list) -> None:
    """SECURITY.md A.10 (in process): the only connection made is to the target itself."""
    proxy = Site("127.0.0.2")
    try:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
            monkeypatch.setenv(name, proxy.base)
        good = publisher.route("/direct", article("Direct"))
        with Fetcher(load_config()) as client:
            assert client.fetch(good).ok
        assert connects == [("127.0.0.2", publisher.port)]
        assert proxy.hits() == 0
    finally:
        proxy.close()


# -- A.11 every fetch path goes through the one client -----------------------------------------------

def test_page_references_are_never_fetched(publisher: Site, victim: Site, tmp_path: Path) -> None:
    """SECURITY.md A.11: a page whose images, scripts, iframes, stylesheets, feed-discovery
    links, canonical link, meta refresh and og:image all point at the victim is archived; the
    extractor and the pipeline fetch none of them (the one client, nothing on the side)."""
    v = f"http://127.0.0.1:{victim.port}"
    extra = (f'<img src="{v}/img.png"><script src="{v}/s.js"></script>'
             f'<iframe src="{v}/frame"></iframe><video src="{v}/v.mp4"></video>'
             f'<object data="{v}/o"></object><embed src="{v}/e"><a href="{v}/link">more</a>'
             f'<form action="{v}/post"><input></form>')
    head = (f'<link rel="alternate" type="application/rss+xml" href="{v}/feed.xml">'
            f'<link rel="stylesheet" href="{v}/style.css"><link rel="canonical" href="{v}/canon">'
            f'<meta http-equiv="refresh" content="0;url={v}/refresh">'
            f'<meta property="og:image" content="{v}/og.png"><link rel="icon" href="{v}/fav.ico">')
    page = article("References everywhere", extra).replace("<head>", "<head>" + head)
    good = publisher.route("/refs", page)
    result = fetch_cli(good)
    assert result.code == 0, result
    assert snapshot_urls(tmp_path / "archive.db") == {good}
    assert publisher.hits("/refs") == 1
    assert {r.path for r in publisher.requests} <= {"/refs", "/robots.txt"}


# -- A.12 the allowlist and its default ------------------------------------------------------------

def test_allow_networks_default_is_deny(monkeypatch: pytest.MonkeyPatch, connects: list) -> None:
    """SECURITY.md A.12: the default allowlist is empty, so loopback is refused; listing
    127.0.0.1/32 admits exactly 127.0.0.1, and 127.0.0.3 stays refused."""
    assert next(s for s in SETTINGS if s.name == "allow_networks").default == []
    assert load_config(environ={}).allow_networks == []
    local = Site("127.0.0.1")
    third = Site("127.0.0.3")
    try:
        local.route("/", article("Local"))
        third.route("/", article("Third"))
        monkeypatch.delenv("ARCHIVER_ALLOW_NETWORKS")
        with Fetcher(load_config()) as client:
            assert client.fetch(local.url("/")).error == "blocked_address"
            assert client.fetch(third.url("/")).error == "blocked_address"
        assert local.hits() == 0 and third.hits() == 0 and connects == []

        monkeypatch.setenv("ARCHIVER_ALLOW_NETWORKS", "127.0.0.1/32")
        with Fetcher(load_config()) as client:
            assert client.fetch(local.url("/")).ok
            assert client.fetch(third.url("/")).error == "blocked_address"
            assert client.fetch(f"http://[::ffff:127.0.0.3]:{third.port}/").error == "blocked_address"
            nat64 = client.fetch(f"http://[64:ff9b::7f00:1]:{local.port}/")
            assert nat64.error == "blocked_address"  # the allowlist is not widened by gateways
        assert local.hits() == 1 and third.hits() == 0
        assert {host for host, _ in connects} == {"127.0.0.1"}
    finally:
        local.close()
        third.close()


def test_vet_address_allowlist_exact() -> None:
    """SECURITY.md A.12 (unit): an allowlist admits its CIDRs and nothing around them."""
    allowed = (ipaddress.ip_network("127.0.0.2/32"), ipaddress.ip_network("192.168.1.0/24"))
    assert vet_address("h", "127.0.0.2", allowed)
    assert vet_address("h", "192.168.1.77", allowed)
    assert vet_address("h", "::ffff:192.168.1.77", allowed)  # the same address, mapped
    for address in ("127.0.0.1", "127.0.0.3", "192.168.2.1", "10.0.0.1", "64:ff9b::c0a8:14d",
                    "2002:c0a8:14d::", "::1"):
        with pytest.raises(BlockedAddress):
            vet_address("h", address, allowed)


def test_cli_default_allowlist_refuses_loopback(tmp_path: Path) -> None:
    """SECURITY.md A.12 (end to end): with ARCHIVER_ALLOW_NETWORKS unset, `archiver fetch` of a
    loopback server is refused and recorded, with 0 hits; listing it admits it."""
    local = Site("127.0.0.1")
    try:
        url = local.route("/page", article("Loopback page"))
        env = {k: v for k, v in os.environ.items() if k != "ARCHIVER_ALLOW_NETWORKS"}
        proc = subprocess.run([sys.executable, "-m", "archiver", "fetch", url], env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1, proc
        assert local.hits() == 0
        assert captures_by_url(tmp_path / "archive.db")[url]["error"] == "blocked_address"
        allowed = fetch_cli(url, env={"ARCHIVER_ALLOW_NETWORKS": "127.0.0.1/32"})
        assert allowed.code == 0, allowed
        assert local.hits("/page") == 1
    finally:
        local.close()


# -- issue 6 'Done when' 1: feeds, entries, discovery, polling ---------------------------------------

def hostile_feed(publisher: Site, victim: Site, sentinel: Path) -> tuple[str, str]:
    """An RSS feed on the publisher whose entries link to the victim in every spelling, through
    a redirect, with non-http schemes, with an enclosure on the victim, plus one good entry.
    Returns (feed URL, the good article's URL)."""
    v = victim.port
    good = publisher.route("/news/good", article("The good entry"))
    bounce = publisher.route("/bounce", "", status=302, headers={"Location": f"http://127.0.0.1:{v}/"})
    links = [good, f"http://127.0.0.1:{v}/secret", f"http://2130706433:{v}/", f"http://0x7f000001:{v}/",
             f"http://127.1:{v}/", f"http://[::ffff:127.0.0.1]:{v}/", f"http://localhost:{v}/",
             f"http://127。0。0。1:{v}/", bounce, sentinel.as_uri(), "javascript:alert(1)",
             f"gopher://127.0.0.1:{v}/_INFO", f"//127.0.0.1:{v}/relative", f"http://u:p@127.0.0.1:{v}/"]
    items = "".join(
        f"<item><title>Entry {i}</title><link>{link.replace('&', '&amp;')}</link>"
        f"<guid>entry-{i}</guid><description>Entry number {i}</description>"
        f'<enclosure url="http://127.0.0.1:{v}/enclosure{i}.mp3" type="audio/mpeg" length="1"/>'
        f"</item>" for i, link in enumerate(links))
    feed = (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Publisher</title><link>{publisher.base}/</link>"
            f"<description>news</description>{items}</channel></rss>")
    url = publisher.route("/feed.xml", feed, content_type="application/rss+xml; charset=utf-8")
    return url, good


def test_feed_entries_never_reach_the_victim(publisher: Site, victim: Site, tmp_path: Path,
                                             sentinel: tuple[Path, str]) -> None:
    """Issue 6 'Done when' 1 (SECURITY.md A.1-A.3, A.6, A.7, A.11 through a feed): `archiver
    fetch FEED` archives the feed's entries; every entry link, enclosure and redirect aimed at
    the victim, in any notation, is refused; the good entry is archived; no local file is read."""
    path, secret = sentinel
    feed_url, good = hostile_feed(publisher, victim, path)
    result = fetch_cli(feed_url)
    assert "Traceback" not in result.err, result.err
    db = tmp_path / "archive.db"
    assert snapshot_urls(db) == {good}, result.out
    assert secret not in database_text(db)


def test_discovery_and_polling_never_reach_the_victim(publisher: Site, victim: Site, tmp_path: Path,
                                                      sentinel: tuple[Path, str]) -> None:
    """Issue 6 'Done when' 1 (SECURITY.md A.11): `archiver add` of a page whose feed-discovery
    links point at the victim (and at the victim through odd notations) subscribes to nothing
    internal; `archiver add FEED` then `archiver poll --all` archives the publisher's entries and
    refuses every entry aimed at the victim."""
    path, secret = sentinel
    v = victim.port
    alternates = "".join(
        f'<link rel="alternate" type="application/rss+xml" href="{href}">'
        for href in (f"http://127.0.0.1:{v}/feed", f"http://2130706433:{v}/rss",
                     f"http://[::ffff:127.0.0.1]:{v}/atom", path.as_uri()))
    page = publisher.route("/home", article("Home page").replace("<head>", "<head>" + alternates))
    added = run_cli("add", page)
    assert "Traceback" not in added.err, added.err
    feed_url, good = hostile_feed(publisher, victim, path)
    subscribed = run_cli("add", feed_url)
    assert subscribed.code == 0, subscribed
    polled = run_cli("poll", "--all")
    assert polled.code == 0, polled
    db = tmp_path / "archive.db"
    feeds = {r[0] for r in db_rows(db, "SELECT url FROM feeds")}
    assert feeds == {feed_url}, feeds
    assert good in snapshot_urls(db)
    assert secret not in database_text(db)

"""archiver serve: a real Datasette process over a real archive, probed over HTTP."""

from __future__ import annotations

import html
import json
import sqlite3
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from sqlite_utils import Database

from conftest import Site, assert_clean_error, moscow_site, run_cli
from archiver.interfaces.datasette_plugin import Segment, inline_script_hashes, web_url, word_diff
from archiver.interfaces.serve import DATASETTE_SETTINGS, load_metadata
from archiver.store.db import ensure_page, find_page_id, insert_snapshot, open_db, transaction, utcnow
from archiver.content.urls import canonical_url

QUERIES = ("latest_articles", "changed_articles", "feed_health", "recent_failures", "url_history")
TABLES = ("snapshots", "pages", "page_urls", "feeds", "entries", "captures", "bodies")
XSS_TITLE = "<script>alert(1)</script> Hostile <img src=x onerror=alert(1)> <svg onload=alert(1)>"
XSS_TEXT = ("Before <script>alert(1)</script> and <img src=x onerror=alert(1)> and "
            "<svg onload=alert(1)> and javascript:alert(1) after")
RAW_PAYLOADS = ("<script>alert", "<img src=x onerror", "<svg onload")


# -- a running server ------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


@dataclass
class ArchiveServer:
    base: str
    log: Path

    def get(self, path: str) -> Reply:
        """GET ``path`` without following redirects."""
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(self.base + path, timeout=30) as response:
                return Reply(response.status, _lower(response.headers), response.read().decode())
        except urllib.error.HTTPError as exc:
            return Reply(exc.code, _lower(exc.headers), exc.read().decode())


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def _lower(headers: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


@contextmanager
def serving(db_path: Path, log_dir: Path, env: dict[str, str] | None = None) -> Iterator[ArchiveServer]:
    """``archiver serve`` on a free port (default host), once it answers."""
    port = free_port()
    log = log_dir / f"serve-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "archiver", "serve", "--db", str(db_path),
                                 "--port", str(port)], stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, **(env or {})}, cwd=log_dir)
    server = ArchiveServer(f"http://127.0.0.1:{port}", log)
    try:
        _wait_until_answering(server, proc)
        yield server
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _wait_until_answering(server: ArchiveServer, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"archiver serve exited {proc.returncode}: {server.log.read_text()}")
        try:
            if server.get("/-/versions.json").status == 200:
                return
        except OSError:
            time.sleep(0.05)  # polling interval while the port opens, not a synchronisation
    raise AssertionError(f"archiver serve did not answer: {server.log.read_text()}")


# -- an archive with real content ----------------------------------------------------------------

def article_html(title: str, paragraphs: list[str], extra: str = "") -> str:
    """A plain news page the extractor reads; ``title`` and ``paragraphs`` are HTML as given."""
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f'<meta name="author" content="Jane Reporter">{extra}</head><body><nav><a href="/">Home</a>'
            f'</nav><article><h1>{title}</h1>\n{body}\n</article><footer>Footer</footer></body></html>')


BUDGET_A = [
    "The city council approved the new budget on Monday after a long debate about transport and schools.",
    "Members said the plan would add twelve buses to the northern routes and repair three bridges.",
    "The mayor thanked residents for their patience and promised a public report before the summer.",
]
BUDGET_B = [
    "The city council rejected the new budget on Tuesday after a long debate about transport and schools.",
    "Members said the plan would add twelve buses to the northern routes and repair three bridges.",
    "The mayor thanked residents for their patience and promised a public report before the autumn.",
]
HOSTILE = [
    "Before &lt;script&gt;alert(1)&lt;/script&gt; and &lt;img src=x onerror=alert(1)&gt; in the first "
    "paragraph, which is long enough to be kept by the extractor as the article's own text.",
    'A link <a href="javascript:alert(1)">javascript:alert(1)</a> and &lt;svg onload=alert(1)&gt; '
    "in the second paragraph, with more words so the extractor treats it as article text too.",
    "A third paragraph closes the hostile article: &lt;/td&gt;&lt;/tr&gt;&lt;script&gt;alert(1)"
    "&lt;/script&gt; and {{7*7}} for template injection, followed by ordinary words.",
]


TRAM = [
    "The new tram line between the station and the university opens to passengers on Saturday morning.",
    "Trams will run every eight minutes on weekdays and every twelve minutes at weekends, the operator said.",
    "Tickets bought for the buses on the same route will be valid on the trams for the first month.",
]
TRAM_CORRECTION = ("Correction: An earlier version of this article gave the wrong interval for weekend "
                   "trams, which run every twelve minutes and not every fifteen.")
# A headline that is markup in the page's source text, as an archived change would carry it.
XSS_HEADLINE = "Hostile </title><script>alert(1)</script> & <img src=x onerror=alert(1)> ]]> \x0b"


@dataclass
class Archive:
    db: Path
    workdir: Path
    env: dict[str, str]
    urls: dict[str, str]
    page_ids: dict[str, int]


def build_archive(site: Site, workdir: Path) -> Archive:
    """The Moscow Times feed and its articles, a page with two versions and a hostile page, all
    fetched by the CLI; plus feeds in trouble and a hostile version written directly."""
    db_path = workdir / "archive.db"
    config = workdir / "archiver.toml"
    config.write_text("", encoding="utf-8")
    env = {"ARCHIVER_DB": str(db_path), "ARCHIVER_CONFIG": str(config),
           "ARCHIVER_ALLOW_NETWORKS": "127.0.0.1/32", "ARCHIVER_PER_HOST_DELAY": "0"}
    urls = moscow_site(site)
    urls["budget"] = site.route("/city/budget", article_html("Council approves budget", BUDGET_A))
    urls["hostile"] = site.route("/hostile", article_html(
        "&lt;script&gt;alert(1)&lt;/script&gt; Hostile &lt;img src=x onerror=alert(1)&gt;", HOSTILE,
        '<link rel="canonical" href="javascript:alert(1)"><script>alert(1)</script>'))
    first = run_cli("fetch", urls["feed"], urls["budget"], urls["hostile"], env=env)
    assert first.code == 0 and first.out.count("new snapshot") == 5, first
    site.route("/city/budget", article_html("Council rejects budget", BUDGET_B))
    urls["budget-redirect"] = site.route("/r/budget", status=302, headers={"Location": "/city/budget"})
    second = run_cli("fetch", urls["budget-redirect"], env=env)  # the second version, via a redirect
    assert second.code == 0 and "new snapshot" in second.out, second
    _fetch_a_changing_article(site, urls, env)
    db = open_db(db_path)
    page_ids = {name: _page_id(db, urls[name]) for name in ("article", "budget", "hostile", "tram")}
    with transaction(db):
        _save_troubled_feeds(db, page_ids["hostile"])
        _save_hostile_version(db, page_ids["hostile"])
    db.conn.close()
    return Archive(db_path, workdir, env, urls, page_ids)


def _fetch_a_changing_article(site: Site, urls: dict[str, str], env: dict[str, str]) -> None:
    """An article fetched as it changes: its headline rewritten, then put back (a revert), a
    correction appended, taken down (404), and back; the hostile page gets a hostile headline."""
    tram = article_html("Tram line opens on Saturday", TRAM)
    steps = [
        ("/city/tram", tram),
        ("/city/tram", article_html("Tram line opening delayed", TRAM)),
        ("/city/tram", tram),
        ("/city/tram", article_html("Tram line opens on Saturday", TRAM + [TRAM_CORRECTION])),
        ("/city/tram", None),
        ("/city/tram", article_html("Tram line opens on Saturday", TRAM + [TRAM_CORRECTION])),
        ("/hostile", article_html(html.escape(XSS_HEADLINE), HOSTILE)),
    ]
    for path, page in steps:
        if page is None:
            urls["tram"] = site.route(path, "gone", status=404, content_type="text/plain")
        else:
            urls["tram" if path == "/city/tram" else "hostile"] = site.route(path, page)
        result = run_cli("fetch", site.url(path), env=env)
        assert result.code == (0 if page else 1), result


def _page_id(db: Database, url: str) -> int:
    page_id = find_page_id(db, canonical_url(url))
    assert page_id is not None, url
    return page_id


def _save_troubled_feeds(db: Database, hostile_page: int) -> None:
    now = utcnow()
    feeds = db["feeds"]
    feeds.insert({"url": "http://127.0.0.1:9/flaky", "title": "Flaky feed", "state": "backoff",
                  "last_status": 503, "error_count": 2, "last_error": "HTTP 503", "last_checked_at": now})
    feeds.insert({"url": "http://127.0.0.1:9/blocked", "title": "Blocked feed", "state": "active",
                  "last_status": 403, "error_count": 1, "last_error": "HTTP 403", "last_checked_at": now})
    hostile = feeds.insert({"url": "http://127.0.0.1:9/feed", "title": XSS_TITLE, "state": "gone",
                            "last_status": 410, "error_count": 1, "last_error": XSS_TEXT,
                            "last_checked_at": now}).last_pk
    db["entries"].insert({"feed_id": hostile, "guid": XSS_TITLE, "page_id": hostile_page,
                          "link": "javascript:alert(1)", "title": XSS_TITLE, "author": XSS_TITLE,
                          "summary": XSS_TEXT, "first_seen_at": now})


def _save_hostile_version(db: Database, page_id: int) -> None:
    capture_id = db["captures"].insert({
        "kind": "page", "requested_url": "javascript:alert(1)", "final_url": "javascript:alert(1)",
        "status": 200, "headers": json.dumps({"x-evil": XSS_TITLE}),
        "redirects": json.dumps([{"url": "javascript:alert(1)", "status": 301, "location": XSS_TITLE}]),
        "started_at": utcnow(), "error": XSS_TITLE, "outcome": XSS_TITLE, "page_id": page_id}).last_pk
    insert_snapshot(db, page_id, {
        "capture_id": capture_id, "captured_at": utcnow(), "content_sha256": "0" * 64,
        "title": XSS_TITLE, "author": XSS_TITLE, "published": XSS_TITLE, "sitename": XSS_TITLE,
        "hostname": XSS_TITLE, "language": XSS_TITLE, "description": XSS_TEXT,
        "canonical_url": "javascript:alert(1)", "text": XSS_TEXT + "\n" + XSS_TITLE,
        "extractor": XSS_TITLE, "categories": json.dumps([XSS_TITLE])})


def snapshot_ids(archive: Archive, name: str) -> list[int]:
    db = open_db(archive.db, readonly=True)
    try:
        return [r[0] for r in db.execute("SELECT id FROM snapshots WHERE page_id = ? ORDER BY version",
                                         [archive.page_ids[name]]).fetchall()]
    finally:
        db.conn.close()


def assert_escaped(html: str, where: str) -> None:
    for payload in RAW_PAYLOADS:
        assert payload not in html, (where, payload)
    assert not re.search(r"""href\s*=\s*["']?\s*javascript:""", html, re.I), where


# -- the command -----------------------------------------------------------------------------------

def test_help_documents_host_and_port() -> None:
    result = run_cli("serve", "--help")
    assert result.code == 0, result
    assert "--host" in result.out and "--port" in result.out
    assert "127.0.0.1" in result.out and "8001" in result.out


def test_a_file_that_is_not_an_archive_is_a_clean_error(tmp_path: Path) -> None:
    not_sqlite = tmp_path / "notes.db"
    not_sqlite.write_text("just some text, not SQLite " * 100, encoding="utf-8")
    assert_clean_error(run_cli("serve", "--db", str(not_sqlite), "--port", str(free_port())), "notes.db")


def test_serves_an_empty_archive_on_loopback(tmp_path: Path) -> None:
    db_path = tmp_path / "fresh" / "archive.db"
    with serving(db_path, tmp_path) as server:
        assert "http://127.0.0.1:" in server.log.read_text()
        for query in QUERIES:
            reply = server.get(f"/archive/{query}.json?_shape=objects&url=https://example.com/a")
            assert reply.status == 200, (query, reply.text[:500])
            assert reply.json()["rows"] == [], query
        for table in TABLES:
            assert server.get(f"/archive/{table}").status == 200, table
        facets = server.get("/archive/snapshots.json").json()["facet_results"]
        assert {"sitename", "language"} <= set(facets)
    assert db_path.exists()


def test_new_rows_appear_while_serving(tmp_path: Path, site: Site) -> None:
    url = site.route("/late", article_html("Late arrival", BUDGET_A))
    with serving(tmp_path / "archive.db", tmp_path) as server:
        assert server.get("/archive/snapshots.json?_search=buses").json()["rows"] == []
        result = run_cli("fetch", url)
        assert result.code == 0, result  # the writer is not locked out by the server
        rows = server.get("/archive/snapshots.json?_search=buses&_shape=objects").json()["rows"]
        assert [r["title"] for r in rows] == ["Late arrival"]


# -- exposure (SECURITY.md test plan 54) ----------------------------------------------------------------

def test_security_headers_on_every_response(server: ArchiveServer, archive: Archive) -> None:
    article = snapshot_ids(archive, "article")[0]
    for path in ("/", "/archive", "/archive/snapshots", "/archive/snapshots.json", f"/-/article/{article}",
                 "/archive/feed_health", "/-/static/app.css", "/-/article/999999", "/archive.db"):
        headers = server.get(path).headers
        assert "script-src 'self'" in headers["content-security-policy"], path
        assert "unsafe-inline" not in headers["content-security-policy"].split("script-src")[1].split(";")[0]
        assert headers["x-frame-options"] == "DENY", path
        assert headers["x-content-type-options"] == "nosniff", path


def test_arbitrary_sql_and_download_are_refused(server: ArchiveServer) -> None:
    assert server.get("/archive.json?sql=select+*+from+captures").status == 403
    assert server.get("/archive?sql=select+1").status == 403
    assert server.get("/archive.db").status == 403
    assert server.get("/archive/snapshots.json?_where=1=1").status in (400, 403)


def test_metadata_renders_no_column_as_html() -> None:
    metadata = json.dumps(load_metadata())
    assert "render_html" not in metadata and "render-html" not in metadata
    assert DATASETTE_SETTINGS["default_allow_sql"] is False


def test_no_markdown_columns_in_schema(archive: Archive) -> None:
    db = open_db(archive.db, readonly=True)
    try:
        columns = [c.name for t in db.tables for c in t.columns]
    finally:
        db.conn.close()
    assert not [c for c in columns if c.endswith("_markdown")]


def test_inline_script_hashes_cover_datasette_templates() -> None:
    import datasette
    hashes = inline_script_hashes([Path(datasette.__file__).parent / "templates"])
    assert len(hashes) >= 4  # close-menus, codemirror, allow-facet true and false
    assert all(h.startswith("'sha256-") for h in hashes)


# -- search, facets, canned queries --------------------------------------------------------------------

def test_search_finds_articles_by_words_in_their_body(server: ArchiveServer) -> None:
    rows = server.get("/archive/snapshots.json?_search=Grybauskaite&_shape=objects").json()["rows"]
    assert [r["title"] for r in rows] == ["Kim Jong Un Reportedly Due to Visit Moscow in May"]
    rows = server.get("/archive/snapshots.json?_search=Yonhap&_shape=objects").json()["rows"]
    assert len(rows) == 1 and rows[0]["author"] == "Richard Ensor"


def test_a_search_is_newest_first_without_count_or_facets_unless_asked(server: ArchiveServer) -> None:
    lean = server.get("/archive/snapshots.json?_search=budget&_shape=objects").json()
    ids = [r["id"] for r in lean["rows"]]
    assert len(ids) >= 2 and ids == sorted(ids, reverse=True)
    assert lean["filtered_table_rows_count"] is None and lean["facet_results"] == {}
    asked = server.get("/archive/snapshots.json?_search=budget&_facet=sitename&_nocount=").json()
    assert asked["filtered_table_rows_count"] == len(ids)
    assert "sitename" in asked["facet_results"]


def test_the_database_page_counts_the_tables_but_not_the_search_index(server: ArchiveServer) -> None:
    tables = {t["name"]: t for t in server.get("/archive.json").json()["tables"]}
    assert tables["snapshots"]["count"] >= 3 and tables["pages"]["count"] >= 3
    assert tables["snapshots_fts_data"]["hidden"] and tables["snapshots_fts_data"]["count"] is None


def test_tables_too_large_to_count_in_time_are_not_counted(tmp_path: Path) -> None:
    """A table whose largest rowid is over what a count reads within the time limit shows no
    count (as a count that ran out of time would), without running the count; the others are
    counted exactly, WITHOUT ROWID ones included."""
    import asyncio

    from archiver.interfaces.serve import COUNTED_ROWS_PER_MS, build_datasette

    db = open_db(tmp_path / "a.db")
    with transaction(db):
        for number in range(3):
            db["feeds"].insert({"url": f"https://f.example/{number}.xml", "state": "active"})
        db["captures"].insert({"id": COUNTED_ROWS_PER_MS * 10 + 1, "kind": "page", "requested_url": "u",
                               "started_at": "2024-01-01T00:00:00+00:00"})
        db.execute("CREATE TABLE notes (k TEXT PRIMARY KEY, v) WITHOUT ROWID")  # a user's own table
        db.execute("INSERT INTO notes VALUES ('a', 1), ('b', 2)")
    db.conn.close()
    counts = asyncio.run(build_datasette(tmp_path / "a.db").get_database("archive").table_counts(10))
    assert counts["captures"] is None  # one row, but its rowid says a count might not finish
    assert counts["feeds"] == 3 and counts["notes"] == 2 and counts["pages"] == 0
    assert counts["snapshots_fts_data"] is None  # hidden: never counted


def test_facets_on_snapshots(server: ArchiveServer) -> None:
    facets = server.get("/archive/snapshots.json").json()["facet_results"]
    sites = {r["value"] for r in facets["sitename"]["results"]}
    assert "The Moscow Times" in sites
    assert "en" in {r["value"] for r in facets["language"]["results"]}
    feed_facets = server.get("/archive/feeds.json").json()["facet_results"]
    assert {r["value"] for r in feed_facets["state"]["results"]} == {"active", "backoff", "gone", "paused"}


def _facet_counts(facet: dict[str, Any]) -> list[tuple[Any, int]]:
    return [(r["value"], r["count"]) for r in facet["results"]]


def test_snapshot_facets_are_read_from_kept_counts_and_count_a_filtered_page(server: ArchiveServer,
                                                                            archive: Archive) -> None:
    db = Database(archive.db)
    whole = server.get("/archive/snapshots.json").json()["facet_results"]
    assert set(whole) == {"sitename", "language", "hostname"}
    for column, facet in whole.items():
        assert facet["type"] == "column" and not facet["hideable"]
        assert _facet_counts(facet) == [tuple(row) for row in db.execute(
            f"SELECT {column}, count(*) AS n FROM snapshots WHERE {column} IS NOT NULL GROUP BY {column} "
            f"ORDER BY n DESC, {column} LIMIT 5")]
    # a filtered page counts its own rows, as Datasette does
    host = whole["hostname"]["results"][0]["value"]
    narrowed = server.get(f"/archive/snapshots.json?hostname={host}&_nocount=1").json()["facet_results"]
    assert _facet_counts(narrowed["hostname"]) == [(host, db.execute(
        "SELECT count(*) FROM snapshots WHERE hostname = ?", [host]).fetchone()[0])]
    assert sum(n for _, n in _facet_counts(narrowed["sitename"])) <= whole["hostname"]["results"][0]["count"]
    page = server.get("/archive/snapshots").text
    assert "sitename" in page and "(counted)" not in page
    assert f"hostname={host}" in page  # each value links to the page filtered by it


def test_page_facets_are_read_from_kept_counts(server: ArchiveServer, archive: Archive) -> None:
    db = Database(archive.db)
    whole = server.get("/archive/pages.json").json()["facet_results"]
    assert set(whole) == {"state", "last_status"}
    for column, facet in whole.items():
        assert facet["type"] == "column" and not facet["hideable"]
        assert _facet_counts(facet) == [tuple(row) for row in db.execute(
            f"SELECT {column}, count(*) AS n FROM pages WHERE {column} IS NOT NULL GROUP BY {column} "
            f"ORDER BY n DESC, {column} LIMIT 5")]
    assert sum(n for _, n in _facet_counts(whole["state"])) == db.execute("SELECT count(*) FROM pages").fetchone()[0]
    # the unfiltered page reads the kept counts (shown here by moving one), a filtered one counts
    with sqlite3.connect(archive.db) as conn:
        conn.execute("UPDATE facet_counts SET count = count + 1000 WHERE tbl = 'pages' AND col = 'state' AND count > 0")
    try:
        moved = server.get("/archive/pages.json").json()["facet_results"]["state"]
    finally:
        with sqlite3.connect(archive.db) as conn:
            conn.execute("UPDATE facet_counts SET count = count - 1000 WHERE tbl = 'pages' AND col = 'state' AND count > 1000")
    assert [n - 1000 for _, n in _facet_counts(moved)] == [n for _, n in _facet_counts(whole["state"])]
    status = whole["last_status"]["results"][0]["value"]
    narrowed = server.get(f"/archive/pages.json?last_status={status}").json()["facet_results"]
    assert _facet_counts(narrowed["last_status"]) == [(status, db.execute(
        "SELECT count(*) FROM pages WHERE last_status = ?", [status]).fetchone()[0])]


def test_an_archive_whose_counts_are_not_kept_yet_gets_its_facets_counted(tmp_path: Path) -> None:
    """`serve` never migrates: on an archive that no version keeping the pages' counts has opened
    yet, the pages page counts its facets itself rather than show empty ones."""
    import asyncio

    from archiver.interfaces.serve import build_datasette

    db = open_db(tmp_path / "a.db")
    with transaction(db):
        for number in range(4):
            ensure_page(db, f"https://p.example/{number}", "2024-01-01T00:00:00+00:00")
        db.execute("UPDATE pages SET last_status = 200")
    for trigger in ("ai", "ad", "au"):  # as before m014_page_facet_counts
        db.execute(f"DROP TRIGGER pages_facets_{trigger}")
    db.execute("DELETE FROM facet_counts WHERE tbl = 'pages'")
    db.execute("DELETE FROM _sqlite_migrations WHERE name = 'm014_page_facet_counts'")
    db.conn.close()

    async def facets() -> dict[str, Any]:
        reply = await build_datasette(tmp_path / "a.db").client.get("/archive/pages.json")
        return dict(reply.json()["facet_results"])

    shown = asyncio.run(facets())
    assert _facet_counts(shown["state"]) == [("active", 4)]
    assert _facet_counts(shown["last_status"]) == [(200, 4)]


def test_canned_queries_on_a_full_archive(server: ArchiveServer, archive: Archive) -> None:
    for query in QUERIES:
        reply = server.get(f"/archive/{query}.json?_shape=objects&url=x")
        assert reply.status == 200, (query, reply.text[:500])
    latest = server.get("/archive/latest_articles.json?_shape=objects").json()["rows"]
    assert "Council rejects budget" in [r["title"] for r in latest]
    assert "Council approves budget" not in [r["title"] for r in latest]
    changed = server.get("/archive/changed_articles.json?_shape=objects").json()["rows"]
    budget = next(r for r in changed if r["page_id"] == archive.page_ids["budget"])
    assert budget["versions"] == 2 and budget["last_change"] == "1..2"
    health = server.get("/archive/feed_health.json?_shape=objects").json()["rows"]
    assert {r["feed"]: r["health"] for r in health} == {
        "The Moscow Times - News": "paused", "Flaky feed": "backoff", XSS_TITLE: "gone",
        "Blocked feed": "blocked"}


def test_history_of_one_url_accepts_any_address_of_the_page(server: ArchiveServer, archive: Archive) -> None:
    from urllib.parse import quote
    url = quote(archive.urls["budget"] + "?utm_source=newsletter#top", safe="")
    rows = server.get(f"/archive/url_history.json?_shape=objects&url={url}").json()["rows"]
    events = [r["event"] for r in rows]
    assert events.count("new version") == 2 and events.count("fetched") == 2


def test_recent_failures_lists_failed_captures(server: ArchiveServer) -> None:
    rows = server.get("/archive/recent_failures.json?_shape=objects").json()["rows"]
    assert any(r["error"] == XSS_TITLE for r in rows)


# -- the article and diff views ----------------------------------------------------------------------

def test_article_view_shows_the_article_and_its_provenance(server: ArchiveServer, archive: Archive) -> None:
    html = server.get(f"/-/article/{snapshot_ids(archive, 'article')[0]}").text
    assert "<h1>Kim Jong Un Reportedly Due to Visit Moscow in May</h1>" in html
    assert "By Richard Ensor" in html and "January 13, 2015" in html
    assert html.index("North Korean leader Kim Jong Un has accepted") < html.index("Kim&#39;s father, Kim Jong Il")
    original = "https://www.themoscowtimes.com/2015/01/13/kim-jong-un-reportedly-due-to-visit-moscow-in-may-a42825"
    assert f'<a href="{original}"' in html
    assert "Cookie" not in html and "Related" not in html
    for needle in ("captured at", "HTTP status", "redirect chain", "body hash", "trafilatura",
                   "The Moscow Times - News", archive.urls["article"]):
        assert needle in html, needle


def test_article_view_links_to_other_versions_and_diffs(server: ArchiveServer, archive: Archive) -> None:
    first, second = snapshot_ids(archive, "budget")
    html = server.get(f"/-/article/{first}").text
    assert f'href="/-/article/{second}"' in html
    assert f'href="/-/diff/{archive.page_ids["budget"]}/1/2"' in html


def test_article_view_shows_the_redirect_chain(server: ArchiveServer, archive: Archive) -> None:
    html = server.get(f"/-/article/{snapshot_ids(archive, 'budget')[1]}").text
    chain = html[html.index('<ol class="redirects">'):html.index("</ol>")]
    assert "302" in chain and archive.urls["budget-redirect"] in chain and archive.urls["budget"] in chain


def test_rows_link_to_the_article_view(server: ArchiveServer, archive: Archive) -> None:
    first, second = snapshot_ids(archive, "budget")
    table = server.get("/archive/snapshots").text
    assert f'<a href="/-/article/{second}">Council rejects budget</a>' in table
    row = server.get(f"/archive/snapshots/{second}").text
    assert f'href="/-/article/{second}"' in row
    pages = server.get("/archive/pages").text
    page_link = f'/-/page/{archive.page_ids["budget"]}'
    assert f'<a href="{page_link}">Council rejects budget</a>' in pages
    redirect = server.get(page_link)
    assert redirect.status == 302 and redirect.headers["location"] == f"/-/article/{second}"


def test_diff_view_marks_changed_words_and_headline(server: ArchiveServer, archive: Archive) -> None:
    reply = server.get(f"/-/diff/{archive.page_ids['budget']}/1/2")
    assert reply.status == 200
    html = reply.text
    assert "<del>approves</del>" in html and "<ins>rejects</ins>" in html  # the headline
    assert "<del>approved</del>" in html and "<ins>rejected</ins>" in html
    assert "<del>Monday</del>" in html and "<ins>Tuesday</ins>" in html
    assert "<del>summer.</del>" in html and "<ins>autumn.</ins>" in html
    assert "<del>buses</del>" not in html and "<ins>buses</ins>" not in html


def test_missing_snapshots_and_versions_are_404(server: ArchiveServer, archive: Archive) -> None:
    assert server.get("/-/article/999999").status == 404
    assert server.get(f"/-/diff/{archive.page_ids['budget']}/1/9").status == 404
    assert server.get("/-/page/999999").status == 404


# -- hostile content (SECURITY.md test plan 52) -----------------------------------------------------

def test_hostile_content_is_escaped_everywhere(server: ArchiveServer, archive: Archive) -> None:
    hostile = snapshot_ids(archive, "hostile")
    paths = [f"/archive/{t}" for t in TABLES] + [f"/archive/{q}?url=javascript:alert(1)" for q in QUERIES]
    paths += [f"/archive/snapshots/{i}" for i in hostile] + [f"/-/article/{i}" for i in hostile]
    paths += [f"/archive/feeds/{i}" for i in (1, 4)] + ["/archive/entries/4", "/archive/captures"]
    paths += [f"/-/diff/{archive.page_ids['hostile']}/1/{len(hostile)}", "/archive/snapshots?_search=alert"]
    for path in paths:
        reply = server.get(path)
        assert reply.status == 200, (path, reply.status)
        assert_escaped(reply.text, path)
    article = server.get(f"/-/article/{hostile[-1]}").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in article
    assert "javascript:alert(1)" in article  # shown as text, never as a link


def test_hostile_json_is_data_not_markup(server: ArchiveServer) -> None:
    reply = server.get("/archive/snapshots.json?_search=Hostile&_shape=objects")
    assert reply.headers["content-type"].startswith("application/json")
    assert any(r["title"] == XSS_TITLE for r in reply.json()["rows"])


# -- pure pieces -------------------------------------------------------------------------------------

def test_word_diff_marks_words_and_keeps_paragraphs() -> None:
    diff = word_diff("one two three\nfour five", "one 2 three\nfour five six")
    assert diff == [
        [Segment("equal", "one"), Segment("delete", "two"), Segment("insert", "2"), Segment("equal", "three")],
        [Segment("equal", "four five"), Segment("insert", "six")],
    ]
    assert word_diff(None, "new") == [[Segment("insert", "new")]]


def test_only_web_urls_become_links() -> None:
    assert web_url("https://example.com/a") == "https://example.com/a"
    for bad in ("javascript:alert(1)", " JavaScript:alert(1)", "data:text/html,x", "//evil.example",
                "http://exa mple.com", "vbscript:x", None, 5):
        assert web_url(bad) is None, bad

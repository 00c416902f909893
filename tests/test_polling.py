"""Issue 3: subscribe to feeds, poll them politely, archive what is new."""

from __future__ import annotations

import email.utils
import json
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from archiver.jobs.polling import due_jobs, poll_once
from archiver.jobs.session import Session
from archiver.jobs.subscriptions import subscribe
from conftest import CORPUS, Clock, Request, Response, Site, assert_clean_error, db_rows, moscow_site, run_cli
from test_fetch import LOREM, article_page

TRAM = "/2015/01/13/city-council-approves-new-tram-line-a42824"


def rss(items: list[tuple[str, str]], title: str = "Test feed") -> str:
    body = "".join(f"<item><title>{t}</title><link>{l}</link><guid>{l}</guid></item>" for t, l in items)
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>{body}</channel></rss>'


def etag_route(site: Site, path: str, body: str, etag: str = '"v1"') -> None:
    """Serve ``body`` with an ETag and answer 304 to a matching If-None-Match."""
    def handler(request: Request) -> Response:
        if request.headers.get("if-none-match") == etag:
            return Response(304, b"", {"ETag": etag})
        return Response(200, body.encode(), {"Content-Type": "application/rss+xml", "ETag": etag,
                                               "Last-Modified": "Tue, 13 Jan 2015 15:30:00 GMT"})
    site.handle(path, handler)


def count(db: Path, table: str, where: str = "1") -> int:
    return db_rows(db, f"SELECT count(*) FROM {table} WHERE {where}")[0][0]


def test_moscow_times_feed(site: Site, tmp_path: Path) -> None:
    """Done-when 1: add + poll gives 3 entries, pages, snapshots; a second poll is a 304."""
    urls = moscow_site(site)
    feed_xml = (CORPUS.parent / "fixtures/moscowtimes/feed.xml").read_text().replace("{{BASE}}", site.base)
    etag_route(site, "/rss/news", feed_xml)
    added = run_cli("add", urls["feed"])
    assert added.code == 0 and "subscribed" in added.out, added
    polled = run_cli("poll")
    assert polled.code == 0, polled
    assert "3 new entries" in polled.out and "3 new snapshots" in polled.out, polled.out
    db = tmp_path / "archive.db"
    assert [count(db, t) for t in ("entries", "pages", "snapshots")] == [3, 3, 3]
    page_urls = {r[0] for r in db_rows(db, "SELECT url FROM pages")}
    assert urls["article"] in page_urls and not any("utm_" in u for u in page_urls)
    author, published, sources = db_rows(
        db, "SELECT author, published, metadata_sources FROM snapshots s JOIN pages p ON p.id = s.page_id "
            "WHERE p.url = ?", (urls["article"],))[0]
    entry_author, entry_published = db_rows(db, "SELECT author, published FROM entries WHERE guid = 'tmt-42825'")[0]
    assert author == entry_author == "Richard Ensor"
    assert published[:10] == entry_published[:10] == "2015-01-13"
    bodies = count(db, "bodies")

    before = len(site.requests)
    again = run_cli("poll", "--all")
    assert again.code == 0, again
    feed_requests = [r for r in site.requests[before:] if r.path == "/rss/news"]
    assert feed_requests and feed_requests[0].headers.get("if-none-match") == '"v1"'
    assert feed_requests[0].headers.get("if-modified-since") == "Tue, 13 Jan 2015 15:30:00 GMT"
    assert "1 not modified" in again.out.replace("(", "").replace(")", ""), again.out
    assert [count(db, t) for t in ("entries", "snapshots", "bodies")] == [3, 3, bodies]
    assert db_rows(db, "SELECT outcome FROM captures WHERE kind = 'feed' ORDER BY id DESC LIMIT 1") == [("not_modified",)]


def test_an_unchanged_re_poll_starts_no_worker_pool_and_no_extractor(site: Site, tmp_path: Path) -> None:
    """An unchanged re-poll (every feed 304) parses and extracts nothing: it neither starts the
    worker pool nor imports pebble, multiprocessing or lxml (about 50 ms of its start-up)."""
    import sqlite3
    import subprocess
    import sys

    page = site.route("/a", article_page("Only once", LOREM))
    etag_route(site, "/feed", rss([("Only once", page)]))
    assert run_cli("add", site.url("/feed")).code == 0
    first = run_cli("poll")
    assert first.code == 0 and "1 new snapshots" in first.out, first
    with sqlite3.connect(tmp_path / "archive.db") as conn:  # feeds only, as the benchmark does
        conn.execute("UPDATE pages SET next_check_at = NULL")
    probe = ("import sys\nfrom archiver.interfaces.cli import cli\n"
             "cli(['poll', '--all'], standalone_mode=False)\n"
             "print(*(name in sys.modules for name in ('pebble', 'multiprocessing', 'lxml')))\n")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert "1 not modified" in proc.stdout.replace("(", ""), proc.stdout + proc.stderr
    assert proc.stdout.split()[-3:] == ["False", "False", "False"], proc.stdout + proc.stderr


def test_same_article_in_two_feeds(site: Site, tmp_path: Path) -> None:
    """Done-when 3: one page, one snapshot, two entries."""
    story = site.route("/story", article_page("Shared story", LOREM))
    site.route("/a.xml", rss([("Shared", story + "?utm_source=a")]), content_type="application/rss+xml")
    site.route("/b.xml", rss([("Shared", story + "?utm_source=b&fbclid=x")]), content_type="application/rss+xml")
    assert run_cli("add", site.url("/a.xml"), site.url("/b.xml")).code == 0
    assert run_cli("poll").code == 0
    db = tmp_path / "archive.db"
    assert [count(db, t) for t in ("pages", "snapshots", "entries")] == [1, 1, 2]


def test_fetch_feed_url_archives_entries_once(site: Site, tmp_path: Path) -> None:
    urls = moscow_site(site)
    result = run_cli("fetch", urls["feed"])
    assert result.code == 0, result
    assert "3 new entries" in result.out
    db = tmp_path / "archive.db"
    assert count(db, "snapshots") == 3
    assert db_rows(db, "SELECT state, next_check_at FROM feeds") == [("paused", None)]


def test_add_discovers_feed_or_says_why_not(site: Site, tmp_path: Path) -> None:
    """Done-when 5: a page linking its feed subscribes it; a plain page is a clear error."""
    site.route("/feed.xml", rss([("One", site.url("/one"))]), content_type="application/rss+xml")
    site.route("/home", '<html><head><link rel="alternate" type="application/rss+xml" href="/feed.xml">'
                        "</head><body>Home</body></html>")
    site.route("/plain", article_page("Plain", LOREM))
    result = run_cli("add", site.url("/home"))
    assert result.code == 0, result
    assert site.url("/feed.xml") in result.out and "linked from" in result.out
    assert db_rows(tmp_path / "archive.db", "SELECT url FROM feeds") == [(site.url("/feed.xml"),)]
    plain = run_cli("add", site.url("/plain"))
    assert_clean_error(plain, "neither a feed", "archiver watch")


def test_opml_import_export(site: Site, tmp_path: Path) -> None:
    """Done-when 6: 50 feeds in nested outlines; export; import again adds nothing; not OPML."""
    groups = []
    for g in range(5):
        inner = "".join(f'<outline type="rss" text="Feed {g}-{i}" xmlUrl="{site.url(f"/f/{g}/{i}.xml")}"/>'
                        for i in range(10))
        groups.append(f'<outline text="Group {g}"><outline text="Sub">{inner}</outline></outline>')
    dup = f'<outline type="rss" text="dup" xmlUrl="{site.url("/f/0/0.xml")}"/>'
    opml = tmp_path / "subs.opml"
    opml.write_text(f'<?xml version="1.0"?><opml version="2.0"><head><title>t</title></head>'
                    f'<body>{"".join(groups)}{dup}</body></opml>')
    first = run_cli("import", str(opml))
    assert first.code == 0, first
    assert "50 feeds added" in first.out
    exported = run_cli("export-opml")
    assert exported.code == 0 and exported.out.count("xmlUrl=") == 50
    again = run_cli("import", str(opml))
    assert "0 feeds added, 50 already subscribed" in again.out
    round_trip = tmp_path / "out.opml"
    round_trip.write_text(exported.out)
    assert "0 feeds added" in run_cli("import", str(round_trip)).out
    not_opml = tmp_path / "x.opml"
    not_opml.write_text("<html><body>hello</body></html>")
    assert_clean_error(run_cli("import", str(not_opml)), "not an OPML")


def test_watched_page(site: Site, tmp_path: Path) -> None:
    """Done-when 7: a watched page that changes gets a snapshot on the next due poll; unchanged, a capture."""
    url = site.route("/terms", article_page("Terms", LOREM))
    assert run_cli("watch", url, "--every", "1s").code == 0
    assert run_cli("poll").code == 0
    db = tmp_path / "archive.db"
    assert count(db, "snapshots") == 1
    time.sleep(1.1)  # the watch interval itself is what is being tested
    assert "0 new snapshots" in run_cli("poll").out
    assert (count(db, "snapshots"), count(db, "captures")) == (1, 2)
    site.route("/terms", article_page("Terms", LOREM[1:] + ["A new clause about arbitration was added to the terms."]))
    time.sleep(1.1)
    assert "1 new snapshots" in run_cli("poll").out
    assert count(db, "snapshots") == 2
    listed = run_cli("sources")
    assert url in listed.out


# -- the status table, in process with a controllable clock ---------------------------------------

@pytest.fixture
def session(clocked_session: tuple[Session, Clock]) -> tuple[Session, Clock]:
    return clocked_session


def feed_row(s: Session) -> dict:
    return dict(next(iter(s.db.query("SELECT * FROM feeds"))))


def seconds_until_next(s: Session, clock: Clock) -> float:
    return (datetime.fromisoformat(feed_row(s)["next_check_at"]) - clock.now).total_seconds()


def poll_due(s: Session) -> None:
    for _ in s.run(due_jobs(s, s.now())):
        pass


def test_unchanged_200_is_not_modified(site: Site, session: tuple[Session, Clock]) -> None:
    s, clock = session
    site.route("/f.xml", rss([("One", site.url("/one"))]), content_type="application/rss+xml")
    subscribe(s.db, site.url("/f.xml"), "test", clock.now)
    poll_once(s, everything=True)
    poll_once(s, everything=True)
    assert db_rows(s.config.db, "SELECT outcome FROM captures WHERE kind='feed' ORDER BY id") == [
        ("parsed",), ("not_modified",)]
    assert feed_row(s)["state"] == "active"


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("form", ["seconds", "date"])
def test_retry_after(site: Site, session: tuple[Session, Clock], status: int, form: str) -> None:
    s, clock = session
    value = "7200" if form == "seconds" else email.utils.format_datetime(clock.now + timedelta(hours=2), usegmt=True)
    site.route("/f.xml", "busy", status=status, headers={"Retry-After": value})
    subscribe(s.db, site.url("/f.xml"), "test", clock.now)
    poll_once(s, everything=False)
    row = feed_row(s)
    assert row["error_count"] == 0 and row["state"] == "active"
    assert 7100 <= seconds_until_next(s, clock) <= 7300
    hits = site.hits("/f.xml")
    clock.advance(3600)
    poll_due(s)
    assert site.hits("/f.xml") == hits  # nothing sent while the window lasts


def test_500_backoff_then_recovery(site: Site, session: tuple[Session, Clock]) -> None:
    s, clock = session
    site.route("/f.xml", "down", status=500)
    subscribe(s.db, site.url("/f.xml"), "test", clock.now)
    delays = []
    for _ in range(5):
        poll_once(s, everything=True)
        delays.append(seconds_until_next(s, clock))
    row = feed_row(s)
    assert row["state"] == "backoff" and row["error_count"] == 5 and "500" in row["last_error"]
    assert all(b >= a for a, b in zip(delays, delays[1:])) and delays[-1] > 4 * delays[0]
    site.route("/f.xml", rss([("One", site.url("/one")), ("Two", site.url("/two"))]),
               content_type="application/rss+xml")
    poll_once(s, everything=True)
    poll_once(s, everything=True)
    row = feed_row(s)
    assert (row["state"], row["error_count"], row["last_error"]) == ("active", 0, None)
    assert db_rows(s.config.db, "SELECT count(*) FROM entries") == [(2,)]


def test_301_adopted_after_confirmations_302_never(site: Site, session: tuple[Session, Clock]) -> None:
    s, clock = session
    site.route("/new.xml", rss([("One", site.url("/one"))]), content_type="application/rss+xml")
    site.route("/old.xml", "", status=301, headers={"Location": "/new.xml"})
    site.route("/temp.xml", "", status=302, headers={"Location": "/new.xml"})
    subscribe(s.db, site.url("/old.xml"), "test", clock.now)
    subscribe(s.db, site.url("/temp.xml"), "test", clock.now)
    for _ in range(s.config.redirect_confirmations - 1):
        poll_once(s, everything=True)
    urls = {r[0] for r in db_rows(s.config.db, "SELECT url FROM feeds")}
    assert urls == {site.url("/old.xml"), site.url("/temp.xml")}
    poll_once(s, everything=True)
    urls = {r[0] for r in db_rows(s.config.db, "SELECT url FROM feeds")}
    assert urls == {site.url("/new.xml"), site.url("/temp.xml")}
    assert db_rows(s.config.db, "SELECT url FROM feed_urls") == [(site.url("/old.xml"),)]
    for _ in range(3):
        poll_once(s, everything=True)
    assert site.url("/temp.xml") in {r[0] for r in db_rows(s.config.db, "SELECT url FROM feeds")}
    assert db_rows(s.config.db, "SELECT count(*) FROM entries") == [(2,)]  # one per feed, none again after the move


def test_404_410_and_html(site: Site, session: tuple[Session, Clock]) -> None:
    s, clock = session
    site.route("/missing.xml", "no", status=404)
    site.route("/gone.xml", "bye", status=410)
    site.route("/page.xml", "<html><head><title>Just a moment</title></head><body>challenge</body></html>")
    for path in ("/missing.xml", "/gone.xml", "/page.xml"):
        subscribe(s.db, site.url(path), "test", clock.now)
    poll_once(s, everything=True)
    rows = {r[0]: r[1:] for r in db_rows(s.config.db, "SELECT url, state, error_count, last_error, next_check_at FROM feeds")}
    assert rows[site.url("/missing.xml")][:2] == ("backoff", 1) and "404" in rows[site.url("/missing.xml")][2]
    assert rows[site.url("/gone.xml")][0] == "gone" and rows[site.url("/gone.xml")][3] is None
    assert rows[site.url("/page.xml")][:2] == ("backoff", 1) and "not_a_feed" in rows[site.url("/page.xml")][2]
    hits = site.hits("/gone.xml")
    poll_once(s, everything=True)
    assert site.hits("/gone.xml") == hits


def corpus_feeds() -> list[dict]:
    return json.loads((CORPUS / "feeds" / "manifest.json").read_text())


@pytest.mark.timeout(600)
def test_corpus_feeds_ingest(site: Site, tmp_path: Path) -> None:
    """Done-when 2: well-formed feeds give the manifest's entry count; ill-formed ones end with
    entries or a recorded error (or, where feedparser itself finds no item, an empty feed parsed
    without complaint), never a crash, and the good feeds beside them are unaffected."""
    expected: dict[str, tuple[str, int | None]] = {}
    for item in corpus_feeds():
        headers = dict(item.get("http_headers") or {})
        content_type = headers.pop("Content-Type", None) or headers.pop("Content-type", None) \
            or "application/xml"
        body = (CORPUS / item["file"]).read_bytes()
        path = "/" + item["file"]
        url = site.route(path, body, content_type=content_type, headers=headers)
        expected[url] = (item["category"], (item.get("checks") or {}).get("entries"))
    outlines = "".join(f'<outline type="rss" xmlUrl="{u.replace("&", "&amp;")}"/>' for u in expected)
    (tmp_path / "corpus.opml").write_text(f'<opml version="2.0"><body>{outlines}</body></opml>')
    imported = run_cli("import", "corpus.opml")
    assert imported.code == 0, imported
    polled = run_cli("poll", timeout=600)
    assert polled.code == 0, polled
    assert "Traceback" not in polled.err
    db = tmp_path / "archive.db"
    rows = {r[0]: r[1:] for r in db_rows(db, "SELECT f.url, f.last_error, f.state, "
                                             "(SELECT count(*) FROM entries e WHERE e.feed_id = f.id) FROM feeds f")}
    assert len(rows) == len(expected)
    wrong = []
    for url, (category, entries) in expected.items():
        last_error, state, stored = rows[url]
        if category == "wellformed":
            ok = last_error is None and stored == min(entries, 500)
        else:  # a few ill-formed files are valid feeds with no items at all: a parse, not a failure
            ok = stored > 0 or last_error is not None or (entries == 0 and state == "active")
        if not ok:
            wrong.append((url.rsplit("/", 1)[-1], category, entries, rows[url]))
    assert not wrong, wrong


@pytest.mark.timeout(120)
def test_enormous_feeds_are_bounded(site: Site, tmp_path: Path) -> None:
    """SECURITY.md B.23: 100k items, and a million tiny ones within the body cap: entries are
    capped (newest first) or the parse budget ends it, recorded either way; never a crash."""
    item = "<item><title>t{0}</title><link>{1}/e/{0}</link><guid>g{0}</guid></item>"
    big = "".join(item.format(i, site.base) for i in range(100_000))
    site.route("/big.xml", f'<rss version="2.0"><channel><title>Big</title>{big}</channel></rss>',
               content_type="application/rss+xml")
    tiny = "<item><guid>x</guid></item>" * 400_000
    site.route("/tiny.xml", f'<rss version="2.0"><channel><title>Tiny</title>{tiny}</channel></rss>',
               content_type="application/rss+xml")
    outlines = "".join(f'<outline xmlUrl="{site.url(p)}"/>' for p in ("/big.xml", "/tiny.xml"))
    (tmp_path / "big.opml").write_text(f'<opml version="2.0"><body>{outlines}</body></opml>')
    assert run_cli("import", "big.opml").code == 0
    started = time.monotonic()
    polled = run_cli("poll", env={"ARCHIVER_EXTRACT_TIMEOUT": "8", "ARCHIVER_OBEY_ROBOTS": "false"}, timeout=100)
    assert polled.code == 0 and "Traceback" not in polled.err, polled
    assert time.monotonic() - started < 60
    db = tmp_path / "archive.db"
    for path in ("/big.xml", "/tiny.xml"):
        stored, last_error, outcome = db_rows(
            db, "SELECT (SELECT count(*) FROM entries e WHERE e.feed_id = f.id), f.last_error, "
                "(SELECT outcome FROM captures c WHERE c.feed_id = f.id ORDER BY c.id DESC LIMIT 1) "
                "FROM feeds f WHERE f.url = ?", (site.url(path),))[0]
        assert stored <= 500
        assert outcome == "parsed_truncated" or (stored == 0 and last_error), (path, stored, last_error, outcome)


def test_feeds_listed_in_the_config_are_synced_in(site: Site, tmp_path: Path) -> None:
    """Feeds in the TOML file become subscriptions on the next poll; listing them again adds nothing."""
    urls = moscow_site(site)
    config = tmp_path / "archiver.toml"
    config.write_text(f'feeds = ["{urls["feed"]}"]\n')
    first = run_cli("poll", "--config", str(config))
    assert first.code == 0 and "3 new entries" in first.out, first
    assert run_cli("poll", "--config", str(config)).code == 0
    assert db_rows(tmp_path / "archive.db", "SELECT url, source, state FROM feeds") == [
        (urls["feed"], "config", "active")]

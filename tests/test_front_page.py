"""The reader's front page and the table pages of `archiver serve`, probed over HTTP: what a visitor
sees first, in which order the tables come, and what the table pages fold away."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import db_rows
from test_serve import XSS_TITLE, Archive, ArchiveServer, assert_escaped, serving, snapshot_ids
from archiver.store.db import open_db


def section(html: str, name: str) -> str:
    """The HTML of one ``<section class="front-section front-NAME">`` of the front page."""
    match = re.search(rf'<section class="front-section front-{name}">(.*?)</section>', html, re.S)
    assert match, name
    return match[1]


def table_links(html: str) -> list[str]:
    """The tables a page links to, in the order it lists them."""
    return re.findall(r'<a href="/archive/([a-z_]+)">', html)


def drop_changes(db_path: Path) -> None:
    """Make ``db_path`` look like an archive from before changes were recorded."""
    db = open_db(db_path)
    try:
        for table in ("notifications", "changes"):
            if db[table].exists():
                db.execute(f"DROP TABLE [{table}]")
    finally:
        db.conn.close()


# -- the front page ------------------------------------------------------------------------------

def test_front_page_has_a_search_box_over_every_version(server: ArchiveServer) -> None:
    html = server.get("/").text
    form = re.search(r'<form class="front-search" action="([^"]+)" method="get"[^>]*>(.*?)</form>', html, re.S)
    assert form and form[1] == "/archive/snapshots"
    assert 'name="_search"' in form[2]
    assert server.get("/archive/snapshots?_search=budget").status == 200


def test_front_page_lists_the_latest_version_of_the_latest_articles(server: ArchiveServer,
                                                                    archive: Archive) -> None:
    latest = section(server.get("/").text, "latest")
    budget = snapshot_ids(archive, "budget")
    assert f'<a href="/-/article/{budget[-1]}">Council rejects budget</a>' in latest
    assert "Council approves budget" not in latest and f"/-/article/{budget[0]}\"" not in latest
    moscow = snapshot_ids(archive, "article")[-1]
    assert f'<a href="/-/article/{moscow}">Kim Jong Un Reportedly Due to Visit Moscow in May</a>' in latest
    assert 'href="/archive/latest_articles"' in latest
    # the newest pages first, as the canned query it links on to lists them
    query = server.get("/archive/latest_articles.json?_shape=objects").json()["rows"]
    shown = [int(i) for i in re.findall(r'<a href="/-/article/(\d+)">', latest)]
    assert shown == [r["snapshot_id"] for r in query][:len(shown)] and len(shown) >= 4


def test_front_page_lists_feeds_in_trouble(server: ArchiveServer) -> None:
    feeds = section(server.get("/").text, "feeds")
    ids = {r["title"]: r["id"] for r in server.get("/archive/feeds.json?_shape=objects").json()["rows"]}
    for title in ("Flaky feed", "Blocked feed"):
        assert f'<a href="/archive/feeds/{ids[title]}">{title}</a>' in feeds, title
    assert f'href="/archive/feeds/{ids[XSS_TITLE]}"' in feeds  # gone, with a hostile title
    assert f'/archive/feeds/{ids["The Moscow Times - News"]}"' not in feeds  # paused, not in trouble
    assert "backoff" in feeds and "HTTP 503" in feeds and "gone" in feeds
    assert 'href="/archive/feed_health"' in feeds
    assert_escaped(feeds, "feeds in trouble")


def test_front_page_lists_the_tables_readers_want_first(server: ArchiveServer) -> None:
    listed = table_links(section(server.get("/").text, "browse"))
    readers = [t for t in ("snapshots", "changes", "pages", "feeds") if t in listed]
    evidence = [t for t in ("captures", "entries", "page_urls") if t in listed]
    assert listed[:len(readers)] == readers and evidence and set(readers) >= {"snapshots", "pages", "feeds"}
    for internal in ("_sqlite_migrations", "daemon", "notifications", "snapshots_fts", "bodies"):
        assert internal not in listed, internal


def test_front_page_escapes_archived_content(server: ArchiveServer) -> None:
    reply = server.get("/")
    assert reply.status == 200
    assert "content-security-policy" in reply.headers
    assert_escaped(reply.text, "/")


def test_front_page_of_an_empty_archive(tmp_path: Path) -> None:
    with serving(tmp_path / "new" / "archive.db", tmp_path) as server:
        reply = server.get("/")
        assert reply.status == 200, reply.text[:500]
        assert "Nothing archived yet" in section(reply.text, "latest")
        assert 'name="_search"' in reply.text
        assert "None right now" in section(reply.text, "feeds")


def test_front_page_of_an_archive_from_before_changes(tmp_path: Path, archive: Archive) -> None:
    db_path = tmp_path / "old.db"
    db_path.write_bytes(archive.db.read_bytes())
    drop_changes(db_path)
    with serving(db_path, tmp_path) as server:
        reply = server.get("/")
        assert reply.status == 200, reply.text[:500]
        assert "does not record changes yet" in section(reply.text, "changes")
        assert "Council rejects budget" in section(reply.text, "latest")
        assert "changes" not in table_links(section(reply.text, "browse"))
        assert "recent_changes" not in reply.text  # a query that cannot run here is not offered
        database = server.get("/archive").text
        assert "recent_changes" not in database and 'href="/archive/latest_articles"' in database
    assert db_rows(db_path, "SELECT count(*) FROM sqlite_master WHERE name = 'changes'") == [(0,)]


# -- the database and table pages ----------------------------------------------------------------

def test_database_page_lists_reader_tables_first_and_hides_internal_ones(server: ArchiveServer) -> None:
    html = server.get("/archive").text
    listed = [t for t in re.findall(r'<h3><a href="/archive/([a-z_]+)">', html)]
    readers = [t for t in ("snapshots", "changes", "pages", "feeds") if t in listed]
    assert listed[:len(readers)] == readers and {"snapshots", "pages", "feeds"} <= set(readers)
    assert listed.index("feeds") < listed.index("captures") < listed.index("page_urls")
    for internal in ("_sqlite_migrations", "daemon", "notifications", "snapshots_fts", "snapshots_fts_data"):
        assert internal not in listed, internal
    hidden = {t["name"] for t in server.get("/archive.json").json()["tables"] if t["hidden"]}
    assert {"_sqlite_migrations", "daemon", "notifications", "snapshots_fts", "bodies"} <= hidden


def test_table_pages_fold_the_column_descriptions(server: ArchiveServer) -> None:
    html = server.get("/archive/snapshots?_search=budget").text
    assert html.count('<dl class="column-descriptions">') == 1
    folded = re.search(r'<details class="column-descriptions">\s*<summary>[^<]+</summary>\s*'
                       r'<dl class="column-descriptions">(.*?)</dl>\s*</details>', html, re.S)
    assert folded, "the column descriptions are not inside a closed <details>"
    assert "<dt>content_sha256</dt>" in folded[1]
    assert html.index("</details>") < html.index('<table class="rows-and-columns">')
    assert "Council rejects budget" in html


def test_times_are_shown_to_the_minute_in_utc() -> None:
    from archiver.interfaces.datasette_plugin import short_time

    assert short_time("2026-12-06T02:50:08.123+00:00") == "2026-12-06 02:50 UTC"
    assert short_time("2026-12-06T02:50:08+00:00") == "2026-12-06 02:50 UTC"
    assert short_time("2026-12-06T02:50:08+02:00") == "2026-12-06T02:50:08+02:00"  # not UTC: as given
    assert short_time(None) == "" and short_time("<b>x</b>") == "<b>x</b>"  # escaped by the template

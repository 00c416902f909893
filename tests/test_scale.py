"""What the scale work changed, at small scale: the indexes of m012_scale_indexes and the query
shapes that use them return what the old shapes returned, and searches of the snapshots table
are lean unless they ask otherwise."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from datasette.utils import escape_fts

from archiver.interfaces.datasette_plugin import LATEST_ARTICLES_SQL, TROUBLED_FEEDS_SQL
from archiver.interfaces.lean_search import LeanPage, lean_search_clause, lean_search_query
from archiver.interfaces.serve import load_metadata
from archiver.store.db import ensure_page, insert_snapshot, iso, open_db, transaction

# changed_articles as it was before m012: it grouped every snapshot of the archive
OLD_CHANGED_ARTICLES = """
select v.page_id, s.id as snapshot_id, s.title, v.versions,
  (v.latest - 1) || '..' || v.latest as last_change,
  v.oldest || '..' || v.latest as all_changes,
  v.first_captured_at, v.last_changed_at, p.url
from (
  select page_id, count(*) as versions, min(version) as oldest, max(version) as latest,
    min(captured_at) as first_captured_at, max(captured_at) as last_changed_at
  from snapshots group by page_id having count(*) > 1
) v
join snapshots s on s.page_id = v.page_id and s.version = v.latest
join pages p on p.id = v.page_id
order by v.last_changed_at desc
limit 200
"""
OLD_LATEST_ARTICLES = LATEST_ARTICLES_SQL.replace("cross join", "join")
START = datetime(2026, 1, 1, tzinfo=timezone.utc)


def query(name: str) -> str:
    return str(load_metadata()["databases"]["archive"]["queries"][name]["sql"])


def build(path: Path) -> Any:
    """30 pages on 3 sites with 1 to 4 versions each, captured in order, and 5 failed captures."""
    db = open_db(path)
    with transaction(db):
        for number in range(30):
            url = f"https://site{number % 3}.example/story/{number}"
            seen = START + timedelta(hours=number * 7 % 50, minutes=number)  # no two alike: ties have no order
            page_id = ensure_page(db, url, iso(seen))
            for version in range(1 + number % 4):
                at = iso(seen + timedelta(hours=version * (number % 5 + 1)))
                capture_id = db["captures"].insert({"kind": "page", "requested_url": url, "final_url": url,
                                                    "status": 200, "started_at": at, "page_id": page_id,
                                                    "outcome": "new_snapshot"}).last_pk
                insert_snapshot(db, page_id, {
                    "capture_id": capture_id, "captured_at": at, "content_sha256": f"{number}-{version}",
                    "title": f"Story {number} v{version + 1}", "sitename": f"Site {number % 3}",
                    "hostname": f"site{number % 3}.example", "language": "en", "text": "words"}, changed_at=at)
        for number in range(5):
            db["captures"].insert({"kind": "page", "requested_url": f"https://site0.example/x{number}",
                                   "status": None, "error": "dns", "started_at": iso(START + timedelta(days=number))})
    return db


def plan(db: Any, sql: str, params: dict[str, Any] | None = None) -> list[str]:
    return [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql, params or {}).fetchall()]


def test_changed_articles_returns_what_the_grouping_query_returned(tmp_path: Path) -> None:
    db = build(tmp_path / "a.db")
    old = db.execute(OLD_CHANGED_ARTICLES).fetchall()
    new = db.execute(query("changed_articles")).fetchall()
    assert len(old) == 22  # the pages with two or more versions
    assert new == old
    assert not any("TEMP B-TREE" in step for step in plan(db, query("changed_articles")))


def test_latest_articles_returns_the_same_rows_reading_pages_first(tmp_path: Path) -> None:
    db = build(tmp_path / "a.db")
    for sql in (query("latest_articles"), LATEST_ARTICLES_SQL):
        old = OLD_LATEST_ARTICLES if sql is LATEST_ARTICLES_SQL else sql.replace("cross join", "join")
        params = {"limit": 8} if ":limit" in sql else {}
        assert db.execute(sql, params).fetchall() == db.execute(old, params).fetchall()
        assert len(db.execute(sql, params).fetchall()) == (8 if params else 30)
        steps = plan(db, sql, params)
        assert steps[0].startswith("SCAN p"), steps
        assert not any("TEMP B-TREE" in step for step in steps), steps
    db.execute("ANALYZE")  # with statistics SQLite preferred to walk every snapshot and sort
    assert plan(db, LATEST_ARTICLES_SQL, {"limit": 8})[0].startswith("SCAN p")


def test_recent_failures_reads_only_failed_captures(tmp_path: Path) -> None:
    db = build(tmp_path / "a.db")
    rows = db.execute(query("recent_failures")).fetchall()
    assert len(rows) == 5
    assert any("idx_captures_failures" in step for step in plan(db, query("recent_failures")))


def test_default_table_pages_use_the_new_indexes(tmp_path: Path) -> None:
    db = build(tmp_path / "a.db")
    indexes = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"idx_snapshots_captured_at", "idx_snapshots_sitename", "idx_snapshots_language",
            "idx_snapshots_hostname", "idx_pages_state", "idx_pages_last_status",
            "idx_feeds_last_checked_at", "idx_captures_failures"} <= indexes
    newest = plan(db, "select id, title from snapshots order by captured_at desc limit 51")
    assert newest == ["SCAN snapshots USING INDEX idx_snapshots_captured_at"], newest
    facet = plan(db, "select sitename, count(*) from snapshots where sitename is not null group by sitename")
    assert any("COVERING INDEX idx_snapshots_sitename" in step for step in facet), facet


def test_a_search_of_snapshots_is_lean_unless_it_asks_otherwise() -> None:
    lean = lean_search_query("/archive/snapshots", b"_search=council")
    assert lean == b"_lean_search=council&_sort_desc=id&_nocount=1&_nofacet=1"
    assert lean_search_query("/archive/snapshots.json", b"_search=a+b&_size=2&_col=title") == \
        b"_lean_search=a+b&_size=2&_col=title&_sort_desc=id&_nocount=1&_nofacet=1"
    # a blank sort, as the table page's form sends, asks for none
    assert lean_search_query("/archive/snapshots", b"_search=x&_sort=") == \
        b"_lean_search=x&_sort_desc=id&_nocount=1&_nofacet=1"
    # newest first without count or facets, but Datasette's own search: a column search, a filter
    assert lean_search_query("/archive/snapshots.json", b"_search_title=council") == \
        b"_search_title=council&_sort_desc=id&_nocount=1&_nofacet=1"
    assert lean_search_query("/archive/snapshots", b"_search=x&sitename=y") == \
        b"_search=x&sitename=y&_sort_desc=id&_nocount=1&_nofacet=1"
    asked = lean_search_query("/archive/snapshots", b"_search=council&_sort=title&_facet=language&_nocount=")
    assert asked == b"_search=council&_sort=title&_facet=language&_nocount="
    for path, query_string in (("/archive/snapshots", b"sitename=x"), ("/archive/pages", b"_search=x"),
                               ("/archive/snapshots/12", b"_search=x"), ("/archive/snapshots", b"")):
        assert lean_search_query(path, query_string) == query_string


def test_links_from_a_lean_search_are_mapped_back_before_deciding() -> None:
    # the next page of a lean search: lean again
    assert lean_search_query("/archive/snapshots", b"_lean_search=x&_nocount=1&_nofacet=1&_next=9%2C9&_sort_desc=id") \
        == b"_lean_search=x&_nocount=1&_nofacet=1&_next=9%2C9&_sort_desc=id"
    # a sort or facet link: Datasette's search
    assert lean_search_query("/archive/snapshots", b"_lean_search=x&_nocount=1&_nofacet=1&_sort=title") \
        == b"_search=x&_nocount=1&_nofacet=1&_sort=title"
    assert lean_search_query("/archive/snapshots", b"_lean_search=x&_sort_desc=id&_nocount=1&_facet=language") \
        == b"_search=x&_sort_desc=id&_nocount=1&_facet=language"
    # the CSV export: Datasette's search, as it was asked
    assert lean_search_query("/archive/snapshots.csv", b"_lean_search=x&_sort_desc=id&_size=max") \
        == b"_search=x&_sort_desc=id&_size=max"
    # the search box's new words replace the page's
    assert lean_search_query("/archive/snapshots", b"_search=new&_lean_search=old&_nocount=1&_nofacet=1") \
        == b"_lean_search=new&_nocount=1&_nofacet=1&_sort_desc=id"


def test_a_lean_search_reads_one_page_of_matches_newest_first(tmp_path: Path) -> None:
    db = build(tmp_path / "a.db")
    db.conn.create_function("escape_fts", 1, escape_fts)
    full = "select id from snapshots where id in (select rowid from snapshots_fts where snapshots_fts " \
           "match escape_fts(:lean_search)) {bound} order by id desc limit 6"
    ids = [row[0] for row in db.execute(full.format(bound=""), {"lean_search": "Story"})]
    assert len(ids) == 6
    for before in (None, ids[2], ids[-1]):
        clause, params = lean_search_clause("snapshots_fts", "id", False, LeanPage(limit=6, before=before))
        assert "order by rowid desc limit :lean_limit" in clause
        lean = f"select id from snapshots where {clause} order by id desc limit 6"
        bound = "" if before is None else f"and id < {before}"
        params["lean_search"] = "Story"
        assert db.execute(lean, params).fetchall() == db.execute(full.format(bound=bound), params).fetchall()
        # FTS5 hands its matches over newest first, so the limit stops it: nothing sorts them all
        assert not any("TEMP B-TREE" in step for step in plan(db, lean, params)), plan(db, lean, params)
    unbounded, _ = lean_search_clause("snapshots_fts", "id", False, LeanPage(limit=None))
    assert unbounded == "id in (select rowid from snapshots_fts where snapshots_fts match escape_fts(:lean_search))"


def test_due_jobs_reads_the_schedule_not_the_state_index(clocked_session: tuple[Any, Any]) -> None:
    from archiver.jobs.polling import due_jobs
    from archiver.store.db import insert_row

    s, clock = clocked_session
    states = ("active", "backoff", "removed", "paused", "gone")
    with transaction(s.db):
        for n in range(60):
            when = None if n % 7 == 0 else iso(clock.now + timedelta(minutes=(n * 37 % 120) - 60))
            insert_row(s.db, "feeds", {"url": f"https://f.example/{n}.xml", "state": states[n % 5],
                                       "next_check_at": when, "error_count": 0})
            page_id = ensure_page(s.db, f"https://p.example/{n}", iso(clock.now))
            s.db.execute("UPDATE pages SET state = ?, next_check_at = ? WHERE id = ?",
                         [states[n % 5], when, page_id])
    # no ANALYZE: without statistics (an archive before its first maintenance) SQLite chose the
    # index on state, and read every active page at every tick
    feeds = sorted(((r[1] or "", r[0]) for r in s.db.execute(
        "SELECT url, next_check_at, state FROM feeds") if r[2] in ("active", "backoff")
        and (r[1] is None or r[1] <= iso(clock.now))))
    pages = sorted((r[1], r[0]) for r in s.db.execute("SELECT url, next_check_at, state FROM pages")
                   if r[2] in ("active", "removed") and r[1] is not None and r[1] <= iso(clock.now))
    statements: list[str] = []
    s.db.conn.set_trace_callback(statements.append)
    urls = [job.url for job in due_jobs(s, clock.now)]
    s.db.conn.set_trace_callback(None)
    assert urls == [url for _, url in feeds] + [url for _, url in pages]
    assert len(feeds) >= 5 and len(pages) >= 5
    page_query = next(sql for sql in statements if "FROM pages" in sql)
    steps = plan(s.db, page_query)
    assert any("idx_pages_next_check_at" in step for step in steps), steps
    assert not any("idx_pages_state" in step for step in steps), steps


OLD_FEED_HEALTH = """
select id as feed_id, coalesce(title, url) as feed, health, state, last_status, error_count,
  last_error, last_checked_at, next_check_at, entry_count, url
from (
  select *, case
    when state = 'gone' then 'gone'
    when last_status in (401, 403) then 'blocked'
    when state = 'backoff' then 'backoff'
    when state != 'active' then state
    when error_count > 0 then 'failing'
    else 'ok' end as health
  from feeds
)
order by health = 'ok', error_count desc, last_checked_at desc
"""


def test_feed_health_shows_the_first_200_of_what_it_showed(tmp_path: Path) -> None:
    db = open_db(tmp_path / "a.db")
    with transaction(db):  # about 150 feeds in trouble, the rest healthy
        for n in range(500):
            state = "gone" if n % 23 == 0 else "backoff" if n % 19 == 0 else "paused" if n % 29 == 0 else "active"
            status = 403 if n % 17 == 0 else 401 if n % 31 == 0 else None if n % 11 == 0 else 304
            db["feeds"].insert({"url": f"https://f.example/{n}.xml", "state": state, "last_status": status,
                                "error_count": n % 4 if n % 13 == 0 else 0,
                                "last_checked_at": iso(START + timedelta(minutes=n * 37 % 1000, seconds=n))})
    old = db.execute(OLD_FEED_HEALTH).fetchall()
    new = db.execute(query("feed_health")).fetchall()
    assert len(new) == 200 and new == old[:200]
    steps = plan(db, query("feed_health"))
    assert any("idx_feeds_unhealthy" in step for step in steps), steps  # the unhealthy ones only
    assert {row[2] for row in new} >= {"ok", "gone", "blocked", "backoff", "failing"}


def test_the_front_page_reads_only_the_feeds_in_trouble(tmp_path: Path) -> None:
    db = open_db(tmp_path / "a.db")
    with transaction(db):
        for n in range(300):
            state = "gone" if n % 23 == 0 else "backoff" if n % 19 == 0 else "paused" if n % 29 == 0 else "active"
            db["feeds"].insert({"url": f"https://f.example/{n}.xml", "state": state,
                                "error_count": n % 4 if n % 13 == 0 else 0,
                                "last_checked_at": iso(START + timedelta(minutes=n * 37 % 1000, seconds=n))})
    steps = plan(db, TROUBLED_FEEDS_SQL, {"limit": 20})
    assert any("idx_feeds_trouble" in step for step in steps), steps
    read_all = TROUBLED_FEEDS_SQL.replace("from feeds", "from feeds not indexed")
    for limit in (5, 20, 1000):
        shown = db.execute(TROUBLED_FEEDS_SQL, {"limit": limit}).fetchall()
        assert shown and shown == db.execute(read_all, {"limit": limit}).fetchall()
    assert len(db.execute(TROUBLED_FEEDS_SQL, {"limit": 1000}).fetchall()) == len(db.execute(
        "SELECT 1 FROM feeds NOT INDEXED WHERE state IN ('backoff', 'gone') OR error_count > 0").fetchall())


FACETS = ("sitename", "language", "hostname")


def counted(db: Any, table: str = "snapshots", columns: tuple[str, ...] = FACETS) -> dict[str, list[tuple[Any, int]]]:
    return {column: [tuple(row) for row in db.execute(
        "SELECT value, count FROM facet_counts WHERE tbl = ? AND col = ? AND count > 0 "
        "ORDER BY value", [table, column])] for column in columns}


def grouped(db: Any, table: str = "snapshots", columns: tuple[str, ...] = FACETS) -> dict[str, list[tuple[Any, int]]]:
    return {column: [tuple(row) for row in db.execute(
        f"SELECT {column}, count(*) FROM {table} WHERE {column} IS NOT NULL GROUP BY {column} "
        f"ORDER BY {column}")] for column in columns}


def test_facet_counts_follow_every_write_to_snapshots(tmp_path: Path) -> None:
    db = build(tmp_path / "a.db")
    assert counted(db) == grouped(db)
    assert counted(db)["sitename"] == [("Site 0", 25), ("Site 1", 23), ("Site 2", 25)]
    with transaction(db):
        db.execute("UPDATE snapshots SET sitename = 'Renamed', language = NULL WHERE id IN (1, 2)")
        db.execute("UPDATE snapshots SET hostname = 'moved.example', title = 'x' WHERE id = 3")
        db.execute("UPDATE snapshots SET language = 'de' WHERE id = 4")
    db.execute("PRAGMA foreign_keys = OFF")  # the changes rows name the snapshots deleted here
    with transaction(db):
        db.execute("DELETE FROM snapshots WHERE id IN (5, 6, 7)")
    assert counted(db) == grouped(db)
    assert ("Renamed", 2) in counted(db)["sitename"] and ("de", 1) in counted(db)["language"]


COUNTING = (("m013_facet_counts", "snapshots"), ("m014_page_facet_counts", "pages"))


def archive_before(path: Path, migration: str) -> Any:
    """An archive built, then taken back to before ``migration`` (and those after it) counted
    facets: their triggers, counts and records gone (and facet_counts itself, before m013)."""
    db = build(path)
    first = [name for name, _ in COUNTING].index(migration)
    for name, table in COUNTING[first:]:
        for trigger in ("ai", "ad", "au"):
            db.execute(f"DROP TRIGGER {table}_facets_{trigger}")
        db.execute("DELETE FROM facet_counts WHERE tbl = ?", [table])
        db.execute("DELETE FROM _sqlite_migrations WHERE name = ?", [name])
    if first == 0:
        db.execute("DROP TABLE facet_counts")
    return db


def test_an_archive_from_before_facet_counts_gets_them_counted(tmp_path: Path) -> None:
    db = archive_before(tmp_path / "a.db", "m013_facet_counts")
    with transaction(db):  # written while nothing counted: the upgrade counts what is there
        db.execute("UPDATE snapshots SET sitename = 'Written before' WHERE id < 4")
        db.execute("UPDATE pages SET last_status = 304 WHERE id < 3")
    db.conn.close()
    db = open_db(tmp_path / "a.db")
    assert counted(db) == grouped(db)
    assert ("Written before", 3) in counted(db)["sitename"]
    assert counted(db, "pages", PAGE_FACETS) == grouped(db, "pages", PAGE_FACETS)


PAGE_FACETS = ("state", "last_status")


def test_facet_counts_follow_every_write_to_pages(tmp_path: Path) -> None:
    db = build(tmp_path / "a.db")
    assert counted(db, "pages", PAGE_FACETS) == grouped(db, "pages", PAGE_FACETS) == {
        "state": [("active", 30)], "last_status": []}
    with transaction(db):
        db.execute("UPDATE pages SET last_status = 200 WHERE id <= 20")
        db.execute("UPDATE pages SET last_status = 304, last_checked_at = 'x' WHERE id <= 5")
        db.execute("UPDATE pages SET state = 'removed', last_status = 404 WHERE id = 6")
        db.execute("UPDATE pages SET last_status = NULL WHERE id = 7")
        db.execute("UPDATE pages SET last_checked_at = 'y' WHERE id <= 10")  # neither column
        db.execute("UPDATE pages SET state = state, last_status = last_status WHERE id <= 10")  # unchanged
    db.execute("PRAGMA foreign_keys = OFF")
    with transaction(db):
        db.execute("DELETE FROM pages WHERE id IN (8, 25)")
    assert counted(db, "pages", PAGE_FACETS) == grouped(db, "pages", PAGE_FACETS) == {
        "state": [("active", 27), ("removed", 1)], "last_status": [(200, 12), (304, 5), (404, 1)]}


def test_an_archive_from_before_page_facet_counts_gets_them_counted(tmp_path: Path) -> None:
    db = archive_before(tmp_path / "a.db", "m014_page_facet_counts")
    with transaction(db):  # written while nothing counted: the upgrade counts what is there
        db.execute("UPDATE pages SET last_status = 304 WHERE id < 4")
    db.conn.close()
    db = open_db(tmp_path / "a.db")
    assert counted(db, "pages", PAGE_FACETS) == grouped(db, "pages", PAGE_FACETS)
    assert counted(db, "pages", PAGE_FACETS)["last_status"] == [(304, 3)]
    assert counted(db) == grouped(db)  # the snapshots' counts are left as they were

"""Keeping the archive file healthy for years, and saying how large it is and how it grows.

`archiver maintain` and the daemon's maintenance jobs call the same functions: a WAL checkpoint,
``PRAGMA optimize`` and the full-text index's ``optimize``. Each statement waits only briefly for
other connections (a long Datasette query, a daemon's commit) and is tried again next time when
they keep it busy: maintenance never makes archiving wait.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from archiver.store.db import StoreError, insert_row, transaction, utcnow

log = logging.getLogger(__name__)

MAINTENANCE_BUSY_MS = 1000
GROWTH_DAYS = 30
LARGEST_SITES = 10


@dataclass(frozen=True)
class FileSize:
    """The archive file as SQLite sees it: pages in use, free pages, and the write-ahead log."""

    page_size: int
    pages: int
    free_pages: int
    wal_bytes: int

    @property
    def bytes(self) -> int:
        return self.page_size * self.pages


@dataclass(frozen=True)
class MaintenanceReport:
    """What one maintenance pass did and found."""

    checkpoint_busy: bool
    checkpointed_pages: int
    fts_optimized: bool
    seconds: float
    size: FileSize

    def summary(self) -> str:
        size = self.size
        checkpoint = ("WAL checkpoint deferred (readers busy)" if self.checkpoint_busy
                      else f"WAL checkpointed ({self.checkpointed_pages} pages)")
        fts = "full-text index optimised" if self.fts_optimized else "full-text index busy, not optimised"
        return (f"{checkpoint}; statistics refreshed; {fts}; file {_megabytes(size.bytes)}, "
                f"{size.free_pages} free pages of {size.pages} "
                f"({_megabytes(size.free_pages * size.page_size)} reusable); {self.seconds:.2f}s")


def _megabytes(count: int) -> str:
    return f"{count / 1_000_000:.1f} MB"


def briefly(db: sqlite_utils.Database, sql: str) -> Any:
    """Run a maintenance statement with a short busy timeout (restored afterwards); its first row."""
    previous = db.execute("PRAGMA busy_timeout").fetchone()[0]
    db.execute(f"PRAGMA busy_timeout = {MAINTENANCE_BUSY_MS}")
    try:
        return db.execute(sql).fetchone()
    finally:
        db.execute(f"PRAGMA busy_timeout = {previous}")


def checkpoint(db: sqlite_utils.Database) -> tuple[int, int, int]:
    """Copy the WAL into the database and truncate it, unless readers keep it busy: (busy,
    pages in the log, pages checkpointed)."""
    row = briefly(db, "PRAGMA wal_checkpoint(TRUNCATE)")
    busy, pages, done = row if row else (0, 0, 0)
    log.debug("wal checkpoint: busy=%s, %s pages in the log, %s checkpointed", busy, pages, done)
    return busy, pages, done


def optimize(db: sqlite_utils.Database) -> None:
    """Refresh the query planner's statistics where they are out of date."""
    briefly(db, "PRAGMA optimize")


def fts_optimize(db: sqlite_utils.Database) -> None:
    """Merge the full-text index's segments into one (cheap when they already are)."""
    with transaction(db):
        db.execute("INSERT INTO snapshots_fts(snapshots_fts) VALUES('optimize')")


def file_size(db: sqlite_utils.Database) -> FileSize:
    wal = 0
    path = _path(db)
    if path:
        try:
            wal = os.stat(path + "-wal").st_size
        except OSError:
            wal = 0
    return FileSize(page_size=db.execute("PRAGMA page_size").fetchone()[0],
                     pages=db.execute("PRAGMA page_count").fetchone()[0],
                     free_pages=db.execute("PRAGMA freelist_count").fetchone()[0], wal_bytes=wal)


def _path(db: sqlite_utils.Database) -> str | None:
    for _, name, path in db.execute("PRAGMA database_list").fetchall():
        if name == "main":
            return str(path) or None
    return None


def maintain(db: sqlite_utils.Database, now: str | None = None) -> MaintenanceReport:
    """One full pass: checkpoint, statistics, FTS optimise; recorded in ``maintenance`` as of
    ``now`` (default: the wall clock)."""
    started = time.monotonic()
    optimize(db)
    try:
        fts_optimize(db)
        fts_done = True
    except (sqlite3.OperationalError, StoreError) as exc:  # the write lock stayed busy
        log.warning("full-text optimise deferred: %s", exc)
        fts_done = False
    busy, _, done = checkpoint(db)  # last, so that the file holds what the steps above wrote
    report = MaintenanceReport(bool(busy), done, fts_done, time.monotonic() - started, file_size(db))
    with transaction(db):
        insert_row(db, "maintenance", {
            "ran_at": now or utcnow(), "seconds": round(report.seconds, 3), "file_bytes": report.size.bytes,
            "free_pages": report.size.free_pages, "page_size": report.size.page_size,
            "checkpoint_busy": int(report.checkpoint_busy), "summary": report.summary()})
    return report


def last_maintenance(db: sqlite_utils.Database) -> str | None:
    """When the last full maintenance pass ran (ISO text), or None."""
    row = db.execute("SELECT max(ran_at) FROM maintenance").fetchone()
    return row[0] if row else None


# -- stats -------------------------------------------------------------------------------------

_COUNTED = ("feeds", "entries", "pages", "snapshots", "captures", "bodies")


def archive_stats(db: sqlite_utils.Database, days: int = GROWTH_DAYS,
                  sites: int = LARGEST_SITES) -> dict[str, Any]:
    """Counts, sizes, growth per day and the largest sites, as plain data for `archiver stats`."""
    size = file_size(db)
    return {
        "counts": {table: db.execute(f"SELECT count(*) FROM [{table}]").fetchone()[0] for table in _COUNTED},
        "file": {"bytes": size.bytes, "free_pages": size.free_pages, "page_size": size.page_size,
                 "wal_bytes": size.wal_bytes},
        "space": space_by_part(db),
        "bodies": _body_bytes(db),
        "growth": growth_per_day(db, days),
        "largest_sites": largest_sites(db, sites),
        "last_maintenance": last_maintenance(db),
    }


def space_by_part(db: sqlite_utils.Database) -> dict[str, int]:
    """Bytes on disk of each table with its indexes; the full-text index as one part."""
    parts: dict[str, int] = {}
    tables = dict(db.execute("SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')"))
    for name, used in db.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"):
        owner = tables.get(name, name)
        if owner.startswith("snapshots_fts"):
            owner = "snapshots_fts"
        parts[owner] = parts.get(owner, 0) + int(used)
    return dict(sorted(parts.items(), key=lambda item: -item[1]))


def _body_bytes(db: sqlite_utils.Database) -> dict[str, int]:
    stored, original = db.execute("SELECT coalesce(sum(length(data)), 0), coalesce(sum(size), 0) "
                                  "FROM bodies").fetchone()
    return {"stored_bytes": int(stored), "original_bytes": int(original)}


def growth_per_day(db: sqlite_utils.Database, days: int) -> list[dict[str, Any]]:
    """New captures, snapshots and pages, and body bytes captured, for each of the last ``days``
    days that had any (newest first)."""
    rows: dict[str, dict[str, Any]] = {}
    queries = (
        ("captures", "SELECT substr(started_at, 1, 10) d, count(*), coalesce(sum(size), 0) FROM captures "
                     "WHERE started_at >= date('now', ?) GROUP BY d"),
        ("snapshots", "SELECT substr(captured_at, 1, 10) d, count(*), 0 FROM snapshots "
                      "WHERE captured_at >= date('now', ?) GROUP BY d"),
        ("pages", "SELECT substr(first_seen_at, 1, 10) d, count(*), 0 FROM pages "
                  "WHERE first_seen_at >= date('now', ?) GROUP BY d"),
    )
    for name, sql in queries:
        for day, count, size in db.execute(sql, [f"-{days} days"]):
            row = rows.setdefault(day, {"day": day, "captures": 0, "snapshots": 0, "pages": 0,
                                        "captured_bytes": 0})
            row[name] = count
            if name == "captures":
                row["captured_bytes"] = size
    return [rows[day] for day in sorted(rows, reverse=True)]


def largest_sites(db: sqlite_utils.Database, limit: int) -> list[dict[str, Any]]:
    """The hosts with the most pages, with their versions and captured bytes."""
    sql = """
        WITH hosts AS (
            SELECT id, substr(rest, 1, instr(rest || '/', '/') - 1) AS host
            FROM (SELECT id, substr(url, instr(url, '://') + 3) AS rest FROM pages))
        SELECT hosts.host, count(*) AS pages, sum(pages.snapshot_count) AS snapshots
        FROM hosts JOIN pages ON pages.id = hosts.id
        GROUP BY hosts.host ORDER BY pages DESC, hosts.host LIMIT ?"""
    return [{"host": host, "pages": pages, "snapshots": snapshots or 0}
            for host, pages, snapshots in db.execute(sql, [limit])]


def list_sources(db: Any) -> list[dict[str, Any]]:
    """Feeds and watched pages with their health, for `archiver sources`."""
    feeds_rows = db.query(
        "SELECT 'feed' AS kind, url, state, last_checked_at, next_check_at, last_status, "
        "error_count, last_error, entry_count AS items, "
        "(SELECT count(*) FROM entries e WHERE e.feed_id = feeds.id AND e.page_id IN "
        " (SELECT id FROM pages WHERE snapshot_count > 0)) AS archived "
        "FROM feeds ORDER BY url")
    pages_rows = db.query(
        "SELECT 'page' AS kind, url, state, last_checked_at, next_check_at, last_status, "
        "error_count, last_error, snapshot_count AS items, snapshot_count AS archived "
        "FROM pages WHERE watch_every IS NOT NULL ORDER BY url")
    return [*feeds_rows, *pages_rows]

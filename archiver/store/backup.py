"""A consistent copy of the archive while others use it, and the check that a copy is sound."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils

from archiver.store.db import StoreError


def write_backup(db: sqlite_utils.Database, target: Path) -> None:
    """Copy the archive open as ``db`` to ``target`` (which must not exist) and check the copy.

    SQLite's ``VACUUM INTO`` reads one snapshot of the database, so the copy is consistent
    however the daemon writes meanwhile (in WAL mode it neither waits for writers nor blocks
    them), and it is written compacted, without free pages or the write-ahead log."""
    try:
        db.conn.execute("VACUUM INTO ?", [str(target)])
    except sqlite3.Error as exc:
        raise StoreError(f"cannot back up the archive to {target}: {exc}") from None
    problems = integrity_problems(target)
    if problems:
        raise StoreError(f"the copy at {target} fails its integrity check: {problems[0]}")


def integrity_problems(path: Path) -> list[str]:
    """What ``PRAGMA integrity_check`` finds wrong with the database at ``path`` (none: [])."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = [row[0] for row in conn.execute("PRAGMA integrity_check").fetchall()]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return [str(exc)]
    return [] if rows == ["ok"] else rows

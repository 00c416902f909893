"""Issue 13, item 4: `archiver maintain`, the daemon's weekly pass, and `archiver stats`."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from archiver.jobs.daemon import Daemon
from archiver.jobs.session import Session
from conftest import Clock, Site, assert_clean_error, db_rows, run_cli
from test_fetch import article_page


def _archive(site: Site, tmp_path: Path) -> Path:
    urls = [site.route(f"/news/{n}", article_page(f"Story {n}", f"Paragraph about story {n}. " * 30))
            for n in range(3)]
    assert run_cli("fetch", *urls).code == 0
    return tmp_path / "archive.db"


def test_maintain_checkpoints_and_records_the_pass(site: Site, tmp_path: Path) -> None:
    db = _archive(site, tmp_path)
    with sqlite3.connect(db) as conn:  # leave something in the write-ahead log
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("UPDATE pages SET title = 'retitled ' || id")
        conn.commit()
        wal = Path(f"{db}-wal")
        assert wal.stat().st_size > 0
        result = run_cli("maintain", "--json")
        assert result.code == 0, result.err
        report = json.loads(result.out)
        assert report["checkpoint_busy"] is False and report["fts_optimized"] is True
        assert report["file_bytes"] == report["pages"] * report["page_size"] <= db.stat().st_size
        assert report["wal_bytes"] == 0  # measured right after the checkpoint
    assert db_rows(db, "SELECT count(*), max(file_bytes) > 0 FROM maintenance") == [(1, 1)]
    text = run_cli("maintain")
    assert text.code == 0 and "WAL checkpointed" in text.out and "free pages" in text.out
    assert db_rows(db, "SELECT count(*) FROM maintenance") == [(2,)]


def test_maintain_does_not_wait_for_a_reader(site: Site, tmp_path: Path) -> None:
    """A reader in the middle of a long query (a Datasette page) defers the checkpoint; the
    command neither fails nor waits for it."""
    db = _archive(site, tmp_path)
    reader = sqlite3.connect(db, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM snapshots").fetchone()
    writer = sqlite3.connect(db)
    writer.execute("UPDATE pages SET title = 'retitled ' || id")
    writer.commit()
    started = time.monotonic()
    result = run_cli("maintain", "--json")
    took = time.monotonic() - started
    reader.execute("COMMIT")
    assert result.code == 0, result.err
    assert json.loads(result.out)["checkpoint_busy"] is True
    assert took < 8, took


def test_daemon_runs_the_full_pass_once_a_week(clocked_session: tuple[Session, Clock]) -> None:
    session, clock = clocked_session
    daemon = Daemon(session)
    assert daemon.maintain_if_due() is not None  # never ran on this archive
    assert daemon.maintain_if_due() is None
    clock.advance(6 * 86400)
    assert daemon.maintain_if_due() is None
    clock.advance(86400)
    report = daemon.maintain_if_due()
    assert report is not None and report.size.pages > 0
    assert [r[0] for r in daemon.db.execute("SELECT ran_at FROM maintenance ORDER BY id")] == [
        clock.start.isoformat(), clock.now.isoformat()]


def test_stats_counts_sizes_growth_and_sites(site: Site, tmp_path: Path) -> None:
    db = _archive(site, tmp_path)
    result = run_cli("stats", "--json")
    assert result.code == 0, result.err
    stats = json.loads(result.out)
    for table in ("feeds", "entries", "pages", "snapshots", "captures", "bodies"):
        assert stats["counts"][table] == db_rows(db, f"SELECT count(*) FROM {table}")[0][0], table
    assert stats["counts"]["snapshots"] == 3
    assert stats["file"]["bytes"] == db.stat().st_size
    assert sum(stats["space"].values()) == stats["file"]["bytes"]  # every page belongs to a part
    assert {"bodies", "snapshots", "snapshots_fts", "captures"} <= set(stats["space"])
    stored, original = db_rows(db, "SELECT sum(length(data)), sum(size) FROM bodies")[0]
    assert stats["bodies"] == {"stored_bytes": stored, "original_bytes": original}
    today = db_rows(db, "SELECT substr(min(started_at), 1, 10) FROM captures")[0][0]
    assert stats["growth"][0] == {"day": today, "captures": 3, "snapshots": 3, "pages": 3,
                                  "captured_bytes": original}
    assert stats["largest_sites"] == [{"host": f"127.0.0.1:{site.port}", "pages": 3, "snapshots": 3}]
    assert stats["last_maintenance"] is None
    text = run_cli("stats")
    assert text.code == 0 and f"127.0.0.1:{site.port}  3 3" in text.out and "3 snapshots" in text.out


def test_stats_and_maintain_on_a_missing_archive(tmp_path: Path) -> None:
    for command in ("stats", "maintain"):
        result = run_cli(command, "--db", str(tmp_path / "nowhere" / "a.db"))
        assert_clean_error(result, "no archive")
        assert not (tmp_path / "nowhere").exists()

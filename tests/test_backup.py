"""Issue 11, item 5: `archiver backup FILE`, a consistent copy while the daemon writes and
`archiver serve` reads, checked, never overwriting without --force."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import Site, assert_clean_error, db_rows, run_cli
from test_daemon import DaemonProcess, daemons, serve_feeds, subscribe_all, wait_until  # noqa: F401
from test_fetch import LOREM, article_page
from test_serve import serving

FEEDS, ITEMS = 3, 40


def snapshots(db: Path) -> int:
    return db_rows(db, "SELECT count(*) FROM snapshots")[0][0]


def test_backup_while_the_daemon_writes_is_an_archive_show_reads(site: Site, daemons, tmp_path: Path) -> None:
    db = tmp_path / "archive.db"
    subscribe_all(db, serve_feeds(site, FEEDS, ITEMS, delay=0.05))
    total = FEEDS * ITEMS
    daemon: DaemonProcess = daemons()
    with serving(db, tmp_path):
        wait_until(lambda: snapshots(db) >= 10, 60, "the daemon's first snapshots")
        backup = tmp_path / "backups" / "archive-copy.db"
        backup.parent.mkdir()
        result = run_cli("backup", str(backup), "--json")
        writing = snapshots(db)
        assert result.code == 0, result
        assert daemon.proc.poll() is None, daemon.log
    report = json.loads(result.out)
    assert report["integrity"] == "ok" and report["bytes"] == backup.stat().st_size
    copied = snapshots(backup)
    assert report["snapshots"] == copied and 10 <= copied <= writing < total  # taken mid-ingestion
    assert db_rows(backup, "PRAGMA integrity_check") == [("ok",)]
    assert db_rows(backup, "PRAGMA foreign_key_check") == []
    assert db_rows(backup, "SELECT count(*) FROM pages p WHERE p.snapshot_count != "
                           "(SELECT count(*) FROM snapshots s WHERE s.page_id = p.id)") == [(0,)]
    url, title = db_rows(backup, "SELECT p.url, s.title FROM snapshots s JOIN pages p ON p.id = s.page_id LIMIT 1")[0]
    shown = run_cli("--db", str(backup), "show", url)
    assert shown.code == 0, shown
    assert shown.out.startswith(f"# {title}\n")
    assert sorted(p.name for p in backup.parent.iterdir()) == ["archive-copy.db"]  # no temp, no -wal left
    wait_until(lambda: snapshots(db) == total, 120, "the daemon to finish after the backup")


def test_an_existing_file_is_never_overwritten_without_force(site: Site, tmp_path: Path) -> None:
    url = site.route("/news/one", article_page("The one story", LOREM))
    assert run_cli("fetch", url).code == 0
    target = tmp_path / "copy.db"
    target.write_bytes(b"precious")

    refused = run_cli("backup", str(target))
    assert_clean_error(refused, "exists", "--force")
    assert target.read_bytes() == b"precious"

    forced = run_cli("backup", str(target), "--force")
    assert forced.code == 0, forced
    assert forced.out.startswith(f"backed up {tmp_path / 'archive.db'} to {target}: ")
    assert "1 pages, 1 snapshots, 1 captures; integrity ok" in forced.out
    assert db_rows(target, "PRAGMA integrity_check") == [("ok",)]
    assert "The one story" in run_cli("show", url, "--db", str(target)).out
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".copy.db")] == []

    assert_clean_error(run_cli("backup", str(tmp_path / "archive.db"), "--force"), "the archive itself")
    assert_clean_error(run_cli("backup", str(tmp_path / "no" / "such" / "dir.db")), "no such directory")
    assert_clean_error(run_cli("backup", "x.db", "--db", str(tmp_path / "missing.db")), "no archive")
    assert not (tmp_path / "missing.db").exists() and not (tmp_path / "x.db").exists()

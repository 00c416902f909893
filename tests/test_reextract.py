"""Issue 11, item 3: `archiver reextract`, today's extractor over the stored bodies, no network.

Each archive here is made by real `archiver fetch` runs against a loopback server. Making it
look as if an older extractor had written it means rewriting the snapshots' `text`,
`content_sha256` and `extractor` in SQLite (``as_if_older_extractor``). That is a fair stand-in
for running an older trafilatura: re-extraction reads nothing but the stored body and the page's
latest snapshot, the body and capture are the same bytes whichever extractor ran, and an older
extractor's output differs from today's in exactly those snapshot columns (here: a line of
"share" boilerplate it failed to drop, and its version string).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from archiver.content.extractor import EXTRACTOR
from archiver.jobs.pages import PageJob, content_fingerprint
from archiver.jobs.reextract import reextract, select_targets
from conftest import Site, assert_clean_error, db_rows, run_cli
from test_fetch import LOREM, article_page

OLD_EXTRACTOR = "trafilatura 1.6.0"
BOILERPLATE = "Share this article: Facebook Twitter Email"


def fetched_archive(site: Site, tmp_path: Path, count: int) -> list[str]:
    """``count`` distinct articles served by ``site`` and archived by one `archiver fetch`."""
    urls = [site.route(f"/news/{n}", article_page(f"Story number {n}", LOREM + [
        f"Story {n} ends with this sentence, which no other story on the site repeats."]))
        for n in range(count)]
    listing = tmp_path / "urls.txt"
    listing.write_text("\n".join(urls) + "\n")
    fetched = run_cli("fetch", "-i", str(listing))
    assert fetched.code == 0, fetched
    assert fetched.out.count("new snapshot") == count
    return urls


def as_if_older_extractor(db: Path, where: str = "1") -> dict[int, str]:
    """Rewrite the snapshots matching ``where`` as an older extractor would have left them;
    returns today's text of each, by snapshot id."""
    import sqlite3

    conn = sqlite3.connect(db)
    today = {}
    with conn:
        for snapshot_id, title, text in conn.execute(f"SELECT id, title, text FROM snapshots WHERE {where}").fetchall():
            today[snapshot_id] = text
            older = f"{text}\n{BOILERPLATE}"
            conn.execute("UPDATE snapshots SET text = ?, content_sha256 = ?, extractor = ? WHERE id = ?",
                         [older, content_fingerprint(title, older), OLD_EXTRACTOR, snapshot_id])
    conn.close()
    return today


def snapshot_count(db: Path) -> int:
    return db_rows(db, "SELECT count(*) FROM snapshots")[0][0]


def test_new_versions_where_the_result_differs_then_nothing(site: Site, tmp_path: Path) -> None:
    db = tmp_path / "archive.db"
    fetched_archive(site, tmp_path, 12)
    today = as_if_older_extractor(db, "page_id % 3 = 0")
    assert len(today) == 4
    before = {row[0]: row[1:] for row in db_rows(db, "SELECT id, capture_id, captured_at FROM snapshots")}

    first = run_cli("reextract")
    assert first.code == 0, first
    assert first.out.splitlines()[-1] == "12 pages checked, 4 snapshots changed"
    assert first.out.count("changed       ") == 4
    new = db_rows(db, "SELECT reextracted_from, capture_id, captured_at, version, extractor, text, page_id "
                      "FROM snapshots WHERE reextracted_from IS NOT NULL ORDER BY reextracted_from")
    assert [row[0] for row in new] == sorted(today)
    for replaced, capture_id, captured_at, version, extractor, text, page_id in new:
        assert (capture_id, captured_at) == before[replaced]  # the original capture, and its time
        assert (version, extractor, text) == (2, EXTRACTOR, today[replaced])
        assert db_rows(db, "SELECT snapshot_count FROM pages WHERE id = ?", (page_id,)) == [(2,)]
    # the old versions stay as they were
    assert db_rows(db, "SELECT count(*) FROM snapshots WHERE extractor = ? AND text LIKE ?",
                   (OLD_EXTRACTOR, f"%{BOILERPLATE}")) == [(4,)]
    page = db_rows(db, "SELECT url FROM pages WHERE id = ?", (new[0][6],))[0][0]
    assert BOILERPLATE not in run_cli("show", page).out
    assert BOILERPLATE in run_cli("show", page, "--version", "1").out

    second = run_cli("reextract", "--json")
    assert second.code == 0, second
    summary = json.loads(second.out)
    assert (summary["checked"], summary["changed"], summary["pages"]) == (12, 0, [])
    assert snapshot_count(db) == 16
    assert db_rows(db, "PRAGMA integrity_check") == [("ok",)]


def test_dry_run_reports_and_writes_nothing(site: Site, tmp_path: Path) -> None:
    db = tmp_path / "archive.db"
    fetched_archive(site, tmp_path, 5)
    as_if_older_extractor(db, "page_id IN (2, 4)")
    image = db.read_bytes()

    dry = run_cli("reextract", "--dry-run")
    assert dry.code == 0, dry
    assert dry.out.count("would change  ") == 2
    assert dry.out.splitlines()[-1] == "5 pages checked, 2 snapshots would change (dry run: nothing written)"
    as_json = json.loads(run_cli("reextract", "--dry-run", "--json").out)
    assert (as_json["checked"], as_json["changed"], as_json["dry_run"]) == (5, 2, True)
    assert db.read_bytes() == image  # not a row, not even the schema's new column
    assert not Path(f"{db}-wal").exists()

    assert run_cli("reextract").out.splitlines()[-1] == "5 pages checked, 2 snapshots changed"


def test_since_and_url_choose_the_pages(site: Site, tmp_path: Path) -> None:
    db = tmp_path / "archive.db"
    urls = fetched_archive(site, tmp_path, 4)
    as_if_older_extractor(db)

    none = run_cli("reextract", "--since", "2999-01-01")
    assert none.out.splitlines()[-1] == "0 pages checked, 0 snapshots changed"
    one = run_cli("reextract", "--url", urls[1] + "?utm_source=rss#top", "--since", "1d")
    assert one.code == 0, one
    assert one.out.splitlines()[-1] == "1 pages checked, 1 snapshots changed"
    assert db_rows(db, "SELECT p.url FROM snapshots s JOIN pages p ON p.id = s.page_id "
                       "WHERE s.reextracted_from IS NOT NULL") == [(urls[1],)]

    missing = run_cli("reextract", "--url", "http://127.0.0.1:9/not-archived", "--url", urls[2])
    assert missing.code == 1
    assert "not in the archive: http://127.0.0.1:9/not-archived" in missing.err
    assert missing.out.splitlines()[-1] == "1 pages checked, 1 snapshots changed"  # the other one still ran

    assert_clean_error(run_cli("reextract", "--since", "last tuesday"), "--since", "not a time")
    assert_clean_error(run_cli("reextract", "--db", str(tmp_path / "nowhere.db")), "no archive")
    rest = run_cli("reextract", "--since", "2000-01-01T00:00:00Z")
    assert rest.out.splitlines()[-1] == "4 pages checked, 2 snapshots changed"


def test_a_newer_fetch_meanwhile_is_not_overwritten(site: Site, clocked_session) -> None:
    """A page fetched again (and changed) between reading the selection and saving its result
    keeps the fetch's version as its latest: the stale re-extraction is skipped."""
    session, _clock = clocked_session
    url = site.route("/news/moving", article_page("A moving story", LOREM))
    assert [o.result for o in session.run([PageJob(session, url)])] == ["new_snapshot"]
    session.db.execute("UPDATE snapshots SET text = 'older', content_sha256 = 'older'")
    targets = list(select_targets(session.db))

    site.route("/news/moving", article_page("A moving story", LOREM[:2]))
    assert [o.result for o in session.run([PageJob(session, url)])] == ["new_snapshot"]
    outcomes = list(reextract(session.db, session.pool, targets, max_bytes=5_000_000))
    assert [o.result for o in outcomes] == ["superseded"]
    assert session.db.execute("SELECT count(*), max(reextracted_from) FROM snapshots").fetchone() == (2, None)


def test_kill_9_in_the_middle_loses_nothing_and_the_rerun_finishes(site: Site, tmp_path: Path) -> None:
    db = tmp_path / "archive.db"
    total = 200
    fetched_archive(site, tmp_path, total)
    as_if_older_extractor(db)
    log = (tmp_path / "reextract.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "archiver", "reextract"], stdout=log,
                            stderr=subprocess.STDOUT, env={**os.environ, "ARCHIVER_WORKERS": "1"},
                            start_new_session=True)
    try:
        done = wait_for_reextracted(db, proc, at_least=10)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the command and its worker processes, at once
        proc.wait()
        log.close()
    assert proc.returncode == -signal.SIGKILL
    after_kill = db_rows(db, "SELECT count(*) FROM snapshots WHERE reextracted_from IS NOT NULL")[0][0]
    assert done <= after_kill < total, "the run finished before it could be killed"
    assert db_rows(db, "PRAGMA integrity_check") == [("ok",)]

    rerun = run_cli("reextract")
    assert rerun.code == 0, rerun
    assert rerun.out.splitlines()[-1] == f"{total} pages checked, {total - after_kill} snapshots changed"
    assert db_rows(db, "PRAGMA integrity_check") == [("ok",)]
    per_page = db_rows(db, "SELECT p.id, p.snapshot_count, count(s.reextracted_from) FROM pages p "
                           "JOIN snapshots s ON s.page_id = p.id GROUP BY p.id")
    assert len(per_page) == total
    assert {(row[1], row[2]) for row in per_page} == {(2, 1)}  # each page: exactly one new version
    assert run_cli("reextract").out.splitlines()[-1] == f"{total} pages checked, 0 snapshots changed"


def wait_for_reextracted(db: Path, proc: subprocess.Popen[bytes], at_least: int, timeout: float = 60) -> int:
    """Poll the archive (as another reader would) until ``at_least`` new versions are committed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"reextract exited {proc.returncode} before it could be killed")
        done = db_rows(db, "SELECT count(*) FROM snapshots WHERE reextracted_from IS NOT NULL")[0][0] \
            if _has_column(db) else 0
        if done >= at_least:
            return done
        time.sleep(0.005)  # a polling interval, not a synchronisation
    pytest.fail("reextract wrote nothing in time")


def _has_column(db: Path) -> bool:
    return any(row[1] == "reextracted_from" for row in db_rows(db, "PRAGMA table_info(snapshots)"))


def test_a_progress_bar_on_a_terminal_only(site: Site, tmp_path: Path) -> None:
    import pty

    fetched_archive(site, tmp_path, 10)
    piped = run_cli("reextract")
    assert "re-extracting" not in piped.err
    controller, terminal = pty.openpty()  # standard output is a terminal, as `fetch` asks
    try:
        proc = subprocess.run([sys.executable, "-m", "archiver", "reextract"], stdout=terminal,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(terminal)
        os.close(controller)
    assert proc.returncode == 0, proc.stderr
    assert "re-extracting" in proc.stderr

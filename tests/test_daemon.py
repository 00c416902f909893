"""Issue 4: the daemon. Real `archiver run` processes against real local servers and a real file."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator

import pytest

from archiver.jobs.daemon import Daemon
from archiver.jobs.session import Session
from archiver.store.db import open_db
from archiver.jobs.subscriptions import subscribe
from conftest import Clock, Response, Site, db_rows, run_cli
from test_fetch import LOREM, article_page

ARTICLE_TAIL = "Officials said that the plan would be reviewed again in the spring by an independent panel."


def rss(items: list[tuple[str, str]], title: str = "Test feed") -> str:
    body = "".join(f"<item><title>{t}</title><link>{l}</link><guid>{l}</guid></item>" for t, l in items)
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>{body}</channel></rss>'


def article(title: str, extra: str = ARTICLE_TAIL) -> str:
    return article_page(title, LOREM + [f"{extra} This is the story of {title}."])


def serve_feeds(site: Site, feeds: int, items: int, prefix: str = "", delay: float = 0.0) -> list[str]:
    """``feeds`` feeds of ``items`` distinct articles each on ``site`` (each article answered
    after ``delay`` seconds); returns the feed URLs."""
    urls = []
    for f in range(feeds):
        entries = []
        for i in range(items):
            title = f"Story {prefix}{f}-{i} on {site.host}"
            entries.append((title, site.route(f"/{prefix}news/{f}/{i}", article(title), delay=delay)))
        urls.append(site.route(f"/{prefix}feed/{f}.xml", rss(entries, f"Feed {f}"),
                               content_type="application/rss+xml"))
    return urls


def subscribe_all(db_path: Path, urls: list[str]) -> None:
    db = open_db(db_path)
    for url in urls:
        subscribe(db, url, "test", datetime.now(timezone.utc))
    db.conn.close()


def wait_until(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def scalar(db: Path, sql: str, params: tuple = ()) -> int:
    return db_rows(db, sql, params)[0][0]


def archived_entries(db: Path) -> int:
    """Entries whose page has at least one snapshot."""
    return scalar(db, "SELECT count(*) FROM entries e JOIN pages p ON p.id = e.page_id WHERE p.snapshot_count > 0")


class DaemonProcess:
    """`archiver run --tick 1` in a child process, its output in a log file."""

    def __init__(self, tmp_path: Path, *args: str, env: dict[str, str] | None = None):
        self.log_path = tmp_path / f"daemon-{time.monotonic_ns()}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "archiver", "run", "--tick", "1", *args],
                                     stdout=self._log, stderr=subprocess.STDOUT,
                                     env={**os.environ, **(env or {})}, start_new_session=True)

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def terminate(self, within: float = 10.0) -> tuple[int, float]:
        """SIGTERM; the exit code and the seconds it took."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=within)
        return code, time.monotonic() - started

    def kill9(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.cleanup()

    def cleanup(self) -> None:
        """Whatever survived the daemon (its worker processes) goes too."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._log.close()


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[Callable[..., DaemonProcess]]:
    started: list[DaemonProcess] = []

    def start(*args: str, env: dict[str, str] | None = None) -> DaemonProcess:
        daemon = DaemonProcess(tmp_path, *args, env=env)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.cleanup()


@pytest.fixture
def sites() -> Iterator[list[Site]]:
    """Ten servers, on 127.0.0.1 to 127.0.0.10: ten hosts as the fetcher sees them."""
    servers = [Site(host=f"127.0.0.{n}") for n in range(1, 11)]
    yield servers
    closing = [threading.Thread(target=server.close) for server in servers]  # each takes ~0.5 s
    for thread in closing:
        thread.start()
    for thread in closing:
        thread.join()


def assert_intact(db: Path) -> None:
    assert db_rows(db, "PRAGMA integrity_check") == [("ok",)]
    assert db_rows(db, "PRAGMA foreign_key_check") == []
    assert db_rows(db, "SELECT feed_id, guid FROM entries GROUP BY feed_id, guid HAVING count(*) > 1") == []
    assert db_rows(db, "SELECT page_id, content_sha256 FROM snapshots GROUP BY 1, 2 HAVING count(*) > 1") == []
    assert db_rows(db, "SELECT p.id FROM pages p WHERE p.snapshot_count != "
                       "(SELECT count(*) FROM snapshots s WHERE s.page_id = p.id)") == []


# -- done-when 1, 2 and 5 ----------------------------------------------------------------------

def test_daemon_archives_feeds_across_hosts_politely(sites: list[Site], daemons: Callable[..., DaemonProcess],
                                                    tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """30 feeds x 8 items on 10 hosts: all 240 pages archived, never more than 2 requests at once
    to a host; a page watched every 2s gets its second version unasked; SIGTERM exits 0."""
    monkeypatch.setenv("ARCHIVER_ALLOW_NETWORKS", "127.0.0.0/24")
    db = tmp_path / "archive.db"
    feeds = [url for site in sites for url in serve_feeds(site, feeds=3, items=8)]
    subscribe_all(db, feeds)
    watched = sites[0].route("/terms", article("Terms of service"))
    assert run_cli("watch", watched, "--every", "2s").code == 0

    daemon = daemons()
    wait_until(lambda: archived_entries(db) == 240, 120, "240 archived entries")
    wait_until(lambda: scalar(db, "SELECT snapshot_count FROM pages WHERE url = ?", (watched,)) == 1, 10,
               "the watched page's first version")
    sites[0].route("/terms", article("Terms of service", "A new clause about arbitration was added."))
    wait_until(lambda: scalar(db, "SELECT snapshot_count FROM pages WHERE url = ?", (watched,)) == 2, 15,
               "the watched page's second version")

    assert scalar(db, "SELECT count(*) FROM entries") == 240
    assert max(site.max_active for site in sites) <= 2
    code, took = daemon.terminate()
    assert code == 0 and took < 10, daemon.log
    log = daemon.log
    assert "tick: " in log and "new snapshots" in log
    assert "Traceback" not in log and "maximum number of running instances" not in log, log
    assert_intact(db)


# -- done-when 3 -------------------------------------------------------------------------------

def resume_to_the_end(daemons: Callable[..., DaemonProcess], db: Path, total: int, timeout: float) -> None:
    """After the kills: one more run archives the page of every one of ``total`` entries, stops
    cleanly on SIGTERM, and leaves exactly one entry, page and snapshot for each."""
    daemon = daemons()
    wait_until(lambda: archived_entries(db) == total, timeout, f"{total} archived entries")
    # The kills may have left nothing to do: then the count is reached before this daemon has
    # started, and a SIGTERM before its handler is set would end it as the signal's default does.
    wait_until(lambda: "tick: " in daemon.log, 30, "the daemon's first tick")
    assert daemon.terminate()[0] == 0
    for table in ("entries", "pages", "snapshots"):
        assert scalar(db, f"SELECT count(*) FROM {table}") == total, table
    assert_intact(db)


def test_kill_9_at_random_moments_loses_and_duplicates_nothing(
        sites: list[Site], daemons: Callable[..., DaemonProcess], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARCHIVER_ALLOW_NETWORKS", "127.0.0.0/24")
    db = tmp_path / "archive.db"
    # 40 ms a page, as from a nearby server: the ingestion lasts long enough to be interrupted
    feeds = [url for site in sites[:3] for url in serve_feeds(site, feeds=20, items=4, delay=0.04)]
    subscribe_all(db, feeds)
    total = 60 * 4
    progress = lambda: scalar(db, "SELECT count(*) FROM entries") + archived_entries(db)  # noqa: E731
    rng = random.Random()
    for _ in range(4):  # kill while it ingests: after a random amount of further progress
        target = min(2 * total, progress() + rng.randint(1, total // 3))
        daemon = daemons()
        wait_until(lambda: progress() >= target, 60, f"progress {target}", interval=0.02)
        time.sleep(rng.uniform(0, 0.2))
        daemon.kill9()
        assert_intact(db)

    resume_to_the_end(daemons, db, total, timeout=120)


def test_f44_kill_9_thirty_times_while_a_5000_entry_feed_is_ingested(
        site: Site, daemons: Callable[..., DaemonProcess], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """SECURITY.md F.44: the daemon is killed with SIGKILL 30 times while it ingests one feed of
    5,000 entries and archives their pages: first at random moments of start-up and parsing, then
    after random amounts of further progress. After every kill the archive is intact, and the
    feed's unit of work (its capture and all 5,000 entries) is there entirely or not at all. A last
    run resumes and finishes without a duplicate."""
    total = 5000
    monkeypatch.setenv("ARCHIVER_MAX_ENTRIES_PER_FEED", str(total))
    db = tmp_path / "archive.db"
    subscribe_all(db, serve_feeds(site, feeds=1, items=total))
    entries = lambda: scalar(db, "SELECT count(*) FROM entries")  # noqa: E731
    rng = random.Random(44)
    for kill in range(30):
        daemon = daemons()
        if kill < 4:
            time.sleep(rng.uniform(0.3, 2.5))
        elif entries() == 0:  # on a loaded machine start-up and parsing can outlast every sleep above
            wait_until(lambda: entries() == total, 120, "the feed's entries")
            time.sleep(rng.uniform(0, 0.5))
        else:
            target = min(total, archived_entries(db) + rng.randint(1, 80))
            wait_until(lambda: archived_entries(db) >= target, 120, f"{target} archived entries", interval=0.02)
            time.sleep(rng.uniform(0, 0.1))
        daemon.kill9()
        assert_intact(db)
        assert entries() in (0, total)
        assert scalar(db, "SELECT count(*) FROM entries e LEFT JOIN captures c ON c.id = e.capture_id "
                          "WHERE c.id IS NULL") == 0
    assert entries() == total and archived_entries(db) < total  # the kills did interrupt the pages

    resume_to_the_end(daemons, db, total, timeout=300)


# -- done-when 4 -------------------------------------------------------------------------------

def test_fetch_and_a_long_reader_while_the_daemon_writes(site: Site, daemons: Callable[..., DaemonProcess],
                                                         tmp_path: Path) -> None:
    """`archiver fetch` of 5 pages succeeds while the daemon runs, and a reader holding a read
    transaction for 10 s (as Datasette may) does not stop the daemon from committing."""
    db = tmp_path / "archive.db"
    watched = [site.route(f"/watched/{n}", article(f"Watched {n}")) for n in range(5)]
    assert run_cli("watch", *watched, "--every", "1s").code == 0
    subscribe_all(db, serve_feeds(site, feeds=2, items=8))
    daemon = daemons()
    wait_until(lambda: scalar(db, "SELECT count(*) FROM snapshots") >= 5, 60, "the daemon's first snapshots")

    reader = sqlite3.connect(f"file:{db}?mode=ro", uri=True, isolation_level=None)
    reader.execute("BEGIN")
    held = reader.execute("SELECT count(*) FROM captures").fetchone()[0]
    ticks_before = scalar(db, "SELECT ticks FROM daemon ORDER BY id DESC LIMIT 1")
    started = time.monotonic()
    pages = [site.route(f"/one-off/{n}", article(f"One-off {n}")) for n in range(5)]
    fetched = run_cli("fetch", *pages)
    assert fetched.code == 0, fetched
    assert fetched.out.count("new snapshot") == 5, fetched.out
    time.sleep(max(0.0, 10 - (time.monotonic() - started)))  # the reader's hold is the point
    assert reader.execute("SELECT count(*) FROM captures").fetchone()[0] == held  # its snapshot held
    reader.execute("COMMIT")
    reader.close()

    assert scalar(db, "SELECT ticks FROM daemon ORDER BY id DESC LIMIT 1") >= ticks_before + 7
    assert scalar(db, "SELECT count(*) FROM captures") > held + 5 + 10  # one-offs and re-checks
    assert db_rows(db, "PRAGMA journal_mode") == [("wal",)]
    assert daemon.terminate()[0] == 0
    assert "locked" not in daemon.log and "ERROR" not in daemon.log, daemon.log
    assert_intact(db)


# -- done-when 7 and 5 -------------------------------------------------------------------------

def test_trickling_feeds_do_not_delay_a_healthy_one(sites: list[Site], daemons: Callable[..., DaemonProcess],
                                                   tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """20 feeds on a server sending one byte a second hold two connections to that host; a
    healthy feed due every ~2 s on another host is polled on time. SIGTERM with those requests in
    flight still exits 0 within 10 s, and `archiver status` tells running from stopped."""
    monkeypatch.setenv("ARCHIVER_ALLOW_NETWORKS", "127.0.0.0/24")
    healthy_site, slow_site = sites[0], sites[1]
    db = tmp_path / "archive.db"
    story = healthy_site.route("/story", article("Healthy story"))
    healthy = healthy_site.route("/healthy.xml", rss([("Healthy", story)]), content_type="application/rss+xml")
    slow_body = rss([("Slow", slow_site.url("/never"))]).encode()
    slow = [slow_site.url(f"/slow/{n}.xml") for n in range(20)]
    for n in range(20):
        slow_site.routes[f"/slow/{n}.xml"] = Response(200, slow_body, {"Content-Type": "application/rss+xml"},
                                                      trickle=1.0)
    subscribe_all(db, slow + [healthy])
    assert run_cli("status").code == 1  # no daemon yet

    daemon = daemons(env={"ARCHIVER_MIN_INTERVAL": "1", "ARCHIVER_MAX_INTERVAL": "2"})
    wait_until(lambda: slow_site.active == 2, 30, "two trickling requests in flight")
    window_start = time.monotonic()
    polls_before = healthy_site.hits("/healthy.xml")
    time.sleep(10)  # the polling rhythm over time is what is being tested
    polls = healthy_site.hits("/healthy.xml") - polls_before
    assert slow_site.active == 2 and slow_site.max_active == 2
    assert polls >= 3, f"healthy feed polled {polls} times in {time.monotonic() - window_start:.1f}s"

    status = run_cli("status")
    assert status.code == 0 and "running" in status.out, status
    code, took = daemon.terminate()
    assert code == 0 and took < 10, (code, took, daemon.log)
    assert "abandoned 2 requests" in daemon.log
    assert "maximum number of running instances" not in daemon.log
    stopped = run_cli("status")
    assert stopped.code == 1 and "not running" in stopped.out, stopped
    assert_intact(db)


def test_status_is_unhealthy_when_the_last_tick_is_stale(tmp_path: Path) -> None:
    db = open_db(tmp_path / "archive.db")
    long_ago = (datetime.now(timezone.utc) - timedelta(minutes=10)).isoformat(timespec="seconds")
    db["daemon"].insert({"pid": os.getpid(), "host": os.uname().nodename, "started_at": long_ago,
                         "tick_seconds": 60.0, "last_tick_at": long_ago, "ticks": 3,
                         "last_tick_summary": "tick: 0 due"})
    stale = run_cli("status")
    assert stale.code == 1 and "STALE" in stale.out, stale
    db.execute("UPDATE daemon SET last_tick_at = ?", [datetime.now(timezone.utc).isoformat(timespec="seconds")])
    fresh = run_cli("status")
    assert fresh.code == 0 and "running" in fresh.out, fresh


# -- done-when 6: re-checks, in process with a controllable clock ------------------------------

@pytest.fixture
def clocked(clocked_session: tuple[Session, Clock]) -> tuple[Daemon, Clock]:
    session, clock = clocked_session
    return Daemon(session), clock


def page(daemon: Daemon, url: str) -> dict:
    return dict(next(iter(daemon.db.query("SELECT * FROM pages WHERE url = ?", [url]))))


def next_check_in(daemon: Daemon, url: str, clock: Clock) -> float | None:
    value = page(daemon, url)["next_check_at"]
    return None if value is None else (datetime.fromisoformat(value) - clock.now).total_seconds()


def test_rechecks_follow_the_decay_keep_versions_and_record_removals(site: Site, clocked: tuple[Daemon, Clock]) -> None:
    daemon, clock = clocked
    steady = site.route("/steady", article("Steady"))
    edited = site.route("/edited", article("Edited"))
    gone = site.route("/gone", article("Gone"))
    subscribe(daemon.db, site.route("/f.xml", rss([("S", steady), ("E", edited), ("G", gone)]),
                                    content_type="application/rss+xml"), "test", clock.now)
    tick = lambda: daemon.tick(budget=60)  # noqa: E731  (a tick that waits for all its work)
    assert tick().counts["snapshots"] == 3
    assert [next_check_in(daemon, u, clock) for u in (steady, edited, gone)] == [900, 900, 900]

    site.route("/edited", article("Edited", "The minister later denied having said any of this."))
    site.route("/gone", "gone", status=410)
    clock.at(minutes=15)
    report = tick()
    assert (report.counts["pages"], report.counts["snapshots"]) == (3, 1)
    assert page(daemon, edited)["snapshot_count"] == 2
    removed = page(daemon, gone)
    assert (removed["state"], removed["snapshot_count"], removed["next_check_at"]) == ("removed", 1, None)
    assert db_rows(daemon.session.config.db, "SELECT status FROM captures WHERE page_id = ? ORDER BY id DESC "
                   "LIMIT 1", (removed["id"],)) == [(410,)]
    assert next_check_in(daemon, steady, clock) == 900

    # unchanged: every 15 min for 3 h, hourly to a day, 3-hourly to a week, 3 days to a month,
    # monthly to a year, then no more
    for age, interval in ((dict(hours=4), 3600), (dict(days=2), 3 * 3600), (dict(days=10), 3 * 86400),
                          (dict(days=40), 30 * 86400), (dict(days=400), None)):
        clock.at(**age)
        site.route("/edited", article("Edited", f"Correction number {len(age)} {age}."))
        tick()
        assert next_check_in(daemon, steady, clock) == interval, age
        # a change starts the decay again
        assert next_check_in(daemon, edited, clock) == 900, age
    assert page(daemon, steady)["snapshot_count"] == 1
    assert page(daemon, gone)["snapshot_count"] == 1
    assert site.hits("/gone") == 2


def test_maintenance_jobs_run(site: Site, clocked: tuple[Daemon, Clock]) -> None:
    daemon, clock = clocked
    subscribe(daemon.db, site.route("/f.xml", rss([("A", site.route("/a", article("A")))]),
                                    content_type="application/rss+xml"), "test", clock.now)
    daemon.tick(budget=60)
    wal = Path(daemon.session.config.db + "-wal")
    assert wal.stat().st_size > 0
    busy, _, _ = daemon.checkpoint()
    assert busy == 0 and wal.stat().st_size == 0
    daemon.optimize()
    daemon.fts_optimize()
    assert db_rows(daemon.session.config.db, "SELECT count(*) FROM snapshots_fts WHERE snapshots_fts MATCH 'committee'") == [(1,)]

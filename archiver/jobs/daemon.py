"""The daemon (`archiver run`) and its health check (`archiver status`).

APScheduler holds only a few jobs: the tick, every ``tick`` seconds (coalesced, never overlapping
itself), and maintenance at quiet intervals (WAL checkpoint, ``PRAGMA optimize``, FTS optimise,
and once a week the full pass of `archiver maintain`, recorded in the ``maintenance`` table).
The schedule itself stays on the rows (``next_check_at``): each tick asks the store what is due,
most overdue first, and runs it through the same jobs as `archiver poll`.

A tick never waits long for the network. Work still in flight when the tick's time is up stays
in flight and a later tick saves it, so twenty feeds trickling one byte a second cannot hold up a
healthy one, and the tick never overruns its interval (which APScheduler would answer by skipping
it). Whichever thread runs the tick is the only one that writes to SQLite.

Each tick logs one summary line and writes a heartbeat to the ``daemon`` table, which
`archiver status` reads.
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable

from archiver.jobs.notify import Sender
from archiver.jobs.polling import Tally, due_jobs
from archiver.store import health
from archiver.store.db import StoreError, iso, parse_iso, transaction

if TYPE_CHECKING:
    from apscheduler.schedulers.background import BackgroundScheduler

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 3.0      # seconds in-flight work gets to finish after SIGTERM before it is abandoned
TICK_SHARE = 0.5          # share of the tick interval a tick may spend waiting for the network
KEPT_DAEMON_ROWS = 50
CHECKPOINT_EVERY = timedelta(minutes=5)
OPTIMIZE_EVERY = timedelta(hours=6)
FTS_OPTIMIZE_EVERY = timedelta(hours=24)
MAINTAIN_EVERY = timedelta(days=7)
MAINTAIN_CHECK_EVERY = timedelta(hours=1)


def stale_after(tick: float) -> float:
    """Seconds without a tick after which a daemon is not considered healthy."""
    return 3 * tick + 60


# -- the daemon --------------------------------------------------------------------------------

@dataclass(frozen=True)
class TickReport:
    due: int
    counts: dict[str, int]
    in_flight: int
    elapsed: float

    def summary(self) -> str:
        c = self.counts
        done = c["feeds"] + c["pages"]
        return (f"tick: {self.due} due, {done} done ({c['feeds']} feeds, {c['pages']} pages), "
                f"{c['entries']} new entries, {c['snapshots']} new snapshots, "
                f"{c['not_modified']} not modified, {c['errors']} errors, "
                f"{self.in_flight} in flight, {self.elapsed:.2f}s")


class Daemon:
    """The tick, the maintenance jobs and the heartbeat of one `archiver run` over a Session."""

    def __init__(self, session: Any, stop: threading.Event | None = None,
                 tick: float | None = None, batch: int | None = None):
        self.session = session
        self.db = session.db
        self.stop = stop or threading.Event()
        self.tick_seconds = float(tick or session.config.tick)
        self.batch = int(batch or session.config.tick_batch)
        self.runner = session.runner
        self.row_id: int | None = None
        self.sender: Sender | None = None  # notifications, on their own thread once serving
        self._job_lock = threading.Lock()  # one job at a time, and none once shutdown begins
        self._stop_requested = False

    def request_stop(self, *_: Any) -> None:
        """Ask the daemon to stop; safe in a signal handler (``Event.set`` there could deadlock
        with the main thread's own use of the event)."""
        self._stop_requested = True

    # -- the tick ------------------------------------------------------------------------------
    def tick(self, budget: float | None = None) -> TickReport:
        """Take a batch of due work, run it for at most ``budget`` seconds, save what finished."""
        started = time.monotonic()
        share = getattr(self.runner, "tick_share", TICK_SHARE)  # the cluster's writer waits longer
        budget = self.tick_seconds * share if budget is None else budget
        tally = Tally()
        jobs = [] if self.stop.is_set() else list(due_jobs(self.session, self.session.now(), limit=self.batch))
        for outcome in self.runner.run(jobs, self.stop, started + budget, linger=False):
            tally.add(outcome)
            if outcome.failed:
                log.warning("%s failed: %s", outcome.url, outcome.detail)
        report = TickReport(len(jobs), tally.counts, self.runner.in_flight, time.monotonic() - started)
        self.heartbeat(report.summary())
        log.info("%s", report.summary())
        if self.sender is not None:
            self.sender.wake()
        return report

    def drain(self, grace: float = SHUTDOWN_GRACE) -> int:
        """After stop: save what finishes within ``grace`` seconds; return how many requests
        are abandoned."""
        for outcome in self.runner.run([], self.stop, time.monotonic() + grace, linger=True):
            if outcome.failed:
                log.warning("%s failed: %s", outcome.url, outcome.detail)
        return self.runner.in_flight

    # -- heartbeat -----------------------------------------------------------------------------
    def register(self) -> int:
        """Record this run in the ``daemon`` table (keeping the last few runs)."""
        other = read_status(self.db, datetime.now(timezone.utc))
        if other.healthy and (other.row or {}).get("pid") != os.getpid():
            log.warning("another daemon seems to be running on this archive (pid %s on %s); "
                        "both will poll", other.row and other.row["pid"], other.row and other.row["host"])
        with transaction(self.db):
            self.row_id = int(self.db.table("daemon").insert({
                "pid": os.getpid(), "host": socket.gethostname(), "started_at": iso(self.session.now()),
                "tick_seconds": self.tick_seconds, "ticks": 0,
            }).last_pk)
            self.db.execute("DELETE FROM daemon WHERE id <= ?", [self.row_id - KEPT_DAEMON_ROWS])
        return self.row_id

    def heartbeat(self, summary: str) -> None:
        if self.row_id is None:
            return
        with transaction(self.db):
            self.db.execute("UPDATE daemon SET last_tick_at = ?, last_tick_summary = ?, ticks = ticks + 1 "
                            "WHERE id = ?", [iso(self.session.now()), summary, self.row_id])

    def unregister(self) -> None:
        if self.row_id is not None:
            with transaction(self.db):
                self.db.execute("UPDATE daemon SET stopped_at = ? WHERE id = ?",
                                [iso(self.session.now()), self.row_id])

    # -- maintenance ---------------------------------------------------------------------------
    def checkpoint(self) -> tuple[int, int, int]:
        """Copy the WAL into the database and truncate it, unless readers keep it busy (then it
        is tried again next time; a reader must never make the daemon wait long)."""
        return health.checkpoint(self.db)

    def optimize(self) -> None:
        health.optimize(self.db)

    def fts_optimize(self) -> None:
        health.fts_optimize(self.db)

    def maintain_if_due(self) -> health.MaintenanceReport | None:
        """The full pass of `archiver maintain`, once a week: its last run is on the
        ``maintenance`` table, so restarts neither skip nor repeat it."""
        now = self.session.now()
        last = parse_iso(health.last_maintenance(self.db))
        if last is not None and now - last < MAINTAIN_EVERY:
            return None
        report = health.maintain(self.db, iso(now))
        log.info("maintenance: %s", report.summary())
        return report

    # -- lifecycle -----------------------------------------------------------------------------
    def _guarded(self, name: str, action: Callable[[], Any]) -> Callable[[], None]:
        """A scheduler job: skipped once stopping; a database error is logged and the daemon goes on."""
        def job() -> None:
            if self.stop.is_set() or not self._job_lock.acquire(blocking=False):
                return
            try:
                action()
            except (sqlite3.Error, StoreError) as exc:  # e.g. a full disk: try again next time
                log.error("%s failed: %s", name, exc)
            finally:
                self._job_lock.release()
        job.__name__ = name
        return job

    def scheduler(self) -> "BackgroundScheduler":
        """The APScheduler that runs the tick and the maintenance jobs, one at a time."""
        # Imported here: only `archiver run` schedules anything, and every other command starts faster.
        from apscheduler.executors.pool import ThreadPoolExecutor as SchedulerThreads
        from apscheduler.schedulers.background import BackgroundScheduler

        scheduler = BackgroundScheduler(
            executors={"default": SchedulerThreads(1)}, timezone=timezone.utc,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None})
        now = datetime.now(timezone.utc)
        scheduler.add_job(self._guarded("tick", self.tick), "interval", seconds=self.tick_seconds,
                          id="tick", next_run_time=now)
        for name, every, action in (("wal_checkpoint", CHECKPOINT_EVERY, self.checkpoint),
                                    ("optimize", OPTIMIZE_EVERY, self.optimize),
                                    ("fts_optimize", FTS_OPTIMIZE_EVERY, self.fts_optimize),
                                    ("maintain", MAINTAIN_CHECK_EVERY, self.maintain_if_due)):
            scheduler.add_job(self._guarded(name, action), "interval", seconds=every.total_seconds(),
                              id=name, next_run_time=now + every)
        return scheduler

    def serve(self) -> int:
        """Tick until ``stop`` is set, then finish or abandon in-flight work within a few
        seconds. Returns the number of requests abandoned."""
        self.register()
        self.sender = Sender(self.session.config, self.session.now).start()
        scheduler = self.scheduler()
        scheduler.start()
        log.info("archiver daemon started: pid %s, tick every %ss, at most %s jobs a tick",
                 os.getpid(), self.tick_seconds, self.batch)
        while not (self._stop_requested or self.stop.is_set()):
            time.sleep(0.2)
        self.stop.set()
        log.info("stopping: no new work; waiting up to %ss for work in flight", SHUTDOWN_GRACE)
        scheduler.shutdown(wait=False)
        self.sender.stop()
        if not self._quiesce():
            log.error("a scheduled job is still running; leaving without waiting for it")
            return max(1, self.runner.in_flight)
        abandoned = self.drain()
        self.unregister()
        if abandoned:
            log.warning("abandoned %s requests still in flight; their feeds and pages stay due", abandoned)
        return abandoned

    def _quiesce(self) -> bool:
        """Wait for the running scheduled job, if any, to end; True once none can run."""
        if self._job_lock.acquire(timeout=SHUTDOWN_GRACE):
            return True
        self.db.conn.interrupt()  # a long maintenance statement: roll it back, run it next time
        return self._job_lock.acquire(timeout=SHUTDOWN_GRACE)


# -- status ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DaemonStatus:
    """The latest daemon run recorded in the archive, as `archiver status` reports it."""

    row: dict[str, Any] | None
    now: datetime

    @property
    def alive(self) -> bool:
        if self.row is None or self.row["stopped_at"]:
            return False
        if self.row["host"] != socket.gethostname():
            return not self.stale  # another machine's process: only its heartbeat tells
        return _pid_alive(self.row["pid"])

    @property
    def last_beat(self) -> datetime | None:
        if self.row is None:
            return None
        return parse_iso(self.row["last_tick_at"] or self.row["started_at"])

    @property
    def stale(self) -> bool:
        beat = self.last_beat
        limit = stale_after(self.row["tick_seconds"] or 60.0) if self.row else 0
        return beat is None or (self.now - beat).total_seconds() > limit

    @property
    def healthy(self) -> bool:
        return self.alive and not self.stale

    def lines(self) -> list[str]:
        row = self.row
        if row is None:
            return ["no daemon has run on this archive (start one with `archiver run`)"]
        beat = self.last_beat
        ago = f"{(self.now - beat).total_seconds():.0f}s ago" if beat else "never"
        if not self.alive:
            how = f"stopped at {row['stopped_at']}" if row["stopped_at"] else "ended without stopping cleanly"
            state = f"not running: pid {row['pid']} on {row['host']} {how}"
        elif self.stale:
            state = f"STALE: pid {row['pid']} on {row['host']} has not ticked for {ago}"
        else:
            state = f"running: pid {row['pid']} on {row['host']}, since {row['started_at']}"
        last = f"last tick {ago} ({row['ticks']} ticks, every {row['tick_seconds']:g}s)"
        return [state, last] + ([row["last_tick_summary"]] if row["last_tick_summary"] else [])


def read_status(db: Any, now: datetime) -> DaemonStatus:
    try:
        rows = list(db.query("SELECT * FROM daemon ORDER BY id DESC LIMIT 1"))
    except sqlite3.OperationalError as exc:
        if "no such table" not in str(exc):
            raise
        rows = []
    return DaemonStatus(dict(rows[0]) if rows else None, now)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

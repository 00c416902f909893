"""One run of the archiver: the config, the database, one HTTP client, one worker pool, a clock.

Commands and the daemon build a Session and hand it jobs; everything a job needs from the run
(fetcher, pool, settings, the time) it reaches through the session.
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Iterator

from archiver.net.fetcher import Fetcher
from archiver.net.robots import RobotsPolicy
from archiver.jobs.notify import targets
from archiver.jobs.runner import Runner
from archiver.jobs.schedule import parse_recheck_schedule
from archiver.settings import Config
from archiver.store.db import open_db
from archiver.jobs.workers import WorkerPool


def utc_now() -> datetime:
    """Now, aware, in UTC: the default clock of a session."""
    return datetime.now(timezone.utc)


class Session:
    """Shared state of one run; a context manager that closes the client and the workers."""

    def __init__(self, config: Config, db: Any = None, clock: Callable[[], datetime] = utc_now,
                 writer: bool = False):
        self.config = config
        targets(config)  # an unusable notify URL is a configuration error, said before any work
        self._owns_db = db is None
        self.db = db if db is not None else open_db(config.db)
        self.now = clock
        self.recheck_steps = parse_recheck_schedule(config.recheck_schedule)
        self.fetcher = Fetcher(config)
        self.pool = WorkerPool(config)
        self._writer = writer
        self._runner: Any = None
        if not config.broker_url:
            gate, patience = self.fetcher.gate, config.deadline
            self._runner = Runner(self.db, config.max_connections, config.per_host_connections,
                                  ready_in=lambda host: gate.ready_in(host, patience))
        self.robots_refusal: Callable[[str], Any] | None = None
        if config.obey_robots:
            self.robots_refusal = RobotsPolicy(self.fetcher).refusal

    @property
    def runner(self) -> Any:
        """What runs the jobs: the Runner here, or (``broker_url`` set) the cluster's workers,
        reached at the first use (commands that run no job never need the broker); ``writer``:
        this is the daemon, which saves every result the workers send back."""
        if self._runner is None:
            from archiver.jobs.cluster import ClusterRunner  # imports Dramatiq: only when asked for

            self._runner = ClusterRunner(self, self._writer)
        return self._runner

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        # The workers take up to a tenth of a second to wind down (a few milliseconds in a command
        # that exits when done, see POOL_CYCLE): they do so while the client and the database
        # (which folds its write-ahead log into the file) close.
        if self._runner is not None:
            self._runner.close()
        self.pool.stop()
        self.fetcher.close()
        if self._owns_db:
            self.db.conn.close()
        self.pool.close()

    def run(self, jobs: Iterable[Any], stop: threading.Event | None = None) -> Iterator[Any]:
        """Run jobs to the end (fetch overlapping, one writer), yielding outcomes as they are saved."""
        return self.runner.run(jobs, stop)

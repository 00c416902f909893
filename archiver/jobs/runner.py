"""Run jobs the way the archive wants them run: network waits overlap, one thread writes.

A job's ``work`` (fetching, waiting for a worker process) runs on a thread of a bounded pool,
at most ``per_host`` jobs per host at once, hosts served round-robin so that one busy host never
starves the rest. Its ``save`` runs on the thread that called ``run``, the only one that writes
to SQLite, and may hand back follow-up jobs (a feed's new entries, say).

A Runner lives as long as its session: jobs still in flight when one ``run`` call returns (the
daemon's tick gives up waiting after a while) are saved by a later call.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict, deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Callable, Iterable, Iterator, Protocol

from archiver.store.db import transaction

log = logging.getLogger(__name__)


class Job(Protocol):
    host: str

    def work(self) -> Any:
        """Network and worker-process side; must not touch the database."""

    def save(self, db: Any, work: Any) -> tuple[Any, list["Job"]]:
        """Writer side: record what ``work`` returned; return an outcome and follow-up jobs."""


def job_key(job: Any) -> tuple[str, str]:
    """What makes two jobs the same work: a feed's URL, a page's canonical URL."""
    return type(job).__name__, getattr(job, "canonical", job.url)


class Runner:
    """Run jobs with bounded, per-host-fair concurrency and a single writer."""

    def __init__(self, db: Any, max_threads: int, per_host: int,
                 ready_in: Callable[[str], float] = lambda host: 0.0):
        self.db = db
        self.max_threads = max(1, max_threads)
        self.per_host = max(1, per_host)
        self.ready_in = ready_in  # seconds until a host takes another request (politeness)
        self._pool = ThreadPoolExecutor(self.max_threads, thread_name_prefix="fetch")
        self._running: dict[Future[Any], Job] = {}
        self._busy: dict[str, int] = {}

    @property
    def in_flight(self) -> int:
        return len(self._running)

    def run(self, jobs: Iterable[Job], stop: threading.Event | None = None,
            until: float = math.inf, linger: bool = True) -> Iterator[Any]:
        """Start ``jobs`` (skipping any already in flight) and yield outcomes as they are saved,
        until nothing is left or the monotonic time ``until`` has come. Once ``stop`` is set
        nothing new starts, and unless ``linger`` the call returns at once. Jobs never started
        are dropped: whatever is due stays due on its row."""
        waiting: OrderedDict[str, deque[Job]] = OrderedDict()
        seen = {job_key(j) for j in self._running.values()}
        self._queue(jobs, waiting, seen)
        while True:
            stopping = stop is not None and stop.is_set()
            soonest = math.inf if stopping else self._start(waiting)
            left = until - time.monotonic()
            idle = not self._running and (stopping or not waiting)
            if idle or left <= 0 or (stopping and not linger):
                return
            pause = min(left, 0.5, soonest)
            if not self._running:
                time.sleep(pause)  # every waiting host is in its politeness delay
                continue
            done, _ = wait(self._running, timeout=pause, return_when=FIRST_COMPLETED)
            outcomes = []
            # The jobs that finished together are saved in one unit of work (each save joins
            # it): one commit instead of one a job, a third of the writer's CPU for a feed
            # found unchanged. The outcomes are handed out once it is committed.
            with transaction(self.db):
                for future in done:
                    job = self._running.pop(future)
                    self._busy[job.host] -= 1
                    outcome, follow_ups = job.save(self.db, _result_or_error(future))
                    self._queue(follow_ups, waiting, seen)
                    outcomes.append(outcome)
            yield from outcomes

    def close(self) -> None:
        """Stop the threads without waiting for requests still in flight (each has a deadline)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    @staticmethod
    def _queue(jobs: Iterable[Job], waiting: OrderedDict[str, deque[Job]], seen: set[tuple[str, str]]) -> None:
        for job in jobs:
            key = job_key(job)
            if key not in seen:
                seen.add(key)
                waiting.setdefault(job.host, deque()).append(job)

    def _start(self, waiting: OrderedDict[str, deque[Job]]) -> float:
        """Start waiting jobs, one host after another, within the global and per-host limits,
        only where the host would take the request now (a thread never sits in a host's delay
        while another host could use it). Returns the seconds until a skipped host is ready."""
        soonest = math.inf
        started = True
        while started and len(self._running) < self.max_threads:
            started = False
            for host in sorted(waiting, key=lambda h: self._busy.get(h, 0)):
                if len(self._running) >= self.max_threads:
                    break
                if self._busy.get(host, 0) >= self.per_host:
                    continue
                delay = self.ready_in(host)
                if delay > 0:
                    soonest = min(soonest, delay)
                    continue
                job = waiting[host].popleft()
                if not waiting[host]:
                    del waiting[host]
                self._busy[host] = self._busy.get(host, 0) + 1
                self._running[self._pool.submit(job.work)] = job
                started = True
        return soonest


def _result_or_error(future: Future[Any]) -> Any:
    """The job's work, or the exception it raised: a bug in one job is recorded by its ``save``
    as that job's failure instead of ending the whole run."""
    try:
        return future.result()
    except Exception as exc:
        log.exception("job failed unexpectedly")
        return exc

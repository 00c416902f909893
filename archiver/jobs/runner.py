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
import queue
import threading
import time
from collections import OrderedDict, deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Iterable, Iterator, Protocol

from archiver.store.db import transaction

log = logging.getLogger(__name__)

# Jobs that finish close together are saved in one transaction. A commit costs about a fifth of
# saving a page (the full-text index writes its segments then, the WAL its frames): saving 312
# pages one commit each took 0.45 ms a page more of the writer's CPU than four at a time. Once a
# job is done, the writer waits for more up to SAVE_WINDOW seconds, while fewer than SAVE_BATCH
# are done and others are running; their places are refilled meanwhile, so no thread waits on it.
# A commit that fails (disk full) records nothing of its batch; what is due stays due.
SAVE_BATCH = 8
SAVE_WINDOW = 0.02


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
        self._done: queue.SimpleQueue[Future[Any]] = queue.SimpleQueue()  # in the order they finish

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
            done = self._collect(pause, waiting, until, stop)
            if not done:
                continue
            outcomes = []
            # The jobs collected are saved in one unit of work (each save joins it): one commit
            # instead of one a job. The outcomes are handed out once it is committed.
            with transaction(self.db):
                for future, job in done:
                    outcome, follow_ups = job.save(self.db, _result_or_error(future))
                    self._queue(follow_ups, waiting, seen)
                    outcomes.append(outcome)
            yield from outcomes

    def _collect(self, pause: float, waiting: OrderedDict[str, deque[Job]], until: float,
                 stop: threading.Event | None) -> list[tuple[Future[Any], Job]]:
        """The jobs done within ``pause`` seconds, none if none is; once one is, those already
        done with it, and those done within SAVE_WINDOW after it while fewer than SAVE_BATCH
        are. Each job's place is freed as it is taken, and given to a waiting job."""
        try:
            done = [self._finished(self._done.get(timeout=pause))]
        except queue.Empty:
            return []
        deadline = min(time.monotonic() + SAVE_WINDOW, until)
        while True:
            try:
                done.append(self._finished(self._done.get_nowait()))
                continue
            except queue.Empty:
                pass
            left = deadline - time.monotonic()
            if len(done) >= SAVE_BATCH or left <= 0 or (stop is not None and stop.is_set()):
                return done
            self._start(waiting)
            if not self._running:
                return done
            try:
                done.append(self._finished(self._done.get(timeout=left)))
            except queue.Empty:
                return done

    def _finished(self, future: Future[Any]) -> tuple[Future[Any], Job]:
        job = self._running.pop(future)
        self._busy[job.host] -= 1
        return future, job

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
                future = self._pool.submit(job.work)
                self._running[future] = job
                future.add_done_callback(self._done.put)
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

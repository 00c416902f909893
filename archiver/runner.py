"""Run jobs the way the archive wants them run: network waits overlap, one thread writes.

A job's ``work`` (fetching, waiting for a worker process) runs on a thread of a bounded pool,
at most ``per_host`` jobs per host at once, hosts served round-robin so that one busy host never
starves the rest. Its ``save`` runs on the calling thread, the only one that writes to SQLite,
and may hand back follow-up jobs (a feed's new entries, say).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict, deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Iterable, Iterator, Protocol

log = logging.getLogger(__name__)


class Job(Protocol):
    host: str

    def work(self) -> Any:
        """Network and worker-process side; must not touch the database."""

    def save(self, db: Any, work: Any) -> tuple[Any, list["Job"]]:
        """Writer side: record what ``work`` returned; return an outcome and follow-up jobs."""


class Runner:
    """Run jobs with bounded, per-host-fair concurrency and a single writer."""

    def __init__(self, db: Any, max_threads: int, per_host: int):
        self.db = db
        self.max_threads = max(1, max_threads)
        self.per_host = max(1, per_host)

    def run(self, jobs: Iterable[Job], stop: threading.Event | None = None) -> Iterator[Any]:
        """Yield each job's outcome as it is saved. When ``stop`` is set, no new job starts."""
        waiting: OrderedDict[str, deque[Job]] = OrderedDict()
        busy: dict[str, int] = {}
        running: dict[Future[Any], Job] = {}
        for job in jobs:
            waiting.setdefault(job.host, deque()).append(job)
        with ThreadPoolExecutor(self.max_threads, thread_name_prefix="fetch") as pool:
            while waiting or running:
                if stop is None or not stop.is_set():
                    self._start(pool, waiting, busy, running)
                elif not running:
                    break
                if not running:
                    break
                done, _ = wait(running, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in done:
                    job = running.pop(future)
                    busy[job.host] -= 1
                    outcome, follow_ups = job.save(self.db, _result_or_error(future))
                    for extra in follow_ups:
                        waiting.setdefault(extra.host, deque()).append(extra)
                    yield outcome

    def _start(self, pool: ThreadPoolExecutor, waiting: OrderedDict[str, deque[Job]],
               busy: dict[str, int], running: dict[Future[Any], Job]) -> None:
        started = True
        while started and len(running) < self.max_threads:
            started = False
            for host in list(waiting):
                if len(running) >= self.max_threads:
                    break
                if busy.get(host, 0) >= self.per_host:
                    continue
                job = waiting[host].popleft()
                if not waiting[host]:
                    del waiting[host]
                busy[host] = busy.get(host, 0) + 1
                running[pool.submit(job.work)] = job
                started = True


def _result_or_error(future: Future[Any]) -> Any:
    """The job's work, or the exception it raised: a bug in one job is recorded by its ``save``
    as that job's failure instead of ending the whole run."""
    try:
        return future.result()
    except Exception as exc:
        log.exception("job failed unexpectedly")
        return exc

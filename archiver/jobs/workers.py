"""Worker processes for CPU-bound, untrusted work (extraction, feed parsing), with a time limit
and a memory limit per task. A task that overruns is killed with its process, which is replaced."""

from __future__ import annotations

import logging
import os
import resource
import signal
import threading
from concurrent.futures import CancelledError, Future, TimeoutError as FutureTimeout
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # the fork server starts before archiver.settings is loaded (archiver.entry)
    from archiver.settings import Config

log = logging.getLogger(__name__)


class TaskFailed(Exception):
    """A worker task ran out of time or memory, or its process died; ``kind`` classifies it."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


# How often pebble's threads in this process look at the pool (its timeouts, dead workers and a
# stop) in a command that exits once its work is done. With pebble's 0.1 s, closing a pool waited
# up to a tenth of a second for its thread to wake: 45-90 ms after the last page of each `archiver
# fetch`. At 0.02 s it waits 5-10 ms. An idle pool then costs 13 ms of CPU a second rather than
# 3.6 ms, so the daemon and `archiver worker`, whose pools live for months and close once, keep
# pebble's cycle. (pebble's CONSTS are its tunables: one value for the process.)
POOL_CYCLE = 0.02
_QUICK_CLOSE = False  # set by close_quickly


def _start_worker(megabytes: int) -> None:
    """In each worker: a memory limit, and Ctrl-C left to the parent (which stops the pool)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if megabytes > 0:
        limit = megabytes * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _fork_context() -> Any:
    """The forkserver context, whose server has imported and warmed up the extractor."""
    import multiprocessing

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["archiver.jobs.preload"])
    return context


_START_EARLY = False  # set by start_fork_server: the pools of this process start as they are made


def start_fork_server() -> None:
    """Start the fork server now rather than at the first task: it imports and warms up the
    extractor (a few tenths of a second) on one core while the caller gets on with its own. The
    worker pools made afterwards start their workers at once too (see WorkerPool.start_early)."""
    import multiprocessing.forkserver

    global _START_EARLY
    _fork_context()
    multiprocessing.forkserver.ensure_running()
    _START_EARLY = True


def close_quickly() -> None:
    """For a command that exits once its work is done: the pools made afterwards have pebble look
    at them every POOL_CYCLE, so that closing one at the end takes a few milliseconds."""
    global _QUICK_CLOSE
    _QUICK_CLOSE = True


def _nothing() -> None:
    """The task that starts a pool's workers."""


class WorkerPool:
    """A pool of processes (one per core by default), started at its first task; use as a
    context manager."""

    def __init__(self, config: Config):
        self.timeout = config.extract_timeout
        self.size = config.workers or os.cpu_count() or 1
        self._memory_mb = config.extract_memory_mb
        self._lock = threading.Lock()
        self._outstanding: set[Future[Any]] = set()
        self._pool: Any = None
        self._stopped = False
        if _START_EARLY:
            self.start_early()

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _started(self) -> Any:
        """The pebble pool, made at the first task: a run that parses nothing (an unchanged
        re-poll) never imports pebble and multiprocessing, 20 ms of its start-up."""
        with self._lock:
            if self._stopped:
                raise RuntimeError("the worker pool is stopped")
            if self._pool is None:
                import pebble
                import pebble.common

                if _QUICK_CLOSE:
                    pebble.common.CONSTS.sleep_unit = POOL_CYCLE

                self._pool = pebble.ProcessPool(max_workers=self.size, initializer=_start_worker,
                                                initargs=(self._memory_mb,), context=_fork_context())
            return self._pool

    def start_early(self) -> None:
        """Start the workers now, on a thread of their own, rather than at the first task: they
        fork from the fork server as soon as it is ready, while this process fetches the first
        pages, instead of after the first page has arrived."""
        def start() -> None:
            try:
                self.submit(_nothing)
            except RuntimeError:  # stopped before it started: nothing to start
                pass

        threading.Thread(target=start, name="start-workers", daemon=True).start()

    def stop(self) -> None:
        """Start stopping the workers without waiting for them (``close`` waits)."""
        # pebble leaves futures still pending at stop() unresolved forever: cancel them first,
        # so that a thread waiting on one (a run ending abnormally) is released.
        with self._lock:
            outstanding, self._outstanding = self._outstanding, set()
            pool, self._stopped = self._pool, True
        for future in outstanding:
            future.cancel()
        if pool is not None:
            pool.stop()

    def close(self) -> None:
        self.stop()
        if self._pool is not None:
            self._pool.join(timeout=5)

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future[Any]:
        future = self._started().submit(fn, self.timeout, *args, **kwargs)
        with self._lock:
            self._outstanding.add(future)
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: Future[Any]) -> None:
        with self._lock:
            self._outstanding.discard(future)

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn`` in a worker and return its result; its own exceptions pass through,
        a timeout, memory exhaustion or a dead worker become TaskFailed."""
        return self.result(self.submit(fn, *args, **kwargs))

    def result(self, future: Future[Any]) -> Any:
        """The result of a task from ``submit``, its failures classified as ``call`` says."""
        from pebble.common import ProcessExpired

        try:
            return future.result()
        except FutureTimeout:
            raise TaskFailed("timeout", f"gave up after {self.timeout:.0f}s") from None
        except MemoryError:
            raise TaskFailed("out_of_memory", "worker ran out of memory") from None
        except ProcessExpired as exc:
            raise TaskFailed("worker_died", f"worker process died ({exc})") from None
        except CancelledError:
            raise TaskFailed("cancelled", "the run ended before this task did") from None

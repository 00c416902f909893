"""The worker pool: in a command that extracts, its workers start with it, not at the first page."""

from __future__ import annotations

import multiprocessing
import threading

from archiver.content.article import extract_in_worker
from archiver.jobs import workers
from archiver.jobs.workers import WorkerPool
from archiver.settings import load_config

PAGE = ("<html><head><title>A short page</title></head><body><article><h1>A short page</h1>"
        + "<p>A paragraph of the article, long enough to be taken for its text by the extractor.</p>" * 4
        + "</article></body></html>").encode()


def _config(tmp_path):
    return load_config(environ={"ARCHIVER_DB": str(tmp_path / "archive.db"), "ARCHIVER_WORKERS": "1"})


def _children_started(pool: WorkerPool) -> bool:
    with pool._lock:
        started = pool._pool is not None
    return started


def _wait_for_the_start_up_thread() -> None:
    for thread in [t for t in threading.enumerate() if t.name == "start-workers"]:
        thread.join(timeout=60)


def test_a_pool_made_in_an_extracting_command_starts_its_workers_before_any_task(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(workers, "_START_EARLY", True)
    before = set(multiprocessing.active_children())
    with WorkerPool(_config(tmp_path)) as pool:
        # no task given: the workers start on their own thread, and the pool then extracts as ever
        _wait_for_the_start_up_thread()
        assert _children_started(pool)
        assert set(multiprocessing.active_children()) - before
        article = pool.call(extract_in_worker, PAGE, "https://example.org/a", "text/html; charset=utf-8", len(PAGE))
        assert article.title == "A short page"


def test_a_pool_made_elsewhere_starts_at_its_first_task(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(workers, "_START_EARLY", False)
    with WorkerPool(_config(tmp_path)) as pool:
        assert not _children_started(pool)
        pool.call(extract_in_worker, PAGE, "https://example.org/a", "text/html; charset=utf-8", len(PAGE))
        assert _children_started(pool)


def test_a_pool_closed_at_once_leaves_no_worker_running(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(workers, "_START_EARLY", True)
    before = set(multiprocessing.active_children())
    pool = WorkerPool(_config(tmp_path))
    pool.close()  # whether or not its start-up thread got there first
    _wait_for_the_start_up_thread()
    pool.close()
    assert not set(multiprocessing.active_children()) - before

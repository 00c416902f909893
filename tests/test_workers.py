"""The worker pool: in a command that extracts, its workers start with it, not at the first page,
and warm: what they run their tasks with is loaded once, in the fork server."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
import threading

import pytest

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


@pytest.mark.parametrize("quick", [True, False])
def test_only_a_pool_of_a_command_that_exits_when_done_is_looked_at_every_pool_cycle(tmp_path, monkeypatch,
                                                                                    quick) -> None:
    """In a command that exits when its work is done (close_quickly), pebble's threads wake every
    POOL_CYCLE, not its own tenth of a second: closing its pool waits for them to notice. The
    daemon's pool lives for months: it keeps pebble's cycle, which costs an idle pool less."""
    import pebble.common

    monkeypatch.setattr(workers, "_START_EARLY", False)
    monkeypatch.setattr(workers, "_QUICK_CLOSE", False)
    monkeypatch.setattr(pebble.common.CONSTS, "sleep_unit", 0.1)
    if quick:
        workers.close_quickly()
    before = set(multiprocessing.active_children())
    with WorkerPool(_config(tmp_path)) as pool:
        pool.call(extract_in_worker, PAGE, "https://example.org/a", "text/html; charset=utf-8", len(PAGE))
        assert pebble.common.CONSTS.sleep_unit == (workers.POOL_CYCLE if quick else 0.1)
    assert workers.POOL_CYCLE < 0.1
    assert not set(multiprocessing.active_children()) - before


# The fork server's state, in a process of its own: it imports archiver.jobs.preload, and each
# worker starts as a copy of it.
_AFTER_PRELOAD = """
import gc, json, sys
import archiver.jobs.preload
collecting = gc.isenabled()
loaded = set(sys.modules)
import pebble.pool.process, archiver.content.article, archiver.jobs.workers  # a worker's task
from archiver.content.article import extract_in_worker
article = extract_in_worker(sys.argv[1].encode(), "https://example.org/a", "text/html; charset=utf-8", 10**6)
print(json.dumps({"collecting": collecting, "imported": sorted(set(sys.modules) - loaded), "title": article.title}))
"""


def test_a_worker_starts_with_its_task_modules_loaded_and_the_collector_on():
    done = subprocess.run([sys.executable, "-c", _AFTER_PRELOAD, PAGE.decode()],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.splitlines()[-1])
    assert found["collecting"]  # paused while the server loaded, and on again for its workers
    assert found["imported"] == []  # pebble (with asyncio) among them, before
    assert found["title"] == "A short page"

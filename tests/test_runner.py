"""The job runner's writer side: jobs that finish close together are saved in one transaction,
without holding back a job that finishes alone or starving the threads meanwhile."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
import sqlite_utils

from archiver.jobs import runner as runner_module
from archiver.jobs.runner import Runner

LONG = 10.0  # a bound no passing run comes near: a job blocked this long means the runner waited on it


class Job:
    """A job whose work waits for ``go`` (when given) and whose save records a row, with how
    many rows another connection could see committed at that moment."""

    def __init__(self, url: str, go: threading.Event | None = None, host: str = "example.org"):
        self.url, self.host, self.go = url, host, go
        self.started = threading.Event()
        self.finished = threading.Event()

    def work(self) -> str:
        self.started.set()
        if self.go is not None and not self.go.wait(LONG):
            raise TimeoutError(f"{self.url} was never let go")
        self.finished.set()
        return self.url

    def save(self, db: sqlite_utils.Database, work: object) -> tuple[tuple[str, int], list[object]]:
        db.execute("INSERT INTO saved (url) VALUES (?)", [work])
        return (self.url, _committed(db)), []


def _committed(db: sqlite_utils.Database) -> int:
    with sqlite3.connect(db.conn.execute("PRAGMA database_list").fetchone()[2]) as other:
        return other.execute("SELECT count(*) FROM saved").fetchone()[0]


@pytest.fixture
def db(tmp_path):
    database = sqlite_utils.Database(tmp_path / "runner.db")
    database.execute("PRAGMA journal_mode = WAL")
    database.execute("CREATE TABLE saved (url TEXT)")
    yield database
    database.close()


@pytest.fixture
def long_window(monkeypatch):
    """A window far longer than any of these tests takes: whatever it groups, it groups for sure."""
    monkeypatch.setattr(runner_module, "SAVE_WINDOW", LONG)
    monkeypatch.setattr(runner_module, "SAVE_BATCH", 3)


def test_jobs_finishing_one_after_another_are_saved_in_one_transaction(db, long_window):
    gates = [threading.Event() for _ in range(3)]
    jobs = [Job(f"https://example.org/{n}", gate) for n, gate in enumerate(gates)]

    def let_go_one_by_one() -> None:
        for job, gate in zip(jobs, gates):
            job.started.wait(LONG)
            gate.set()
            job.finished.wait(LONG)

    releaser = threading.Thread(target=let_go_one_by_one)
    releaser.start()
    runner = Runner(db, max_threads=3, per_host=3)
    outcomes = list(runner.run(jobs))
    releaser.join()
    runner.close()
    # each save saw nothing committed: the three were one transaction, committed once
    assert sorted(outcomes) == [(job.url, 0) for job in jobs]
    assert db.execute("SELECT count(*) FROM saved").fetchone()[0] == 3


def test_a_job_finishing_alone_is_saved_at_once(db, long_window):
    runner = Runner(db, max_threads=4, per_host=4)
    started = time.monotonic()
    assert list(runner.run([Job("https://example.org/only")])) == [("https://example.org/only", 0)]
    runner.close()
    assert time.monotonic() - started < LONG / 2


def test_a_finished_job_waits_no_longer_than_the_window_for_a_slow_one(db, monkeypatch):
    monkeypatch.setattr(runner_module, "SAVE_WINDOW", 0.05)
    slow_go = threading.Event()
    quick, slow = Job("https://example.org/quick"), Job("https://example.org/slow", slow_go)
    runner = Runner(db, max_threads=2, per_host=2)
    seen = []
    for url, committed in runner.run([slow, quick]):
        seen.append((url, committed, slow.finished.is_set()))
        slow_go.set()  # the slow job ends only once the quick one is saved
    runner.close()
    assert seen == [("https://example.org/quick", 0, False), ("https://example.org/slow", 1, True)]


def test_a_finished_jobs_place_goes_to_a_waiting_job_within_the_window(db, long_window):
    # One thread: the second job can run only once the first has left its place. The batch of
    # three fills (and is saved) only if each place is refilled while the window is open.
    jobs = [Job(f"https://example.org/{n}") for n in range(3)]
    runner = Runner(db, max_threads=1, per_host=1)
    started = time.monotonic()
    outcomes = list(runner.run(jobs))
    runner.close()
    assert sorted(outcomes) == [(job.url, 0) for job in jobs]
    assert time.monotonic() - started < LONG / 2

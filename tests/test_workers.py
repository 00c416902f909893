"""The worker pool: in a command that extracts, its workers start with it, not at the first page,
and warm: what the extractor loads at its first pages is loaded once, in the fork server."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
import threading

from archiver.content.article import extract_in_worker
from archiver.jobs import workers
from archiver.jobs.workers import WorkerPool
from archiver.settings import load_config
from conftest import CORPUS

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


# Three corpus pages (scrapinghub-aeb) that each make the extractor load something on first use:
# a domain trafilatura looks up in the public suffix list (www.wsj.com), a date only dateparser
# reads ("November 20 15:23 2019"), a line htmldate checks against the month names of every
# language dateparser knows.
FIRST_USE_PAGES = [
    ("042bb7b5fedab6eac7db576522b89b93904c237d344bcbe14a6a5ab7f7335856",
     "https://www.wsj.com/articles/google-stadia-microsoft-xcloud-apple-arcade-so-many-ways-to-playand-pay-11574168580"),
    ("5f9c5ed5d64dfe682d9bde13b9b4f032a3ebdbf165c06ec49c0705bcbe106e3b",
     "https://www.indiapost.com/with-shattered-dreams-deportees-return-home-from-us/"),
    ("ff0f958ade714ebfaf5c0b42b1c0152a62063f4e6f72141406ccefc4a2677f21", "http://vse-diety.com/dieta-atkinsa.html"),
]

# The fork server's state, in a process of its own: it imports the modules of workers.PRELOAD (all
# of them, or the first alone for a one-off fetch), and each worker starts as a copy of it.
_AFTER_PRELOAD = """
import gc, gzip, json, sys
from archiver.jobs.workers import PRELOAD
for module in PRELOAD[:int(sys.argv[2])]:
    __import__(module)
collecting = gc.isenabled()
import tld.utils
suffixes = len(tld.utils.tld_names)
loaded = set(sys.modules)
import pebble.pool.process, archiver.content.article, archiver.jobs.workers  # a worker's task
from archiver.content.extractor import extract_article
dates = []
for path, url in json.loads(sys.argv[1]):
    article = extract_article(gzip.decompress(open(path, "rb").read()), url, "text/html; charset=utf-8")
    dates.append(article.published)
print(json.dumps({"collecting": collecting, "suffixes": suffixes, "imported": sorted(set(sys.modules) - loaded), "dates": dates}))
"""


def _after_preload(modules: int) -> dict:
    pages = [(str(CORPUS / "articles/scrapinghub-aeb/html" / f"{page}.html.gz"), url) for page, url in FIRST_USE_PAGES]
    done = subprocess.run([sys.executable, "-c", _AFTER_PRELOAD, json.dumps(pages), str(modules)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_a_worker_finds_loaded_what_the_first_pages_would_load():
    found = _after_preload(len(workers.PRELOAD))
    assert found["collecting"]  # paused while the server loaded, and on again for its workers
    assert found["suffixes"] > 0  # the public suffix list, read before any page
    assert found["imported"] == []  # dateparser and its languages among them, and pebble, before
    assert found["dates"][1] == "2019-11-20"  # read by dateparser, loaded by the fork server


def test_a_one_off_fetch_leaves_to_its_worker_what_only_some_pages_need():
    found = _after_preload(1)
    assert found["suffixes"] == 0
    assert "dateparser" in found["imported"]  # by the page that needs it, and only then
    assert found["dates"][1] == "2019-11-20"  # the same article either way


def test_a_batch_warm_up_that_fails_leaves_the_fork_server_running():
    script = ("import gc, archiver.jobs.preload\n"
              "from archiver.content import extractor\n"
              "def fail(*args, **kwargs): raise RuntimeError('a warm-up page no longer extracts')\n"
              "extractor.extract_article = fail\n"
              "import archiver.jobs.preload_batch\n"
              "print(gc.isenabled())\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True"]

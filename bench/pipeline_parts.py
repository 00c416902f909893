"""What each part of `archiver fetch` costs alone, against the CPU that issue 15's end-to-end
target (120% of the plain-extraction ceiling) leaves a page.

One command, from the repository (it moves itself into a loopback-only network namespace):

    .venv/bin/python bench/pipeline_parts.py            # 624 pages, 2 rounds

Options: ``--pages 624`` (the scrapinghub-aeb pages of ``bench/fetch_throughput.py``, the same
pages again at other URLs past 156), ``--rounds 2``, ``--no-isolate``.

Each round, on the same pages:

1. The baseline and the machine's ceiling, exactly as ``bench/fetch_throughput.py`` measures them
   (plain ``trafilatura.extract`` in one process, then in one process per core at once), and the
   reference: archiver's ``extract_article`` in one process.
2. The budget: at 120% of the ceiling, the CPU a page may take in all processes together if every
   core were busy from the first instant to the last (no start-up, no idle moment).
3. Each part of the pipeline alone, in a forked child of its own (only children import archiver's
   extractor, which changes how trafilatura runs in a process):
   - extraction in archiver's worker pool (one worker per core, fed from threads as the fetch
     threads feed it): the CPU of the worker processes from /proc, and that of the process
     dispatching to them;
   - fetching: archiver's hardened Fetcher over the pages from as many threads as
     ``max_connections`` (the loopback servers run in this process, not the child);
   - saving: ``PageJob.save`` of every page, already fetched and extracted, on a fresh archive
     (the body's hash, capture, body, snapshot with its full-text index, the site model,
     changes), four pages to a transaction as the runner's results arrive.
4. The sum of the parts against the budget. The parts run alone here; together, in
   ``bench/fetch_throughput.py``'s end-to-end run, each costs more (three busy processes and the
   fetch threads share two cores), and start-up comes on top.

This is a benchmark: it reports, it asserts nothing, and it exits 0 unless it could not run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

# Run as a script: find the sibling modules, and the archiver package above them.
sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

import fetch_throughput as ft  # noqa: E402
from child_usage import _cpu_seconds, archiver_env, descendants  # noqa: E402
from loopback_servers import LoopbackSites, in_loopback_namespace, rerun_isolated  # noqa: E402

TARGET = ft.CEILING_TARGET
CONTENT_TYPE = "text/html; charset=utf-8"


@dataclass(frozen=True)
class Parts:
    """CPU milliseconds a page of each part, measured alone."""

    workers: float  # the worker processes extracting
    dispatch: float  # the process handing pages to the workers and taking the articles back
    fetch: float  # the Fetcher's threads
    save: float  # PageJob.save

    @property
    def total(self) -> float:
        return self.workers + self.dispatch + self.fetch + self.save


def _archiver_env(db: Path) -> None:
    """Settings of the child, as fetch_throughput's runs have them: an archive of its own, the
    loopback networks, no politeness delay, every other setting its default."""
    env = archiver_env(db, "per_host_delay=0")
    os.environ.clear()
    os.environ.update(env)


def _pool_cpu(pid: int) -> float:
    return sum(_cpu_seconds(child) or 0.0 for child in descendants(pid))


def measure_workers(pages: list[ft.Page], urls: list[str], workdir: Path) -> tuple[float, float]:
    """(worker processes, dispatching process) CPU ms a page, extracting every page in the pool."""
    _archiver_env(workdir / "workers.db")
    from archiver.content.article import extract_in_worker
    from archiver.jobs.workers import WorkerPool
    from archiver.settings import load_config

    config = load_config()
    with WorkerPool(config) as pool:
        limit = config.max_extract_bytes
        extract = lambda i: pool.call(extract_in_worker, pages[i].html[:limit], urls[i], CONTENT_TYPE, limit)  # noqa: E731
        extract(0)  # starts the fork server and the workers: start-up is not this part's
        me = os.getpid()
        workers0, own0 = _pool_cpu(me), time.process_time()
        with ThreadPoolExecutor(2 * pool.size) as feeders:
            articles = list(feeders.map(extract, range(len(pages))))
        workers, own = _pool_cpu(me) - workers0, time.process_time() - own0
    if len(articles) != len(pages):
        raise RuntimeError("the pool lost pages")
    return workers * 1000 / len(pages), own * 1000 / len(pages)


def measure_fetch(urls: list[str], workdir: Path) -> float:
    """The Fetcher's CPU ms a page, fetching every page from ``max_connections`` threads."""
    _archiver_env(workdir / "fetch.db")
    from archiver.net.fetcher import Fetcher
    from archiver.settings import load_config

    config = load_config()
    fetcher = Fetcher(config)
    fetcher.fetch(urls[0])  # the first request builds the client's pools
    start = time.process_time()
    with ThreadPoolExecutor(config.max_connections) as threads:
        results = list(threads.map(fetcher.fetch, urls))
    cpu = time.process_time() - start
    fetcher.close()
    failed = [r.reason for r in results if not r.ok]
    if failed:
        raise RuntimeError(f"{len(failed)} fetches failed, e.g. {failed[0]}")
    return cpu * 1000 / len(urls)


def measure_save(pages: list[ft.Page], urls: list[str], workdir: Path) -> float:
    """``PageJob.save``'s CPU ms a page, on a fresh archive, the articles extracted beforehand."""
    _archiver_env(workdir / "save.db")
    from archiver.content.extractor import extract_article
    from archiver.jobs.pages import PageJob, PageWork
    from archiver.jobs.session import Session
    from archiver.net.fetcher import FetchResult
    from archiver.settings import load_config
    from archiver.store.db import transaction

    with Session(load_config()) as session:
        jobs = []
        for page, url in zip(pages, urls):
            fetched = FetchResult(url, url, 200, {"content-type": CONTENT_TYPE, "content-length": str(len(page.html))},
                                  (), "2026-01-01T00:00:00+00:00", 50, body=page.html, ip_address="127.0.0.1")
            jobs.append((PageJob(session, url), PageWork(fetched, article=extract_article(page.html, url, CONTENT_TYPE))))
        start = time.process_time()
        for first in range(0, len(jobs), 4):
            with transaction(session.db):
                for job, work in jobs[first:first + 4]:
                    outcome, _ = job.save(session.db, work)
                    if outcome.result != "new_snapshot":
                        raise RuntimeError(f"{outcome.url}: {outcome.result} {outcome.detail}")
        cpu = time.process_time() - start
    return cpu * 1000 / len(jobs)


def measure_parts(pages: list[ft.Page], urls: list[str], workdir: Path) -> Parts:
    _, (pool,) = ft.forked(lambda: measure_workers(pages, urls, workdir))
    _, (fetch,) = ft.forked(lambda: measure_fetch(urls, workdir))
    _, (save,) = ft.forked(lambda: measure_save(pages, urls, workdir))
    return Parts(workers=pool[0], dispatch=pool[1], fetch=fetch, save=save)


def budget_ms(ceiling: float) -> float:
    """CPU ms a page over every process at ``TARGET`` times the ceiling, every core busy throughout."""
    return (os.cpu_count() or 1) * 1000 / (TARGET * ceiling)


def report_round(rates: ft.InProcessRates, parts: Parts) -> None:
    budget = budget_ms(rates.ceiling)
    print(f"\n== the budget ==\n"
          f"   {TARGET:.0%} of the ceiling is {TARGET * rates.ceiling:.1f} pages/s: {budget:.1f} ms of CPU a page "
          f"over all processes, were every core busy from the first instant to the last "
          f"(plain extraction takes {1000 / rates.baseline:.1f} ms a page in one process)")
    print("\n== each part alone, CPU ms a page ==")
    rows = [("extraction, the worker processes", parts.workers),
            ("extraction, dispatching to the workers", parts.dispatch),
            ("fetching (the Fetcher's threads)", parts.fetch),
            ("saving (PageJob.save)", parts.save)]
    for name, value in rows:
        print(f"   {name:<42} {value:6.2f}  {value / budget:5.0%} of the budget")
    print(f"   {'all four':<42} {parts.total:6.2f}  {parts.total / budget:5.0%} of the budget; "
          f"besides the workers, {budget - parts.workers:.2f} ms is left, and the other three take "
          f"{parts.total - parts.workers:.2f} ms")


def summarize(rounds: list[tuple[ft.InProcessRates, Parts]]) -> None:
    budgets = [budget_ms(r.ceiling) for r, _ in rounds]
    print(f"\n== summary over {len(rounds)} rounds (medians, and ranges) ==")
    print(f"   budget at {TARGET:.0%} of the ceiling: {ft._spread(budgets, ' ms')} a page")
    for name in ("workers", "dispatch", "fetch", "save", "total"):
        print(f"   {name:<9} {ft._spread([getattr(p, name) for _, p in rounds], ' ms')} a page")
    print(f"   the parts against the budget: {ft._spread([p.total / b for (_, p), b in zip(rounds, budgets)])}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=624)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-isolate", action="store_true", help="run in this network namespace")
    args = parser.parse_args()
    if not args.no_isolate and not in_loopback_namespace():
        rerun_isolated(__file__, sys.argv[1:])
    pages = ft.load_pages(args.pages)
    print(f"{len(pages)} {ft.SOURCE} pages, {os.cpu_count()} cores, {args.rounds} rounds")
    rounds = []
    with tempfile.TemporaryDirectory() as scratch, LoopbackSites(20, 0.05) as sites:
        workdir = Path(scratch)
        urls = ft.serve_pages(sites, pages, False, workdir).read_text().split()
        for number in range(1, args.rounds + 1):
            print(f"\n######## round {number} of {args.rounds}")
            rates = ft.report_in_process(pages, 1, reference=True)
            parts = measure_parts(pages, urls, Path(tempfile.mkdtemp(dir=workdir)))
            report_round(rates, parts)
            rounds.append((rates, parts))
    summarize(rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())

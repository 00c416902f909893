"""Throughput of `archiver fetch` against plain one-process trafilatura (issue 2, "Performance").

One command, from the repository (it moves itself into a loopback-only network namespace with
``tests/isolated``; running it as ``tests/isolated .venv/bin/python bench/fetch_throughput.py``
does the same):

    cd /work/main && .venv/bin/python bench/fetch_throughput.py

Options: ``--pages 150`` (the first N scrapinghub-aeb pages of the corpus; past 156, the same
pages again at other URLs), ``--hosts 20``,
``--latency 0.05`` (seconds before every response), ``--gzip`` (send the stored .gz bytes with
``Content-Encoding: gzip`` instead of decompressed HTML), ``--variant SPEC`` (repeatable; the
settings of one measured run, e.g. ``default`` or ``per_host_delay=0,workers=2``; a lowercase
name is an archiver setting, an uppercase one an environment variable such as
``MALLOC_ARENA_MAX=2``; default: ``default`` and ``per_host_delay=0``), ``--rounds 3``,
``--baseline-repeat 3``, ``--keep DIR``, ``--no-isolate``.

To compare two versions of the archiver in one run (this machine's speed varies from run to run
by more than most changes gain), check the other one out elsewhere and add it as a variant:
``git worktree add /tmp/other REV``, ``.venv/bin/python -m compileall -q /tmp/other/archiver``
(this benchmark compiles only its own checkout), then ``--variant per_host_delay=0,PYTHONPATH=/tmp/other``.

What it does, all in one run:

1. Baseline: ``trafilatura.extract(html, url=url)`` over the pages, one after the other in this
   process (decompressed, decoded HTML in memory; only the extraction loop is timed; the fastest
   of ``--baseline-repeat 3`` loops counts). Then the machine's own ceiling: the baseline loop in
   one process per core at once (forked from this one), which is what the cores deliver for
   plain extraction with nothing else running; on a virtual machine that can be well short of
   one process's rate times the cores. In the first round also, for reference, archiver's own
   ``extract_article`` the same way, in a forked child (importing it changes how trafilatura runs
   in that process): what each worker does per page.
2. Serves the pages from 127.0.0.1 ... 127.0.0.<hosts> (one ThreadingHTTPServer each, pages
   assigned round-robin, every response after ``--latency``; /robots.txt answers 404, which
   allows everything), writes urls.txt, and runs ``archiver fetch -i urls.txt`` as a child process
   on a fresh database, once per variant. The child's environment has no ARCHIVER_* variable but
   ARCHIVER_DB, ARCHIVER_ALLOW_NETWORKS=127.0.0.0/16 and the variant's, and it runs in an empty
   directory so no config file is read: every other setting is its built-in default (printed).
   Steps 1 and 2 alternate ``--rounds 3`` times (baseline, then each variant, then again), and
   every run is compared with the baseline of its own round: this machine's speed drifts by
   more than most changes gain, within seconds. Each variant runs twice a round, each time on a
   fresh database: once timed, with nothing sampling it (as the baseline and the ceiling run),
   and once with its process tree sampled every 0.1 s for memory and CPU by process, which
   costs that run about a tenth of its wall time on two cores (its rate is printed too).
3. Prints pages/s end to end (process start to exit) and steady (first to last output line),
   the ratio to the baseline (the first issue's target >= 1.5) and to the machine's ceiling,
   both with start-up and once started (issue 15's target >= 120%, over at least 600 pages: start-up,
   some 0.45 s to the first result, is about a tenth of a run of 624 pages and a thirtieth of one
   of 1872, while the ceiling, forked warm, has none), the process tree's peak memory (target < 300 MB),
   CPU split between the main process and the worker processes, how busy the rest of the machine
   was, and what the database holds afterwards (every URL should have a snapshot).

This is a benchmark: it reports, it asserts nothing, and it exits 0 unless it could not run.
"""

from __future__ import annotations

import argparse
import gzip
import math
import os
import pickle
import statistics
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import trafilatura  # the baseline; archiver itself runs it in its worker processes

# Run as a script: find the sibling modules, and the archiver package above them.
sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

import corpus_quality  # noqa: E402
from child_usage import (ChildRun, archiver_command, archiver_env, archiver_settings,  # noqa: E402
                         current_rss_mb, machine_busy_seconds, network_floor, row_counts, run_child)
from loopback_servers import LoopbackSites, Resource, in_loopback_namespace, rerun_isolated  # noqa: E402

SOURCE = "scrapinghub-aeb"
RSS_TARGET_MB = 300
RATIO_TARGET = 1.5  # the first issue's target, against one process
CEILING_TARGET = 1.2  # issue 15's: against plain extraction in one process per core
SHOWN_SETTINGS = ("per_host_delay", "per_host_connections", "max_connections", "obey_robots",
                  "workers", "extract_timeout", "deadline")


@dataclass(frozen=True)
class Page:
    id: str
    url: str  # the original URL, for the baseline's url=
    html: bytes
    gzipped: bytes


def load_pages(count: int) -> list[Page]:
    """The first ``count`` pages of the source; past its 156, the same pages again under other
    ids (so at other URLs: each is a page of its own to the archive)."""
    rows = corpus_quality.load_manifest(sources=[SOURCE])
    pages = []
    for n in range(count):
        row, copy = rows[n % len(rows)], n // len(rows)
        raw = (corpus_quality.CORPUS / row["html"]).read_bytes()
        html = gzip.decompress(raw) if row["html_gzip"] else raw
        page_id = row["id"] if copy == 0 else f"{row['id']}-{copy + 1}"
        pages.append(Page(page_id, row["url"], html, raw if row["html_gzip"] else gzip.compress(html)))
    return pages


# -- in-process extraction -------------------------------------------------------------------

@dataclass(frozen=True)
class InProcess:
    """One extraction loop over every page in this process."""

    wall: float
    cpu: float
    other_cpu: float  # what the rest of the machine used meanwhile
    extracted: int

    def rate(self, pages: int) -> float:
        return pages / self.wall


def timed_loop(pages: list[Page], extract: Callable[[Page], object]) -> InProcess:
    machine0, cpu0, wall0 = machine_busy_seconds(), time.process_time(), time.perf_counter()
    extracted = sum(1 for page in pages if extract(page))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return InProcess(wall, cpu, max(0.0, machine_busy_seconds() - machine0 - cpu), extracted)


def fastest(pages: list[Page], extract: Callable[[Page], object], repeat: int) -> InProcess:
    """The fastest of ``repeat`` loops: the one least disturbed by anything else."""
    return min((timed_loop(pages, extract) for _ in range(max(1, repeat))), key=lambda r: r.wall)


def baseline_extract(pages: list[Page]) -> Callable[[Page], object]:
    """Plain trafilatura on the decoded HTML."""
    texts = {p.id: p.html.decode("utf-8") for p in pages}
    return lambda p: trafilatura.extract(texts[p.id], url=p.url)


def measure_archiver_extractor(pages: list[Page], repeat: int) -> InProcess:
    """archiver's own extraction (what a worker process runs per page), in this process."""
    from archiver.content.extractor import ExtractionError, extract_article

    def extract(page: Page) -> bool:
        try:
            return bool(extract_article(page.html, page.url, "text/html; charset=utf-8"))
        except ExtractionError:
            return False

    return fastest(pages, extract, repeat)


def forked(work: Callable[[], Any], processes: int = 1) -> tuple[float, list[Any]]:
    """Run ``work`` in ``processes`` children of this process, started at the same moment: the
    wall time until the last is done, and what each returned. This process stays as it was:
    importing archiver's extractor changes how trafilatura runs, so only children import it."""
    go_read, go_write = os.pipe()
    children = []
    for _ in range(processes):
        out_read, out_write = os.pipe()
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                os.close(out_read)
                os.read(go_read, 1)
                result = pickle.dumps(work())
                with os.fdopen(out_write, "wb") as out:
                    out.write(result)
                status = 0
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(status)
        os.close(out_write)
        children.append((pid, out_read))
    start = time.perf_counter()
    os.write(go_write, b"x" * processes)
    results = []
    for pid, out_read in children:
        with os.fdopen(out_read, "rb") as out:
            data = out.read()
        os.waitpid(pid, 0)
        results.append(pickle.loads(data) if data else None)
    wall = time.perf_counter() - start
    os.close(go_read)
    os.close(go_write)
    if any(result is None for result in results):
        raise RuntimeError("a forked measurement failed (its traceback is above)")
    return wall, results


# -- archiver fetch --------------------------------------------------------------------------

@dataclass(frozen=True)
class FetchRun:
    variant: str
    usage: ChildRun  # the timed run: nothing sampled it while it ran
    counts: dict[str, int]
    settings: dict[str, dict[str, object]]
    servers: str  # what the loopback servers answered during the timed run
    sampled: ChildRun  # the same command again on a fresh archive, its process tree sampled: memory
    sampled_counts: dict[str, int]

    def rate(self, pages: int) -> float:
        return pages / self.usage.wall

    def steady_rate(self) -> tuple[float, float] | None:
        """(seconds to the first result line, pages/s from the first result to the last)."""
        stamps = [t for t, line in self.usage.lines if line.startswith(("new snapshot", "unchanged", "failed"))]
        if len(stamps) < 2 or stamps[-1] <= stamps[0]:
            return None
        return stamps[0], (len(stamps) - 1) / (stamps[-1] - stamps[0])


ARCHIVE_COUNTS = {
    "pages": "SELECT count(*) FROM pages",
    "pages with a snapshot": "SELECT count(DISTINCT page_id) FROM snapshots",
    "snapshots": "SELECT count(*) FROM snapshots",
    "captures": "SELECT count(*) FROM captures",
    "failed captures": "SELECT count(*) FROM captures WHERE error IS NOT NULL",
}


def run_archiver(rundir: Path, urls_file: Path, variant: str, sites: LoopbackSites,
                 args: argparse.Namespace) -> FetchRun:
    rundir.mkdir(parents=True)
    env = archiver_env(rundir / "archive.db", variant)
    settings = archiver_settings(env, rundir)
    print(f"\n== archiver fetch -i urls.txt, variant: {variant} ==")
    print("   settings: " + ", ".join(f"{k}={settings[k]['value']} ({settings[k]['source']})"
                                       for k in SHOWN_SETTINGS))
    floor = network_floor(math.ceil(args.pages / args.hosts) + 1, args.hosts, args.latency, settings)
    print(f"   network floor under these settings (robots.txt and {math.ceil(args.pages / args.hosts)} pages "
          f"per host): {floor:.2f} s, at most {args.pages / floor:.0f} pages/s whatever the CPU")
    command = archiver_command() + ["fetch", "-i", str(urls_file)]
    sites.stats.reset()
    with open(rundir / "fetch.log", "wb") as log:  # the timed run first: it never has the warmer caches
        usage = run_child(command, env, rundir, log, sample_every=None)
    servers = sites.stats.summary()
    sampled_dir = rundir / "sampled"
    sampled_dir.mkdir()
    with open(sampled_dir / "fetch.log", "wb") as log:
        sampled = run_child(command, archiver_env(sampled_dir / "archive.db", variant), sampled_dir, log)
    return FetchRun(variant, usage, row_counts(rundir / "archive.db", ARCHIVE_COUNTS), settings, servers,
                    sampled, row_counts(sampled_dir / "archive.db", ARCHIVE_COUNTS))


def report_run(run: FetchRun, pages: int, baseline_rate: float) -> None:
    usage, rate = run.usage, run.rate(pages)
    cores = os.cpu_count() or 1
    print(f"   exit code {usage.returncode}; wall {usage.wall:.2f} s -> {rate:.1f} pages/s end to end "
          f"= {rate / baseline_rate:.2f}x the baseline's {baseline_rate:.1f} pages/s (target >= {RATIO_TARGET}x)")
    steady = run.steady_rate()
    if steady is not None:
        print(f"   first result after {steady[0]:.2f} s (start-up: imports, worker processes, robots.txt); "
              f"from then on {steady[1]:.1f} pages/s = {steady[1] / baseline_rate:.2f}x the baseline")
    print(f"   CPU: {usage.tree_cpu:.2f} s in all ({usage.tree_cpu / pages * 1000:.0f} ms/page, "
          f"{usage.tree_user:.2f} user + {usage.tree_system:.2f} system): main process {usage.main_cpu:.2f} s "
          f"({usage.main_cpu / pages * 1000:.1f} ms/page), forkserver and workers {usage.worker_cpu:.2f} s; "
          f"{usage.tree_cpu / usage.wall / cores * 100:.0f}% of {cores} cores")
    sampled = run.sampled
    print(f"   the same run again, its process tree sampled every 0.1 s for memory (that costs it time, so "
          f"the run above is not sampled): wall {sampled.wall:.2f} s -> {pages / sampled.wall:.1f} pages/s; "
          f"{run.sampled_counts['pages with a snapshot']}/{pages} archived\n"
          f"   by process: {sampled.by_role()}")
    print(f"   memory: peak sum of RSS over the process tree {sampled.peak_rss_sum_mb:.0f} MB "
          f"(target < {RSS_TARGET_MB} MB) = {sampled.peak_composition()}; pages shared by forked processes "
          f"count once per process: peak sum of PSS {sampled.peak_pss_sum_mb:.0f} MB\n"
          f"   (ru_maxrss: main process {sampled.main_maxrss_mb:.0f} MB, RUSAGE_CHILDREN so far "
          f"{sampled.children_maxrss_mb:.0f} MB; both overstate, as Linux carries ru_maxrss over fork and "
          f"exec from this benchmark process, now {current_rss_mb():.0f} MB)")
    busy = "" if usage.other_cores < 0.2 else "  <- the machine was busy: not a clean measurement"
    print(f"   other processes kept {usage.other_cores:.2f} cores busy during the timed run (this "
          f"benchmark's servers: {usage.own_cpu:.2f} s CPU; with the sampler, {sampled.own_cpu:.2f} s){busy}")
    if usage.unreaped:
        print(f"   warning: {usage.unreaped} descendant processes outlived the run; their CPU is not counted")
    print("   archive: " + ", ".join(f"{v} {k}" for k, v in run.counts.items())
          + f" (expected: {pages} pages with a snapshot)")
    print(f"   servers, during the timed run: {run.servers}")
    problems = [line for _, line in usage.lines if not line.startswith(("new snapshot", "unchanged"))]
    for line in problems[:10]:
        print(f"   ! {line}")
    if len(problems) > 10:
        print(f"   ! ... and {len(problems) - 10} more lines that are not 'new snapshot'")


# -- the benchmark ---------------------------------------------------------------------------

def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=150)
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--gzip", action="store_true", help="serve the gzipped bytes with Content-Encoding")
    parser.add_argument("--rounds", type=int, default=3, help="baseline and runs, alternated this many times")
    parser.add_argument("--baseline-repeat", type=int, default=3, help="in-process loops; the fastest counts")
    parser.add_argument("--variant", action="append", dest="variants", metavar="SPEC",
                        help="settings of one run, e.g. per_host_delay=0 (repeatable)")
    parser.add_argument("--keep", type=Path, default=None, help="work in DIR and keep it (default: a temp dir)")
    parser.add_argument("--no-isolate", action="store_true", help="run in this network namespace")
    args = parser.parse_args()
    args.variants = args.variants or ["default", "per_host_delay=0"]
    return args


@dataclass(frozen=True)
class InProcessRates:
    baseline: float  # pages/s of plain trafilatura in one process
    ceiling: float  # pages/s of the same loop in one process per core at once


def report_in_process(pages: list[Page], repeat: int, reference: bool) -> InProcessRates:
    """Measure and print the baseline, the machine's ceiling and (if asked) the reference."""
    cores = os.cpu_count() or 1
    extract = baseline_extract(pages)
    baseline = fastest(pages, extract, repeat)
    baseline_rate = baseline.rate(len(pages))
    print(f"\n== baseline: trafilatura.extract(html, url=url), one process, fastest of {repeat} ==\n"
          f"   {baseline.wall:.2f} s wall ({baseline.cpu:.2f} s CPU) -> {baseline_rate:.1f} pages/s; "
          f"{baseline.extracted}/{len(pages)} pages gave text; other processes busy "
          f"{baseline.other_cpu / baseline.wall:.2f} cores meanwhile")
    wall, _ = forked(lambda: timed_loop(pages, extract), cores)
    ceiling = cores * len(pages) / wall
    print(f"   the machine's ceiling: the same loop in {cores} processes at once -> {ceiling:.1f} pages/s "
          f"= {ceiling / baseline_rate:.2f}x the baseline")
    if reference:
        _, (own,) = forked(lambda: measure_archiver_extractor(pages, repeat))
        print(f"\n== reference (not the baseline): archiver.extractor.extract_article, one process, fastest "
              f"of {repeat} ==\n"
              f"   {own.wall:.2f} s wall ({own.cpu:.2f} s CPU = {own.cpu / baseline.cpu:.2f}x the baseline's: "
              f"it extracts metadata too) -> {own.rate(len(pages)):.1f} pages/s; {own.extracted}/{len(pages)} "
              f"articles; other processes busy {own.other_cpu / own.wall:.2f} cores\n"
              f"   so with this extraction the {cores} cores reach about "
              f"{ceiling * baseline.cpu / own.cpu:.0f} pages/s = {ceiling * baseline.cpu / own.cpu / baseline_rate:.2f}x "
              f"the baseline, if nothing else (fetching, storing, starting) cost any CPU or time")
    return InProcessRates(baseline_rate, ceiling)


@dataclass(frozen=True)
class Round:
    rates: InProcessRates
    runs: list[FetchRun]


def main() -> int:
    args = parse_args()
    if not args.no_isolate and not in_loopback_namespace():
        rerun_isolated(__file__, sys.argv[1:])
    pages = load_pages(args.pages)
    args.pages = len(pages)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} cores")
    print(f"{len(pages)} {SOURCE} pages ({sum(len(p.html) for p in pages) / 1e6:.1f} MB of HTML), "
          f"{args.hosts} loopback hosts, {args.latency * 1000:.0f} ms per response, "
          f"{'gzip' if args.gzip else 'uncompressed'} bodies; trafilatura {trafilatura.__version__}; "
          f"{args.rounds} rounds")
    rounds = []
    with tempfile.TemporaryDirectory(prefix="bench-fetch-") as scratch:
        workdir = Path(scratch) if args.keep is None else args.keep
        workdir.mkdir(parents=True, exist_ok=True)
        with LoopbackSites(args.hosts, args.latency) as sites:
            urls_file = serve_pages(sites, pages, args.gzip, workdir)
            for number in range(1, args.rounds + 1):
                print(f"\n######## round {number} of {args.rounds}")
                rates = report_in_process(pages, args.baseline_repeat, reference=number == 1)
                runs = []
                for n, variant in enumerate(args.variants, 1):
                    run = run_archiver(workdir / f"round-{number}-run-{n}", urls_file, variant, sites, args)
                    report_run(run, len(pages), rates.baseline)
                    runs.append(run)
                rounds.append(Round(rates, runs))
    summarize(args, pages, rounds)
    return 0


def serve_pages(sites: LoopbackSites, pages: list[Page], gzipped: bool, workdir: Path) -> Path:
    """Put every page on one of the loopback hosts; the file of their URLs."""
    urls = []
    for i, page in enumerate(pages):
        body, encoding = (page.gzipped, "gzip") if gzipped else (page.html, None)
        urls.append(sites.add(i, f"/{SOURCE}/{page.id}.html", Resource(body, "text/html; charset=utf-8", encoding)))
    urls_file = workdir / "urls.txt"
    urls_file.write_text("\n".join(urls) + "\n")
    return urls_file


def _spread(values: list[float], unit: str = "x") -> str:
    """The median of ``values``, and their range when there are several."""
    if not values:
        return "n/a"
    median = f"{statistics.median(values):.2f}{unit}"
    return median if len(values) < 2 else f"{median} (runs: {min(values):.2f}-{max(values):.2f})"


def summarize(args: argparse.Namespace, pages: list[Page], rounds: list[Round]) -> None:
    count = len(pages)
    print(f"\n== summary over {len(rounds)} rounds{f' (work files in {args.keep})' if args.keep else ''} ==")
    baselines = [r.rates.baseline for r in rounds]
    print(f"   baseline, trafilatura.extract in one process: {_spread(baselines, ' pages/s')}")
    print(f"   the machine's ceiling for it, one process per core: "
          f"{_spread([r.rates.ceiling / r.rates.baseline for r in rounds])} the baseline")
    for index, variant in enumerate(args.variants):
        runs = [(r.rates, r.runs[index]) for r in rounds]
        ratios = [run.rate(count) / rates.baseline for rates, run in runs]
        steady = [s[1] / rates.baseline for rates, run in runs if (s := run.steady_rate())]
        of_ceiling = [run.rate(count) / rates.ceiling for rates, run in runs]
        steady_of_ceiling = [s[1] / rates.ceiling for rates, run in runs if (s := run.steady_rate())]
        usage = [run.usage for _, run in runs]
        memory = [run.sampled for _, run in runs]
        sampled_of_ceiling = [count / run.sampled.wall / rates.ceiling for rates, run in runs]
        archived = min(min(run.counts["pages with a snapshot"], run.sampled_counts["pages with a snapshot"])
                       for _, run in runs)
        print(f"   archiver fetch [{variant}]: {_spread([run.rate(count) for _, run in runs], ' pages/s')}\n"
              f"      ratio to the baseline {_spread(ratios)} (target >= {RATIO_TARGET}x), steady "
              f"{_spread(steady)}\n"
              f"      of the machine's ceiling (target >= {CEILING_TARGET:.0%}): "
              f"{_spread([x * 100 for x in of_ceiling], '%')} with start-up, "
              f"{_spread([x * 100 for x in steady_of_ceiling], '%')} once started "
              f"(sampled for memory: {_spread([x * 100 for x in sampled_of_ceiling], '%')} with start-up)\n"
              f"      peak RSS sum {max(u.peak_rss_sum_mb for u in memory):.0f} MB, PSS sum "
              f"{max(u.peak_pss_sum_mb for u in memory):.0f} MB (target < {RSS_TARGET_MB} MB); "
              f"{archived}/{count} archived in every run; main process CPU "
              f"{statistics.median(u.main_cpu / count * 1000 for u in usage):.1f} ms/page, all "
              f"{statistics.median(u.tree_cpu / count * 1000 for u in usage):.1f} ms/page (medians); "
              f"other load up to {max(u.other_cores for u in usage):.2f} cores")


if __name__ == "__main__":
    sys.exit(main())

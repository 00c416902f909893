"""Polling many feeds: `archiver poll` against feed-to-sqlite (issue 3, "Performance").

One command, from the repository:

    cd /work/main && .venv/bin/python bench/poll_bench.py

Run like that (outside the loopback-only namespace), it first makes sure feed-to-sqlite is
installed in its own venv (``/tmp/fts-venv``; created with ``python -m venv`` and ``pip install
feed-to-sqlite``, kept apart so that its requirements never touch ours), then re-runs itself under
``tests/isolated``. Run directly inside the namespace
(``tests/isolated .venv/bin/python bench/poll_bench.py``) it cannot install anything: without the
venv it says so and measures the archiver alone. ``--setup`` only prepares the venv.

Options: ``--feeds 300``, ``--items 20``, ``--hosts 20``, ``--latency 0.05``, ``--variant SPEC``
(repeatable: the settings of the unchanged re-polls; a lowercase name is an archiver setting, an
uppercase one an environment variable; default: ``default``, ``max_connections=40``,
``per_host_delay=0``, ``per_host_delay=0,max_connections=40``), ``--first-poll SPEC`` (default
``per_host_delay=0``), ``--repeat 3``, ``--skip-pages-repoll``, ``--keep DIR``, ``--fts-venv DIR``.

What it does, all in one run:

1. Generates ``--feeds`` RSS 2.0 feeds of ``--items`` items each, spread round-robin over
   127.0.0.1, 127.0.0.2 ... (one ThreadingHTTPServer each, every response after
   ``--latency``). Each item links to a small article page (a few paragraphs) on the feed's
   host, so the benchmark stays about feeds. Every response has an ETag and a Last-Modified
   and a conditional request that matches gets 304; /robots.txt is 404 (allows everything).
2. ``archiver import feeds.opml`` (the feeds in nested outlines), on a fresh database.
3. The first ``archiver poll``: fetches and parses every feed and archives every article page
   (feeds x items of them), with the ``--first-poll`` settings: ``per_host_delay=0`` by default,
   because with the 0.5 s default one host's 300 pages alone would take 150 s by design.
4. ``archiver poll`` with nothing due: the fixed cost of a run (start-up, config, database).
5. The literal unchanged ``archiver poll --all``: every feed answers 304, but ``--all`` also
   re-checks every archived page too (a conditional GET each; an unchanged body is not extracted).
6. Feeds only: the benchmark sets ``pages.next_check_at`` to NULL in the database (so no page is
   scheduled) and runs the unchanged ``archiver poll --all`` ``--repeat`` times for each
   ``--variant``: the comparison the issue asks for.
7. ``feed-to-sqlite --table items DB URL...`` (one process, one httpx client, all feeds) twice on
   a fresh database. It has no conditional GET, so the second run downloads and parses everything
   again.

Every archiver child runs with a clean ARCHIVER_* environment (ARCHIVER_DB,
ARCHIVER_ALLOW_NETWORKS=127.0.0.0/16 and the variant's settings only) in an empty directory (no
config file): every other setting is its built-in default. CPU is that of the child's whole process tree (worker processes included),
start-up included. This is a benchmark: it reports, asserts nothing, and exits 0 unless it could
not run.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from html import escape
from pathlib import Path

# Run as a script: find the sibling modules.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from child_usage import (ChildRun, archiver_command, archiver_env, archiver_settings,  # noqa: E402
                         network_floor, row_counts, run_child)
from loopback_servers import LoopbackSites, Resource, in_loopback_namespace, rerun_isolated  # noqa: E402

CPU_TARGET_MS = 5.0
SPEEDUP_TARGET = 20.0
FTS_VENV = Path("/tmp/fts-venv")
DEFAULT_VARIANTS = ("default", "max_connections=40", "per_host_delay=0", "per_host_delay=0,max_connections=40")
SHOWN_SETTINGS = ("per_host_delay", "per_host_connections", "max_connections")
WORDS = ("archive river council budget season report market village energy school harbour museum "
         "railway garden festival minister storm library bridge election hospital forest island "
         "factory theatre mountain courier summit reform weather harvest painter").split()


# -- the feeds and pages ---------------------------------------------------------------------

@dataclass(frozen=True)
class Site:
    """The generated web: feed URLs, their titles, and how many article pages there are."""

    feeds: list[tuple[str, str]]  # (url, title)
    pages: int


def _paragraphs(rng: random.Random, count: int) -> list[str]:
    return [" ".join(rng.choice(WORDS) for _ in range(45)).capitalize() + "." for _ in range(count)]


def article_html(title: str, author: str, published: datetime, rng: random.Random) -> bytes:
    body = "".join(f"<p>{p}</p>" for p in _paragraphs(rng, 4))
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f'<meta name="author" content="{escape(author)}">'
            f'<meta property="article:published_time" content="{published.isoformat()}"></head>'
            f'<body><header><nav><a href="/">Home</a> <a href="/about">About</a></nav></header>'
            f'<article><h1>{escape(title)}</h1>{body}</article>'
            f'<footer>Copyright Example Media</footer></body></html>').encode("utf-8")


def feed_xml(feed_no: int, base: str, items: list[tuple[str, str, str, datetime]]) -> bytes:
    entries = "".join(
        f"<item><title>{escape(title)}</title><link>{escape(link)}</link>"
        f'<guid isPermaLink="true">{escape(link)}</guid><author>{escape(author)}</author>'
        f"<pubDate>{format_datetime(when, usegmt=True)}</pubDate>"
        f"<description>{escape(title)}: a short summary.</description></item>"
        for title, link, author, when in items)
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
            f"<title>Bench feed {feed_no}</title><link>{base}/site/{feed_no}/</link>"
            f"<description>Feed {feed_no} of the polling benchmark</description>"
            f"{entries}</channel></rss>").encode("utf-8")


def build_site(sites: LoopbackSites, feeds: int, items: int) -> Site:
    """Serve ``feeds`` feeds of ``items`` items each, with their article pages."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    listed = []
    for f in range(feeds):
        rng = random.Random(f)
        base = sites.base(f)
        entries = []
        for i in range(items):
            title = f"Story {i} of feed {f}: the {rng.choice(WORDS)} {rng.choice(WORDS)}"
            author = f"Reporter {rng.randrange(50)}"
            when = now - timedelta(hours=6 * (f % 7) + 3 * i + 1)
            link = sites.add(f, f"/articles/{f}/{i}.html",
                             Resource(article_html(title, author, when, rng), "text/html; charset=utf-8"))
            entries.append((title, link, author, when))
        url = sites.add(f, f"/feeds/{f}.xml", Resource(feed_xml(f, base, entries),
                                                        "application/rss+xml; charset=utf-8"))
        listed.append((url, f"Bench feed {f}"))
    return Site(listed, feeds * items)


def opml(feeds: list[tuple[str, str]], groups: int = 10) -> bytes:
    """An OPML 2.0 subscription list with the feeds in ``groups`` nested outlines."""
    size = math.ceil(len(feeds) / groups)
    outlines = []
    for g in range(0, len(feeds), size):
        inner = "".join(f'<outline type="rss" text="{escape(t)}" title="{escape(t)}" xmlUrl="{escape(u)}"/>'
                        for u, t in feeds[g:g + size])
        outlines.append(f'<outline text="Group {g // size}">{inner}</outline>')
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<opml version="2.0"><head><title>bench</title></head>'
            f'<body>{"".join(outlines)}</body></opml>').encode("utf-8")


# -- feed-to-sqlite's venv -------------------------------------------------------------------

def fts_command(venv: Path) -> Path:
    return venv / "bin" / "feed-to-sqlite"


def ensure_fts_venv(venv: Path) -> str | None:
    """Create the venv with feed-to-sqlite if it is missing; None when ready, else why not."""
    if fts_command(venv).exists():
        return None
    if in_loopback_namespace():
        return "not installed, and no package registry can be reached from the loopback-only namespace"
    print(f"installing feed-to-sqlite into {venv} (its own venv) ...", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "feed-to-sqlite"], check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        return f"installation failed: {exc}"
    return None


def fts_version(venv: Path) -> str:
    out = subprocess.run([str(venv / "bin" / "python"), "-c",
                          "import importlib.metadata as m; print(m.version('feed-to-sqlite'), "
                          "m.version('sqlite-utils'), m.version('feedparser'), m.version('httpx'))"],
                         capture_output=True, text=True)
    parts = out.stdout.split()
    if len(parts) != 4:
        return "feed-to-sqlite (version unknown)"
    return f"feed-to-sqlite {parts[0]} (sqlite-utils {parts[1]}, feedparser {parts[2]}, httpx {parts[3]})"


# -- running the children --------------------------------------------------------------------

@dataclass(frozen=True)
class Measured:
    label: str
    usage: ChildRun


class Bench:
    """The work directory, the servers, and the archiver's database."""

    def __init__(self, workdir: Path, sites: LoopbackSites, args: argparse.Namespace):
        self.workdir = workdir
        self.sites = sites
        self.args = args
        self.db = workdir / "archive.db"
        self.runs = 0

    def archiver(self, label: str, args: list[str], variant: str) -> Measured:
        env = archiver_env(self.db, variant)
        note = ""
        if args[:1] == ["poll"]:
            settings = archiver_settings(env, self.workdir)
            per_host = math.ceil(self.args.feeds / self.args.hosts)
            floor = network_floor(per_host, self.args.hosts, self.args.latency, settings)
            shown = ", ".join(f"{k}={settings[k]['value']}" for k in SHOWN_SETTINGS)
            note = f"settings: {shown}; network floor for the feeds alone ({per_host} per host): {floor:.2f} s"
        return self.run(f"{label} [{variant}]", archiver_command() + args, env, note)

    def run(self, label: str, argv: list[str], env: dict[str, str], note: str = "") -> Measured:
        self.runs += 1
        self.sites.stats.reset()
        print(f"\n== {label} ==" + (f"\n   {note}" if note else ""), flush=True)
        with open(self.workdir / f"run-{self.runs:02d}.log", "wb") as out:
            usage = run_child(argv, env, self.workdir, out)
        measured = Measured(label, usage)
        report(measured, self.sites)
        return measured


def report(m: Measured, sites: LoopbackSites) -> None:
    u = m.usage
    last = [line for _, line in u.lines if line.strip()][-1:] or ["(no output)"]
    busy = "" if u.other_cores < 0.2 else "  <- the machine was busy: not a clean measurement"
    print(f"   exit {u.returncode}; wall {u.wall:.2f} s; CPU {u.tree_cpu:.2f} s for the process tree: "
          f"{u.by_role()}; peak RSS sum {u.peak_rss_sum_mb:.0f} MB\n"
          f"   last line: {last[0][:200]}\n"
          f"   servers: {sites.stats.summary()}\n"
          f"   other processes kept {u.other_cores:.2f} cores busy meanwhile{busy}")
    if u.unreaped:
        print(f"   warning: {u.unreaped} descendants outlived the run; their CPU is not counted")


ARCHIVE_COUNTS = {
    "feeds": "SELECT count(*) FROM feeds",
    "feeds in error": "SELECT count(*) FROM feeds WHERE error_count > 0",
    "entries": "SELECT count(*) FROM entries",
    "pages": "SELECT count(*) FROM pages",
    "snapshots": "SELECT count(*) FROM snapshots",
    "feed captures": "SELECT count(*) FROM captures WHERE kind = 'feed'",
    "page captures": "SELECT count(*) FROM captures WHERE kind = 'page'",
    "bodies": "SELECT count(*) FROM bodies",
}


def unschedule_pages(db: Path) -> int:
    """Take every page out of the re-check schedule, so that `poll --all` polls feeds only."""
    with sqlite3.connect(db) as conn:
        return conn.execute("UPDATE pages SET next_check_at = NULL WHERE next_check_at IS NOT NULL").rowcount


# -- the benchmark ---------------------------------------------------------------------------

def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=300)
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--variant", action="append", dest="variants", metavar="SPEC",
                        help="settings of the unchanged re-polls, e.g. per_host_delay=0 (repeatable)")
    parser.add_argument("--first-poll", default="per_host_delay=0", metavar="SPEC",
                        help="settings of the first poll and of the literal `poll --all`")
    parser.add_argument("--repeat", type=int, default=3, help="feeds-only re-polls per variant")
    parser.add_argument("--skip-pages-repoll", action="store_true",
                        help="skip the literal `poll --all` that re-checks every page")
    parser.add_argument("--keep", type=Path, default=None, help="work in DIR and keep it")
    parser.add_argument("--fts-venv", type=Path, default=FTS_VENV)
    parser.add_argument("--setup", action="store_true", help="only make sure feed-to-sqlite is installed")
    parser.add_argument("--no-isolate", action="store_true", help="run in this network namespace")
    args = parser.parse_args()
    args.variants = args.variants or list(DEFAULT_VARIANTS)
    return args


def main() -> int:
    args = parse_args()
    why_no_fts = ensure_fts_venv(args.fts_venv)
    if args.setup:
        print(f"feed-to-sqlite: {why_no_fts or 'ready in ' + str(args.fts_venv)}")
        return 1 if why_no_fts else 0
    if not args.no_isolate and not in_loopback_namespace():
        rerun_isolated(__file__, sys.argv[1:])
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} cores")
    if why_no_fts:
        print(f"feed-to-sqlite: {why_no_fts}.\n  To include it, run once outside the namespace:\n"
              f"    {sys.executable} {__file__} --setup\n  (or: python3 -m venv {args.fts_venv} && "
              f"{args.fts_venv}/bin/pip install feed-to-sqlite)")
    else:
        print(fts_version(args.fts_venv))
    with tempfile.TemporaryDirectory(prefix="bench-poll-") as scratch:
        workdir = Path(scratch) if args.keep is None else args.keep
        workdir.mkdir(parents=True, exist_ok=True)
        run_benchmark(args, workdir, why_no_fts is None)
    return 0


def run_benchmark(args: argparse.Namespace, workdir: Path, with_fts: bool) -> None:
    with LoopbackSites(args.hosts, args.latency) as sites:
        site = build_site(sites, args.feeds, args.items)
        (workdir / "feeds.opml").write_bytes(opml(site.feeds))
        print(f"{len(site.feeds)} RSS feeds x {args.items} items ({site.pages} article pages) on "
              f"{args.hosts} loopback hosts, {args.latency * 1000:.0f} ms per response; work dir {workdir}"
              f"{'' if args.keep else ' (removed at the end; --keep DIR keeps one)'}")
        results = run_all(Bench(workdir, sites, args), site, args, with_fts)
    summarize(results, args, site)


@dataclass
class Results:
    first: Measured
    after_first: dict[str, int]
    noop: Measured
    all_pages: Measured | None
    feeds_only: dict[str, list[Measured]]
    after_repolls: dict[str, int]
    fts: list[Measured]
    fts_items: int | None


def run_all(bench: Bench, site: Site, args: argparse.Namespace, with_fts: bool) -> Results:
    bench.archiver("archiver import feeds.opml", ["import", "feeds.opml"], "default")
    first = bench.archiver("first archiver poll", ["poll"], args.first_poll)
    after_first = row_counts(bench.db, ARCHIVE_COUNTS)
    print("   archive: " + ", ".join(f"{v} {k}" for k, v in after_first.items()))
    noop = bench.archiver("archiver poll with nothing due: the fixed cost of a run", ["poll"], "default")
    all_pages = None
    if not args.skip_pages_repoll:
        all_pages = bench.archiver("unchanged archiver poll --all, literally: feeds AND every archived page "
                                   "re-checked", ["poll", "--all"], args.first_poll)
    unscheduled = unschedule_pages(bench.db)
    print(f"\n(the benchmark set pages.next_check_at = NULL for {unscheduled} pages, so that `poll --all` "
          f"below polls the feeds only)")
    feeds_only = {variant: [bench.archiver(f"unchanged archiver poll --all, feeds only, run {n + 1}/{args.repeat}",
                                           ["poll", "--all"], variant) for n in range(args.repeat)]
                  for variant in args.variants}
    after_repolls = row_counts(bench.db, ARCHIVE_COUNTS)
    fts: list[Measured] = []
    fts_items = None
    if with_fts:
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        argv = [str(fts_command(args.fts_venv)), "--table", "items", str(bench.workdir / "fts.db"),
                *(url for url, _ in site.feeds)]
        fts = [bench.run(f"feed-to-sqlite --table items fts.db URL..., run {n}", argv, env) for n in (1, 2)]
        with sqlite3.connect(bench.workdir / "fts.db") as conn:
            fts_items = conn.execute("SELECT count(*) FROM items").fetchone()[0]
    return Results(first, after_first, noop, all_pages, feeds_only, after_repolls, fts, fts_items)


def _median_run(runs: list[Measured]) -> ChildRun:
    return sorted((m.usage for m in runs), key=lambda u: u.wall)[len(runs) // 2]


def summarize(r: Results, args: argparse.Namespace, site: Site) -> None:
    feeds = len(site.feeds)
    print("\n== summary ==")
    u = r.first.usage
    print(f"first poll [{args.first_poll}]: {u.wall:.1f} s wall, {u.tree_cpu:.1f} s CPU ({u.main_cpu:.1f} s in the "
          f"main process); {r.after_first['entries']}/{site.pages} entries, {r.after_first['snapshots']}/{site.pages} "
          f"snapshots, {r.after_first['feeds in error']} feeds in error")
    fixed = r.noop.usage.tree_cpu
    print(f"fixed cost of a run (`poll` with nothing due): {r.noop.usage.wall:.2f} s wall, {fixed * 1000:.0f} ms CPU")
    if r.all_pages is not None:
        u = r.all_pages.usage
        print(f"literal unchanged `poll --all` [{args.first_poll}] (feeds + {site.pages} pages): {u.wall:.1f} s wall, "
              f"{u.tree_cpu:.1f} s CPU = {u.tree_cpu / feeds * 1000:.0f} ms per feed. The pages dominate: "
              f"`--all` re-checks every page as well (one request each, conditional; unchanged bodies are "
              f"not extracted), so the per-feed numbers below leave them out")
    for n, m in enumerate(r.fts, 1):
        print(f"feed-to-sqlite run {n}: {m.usage.wall:.2f} s wall, {m.usage.tree_cpu:.2f} s CPU "
              f"({m.usage.tree_cpu / feeds * 1000:.1f} ms per feed), exit {m.usage.returncode}")
    if r.fts_items is not None:
        print(f"   feed-to-sqlite's items table: {r.fts_items} rows (it fetches one feed after the other, "
              f"without conditional GET: its second run downloads and parses everything again)")
    second = r.fts[1].usage if len(r.fts) > 1 else None
    print(f"unchanged `poll --all`, feeds only (median of {args.repeat} by wall time; CPU includes start-up; "
          f"targets: <= {CPU_TARGET_MS} ms CPU per feed, >= {SPEEDUP_TARGET}x faster than feed-to-sqlite's second run):")
    for variant, runs in r.feeds_only.items():
        u = _median_run(runs)
        walls = ", ".join(f"{m.usage.wall:.2f}" for m in runs)
        versus = (f"; {second.wall / u.wall:.1f}x faster than feed-to-sqlite's second run, which used "
                  f"{second.tree_cpu / u.tree_cpu:.1f}x this CPU") if second else ""
        print(f"   [{variant}]: wall {u.wall:.2f} s (runs {walls}), CPU {u.tree_cpu * 1000:.0f} ms = "
              f"{u.tree_cpu / feeds * 1000:.2f} ms per feed ({(u.tree_cpu - fixed) / feeds * 1000:.2f} ms "
              f"beyond the fixed cost){versus}")
    print("after the re-polls: " + ", ".join(f"{v} {k}" for k, v in r.after_repolls.items()))


if __name__ == "__main__":
    sys.exit(main())

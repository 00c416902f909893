"""Benchmark of distributed mode (issue 14): pages per second with 1, 2 and 3 `archiver worker`
processes next to single-process mode, and the writer's CPU per saved page.

FEEDS feeds x ITEMS entries on 20 loopback hosts (each response after LATENCY seconds), subscribed
in a fresh archive each run:

- single process: `archiver poll` (no broker), wall time from start to exit;
- cluster: a real redis-server, N `archiver worker` processes (already started, so that their
  start-up is not counted) and `archiver run --tick 1` with broker_url; wall time from the
  daemon's start until every page has its snapshot. The daemon's own CPU time (utime + stime
  from /proc, from its first tick to the end) divided by the pages saved is the writer's CPU per
  saved page; its inverse is how many pages per second one writer absorbs, however many
  workers feed it.

This machine has 2 cores, shared by the workers, their extraction processes, the writer, Redis
and the web servers, so pages/s cannot grow with workers here; the writer's CPU per page is the
number that says how far the design scales.

    tests/isolated .venv/bin/python bench/cluster_bench.py [--feeds 60 --items 20 --workers 1 2 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from conftest import Site  # noqa: E402  (the test suite's local HTTP server)
from test_cluster import RedisServer  # noqa: E402  (a real redis-server on a free port)
from test_daemon import archived_entries, serve_feeds, subscribe_all  # noqa: E402

from loopback_servers import in_loopback_namespace, rerun_isolated  # noqa: E402

HOSTS = 20


def environ(db: Path, broker: str = "") -> dict[str, str]:
    return {**os.environ, "ARCHIVER_DB": str(db), "ARCHIVER_ALLOW_NETWORKS": "127.0.0.0/24",
            "ARCHIVER_PER_HOST_DELAY": "0", "ARCHIVER_LOG_LEVEL": "WARNING", "ARCHIVER_WORKERS": "1",
            "ARCHIVER_BROKER_URL": broker, "PYTHONPATH": str(REPO)}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for(condition, timeout: float, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("benchmark timed out")
        time.sleep(interval)


def single(workdir: Path, feeds: list[str], total: int) -> float:
    db = workdir / "single.db"
    subscribe_all(db, feeds)
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "archiver", "poll"], env=environ(db), check=True,
                   stdout=subprocess.DEVNULL)
    seconds = time.monotonic() - started
    assert archived_entries(db) == total
    return seconds


def cluster(workdir: Path, redis: RedisServer, feeds: list[str], total: int, workers: int) -> tuple[float, float]:
    """Wall seconds to archive everything, and the writer's CPU seconds per saved page."""
    redis.client().flushall()
    db = workdir / f"cluster{workers}.db"
    subscribe_all(db, feeds)
    env = environ(db, redis.url)
    procs = [subprocess.Popen([sys.executable, "-m", "archiver", "worker", "--threads", "8"], env=env,
                              start_new_session=True) for _ in range(workers)]
    try:
        wait_for(lambda: len(redis.client().keys("archiver:worker:*")) == workers, 60)
        started = time.monotonic()
        daemon = subprocess.Popen([sys.executable, "-m", "archiver", "run", "--tick", "1"], env=env,
                                  start_new_session=True)
        wait_for(lambda: _ticked(db), 60, 0.01)
        cpu_start = cpu_seconds(daemon.pid)
        wait_for(lambda: archived_entries(db) == total, 900, 0.1)
        seconds = time.monotonic() - started
        cpu = cpu_seconds(daemon.pid) - cpu_start
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
        return seconds, cpu / (total + len(feeds))
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _ticked(db: Path) -> bool:
    import sqlite3

    try:
        conn = sqlite3.connect(db, timeout=10)
        try:
            return bool(conn.execute("SELECT count(*) FROM daemon WHERE ticks > 0").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feeds", type=int, default=60)
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.02, help="seconds before each response")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--no-isolate", action="store_true")
    args = parser.parse_args()
    if not args.no_isolate and not in_loopback_namespace():
        rerun_isolated(__file__, sys.argv[1:])
    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server is not installed")
    workdir = Path(tempfile.mkdtemp(prefix="cluster-bench-"))
    sites = [Site(host=f"127.0.0.{n}") for n in range(1, HOSTS + 1)]
    redis = RedisServer(workdir)
    try:
        feeds = [url for n in range(args.feeds)
                 for url in serve_feeds(sites[n % HOSTS], 1, args.items, prefix=f"b{n}-", delay=args.latency)]
        total = args.feeds * args.items
        print(f"{args.feeds} feeds x {args.items} entries on {HOSTS} hosts, {args.latency * 1000:.0f} ms a "
              f"response, {os.cpu_count()} cores")
        seconds = single(workdir, feeds, total)
        print(f"single process:    {total / seconds:6.1f} pages/s ({seconds:.1f} s)")
        for count in args.workers:
            seconds, per_page = cluster(workdir, redis, feeds, total, count)
            print(f"{count} worker process{'es' if count > 1 else '  '}: {total / seconds:6.1f} pages/s "
                  f"({seconds:.1f} s); writer CPU {per_page * 1000:.2f} ms per saved page "
                  f"-> one writer absorbs {1 / per_page:.0f} pages/s")
    finally:
        redis.stop()
        closing = [threading.Thread(target=s.close) for s in sites]
        for thread in closing:
            thread.start()
        for thread in closing:
            thread.join()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

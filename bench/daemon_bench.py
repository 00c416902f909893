"""Benchmark of the daemon (issue 4): CPU per idle tick, and resident memory over time.

1. 10,000 feeds (and 10,000 pages) in the database, none due: CPU time of one tick (the tick
   function, in process, measured with time.process_time). Target: under 50 ms.
2. A real `archiver run --tick 1` ingests 300 feeds x 20 items served by ten local hosts; its
   resident memory after that, and over 100 further ticks in which 30 feeds a tick come due
   again. Target: under 200 MB, and no growth.

Run it inside the loopback-only namespace (it starts servers on 127.0.0.1-10):

    tests/isolated .venv/bin/python bench/daemon_bench.py [--feeds 300 --items 20 --ticks 100]
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from conftest import Site  # noqa: E402  (the test suite's local HTTP server)

from archiver.jobs.daemon import Daemon  # noqa: E402
from archiver.jobs.session import Session  # noqa: E402
from archiver.settings import load_config  # noqa: E402
from archiver.store.db import iso, open_db, transaction  # noqa: E402

LOREM = ("The committee met on Tuesday to discuss the future of the river crossing, a project that has "
         "been debated for more than a decade by residents and officials alike. Engineers presented "
         "three designs, each with a different cost and a different impact on the old quarter.")


def environ(db: Path) -> dict[str, str]:
    return {"ARCHIVER_DB": str(db), "ARCHIVER_ALLOW_NETWORKS": "127.0.0.0/24",
            "ARCHIVER_PER_HOST_DELAY": "0", "ARCHIVER_LOG_LEVEL": "WARNING"}


# -- 1. CPU per idle tick ----------------------------------------------------------------------

def idle_tick_cpu(workdir: Path, feeds: int, ticks: int) -> list[float]:
    db_path = workdir / "idle.db"
    db = open_db(db_path)
    later = iso(datetime.now(timezone.utc) + timedelta(days=1))
    with transaction(db):
        db["feeds"].insert_all(({"url": f"https://feeds{n % 500}.example/{n}.xml", "state": "active",
                                 "next_check_at": later, "error_count": 0} for n in range(feeds)),
                               batch_size=1000)
        db["pages"].insert_all(({"url": f"https://pages{n % 500}.example/{n}", "state": "active",
                                 "next_check_at": later, "snapshot_count": 0, "error_count": 0}
                                for n in range(feeds)), batch_size=1000)
    db.conn.close()
    config = load_config(environ=environ(db_path))
    costs = []
    with Session(config) as session:
        daemon = Daemon(session)
        daemon.register()
        daemon.tick(budget=1)  # warm the statement cache, as every tick after the first
        for _ in range(ticks):
            started = time.process_time()
            report = daemon.tick(budget=1)
            costs.append(time.process_time() - started)
            assert report.due == 0, report
    return costs


# -- 2. memory of a real daemon ----------------------------------------------------------------

def serve(sites: list[Site], feeds: int, items: int) -> list[str]:
    urls = []
    for f in range(feeds):
        site = sites[f % len(sites)]
        links = []
        for i in range(items):
            title = f"Story {f}-{i}"
            html = (f"<html><head><title>{title}</title></head><body><nav>Home</nav><article>"
                    f"<h1>{title}</h1><p>{LOREM}</p><p>{title} was reported by our correspondent "
                    f"number {f * items + i}, who adds details about it here.</p><p>{LOREM}</p>"
                    f"</article></body></html>")
            links.append(site.route(f"/news/{f}/{i}", html))
        items_xml = "".join(f"<item><title>Story {f}-{i}</title><link>{u}</link><guid>{u}</guid></item>"
                            for i, u in enumerate(links))
        urls.append(site.route(f"/feed/{f}.xml", f'<?xml version="1.0"?><rss version="2.0"><channel>'
                               f"<title>Feed {f}</title>{items_xml}</channel></rss>",
                               content_type="application/rss+xml"))
    return urls


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def children_rss_mb(pid: int) -> float:
    total = 0.0
    children = " ".join(p.read_text() for p in Path(f"/proc/{pid}/task").glob("*/children"))
    for child in children.split():
        try:
            total += rss_mb(int(child)) + children_rss_mb(int(child))
        except FileNotFoundError:
            pass
    return total


def scalar(db: Path, sql: str) -> int:
    conn = sqlite3.connect(db, timeout=10)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


def daemon_memory(workdir: Path, feeds: int, items: int, ticks: int) -> dict[str, object]:
    db = workdir / "memory.db"
    sites = [Site(host=f"127.0.0.{n}") for n in range(1, 11)]
    try:
        urls = serve(sites, feeds, items)
        conn = open_db(db)
        now = iso(datetime.now(timezone.utc))
        with transaction(conn):
            conn["feeds"].insert_all(({"url": u, "state": "active", "next_check_at": now, "error_count": 0}
                                      for u in urls), batch_size=500)
        conn.conn.close()
        log = (workdir / "daemon.log").open("wb")
        proc = subprocess.Popen([sys.executable, "-m", "archiver", "run", "--tick", "1"], stdout=log,
                                stderr=subprocess.STDOUT, env={**os.environ, **environ(db)})
        try:
            return _measure(proc, db, feeds * items, ticks)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
            log.close()
    finally:
        for site in sites:
            site.close()


def _measure(proc: subprocess.Popen, db: Path, total: int, ticks: int) -> dict[str, object]:
    started = time.monotonic()
    archived = "SELECT count(*) FROM entries e JOIN pages p ON p.id = e.page_id WHERE p.snapshot_count > 0"
    peak = 0.0
    while scalar(db, archived) < total:
        if proc.poll() is not None:
            raise SystemExit(f"the daemon exited with {proc.returncode} while ingesting")
        peak = max(peak, rss_mb(proc.pid))
        time.sleep(0.5)
    ingest_seconds = time.monotonic() - started
    samples = [rss_mb(proc.pid)]
    first_tick = scalar(db, "SELECT max(ticks) FROM daemon")
    writer = sqlite3.connect(db, timeout=10)
    done = first_tick
    while done < first_tick + ticks:
        with writer:  # 30 feeds a tick come due again: conditional GETs, unchanged bodies
            writer.execute("UPDATE feeds SET next_check_at = ? WHERE id IN "
                           "(SELECT id FROM feeds ORDER BY random() LIMIT 30)",
                           [iso(datetime.now(timezone.utc))])
        while scalar(db, "SELECT max(ticks) FROM daemon") == done:
            time.sleep(0.05)
        done = scalar(db, "SELECT max(ticks) FROM daemon")
        samples.append(rss_mb(proc.pid))
    writer.close()
    return {"ingest_seconds": ingest_seconds, "peak_while_ingesting": peak, "after_ingest": samples[0],
            "after_ticks": samples[-1], "max_over_ticks": max(samples), "ticks": done - first_tick,
            "workers": children_rss_mb(proc.pid),
            "second_half_growth": statistics.mean(samples[len(samples) // 2:])
            - statistics.mean(samples[1:len(samples) // 2])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idle-feeds", type=int, default=10_000)
    parser.add_argument("--feeds", type=int, default=300)
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--ticks", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        os.chdir(workdir)
        costs = idle_tick_cpu(workdir, args.idle_feeds, 50)
        ms = sorted(c * 1000 for c in costs)
        print(f"idle tick, {args.idle_feeds} feeds + {args.idle_feeds} pages, none due: CPU per tick "
              f"median {statistics.median(ms):.1f} ms, p90 {ms[int(len(ms) * 0.9)]:.1f} ms, "
              f"max {ms[-1]:.1f} ms (target < 50 ms)")
        memory = daemon_memory(workdir, args.feeds, args.items, args.ticks)
        print(f"ingest of {args.feeds} feeds x {args.items} items: {memory['ingest_seconds']:.0f}s; daemon RSS "
              f"peak {memory['peak_while_ingesting']:.0f} MB while ingesting, {memory['after_ingest']:.0f} MB "
              f"after (target < 200 MB)")
        print(f"over {memory['ticks']} further ticks: RSS {memory['after_ingest']:.0f} -> "
              f"{memory['after_ticks']:.0f} MB, max {memory['max_over_ticks']:.0f} MB, "
              f"second half vs first half {memory['second_half_growth']:+.1f} MB (target: no growth); "
              f"worker processes {memory['workers']:.0f} MB in all")


if __name__ == "__main__":
    main()

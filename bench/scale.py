"""The scale benchmarks (issue 13) on an archive built by bench/build_big_archive.py.

    tests/isolated .venv/bin/python bench/scale.py big.db [--quick]

Run it inside the loopback-only namespace (``tests/isolated``, as ``make bench-scale`` does): the
built archive's URLs are on *.example hosts and must never be fetched; every request this bench
makes goes to a server it starts on 127.0.0.1. It adds a little to the archive it measures: the
daemon's heartbeat, and 1,000 pages on the loopback server with their captures, which it takes
off the schedule when done (so the next run finds nothing due again).

Figures, each printed next to its target:
- the daemon's tick (``Daemon.tick`` in this process, CPU by ``time.process_time``) with nothing
  due, and with 1,000 pages due on the loopback server that answer 304 to the re-check;
- `archiver poll` with nothing due: wall and CPU of the real subprocess;
- through a real `archiver serve` on loopback: full-text search for a common and a rare word
  (p50, p95), and p95 of the pages people open: the home page, ``snapshots`` and ``pages`` with
  their default facets, every canned query, one article view, one diff view;
- `archiver show URL` and `archiver sources` wall time, start-up included;
- bytes on disk per capture and per snapshot, with the share of bodies, text and FTS index;
- resident memory of the daemon over 1,000 ticks.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

from archiver.interfaces.serve import load_metadata  # noqa: E402
from archiver.jobs.daemon import Daemon  # noqa: E402
from archiver.jobs.session import Session  # noqa: E402
from archiver.settings import load_config  # noqa: E402
from archiver.store.db import (compress_body, ensure_page, iso, load_body, open_db, transaction,  # noqa: E402
                               update_row)
from archiver.store.health import space_by_part  # noqa: E402

COMMON_WORD, RARE_WORD = "council", "zeppelin"  # RARE_WORD: bench/build_big_archive.py puts it on a few pages
DUE_PAGES = 1000
LOOPBACK = "127.0.0.1"
TARGETS = {"tick_idle_ms": 50, "page_p95_ms": 200, "search_p95_ms": 100, "show_ms": 300, "rss_growth": 0.10}
ROWS: list[tuple[str, str, str]] = []


def report(name: str, value: str, target: str = "") -> None:
    ROWS.append((name, value, target))
    print(f"  {name:<48} {value:<28} {target}", flush=True)


def verdict(ok: bool, target: str) -> str:
    return f"target {target}: {'met' if ok else 'NOT MET'}"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def env(db: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVER_")}
    return {**clean, "PYTHONPATH": str(REPO), "ARCHIVER_DB": str(db), "ARCHIVER_LOG_LEVEL": "WARNING",
            "ARCHIVER_ALLOW_NETWORKS": "127.0.0.0/8", "ARCHIVER_PER_HOST_DELAY": "0"}


# -- the archive -------------------------------------------------------------------------------

def describe(db_path: Path) -> dict[str, int]:
    db = open_db(db_path)
    counts = {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
              for t in ("feeds", "entries", "pages", "snapshots", "captures", "bodies")}
    db.conn.close()
    size = db_path.stat().st_size
    print(f"archive {db_path}: {size / 1e6:,.0f} MB, " + ", ".join(f"{v:,} {k}" for k, v in counts.items()))
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores (other work inflates every figure)")
    return counts


def refuse_if_due(db_path: Path) -> None:
    """Stop before anything runs if a feed or page of the built archive (*.example hosts) is due:
    the bench must never ask for them."""
    db = open_db(db_path)
    now = iso(datetime.now(timezone.utc) + timedelta(hours=1))
    due = db.execute("SELECT (SELECT count(*) FROM feeds WHERE state IN ('active', 'backoff') AND "
                     "(next_check_at IS NULL OR next_check_at <= :now)) + (SELECT count(*) FROM pages WHERE "
                     "state IN ('active', 'removed') AND next_check_at <= :now AND url NOT LIKE :loopback)",
                     {"now": now, "loopback": f"http://{LOOPBACK}:%"}).fetchone()[0]
    db.conn.close()
    if due:
        raise SystemExit(f"{due:,} feeds and pages of {db_path} are due within the hour: the bench would "
                         "fetch them; rebuild the archive with bench/build_big_archive.py")


def disk_share(db_path: Path, counts: dict[str, int]) -> None:
    db = open_db(db_path)
    parts = space_by_part(db)
    db.conn.close()
    total = sum(parts.values())
    report("bytes on disk per capture", f"{total / counts['captures']:,.0f} B", "(all tables / captures)")
    report("bytes on disk per snapshot", f"{total / counts['snapshots']:,.0f} B", "(all tables / snapshots)")
    for part, label in (("bodies", "bodies"), ("snapshots", "snapshot text and columns"),
                        ("snapshots_fts", "FTS index"), ("captures", "captures"), ("entries", "entries")):
        report(f"  share: {label}", f"{100 * parts.get(part, 0) / total:.1f}% ({parts.get(part, 0) / 1e6:,.0f} MB)")
    bodies_against_plain_zstd(db_path)


def bodies_against_plain_zstd(db_path: Path, sample: int = 5000) -> None:
    """What the bodies take against per-body zstd (each compressed alone, at the same level), on
    an even sample of them: every body is read back through the store, as `backup` reads it. Also
    split by what each was stored against: an earlier body of its own page (a page that changed a
    little: where bodies repeat most of their bytes), a body of another page (the site's
    template), or nothing."""
    db = open_db(db_path)
    last = db.execute("SELECT max(rowid) FROM bodies").fetchone()[0] or 0
    step = max(1, last // sample)
    sizes: list[tuple[str, str | None, int, int]] = []  # sha256, reference, stored, alone
    started = time.perf_counter()
    for rowid in range(1, last + 1, step):
        row = db.execute("SELECT sha256, data, dict_sha256 FROM bodies WHERE rowid = ?", [rowid]).fetchone()
        if row is None:
            continue
        sha256, data, reference = row
        body = load_body(db, sha256) or b""
        sizes.append((sha256, reference, len(data), len(compress_body(body)[1])))
    read = time.perf_counter() - started
    wanted = {sha for sha, _, _, _ in sizes} | {ref for _, ref, _, _ in sizes if ref}
    page_of = {sha: page for sha, page in db.execute(
        "SELECT body_sha256, page_id FROM captures WHERE body_sha256 IS NOT NULL") if sha in wanted}
    db.conn.close()
    stored, alone = sum(s[2] for s in sizes), sum(s[3] for s in sizes)
    against = sum(1 for s in sizes if s[1])
    report("bodies against per-body zstd", f"{alone / max(stored, 1):.1f}x smaller",
           f"({len(sizes):,} bodies sampled, {against:,} stored against another; read in {read:.1f} s)")
    kinds: dict[str, list[tuple[int, int]]] = {}
    for sha, reference, size, plain in sizes:
        same_page = reference is not None and page_of.get(sha) is not None and page_of.get(sha) == page_of.get(reference)
        kind = "its own page's earlier body" if same_page else "another page's body" if reference else "nothing"
        kinds.setdefault(kind, []).append((size, plain))
    for kind in ("its own page's earlier body", "another page's body", "nothing"):
        rows = kinds.get(kind, [])
        if rows:
            report(f"  stored against {kind}", f"{sum(p for _, p in rows) / max(sum(s for s, _ in rows), 1):.1f}x smaller",
                   f"({len(rows):,} of the sampled bodies)")


# -- the loopback site the due pages point at ---------------------------------------------------

class Unchanged(BaseHTTPRequestHandler):
    """Every page: 200 with an ETag; 304 to a request that sends it back; robots.txt 404."""

    protocol_version = "HTTP/1.1"
    body = b"<html><head><title>Loopback</title></head><body><p>Nothing changes here.</p></body></html>"

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path == "/robots.txt":
            self._answer(404, b"")
        elif self.headers.get("If-None-Match") == '"same"':
            self._answer(304, None)
        else:
            self._answer(200, self.body)

    def _answer(self, status: int, body: bytes | None) -> None:
        self.send_response(status)
        self.send_header("ETag", '"same"')
        if body is not None:
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return None


def start_site() -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((LOOPBACK, 0), Unchanged)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def add_due_pages(db: Any, port: int, count: int) -> list[int]:
    """``count`` pages on the loopback site, through the store's functions, already fetched once
    (an ETag to send back) and due now."""
    now = iso(datetime.now(timezone.utc) - timedelta(minutes=1))
    ids = []
    with transaction(db):
        for n in range(count):
            page_id = ensure_page(db, f"http://{LOOPBACK}:{port}/bench/{n}", now)
            update_row(db, "pages", page_id, {"etag": '"same"', "next_check_at": now})
            ids.append(page_id)
    return ids


def retire_loopback_pages(db_path: Path) -> None:
    """Take this bench's loopback pages (of this run or an earlier one) off the schedule, so that
    a later run finds nothing due but what it adds; their rows and captures stay."""
    db = open_db(db_path)
    with transaction(db):
        db.execute("UPDATE pages SET next_check_at = NULL WHERE url LIKE ? AND next_check_at IS NOT NULL",
                   [f"http://{LOOPBACK}:%/bench/%"])
    db.conn.close()


def make_due(db: Any, ids: list[int]) -> None:
    now = iso(datetime.now(timezone.utc) - timedelta(minutes=1))
    with transaction(db):
        db.execute(f"UPDATE pages SET next_check_at = ? WHERE id IN ({','.join(map(str, ids))})", [now])


# -- the daemon --------------------------------------------------------------------------------

def rss_kb() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def daemon_figures(db_path: Path, rss_ticks: int) -> None:
    config = load_config(environ=env(db_path))
    site = start_site()
    with Session(config) as session:
        daemon = Daemon(session)
        daemon.register()
        daemon.tick(budget=1)  # the first tick prepares the statements every later tick reuses
        idle = []
        for _ in range(50):
            started = time.process_time()
            assert daemon.tick(budget=1).due == 0, "something in the built archive is due"
            idle.append(time.process_time() - started)
        report("tick CPU, nothing due (p50 / p95 of 50)", f"{1000 * statistics.median(idle):.1f} / "
               f"{1000 * pct(idle, 0.95):.1f} ms", verdict(pct(idle, 0.95) < 0.05, "< 50 ms"))
        due_tick(session, daemon, site.server_address[1])
        rss_over_ticks(daemon, rss_ticks)
    site.shutdown()


def due_tick(session: Session, daemon: Daemon, port: int) -> None:
    ids = add_due_pages(session.db, port, DUE_PAGES)
    for attempt in range(2):  # the first round also fetches robots.txt and opens the connections
        make_due(session.db, ids)
        cpu, wall, ticks, done = time.process_time(), time.monotonic(), 0, 0
        while done < DUE_PAGES and ticks < 100:
            result = daemon.tick(budget=5)
            done += result.counts["pages"]
            ticks += 1
        cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    report(f"ticks for {DUE_PAGES:,} due pages answering 304", f"{ticks} ticks of <= {daemon.batch} jobs, "
           f"{wall:.2f} s wall", f"({done} re-checked)")
    with transaction(session.db):
        session.db.execute(f"UPDATE pages SET next_check_at = NULL WHERE id IN ({','.join(map(str, ids))})")
    report(f"tick CPU, {daemon.batch} due (a full batch)", f"{1000 * cpu / ticks:.0f} ms a tick",
           f"({1000 * cpu / max(done, 1):.1f} ms a page)")


def rss_over_ticks(daemon: Daemon, ticks: int) -> None:
    samples = []
    for n in range(ticks):
        daemon.tick(budget=1)
        if n in (ticks // 10, ticks - 1):
            samples.append(rss_kb())
    growth = samples[1] / samples[0] - 1
    report(f"daemon RSS over {ticks:,} ticks", f"{samples[0] / 1024:.0f} -> {samples[1] / 1024:.0f} MB "
           f"({100 * growth:+.1f}%)", verdict(abs(growth) <= TARGETS["rss_growth"], "flat within 10%"))


# -- commands ----------------------------------------------------------------------------------

def run_cli(db_path: Path, *args: str) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (the child's) and exit status of ``archiver ARGS``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "archiver", *args], env=env(db_path),
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        print(f"  archiver {' '.join(args)}: exit {done.returncode}: {done.stderr.decode()[-300:]}")
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime), done.returncode


def command_figures(db_path: Path, counts: dict[str, int], runs: int) -> None:
    walls, cpus = zip(*[run_cli(db_path, "poll")[:2] for _ in range(runs)])
    report("archiver poll, nothing due (median)", f"{1000 * statistics.median(walls):.0f} ms wall, "
           f"{1000 * statistics.median(cpus):.0f} ms CPU")
    db = open_db(db_path)
    url = db.execute("SELECT url FROM pages WHERE snapshot_count > 1 ORDER BY id DESC LIMIT 1").fetchone()[0]
    db.conn.close()
    walls = [run_cli(db_path, "show", url)[0] for _ in range(runs)]
    report("archiver show URL (median / max)", f"{1000 * statistics.median(walls):.0f} / "
           f"{1000 * max(walls):.0f} ms wall", verdict(max(walls) < 0.3, "< 300 ms"))
    walls = [run_cli(db_path, "sources")[0] for _ in range(max(1, runs // 2))]
    report(f"archiver sources ({counts['feeds']:,} feeds)", f"{1000 * statistics.median(walls):.0f} ms wall")


# -- Datasette ---------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def start_serve(db_path: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "archiver", "serve", "--port", str(port)],
                              env=env(db_path), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection((LOOPBACK, port), timeout=1).close()
            return server, port
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("archiver serve did not start within 60 s")


def timed_get(conn: http.client.HTTPConnection, path: str) -> tuple[float, int]:
    started = time.perf_counter()
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    return time.perf_counter() - started, response.status


def measure(port: int, path: str, runs: int) -> list[float]:
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=120)
    _, status = timed_get(conn, path)  # the first request warms SQLite's page cache
    if status != 200:
        print(f"  {path}: HTTP {status}")
    times = [timed_get(conn, path)[0] for _ in range(runs)]
    conn.close()
    return times


def facets_shown(port: int, path: str) -> str:
    """Which of its default facets the table page showed (a facet that runs out of Datasette's
    facet time limit is left out of the page: a fast page without its facets would say so here)."""
    table = path.rsplit("/", 1)[-1]
    metadata = load_metadata()
    wanted = [facet if isinstance(facet, str) else next(iter(facet.values()))
              for facet in metadata["databases"]["archive"]["tables"][table].get("facets", [])]
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=120)
    conn.request("GET", f"{path}.json?_size=1")
    shown = json.loads(conn.getresponse().read())["facet_results"]
    conn.close()
    listed = ", ".join(f"{name} ({len(shown[name]['results'])} values)" for name in wanted if name in shown)
    return f"facets shown: {listed or 'none'}; missing: {', '.join(n for n in wanted if n not in shown) or 'none'}"


def datasette_pages(db_path: Path) -> dict[str, str]:
    """The pages people open, by name: path."""
    db = open_db(db_path)
    snapshot = db.execute("SELECT id FROM snapshots ORDER BY id DESC LIMIT 1").fetchone()[0]
    page_id, url = db.execute("SELECT id, url FROM pages WHERE snapshot_count > 1 ORDER BY id DESC LIMIT 1").fetchone()
    db.conn.close()
    metadata = load_metadata()
    pages = {"home page /": "/", "database page /archive": "/archive",
             "snapshots (default facets)": "/archive/snapshots", "pages (default facets)": "/archive/pages"}
    for name, query in metadata["databases"]["archive"].get("queries", {}).items():
        pages[f"canned query {name}"] = f"/archive/{name}" + (f"?url={quote(url, safe='')}" if ":url" in query["sql"] else "")
    pages["article view"] = f"/-/article/{snapshot}"
    pages["diff view"] = f"/-/diff/{page_id}/1/2"
    return pages


def datasette_figures(db_path: Path, runs: int) -> None:
    server, port = start_serve(db_path)
    try:
        for word in (COMMON_WORD, RARE_WORD):
            times = measure(port, f"/archive/snapshots?_search={word}", runs)
            report(f"search '{word}' (p50 / p95)", f"{1000 * pct(times, 0.5):.0f} / {1000 * pct(times, 0.95):.0f} ms",
                   verdict(pct(times, 0.95) < 0.1, "p95 < 100 ms"))
        for name, path in datasette_pages(db_path).items():
            times = measure(port, path, runs)
            report(f"{name} (p95)", f"{1000 * pct(times, 0.95):.0f} ms (p50 {1000 * pct(times, 0.5):.0f})",
                   verdict(pct(times, 0.95) < 0.2, "p95 < 200 ms"))
            if "facets" in name:
                print(f"    {facets_shown(port, path)}")
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path, help="an archive built by bench/build_big_archive.py (it is changed)")
    parser.add_argument("--runs", type=int, default=20, help="requests per Datasette page [20]")
    parser.add_argument("--cli-runs", type=int, default=5, help="runs of each command [5]")
    parser.add_argument("--rss-ticks", type=int, default=1000, help="ticks over which RSS is watched [1000]")
    parser.add_argument("--only", choices=("daemon", "commands", "datasette", "disk"), action="append",
                        help="run only these parts (repeatable)")
    args = parser.parse_args()
    if not args.path.exists():
        raise SystemExit(f"no archive at {args.path}: build one with bench/build_big_archive.py")
    parts = set(args.only or ("daemon", "commands", "datasette", "disk"))
    retire_loopback_pages(args.path)
    counts = describe(args.path)
    refuse_if_due(args.path)
    steps: list[tuple[str, Callable[[], None]]] = [
        ("commands", lambda: command_figures(args.path, counts, args.cli_runs)),
        ("datasette", lambda: datasette_figures(args.path, args.runs)),
        ("daemon", lambda: daemon_figures(args.path, args.rss_ticks)),
        ("disk", lambda: disk_share(args.path, counts)),
    ]
    for name, step in steps:
        if name in parts:
            started = time.monotonic()
            print(f"{name}:", flush=True)
            step()
            print(f"  ({time.monotonic() - started:.0f} s; load average {os.getloadavg()[0]:.2f})", flush=True)


if __name__ == "__main__":
    main()

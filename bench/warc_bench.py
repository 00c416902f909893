"""Benchmark of WARC export and import (issue 11): records per second and peak memory.

1. Build, with the store's own functions (save_body, save_capture, insert_snapshot, one
   transaction a capture, as the page job writes them): 500 pages x 20 captures = 10,000
   captures. Each page is a real page of the shared corpus (scrapinghub-aeb, 40 of them, each
   the template of many pages) made unique, in
   two versions; each version is re-checked 8 times unchanged and once with a 304. So 1,000
   distinct bodies, 1,000 snapshots, and the export holds 1,000 responses, 8,000
   identical-payload revisits, 1,000 server-not-modified revisits and 1,000 conversions.
   The baseline is an archive built the same way with a tenth of the pages (50 pages, 1,000
   captures), so that both extract the same kinds of pages: extraction's memory depends on the
   page (one process extracting these pages levels off after a few dozen of them).
2. `archiver export warc` of each archive, each in a child process: records per second, and
   the peak memory of the process (VmHWM).
3. `archiver import warc` of each file into an empty archive, as it runs by default (one
   extraction worker): records per second, and the peak memory of the process tree (the main
   process, the fork server, the resource tracker and the extraction worker): its PSS (pages
   shared by forked processes counted once) and its RSS summed (counted per process). Then the
   10,000 again with `--workers 2`, what one more worker costs in memory and gains in speed.

Target: under 200 MB whatever the count; the ratios 10,000 : 1,000 show whether memory grows
with the count (flat is 1.0x) while the work grows tenfold. No network is involved. Every page
from the 10th on holds a line ("Bulletin 10: ... day 10.") that htmldate hands to dateparser,
which then builds its tables for every language it knows (about 45 MB per extraction process):
real pages do so now and then (3 of the corpus's 271), so every long-lived worker ends up
holding them; here they do at once.

    make bench-warc        (or: .venv/bin/python bench/warc_bench.py [--pages 500])
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from child_usage import ChildRun, archiver_command, archiver_env, run_child  # noqa: E402

from archiver.jobs.pages import content_fingerprint  # noqa: E402
from archiver.net.fetcher import FetchResult  # noqa: E402
from archiver.store.db import (ensure_page, insert_snapshot, open_db, save_body,  # noqa: E402
                               save_capture, transaction)

CORPUS = REPO.parent / "shared" / "corpus" / "articles" / "scrapinghub-aeb" / "html"
RECHECKS = 8
CAPTURES_PER_PAGE = 2 * (1 + RECHECKS + 1)
LIMIT_MB = 200
TEMPLATES = 40


def corpus_pages() -> list[bytes]:
    """The first TEMPLATES pages of the corpus: few enough that the baseline's pages (the newest
    tenth) already use each of them, so both runs extract the same mix of pages."""
    return [gzip.decompress(p.read_bytes()) for p in sorted(CORPUS.glob("*.html.gz"))[:TEMPLATES]]


def page_body(template: bytes, page: int, version: int) -> bytes:
    """A real page made unique to ``page``, in ``version`` 1 or 2 (a paragraph added)."""
    marker = f"<p>Bulletin {page}: the council met again on day {page % 365}.</p>"
    if version == 2:
        marker += f"<p>Correction to bulletin {page}: the meeting was on a Tuesday.</p>"
    return re.sub(rb"(?i)<body[^>]*>", lambda m: m.group(0) + marker.encode(), template, count=1)


@dataclass
class Clock:
    moment: datetime

    def tick(self) -> str:
        self.moment += timedelta(seconds=1)
        return self.moment.isoformat(timespec="milliseconds")


def build(db_path: Path, pages: int) -> int:
    """The archive; returns its capture count."""
    templates = corpus_pages()
    db = open_db(db_path)
    clock = Clock(datetime(2024, 1, 1, tzinfo=timezone.utc))
    headers = {"content-type": "text/html; charset=utf-8", "etag": '"v1"', "server": "bench"}
    sent = {"Host": "bench.example", "User-Agent": "archiver/0.1.0 (+https://example.org/)",
            "Accept-Encoding": "gzip, deflate, br"}
    for version in (1, 2):
        for page in range(pages):
            url = f"https://site{page % 20}.example/news/{page}"
            body = page_body(templates[page % len(templates)], page, version)
            title, text = f"Bulletin {page}", f"version {version} of bulletin {page}"
            _capture(db, url, clock.tick(), 200, body, headers, sent, (title, text))
            for _ in range(RECHECKS):
                _capture(db, url, clock.tick(), 200, body, headers, sent, None)
            _capture(db, url, clock.tick(), 304, None, headers, {**sent, "If-None-Match": '"v1"'}, None)
    count = db.execute("SELECT count(*) FROM captures").fetchone()[0]
    db.conn.close()
    return int(count)


def _capture(db: Any, url: str, when: str, status: int, body: bytes | None, headers: dict[str, str],
             sent: dict[str, str], article: tuple[str, str] | None) -> None:
    fetched = FetchResult(url, url, status, headers, (), when, 40, body=body, request_headers=sent,
                          ip_address="192.0.2.10")
    with transaction(db):
        page_id = ensure_page(db, url, when)
        outcome = "new_snapshot" if article else ("not_modified" if status == 304 else "unchanged")
        capture_id = save_capture(db, fetched, "page", outcome=outcome, page_id=page_id,
                                  body_sha256=save_body(db, fetched))
        if article is not None:
            insert_snapshot(db, page_id, {
                "capture_id": capture_id, "captured_at": when, "content_sha256": content_fingerprint(*article),
                "title": article[0], "text": article[1], "extractor": "bench", "metadata_sources": "{}",
                "categories": "[]", "tags": "[]"})


def measure(argv: list[str], db: Path, workdir: Path, log: Any) -> ChildRun:
    env = archiver_env(db, "workers=2")
    run = run_child(argv, env=env, cwd=workdir, output=log)
    if run.returncode != 0:
        tail = "\n".join(line for _, line in run.lines[-10:])
        raise SystemExit(f"failed ({run.returncode}): {' '.join(argv)}\n{tail}")
    return run


def records_in(output: tuple[tuple[float, str], ...]) -> int:
    """Records written, from the export's summary line (or captures read, for an import)."""
    for _, line in output:
        found = re.search(r"(\d+) records", line)
        if found:
            return int(found.group(1))
    raise SystemExit("no summary line in the output")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=500, help="pages (20 captures each) [500]")
    args = parser.parse_args()
    archiver = archiver_command()
    with tempfile.TemporaryDirectory() as tmp, open(Path(tmp) / "log.txt", "wb") as log:
        work = Path(tmp)
        results: dict[str, dict[str, Any]] = {}
        for label, pages in (("baseline", max(1, args.pages // 10)), ("full", args.pages)):
            started = time.perf_counter()
            count = build(work / f"{label}.db", pages)
            print(f"built {count} captures of {pages} pages in {time.perf_counter() - started:.1f} s")
        for label in ("baseline", "full"):
            out = work / f"{label}.warc.gz"
            run = measure(archiver + ["export", "warc", "-o", str(out)], work / f"{label}.db", work, log)
            results[f"export {label}"] = report(run, records_in(run.lines), out.stat().st_size)
        for label, options in (("baseline", []), ("full", []), ("full", ["--workers", "2"])):
            db = work / f"imported-{label}-{len(options)}.db"
            run = measure(archiver + ["import", "warc", *options, str(work / f"{label}.warc.gz")], db, work, log)
            results[" ".join(["import", label, *options])] = report(run, records_in(run.lines))
        summarize(results)


def report(run: ChildRun, records: int, size: int | None = None) -> dict[str, Any]:
    return {"records": records, "wall": run.wall, "per_second": records / run.wall,
            "main_mb": max((p.hwm_kb for p in run.processes if p.role == "main"), default=0) / 1024,
            "tree_mb": run.peak_pss_sum_mb, "tree_rss_mb": run.peak_rss_sum_mb,
            "size_mb": size / 1e6 if size else None, "by_role": run.by_role()}


def summarize(results: dict[str, dict[str, Any]]) -> None:
    for name, r in results.items():
        size = f", {r['size_mb']:.1f} MB file" if r["size_mb"] else ""
        print(f"{name:24} {r['records']:6} records in {r['wall']:6.1f} s = {r['per_second']:7.0f}/s; "
              f"peak: main process {r['main_mb']:.0f} MB, tree PSS {r['tree_mb']:.0f} MB "
              f"(RSS summed {r['tree_rss_mb']:.0f} MB){size}\n{'':25}{r['by_role']}")
    for step in ("export", "import"):
        base, full = results[f"{step} baseline"], results[f"{step} full"]
        print(f"{step}: {full['records'] / base['records']:.1f}x the records, "
              f"{full['wall'] / base['wall']:.2f}x the time, "
              f"{full['main_mb'] / base['main_mb']:.2f}x the main process's peak memory, "
              f"{full['tree_mb'] / base['tree_mb']:.2f}x the tree's")
    one, two = results["import full"], results["import full --workers 2"]
    print(f"import --workers 2: {two['per_second'] / one['per_second']:.2f}x the records per second, "
          f"{two['tree_mb'] - one['tree_mb']:+.0f} MB of tree PSS")
    worst = max(max(r["main_mb"], r["tree_mb"]) for name, r in results.items() if "--workers" not in name)
    verdict = "under" if worst < LIMIT_MB else "OVER"
    print(f"largest peak (as the commands run by default) {worst:.0f} MB: {verdict} the {LIMIT_MB} MB target")
    print(json.dumps({k: {x: v for x, v in r.items() if x != "by_role"} for k, r in results.items()}))


if __name__ == "__main__":
    main()

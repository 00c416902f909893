"""Re-extraction: today's extractor over the bodies already stored, with no network.

What is re-extracted: for each page, the capture behind its latest snapshot, and what a new
result is compared with is that latest snapshot ("the snapshot it would replace"). Where the
content fingerprint differs, a new version is appended: the same capture and capture time,
today's extractor in ``extractor``, and ``reextracted_from`` naming the snapshot it replaces.
Nothing is rewritten; older versions, whose captures later ones superseded, stay as they are.

Each re-extracted page also goes through its host's boilerplate model (archiver.jobs.site_model),
which first counts any page it never counted: an archive made before the model existed is learned
from this way, and a second run applies to every page what the first one learned.

A second run finds each page's latest snapshot to be the first run's result, compares equal and
writes nothing. Each page is saved in a transaction of its own, so a run killed at any moment
keeps the pages it finished, and the next run does the rest.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Sequence

from archiver.content.article import Article, ExtractionError, extract_in_worker
from archiver.jobs.pages import content_fingerprint, first_entry, snapshot_row
from archiver.jobs.site_model import apply_site_model
from archiver.jobs.workers import TaskFailed, WorkerPool
from archiver.content.urls import host_of
from archiver.store.db import insert_snapshot, latest_snapshot, load_body, transaction, utcnow

log = logging.getLogger(__name__)

_BATCH = 500  # pages read from the database at once

_SELECTION = """
SELECT p.id, p.url, s.id, s.content_sha256, s.capture_id, s.captured_at, c.body_sha256,
       coalesce(c.final_url, c.requested_url), c.headers
FROM pages p
JOIN snapshots s ON s.page_id = p.id
 AND s.version = (SELECT max(version) FROM snapshots WHERE page_id = p.id)
JOIN captures c ON c.id = s.capture_id
WHERE {where}
"""


@dataclass(frozen=True)
class Target:
    """The latest snapshot of one page, and what re-extracting its capture needs."""

    page_id: int
    page_url: str
    snapshot_id: int
    content_sha256: str
    capture_id: int
    captured_at: str
    body_sha256: str | None
    final_url: str
    content_type: str | None


@dataclass(frozen=True)
class Reextracted:
    """What re-extraction made of one page."""

    page_url: str
    result: str  # changed, same, failed, superseded (a fetch saved a newer version meanwhile)
    replaced: int  # the snapshot compared with
    detail: str | None = None
    snapshot_id: int | None = None  # the new snapshot (None on a dry run)
    version: int | None = None


def _conditions(since: str | None, page_ids: Sequence[int] | None) -> tuple[list[str], list[Any]]:
    where, params = [], []
    if since is not None:  # julianday: capture times from any source compare as moments, not text
        where.append("julianday(s.captured_at) >= julianday(?)")
        params.append(since)
    if page_ids is not None:
        where.append(f"p.id IN ({', '.join('?' * len(page_ids))})")
        params.extend(page_ids)
    return where, params


def count_targets(db: Any, since: str | None = None, page_ids: Sequence[int] | None = None) -> int:
    """How many pages ``select_targets`` yields."""
    where, params = _conditions(since, page_ids)
    sql = "SELECT count(*) FROM (" + _SELECTION.format(where=" AND ".join(where) or "1") + ")"
    return int(db.execute(sql, params).fetchone()[0])


def select_targets(db: Any, since: str | None = None,
                   page_ids: Sequence[int] | None = None) -> Iterator[Target]:
    """The latest snapshot of every page (captured at or after ``since``; of these pages only),
    read a batch at a time, in page order."""
    last = 0
    while True:
        where, params = _conditions(since, page_ids)
        sql = _SELECTION.format(where=" AND ".join(["p.id > ?", *where])) + " ORDER BY p.id LIMIT ?"
        rows = db.execute(sql, [last, *params, _BATCH]).fetchall()
        for row in rows:
            yield Target(*row[:8], content_type=_content_type(row[8]))
        if len(rows) < _BATCH:
            return
        last = rows[-1][0]


def _content_type(headers_json: str | None) -> str | None:
    headers = json.loads(headers_json or "{}")
    return next((v for k, v in headers.items() if k.lower() == "content-type"), None)


def reextract(db: Any, pool: WorkerPool, targets: Iterable[Target], max_bytes: int,
              dry_run: bool = False) -> Iterator[Reextracted]:
    """Re-extract each target's body in the worker pool (a few at once per worker, so memory
    stays flat), saving each changed page as it comes; yields one outcome per target."""
    window = 2 * pool.size
    running: dict[Future[Any], Target] = {}
    for target in targets:
        body = load_body(db, target.body_sha256) if target.body_sha256 else None
        if body is None:
            yield Reextracted(target.page_url, "failed", target.snapshot_id, "no stored body")
            continue
        future = pool.submit(extract_in_worker, body[:max_bytes], target.final_url,
                             target.content_type, max_bytes)
        running[future] = target
        if len(running) >= window:
            yield from _finished(db, pool, running, dry_run)
    while running:
        yield from _finished(db, pool, running, dry_run)


def _finished(db: Any, pool: WorkerPool, running: dict[Future[Any], Target],
              dry_run: bool) -> Iterator[Reextracted]:
    """Wait for at least one extraction; save what has finished."""
    done, _ = wait(running, return_when=FIRST_COMPLETED)
    for future in done:
        target = running.pop(future)
        try:
            article = pool.result(future)
        except ExtractionError as exc:
            yield Reextracted(target.page_url, "failed", target.snapshot_id, str(exc))
            continue
        except TaskFailed as exc:
            yield Reextracted(target.page_url, "failed", target.snapshot_id, f"extract_{exc.kind}: {exc}")
            continue
        yield save_reextraction(db, target, article, dry_run)


def save_reextraction(db: Any, target: Target, article: Article, dry_run: bool = False) -> Reextracted:
    """Append ``article`` as the page's new version if its fingerprint differs from the
    snapshot it replaces (in one transaction; nothing when ``dry_run``)."""
    host = host_of(target.page_url)
    if dry_run:
        article = apply_site_model(db, host, article, utcnow(), None)
    else:
        with transaction(db):  # pages archived before the model existed are learned from here
            article = apply_site_model(db, host, article, utcnow(), target.page_id)
    fingerprint = content_fingerprint(article.title, article.text)
    if fingerprint == target.content_sha256:
        return Reextracted(target.page_url, "same", target.snapshot_id)
    if dry_run:
        return Reextracted(target.page_url, "changed", target.snapshot_id)
    with transaction(db):
        latest = latest_snapshot(db, target.page_id)
        if latest is None or latest["id"] != target.snapshot_id:
            # a fetch saved a newer version since the selection was read: that one stands
            return Reextracted(target.page_url, "superseded", target.snapshot_id,
                               "a newer version was archived meanwhile")
        row = snapshot_row(target.capture_id, target.captured_at, article, fingerprint,
                           first_entry(db, target.page_id))
        row["reextracted_from"] = target.snapshot_id
        # the page did not change on the web: its re-check decay keeps its clock
        changed_at = db.execute("SELECT last_changed_at FROM pages WHERE id = ?",
                                [target.page_id]).fetchone()[0]
        snapshot_id, version = insert_snapshot(db, target.page_id, row, changed_at=changed_at)
    log.debug("re-extracted %s: version %s replaces snapshot %s", target.page_url, version,
              target.snapshot_id)
    return Reextracted(target.page_url, "changed", target.snapshot_id, None, snapshot_id, version)

"""Archiving a page: fetch it, extract the article in a worker, save capture and snapshot."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from archiver.content.article import Article, ExtractionError, extract_in_worker
from archiver.content.changes import REMOVED_STATUSES, Check, Version
from archiver.jobs.changes import record_change, state_before, version_of
from archiver.net.fetcher import FetchResult
from archiver.jobs.schedule import backoff_delay, page_next_check
from archiver.jobs.site_model import apply_site_model
from archiver.store.db import (add_aliases, body_reference, ensure_page, find_page_id, get_row,
                               insert_snapshot, iso, latest_snapshot, parse_iso, save_body,
                               save_capture, transaction, update_row)
from archiver.content.urls import BadURL, canonical_url, host_of
from archiver.jobs.workers import TaskFailed


@dataclass(frozen=True)
class PageWork:
    """What the network and the extractor made of one page."""

    fetch: FetchResult
    article: Article | None = None
    problem: tuple[str, str] | None = None
    follow: Any = None  # set by feed-aware fetches: what to do instead of a snapshot
    same_bytes: bool = False  # 304, or the very body of the last good capture: nothing to extract


@dataclass(frozen=True)
class Previous:
    """What the last good capture of a page left for the next re-check to compare against."""

    etag: str | None = None
    last_modified: str | None = None
    body_sha256: str | None = None

    def validators(self) -> dict[str, str]:
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers


@dataclass(frozen=True)
class PageOutcome:
    """One line of `archiver fetch`: what happened to one URL."""

    url: str
    result: str  # new_snapshot, unchanged, failed, feed
    detail: str | None = None
    page_id: int | None = None
    snapshot_id: int | None = None
    title: str | None = None
    version: int | None = None

    @property
    def failed(self) -> bool:
        return self.result == "failed"


def content_fingerprint(title: str | None, text: str) -> str:
    """sha256 of the normalised title and text: equal for versions a reader cannot tell apart."""
    def norm(value: str | None) -> str:
        # str.split() splits exactly where the regex \s+ matches: every run of whitespace becomes
        # one space, as it always has (archived fingerprints must not change), at half the cost.
        return " ".join(unicodedata.normalize("NFC", value or "").split())

    return hashlib.sha256(f"{norm(title)}\n{norm(text)}".encode("utf-8")).hexdigest()


class PageJob:
    """Archive one page now. ``context`` carries the shared fetcher, worker pool and config.

    With ``fetched`` (an exchange read from an archive file) nothing is fetched: that exchange is
    extracted and saved as if the fetcher had just returned it."""

    def __init__(self, context: Any, url: str, on_feed: Any = None, previous: Previous | None = None,
                 fetched: FetchResult | None = None):
        self.context = context
        self.url = url
        self.canonical = canonical_url(url)
        self.host = host_of(self.canonical)
        self.on_feed = on_feed
        self.previous = previous
        self.fetched = fetched

    def work(self) -> PageWork:
        if self.fetched is not None:
            return self.examine(self.fetched)
        ctx = self.context
        refusal = ctx.robots_refusal(self.url) if ctx.robots_refusal else None
        if refusal is not None:
            return PageWork(refusal)
        previous = self.previous
        fetched = ctx.fetcher.fetch(self.url, headers=previous.validators() if previous else None,
                                    may_follow=ctx.robots_refusal)
        return self.examine(fetched)

    def examine(self, fetched: FetchResult) -> PageWork:
        """What to make of an exchange: nothing new, a failure, a feed, or an extracted article."""
        ctx, previous = self.context, self.previous
        if previous is not None and (fetched.not_modified or (
                fetched.ok and fetched.body_sha256 == previous.body_sha256)):
            return PageWork(fetched, same_bytes=True)
        if not fetched.ok or not fetched.body:
            return PageWork(fetched)
        if self.on_feed is not None and self.on_feed.accepts(fetched):
            return PageWork(fetched, follow=self.on_feed.digest(fetched))
        try:
            limit = ctx.config.max_extract_bytes
            article = ctx.pool.call(extract_in_worker, fetched.body[:limit], fetched.final_url,
                                    fetched.content_type, limit)
        except ExtractionError as exc:
            return PageWork(fetched, problem=(exc.reason, exc.detail or exc.reason))
        except TaskFailed as exc:
            return PageWork(fetched, problem=(f"extract_{exc.kind}", str(exc)))
        return PageWork(fetched, article=article)

    def save(self, db: Any, work: PageWork | Exception) -> tuple[PageOutcome, list[Any]]:
        if isinstance(work, Exception):
            return PageOutcome(self.url, "failed", f"internal_error: {work}"), []
        if work.follow is not None:
            return self.on_feed.save(db, work.follow)
        with transaction(db):
            return self._save(db, work), []

    def _save(self, db: Any, work: PageWork) -> PageOutcome:
        now = self.context.now()
        fetched, article = work.fetch, work.article
        page_id = self._page_id(db, fetched, article, iso(now))
        page = get_row(db, "pages", page_id)
        # what the change classifier compares with: read only where a change may come of this capture
        may_change = article is not None or page["state"] == "removed" or fetched.status in REMOVED_STATUSES
        latest = latest_snapshot(db, page_id) if may_change else None
        body_sha = save_body(db, fetched, body_reference(db, page_id, self.canonical) if fetched.body else None)
        new_version = None
        if work.same_bytes:
            recorded = "not_modified" if fetched.not_modified else "unchanged"
            capture_id = save_capture(db, fetched, "page", outcome=recorded, page_id=page_id, body_sha256=body_sha)
            self._update_page(db, page_id, now, fetched, None, body_sha)
            outcome = PageOutcome(self.url, "unchanged", recorded, page_id)
        elif article is None:
            detail = self._failure(fetched, work.problem)
            recorded = work.problem[0] if work.problem else "failed"
            capture_id = save_capture(db, fetched, "page", outcome=recorded, page_id=page_id, body_sha256=body_sha)
            self._update_page(db, page_id, now, fetched, detail)
            outcome = PageOutcome(self.url, "failed", detail, page_id)
        else:
            capture_id = save_capture(db, fetched, "page", page_id=page_id, body_sha256=body_sha)
            outcome, new_version = self._save_snapshot(db, page_id, capture_id, fetched, article, latest, iso(now))
            db.execute("UPDATE captures SET outcome = ? WHERE id = ?", [outcome.result, capture_id])
            self._update_page(db, page_id, now, fetched, None, body_sha)
        check = Check(capture_id, fetched.started_at, fetched.status, fetched.final_url,
                      work.same_bytes or article is not None, new_version)
        state = state_before(db, page, latest, with_history=new_version is not None)
        record_change(db, self.context.config, page, state, check, iso(now))
        return outcome

    def _page_id(self, db: Any, fetched: FetchResult, article: Article | None, now: str) -> int:
        final = _canonical_or_none(fetched.final_url)
        same_site = None
        if article is not None and article.canonical_url:
            candidate = _canonical_or_none(article.canonical_url)
            if candidate and host_of(candidate) == host_of(final or self.canonical):
                same_site = candidate  # another host's address is recorded, never merged
        page_id = find_page_id(db, self.canonical, same_site, final)
        aliases = tuple(u for u in (final, same_site) if u)
        if page_id is None:
            return ensure_page(db, self.canonical, now, aliases)
        add_aliases(db, page_id, (self.canonical, *aliases), now)
        return page_id

    @staticmethod
    def _failure(fetched: FetchResult, problem: tuple[str, str] | None) -> str:
        """One line saying why no snapshot came of this capture."""
        if problem is not None:
            return f"{problem[0]}: {problem[1]}"
        if fetched.error:
            return fetched.reason
        return f"empty_body: HTTP {fetched.status} with no content"

    def _save_snapshot(self, db: Any, page_id: int, capture_id: int, fetched: FetchResult, article: Article,
                       latest: dict[str, Any] | None, now: str) -> tuple[PageOutcome, Version | None]:
        """Save the article as the page's next version unless it is its latest; the outcome,
        and the new version as the change classifier reads it."""
        article = apply_site_model(db, self.host, article, now, page_id)
        fingerprint = content_fingerprint(article.title, article.text)
        if latest is not None and latest["content_sha256"] == fingerprint:
            return PageOutcome(self.url, "unchanged", None, page_id, latest["id"], latest["title"],
                               latest["version"]), None
        row = snapshot_row(capture_id, fetched.started_at, article, fingerprint, first_entry(db, page_id))
        # the re-check decay counts from the run's clock, not the fetch's wall-clock time
        snapshot_id, version = insert_snapshot(db, page_id, row, changed_at=now)
        outcome = PageOutcome(self.url, "new_snapshot", None, page_id, snapshot_id, article.title, version)
        return outcome, version_of({**row, "id": snapshot_id, "version": version}, fetched.final_url)

    def _update_page(self, db: Any, page_id: int, now: datetime, fetched: FetchResult,
                     error: str | None, body_sha: str | None = None) -> None:
        page = get_row(db, "pages", page_id)
        changes: dict[str, Any] = {"last_checked_at": iso(now), "last_status": fetched.status,
                                   "last_error": error}
        if error is None:
            changes["error_count"] = 0
            if body_sha:
                changes.update(etag=fetched.headers.get("etag"), last_modified=fetched.headers.get("last-modified"),
                               last_body_sha256=body_sha)
            if page["state"] == "removed":  # back: a change, so the re-check decay starts again
                changes.update(state="active", last_changed_at=iso(now))
            nxt = self._next_recheck(page, now, changes)
        elif fetched.status in REMOVED_STATUSES and page["snapshot_count"] > 0:
            if page["state"] != "removed":
                changes.update(state="removed", last_changed_at=iso(now))
            # 404 may be a slip and is looked at again, ever more slowly; 410 says it is final
            nxt = None if fetched.status == 410 else self._next_recheck(page, now, changes)
        else:
            changes["error_count"] = page["error_count"] + 1
            delay = backoff_delay(changes["error_count"], self.context.config.backoff_cap)
            nxt = datetime.fromtimestamp(now.timestamp() + delay, timezone.utc)
            if page["watch_every"]:
                nxt = min(nxt, datetime.fromtimestamp(now.timestamp() + page["watch_every"], timezone.utc))
        changes["next_check_at"] = iso(nxt) if nxt else None
        update_row(db, "pages", page_id, changes)

    def _next_recheck(self, page: dict[str, Any], now: datetime, changes: dict[str, Any]) -> datetime | None:
        changed = parse_iso(changes.get("last_changed_at") or page["last_changed_at"])
        return page_next_check(now, changed, page["watch_every"], self.context.recheck_steps)


def _canonical_or_none(url: str | None) -> str | None:
    try:
        return canonical_url(url) if url else None
    except BadURL:
        return None


def first_entry(db: Any, page_id: int) -> tuple[int, str | None, str | None, str | None] | None:
    """(id, author, published, title) of the first feed entry that led to the page, if any."""
    return db.execute("SELECT id, author, published, title FROM entries WHERE page_id = ? ORDER BY id LIMIT 1",
                      [page_id]).fetchone()


def snapshot_row(capture_id: int, captured_at: str, article: Article, fingerprint: str,
                 entry: tuple[Any, ...] | None) -> dict[str, Any]:
    """A snapshot's columns. The feed entry's title, author and date rank below the page's
    structured data and above the extractor's guesses (archiver.content.metadata.with_feed);
    ``metadata_sources`` records where each came from and what other sources said."""
    # Imported here, by the first new snapshot: with lxml, 30 ms that a run archiving nothing
    # new (an unchanged re-poll) does not spend starting up.
    from archiver.content.metadata import Chosen, metadata_sources, with_feed

    fields = dict(vars(article))  # its fields are immutable: no need for asdict's deep copy
    values = {k: fields[k] for k in ("title", "author", "published", "modified") if fields[k]}
    chosen = Chosen(values, {**dict.fromkeys(values, "page"), **dict(article.sources)}, {})
    for name, source, value in article.alternatives:
        chosen.alternatives.setdefault(name, {})[source] = value
    if entry is not None:
        chosen = with_feed(chosen, {"author": entry[1], "published": entry[2],
                                    "title": entry[3] if len(entry) > 3 else None})
    fields.update(chosen.values)
    return {
        "capture_id": capture_id, "entry_id": entry[0] if entry else None,
        "captured_at": captured_at, "content_sha256": fingerprint,
        "title": fields["title"], "author": fields["author"], "published": fields["published"],
        "sitename": fields["sitename"], "hostname": fields["hostname"],
        "language": fields["language"], "description": fields["description"],
        "categories": json.dumps(list(fields["categories"])), "tags": json.dumps(list(fields["tags"])),
        "canonical_url": fields["canonical_url"], "text": fields["text"],
        "extractor": fields["extractor"],
        "metadata_sources": json.dumps(metadata_sources(chosen)),
    }

"""Polling feeds: conditional GET, parse in a worker, new entries, and the policy that decides
when to look again (DESIGN.md, "Polling policy"). Also what is due, for `poll` and the daemon."""

from __future__ import annotations

import email.utils
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterator

from archiver.content import feeds
from archiver.net.fetcher import FetchResult, retry_after_seconds
from archiver.jobs.pages import PageJob, PageOutcome, Previous
from archiver.jobs.schedule import backoff_delay, feed_interval
from archiver.store.db import (ensure_page, get_row, insert_row, iso, parse_iso, save_body, save_capture,
                            transaction, update_row)
from archiver.content.urls import BadURL, canonical_url, check_url, host_of
from archiver.jobs.workers import TaskFailed

FEED_MEDIA_TYPES = frozenset({"application/rss+xml", "application/atom+xml", "application/rdf+xml",
                              "application/xml", "text/xml", "application/feed+xml"})
PERMANENT = frozenset({301, 308})
BLOCKED_STATUSES = frozenset({401, 403})


@dataclass(frozen=True)
class FeedWork:
    fetch: FetchResult
    parsed: feeds.ParsedFeed | None = None
    problem: tuple[str, str] | None = None
    unchanged: bool = False


@dataclass(frozen=True)
class FeedOutcome:
    url: str
    result: str  # polled, not_modified, failed, retry_later, gone
    detail: str | None = None
    feed_id: int | None = None
    new_entries: int = 0

    @property
    def failed(self) -> bool:
        return self.result == "failed"


class FeedJob:
    """Poll one feed: fetch (conditionally), parse in a worker, save entries, schedule the next."""

    def __init__(self, session: Any, url: str, feed: dict[str, Any] | None = None):
        self.session = session
        self.url = url
        self.feed = feed
        self.host = host_of(url)

    # -- network side --------------------------------------------------------------------------
    def work(self) -> FeedWork:
        fetched = self.session.fetcher.fetch(self.url, headers=self._validators())
        return self.digest(fetched)

    def _validators(self) -> dict[str, str]:
        headers = {}
        if self.feed and self.feed.get("etag"):
            headers["If-None-Match"] = self.feed["etag"]
        if self.feed and self.feed.get("last_modified"):
            headers["If-Modified-Since"] = self.feed["last_modified"]
        return headers

    def accepts(self, fetched: FetchResult) -> bool:
        """Whether a response fetched as a page is in fact a feed."""
        return fetched.body is not None and (fetched.media_type in FEED_MEDIA_TYPES
                                             or feeds.looks_like_feed(fetched.body))

    def digest(self, fetched: FetchResult) -> FeedWork:
        """Parse a fetched feed in a worker, unless it is identical to the last one we parsed."""
        if not fetched.ok or not fetched.body:
            return FeedWork(fetched)
        if self.feed and self.feed.get("last_body_sha256") == fetched.body_sha256:
            return FeedWork(fetched, unchanged=True)
        config = self.session.config
        try:
            parsed = self.session.pool.call(feeds.parse_feed, fetched.body, fetched.final_url,
                                            fetched.content_type, max_entries=config.max_entries_per_feed)
        except feeds.NotAFeed as exc:
            return FeedWork(fetched, problem=("not_a_feed", str(exc) or "not an RSS or Atom feed"))
        except TaskFailed as exc:
            return FeedWork(fetched, problem=(f"parse_{exc.kind}", str(exc)))
        return FeedWork(fetched, parsed=parsed)

    # -- writer side ---------------------------------------------------------------------------
    def save(self, db: Any, work: FeedWork | Exception) -> tuple[FeedOutcome, list[Any]]:
        if isinstance(work, Exception):
            return FeedOutcome(self.url, "failed", f"internal_error: {work}"), []
        with transaction(db):
            feed = self._feed_row(db)
            now = self.session.now()
            fetched = work.fetch
            body_sha = save_body(db, fetched, feed["last_body_sha256"])
            outcome_word, detail = _describe(work)
            capture_id = save_capture(db, fetched, "feed", outcome=outcome_word, feed_id=feed["id"],
                                      body_sha256=body_sha)
            jobs: list[Any] = []
            new = 0
            if work.parsed is not None:
                new, jobs = self._save_entries(db, feed, capture_id, work.parsed, now)
            changes = FeedPolicy(self.session.config, now).decide(feed, work, db)
            if work.parsed is not None:
                changes["last_body_sha256"] = body_sha
            _adopt_move(db, feed, changes, now)
            update_row(db, "feeds", feed["id"], changes)
        result = "polled" if outcome_word.startswith("parsed") else outcome_word
        return FeedOutcome(self.url, result, detail, feed["id"], new), jobs

    def _feed_row(self, db: Any) -> dict[str, Any]:
        """The feed's row; `archiver fetch FEED` records a paused feed it does not poll."""
        if self.feed is not None:
            return get_row(db, "feeds", self.feed["id"])
        row = db.execute("SELECT id FROM feeds WHERE url = ?", [self.url]).fetchone()
        if row is None:
            feed_id = insert_row(db, "feeds", {"url": self.url, "state": "paused", "source": "fetch",
                                               "added_at": iso(self.session.now())})
            return get_row(db, "feeds", feed_id)
        return get_row(db, "feeds", row[0])

    def _save_entries(self, db: Any, feed: dict[str, Any], capture_id: int,
                      parsed: feeds.ParsedFeed, now: datetime) -> tuple[int, list[Any]]:
        jobs: list[Any] = []
        new = 0
        stamp = iso(now)
        for entry in parsed.entries:
            exists = db.execute("SELECT 1 FROM entries WHERE feed_id = ? AND guid = ?",
                                [feed["id"], entry.guid]).fetchone()
            if exists:
                continue
            page_id, page_url, fresh = self._entry_page(db, entry.link, stamp)
            insert_row(db, "entries", {
                "feed_id": feed["id"], "guid": entry.guid, "page_id": page_id, "link": entry.link,
                "title": entry.title, "author": entry.author,
                "published": entry.published or entry.updated,
                "published_raw": entry.published_raw, "updated": entry.updated,
                "summary": entry.summary, "categories": json.dumps(list(entry.categories)),
                "first_seen_at": stamp, "capture_id": capture_id,
            })
            new += 1
            if fresh and page_url:
                jobs.append(PageJob(self.session, page_url))
        if new:
            db.execute("UPDATE feeds SET entry_count = entry_count + ?, last_new_entry_at = ? WHERE id = ?",
                       [new, stamp, feed["id"]])
        return new, jobs

    @staticmethod
    def _entry_page(db: Any, link: str | None, stamp: str) -> tuple[int | None, str | None, bool]:
        """The page an entry links to; ``fresh`` when it has never been captured (fetch it now)."""
        if not link:
            return None, None, False
        try:
            url = canonical_url(link)
        except BadURL:
            return None, None, False
        page_id = ensure_page(db, url, stamp)
        page = get_row(db, "pages", page_id)
        fresh = page["last_checked_at"] is None
        if fresh:
            update_row(db, "pages", page_id, {"next_check_at": stamp})  # due now, should this run die
        return page_id, link, fresh


def _adopt_move(db: Any, feed: dict[str, Any], changes: dict[str, Any], now: datetime) -> None:
    """Apply a confirmed permanent redirect, keeping the old URL in ``feed_urls``; a target some
    other feed already has is not adopted."""
    old = changes.pop("_moved_from", None)
    if old is None:
        return
    if db.execute("SELECT 1 FROM feeds WHERE url = ?", [changes["url"]]).fetchone():
        del changes["url"]
        return
    insert_row(db, "feed_urls", {"feed_id": feed["id"], "url": old, "until": iso(now),
                            "reason": f"permanent redirect seen {feed['redirect_seen'] + 1} times"})


def _describe(work: FeedWork) -> tuple[str, str | None]:
    """The capture's outcome word and a line for the user."""
    fetched = work.fetch
    if work.problem is not None:
        return work.problem[0], f"{work.problem[0]}: {work.problem[1]}"
    if fetched.status == 304 or work.unchanged:
        return "not_modified", None
    if work.parsed is not None and work.parsed.truncated:
        return "parsed_truncated", f"{len(work.parsed.entries)} entries kept, the feed had more"
    if work.parsed is not None:
        return "parsed", f"{len(work.parsed.entries)} entries"
    if fetched.status in (429, 503) and fetched.headers.get("retry-after"):
        return "retry_later", fetched.reason
    if fetched.status == 410:
        return "gone", fetched.reason
    return "failed", fetched.reason if fetched.error else f"HTTP {fetched.status} with no body"


class FeedPolicy:
    """DESIGN.md's status table: what one poll means for the feed's row."""

    def __init__(self, config: Any, now: datetime):
        self.config = config
        self.now = now

    def decide(self, feed: dict[str, Any], work: FeedWork, db: Any) -> dict[str, Any]:
        fetched = work.fetch
        changes: dict[str, Any] = {"last_checked_at": iso(self.now), "last_status": fetched.status}
        changes.update(self._redirect(feed, work))
        if work.parsed is not None or work.unchanged or fetched.status == 304:
            changes.update(self._healthy(feed, work, db))
        elif fetched.status in (429, 503) and retry_after_seconds(fetched.headers.get("retry-after")):
            wait = min(retry_after_seconds(fetched.headers["retry-after"]) or 0, self.config.retry_after_cap)
            changes.update(next_check_at=self._after(max(wait, 1)), last_error=fetched.reason)
        elif fetched.status == 410:
            changes.update(state="gone", next_check_at=None, last_error=fetched.reason)
        else:
            changes.update(self._failed(feed, work))
        if feed["state"] == "paused":  # recorded by a one-off fetch: never scheduled
            changes.update(state="paused", next_check_at=None)
        return changes

    def _healthy(self, feed: dict[str, Any], work: FeedWork, db: Any) -> dict[str, Any]:
        fetched, parsed = work.fetch, work.parsed
        changes: dict[str, Any] = {"state": "active", "error_count": 0, "last_error": None}
        if fetched.headers.get("etag") or fetched.status == 200:
            changes["etag"] = fetched.headers.get("etag")
        if fetched.headers.get("last-modified") or fetched.status == 200:
            changes["last_modified"] = fetched.headers.get("last-modified")
        if parsed is not None:
            changes.update(title=parsed.title or feed["title"], site_url=parsed.site_url,
                           ttl_seconds=parsed.ttl_seconds)
            if parsed.bozo:  # parsed, but feedparser had to recover: worth seeing in the health view
                changes["last_error"] = f"feed parsed with problems: {parsed.bozo}"
        asked = max(filter(None, [parsed.ttl_seconds if parsed else feed["ttl_seconds"],
                                  _cache_seconds(fetched.headers, self.now)]), default=None)
        interval = feed_interval(self._recent_entry_times(db, feed["id"]), self.now, asked,
                                 self.config.min_interval, self.config.max_interval)
        changes["next_check_at"] = self._after(interval)
        return changes

    def _failed(self, feed: dict[str, Any], work: FeedWork) -> dict[str, Any]:
        fetched = work.fetch
        count = (feed["error_count"] or 0) + 1
        reason = f"{work.problem[0]}: {work.problem[1]}" if work.problem else fetched.reason
        if fetched.status in BLOCKED_STATUSES:
            reason = f"blocked: {reason}"
        delay = backoff_delay(count, self.config.backoff_cap)
        return {"state": "backoff", "error_count": count, "last_error": reason,
                "next_check_at": self._after(delay)}

    def _redirect(self, feed: dict[str, Any], work: FeedWork) -> dict[str, Any]:
        """Count consecutive identical permanent redirects; adopt the target after enough."""
        target = _permanent_target(work.fetch)
        if target is None:
            return {"redirect_target": None, "redirect_seen": 0}
        seen = (feed["redirect_seen"] or 0) + 1 if feed["redirect_target"] == target else 1
        valid_feed = work.parsed is not None or work.unchanged
        if seen >= self.config.redirect_confirmations and valid_feed \
                and _acceptable_move(feed["url"], target):
            return {"url": target, "redirect_target": None, "redirect_seen": 0, "_moved_from": feed["url"]}
        return {"redirect_target": target, "redirect_seen": seen}

    def _after(self, seconds: float) -> str:
        return iso(self.now + timedelta(seconds=seconds))

    def _recent_entry_times(self, db: Any, feed_id: int) -> list[datetime]:
        since = iso(self.now - timedelta(days=7))
        rows = db.execute("SELECT coalesce(published, first_seen_at) FROM entries WHERE feed_id = ? "
                          "AND coalesce(published, first_seen_at) >= ?", [feed_id, since]).fetchall()
        return [t for t in (parse_iso(r[0]) for r in rows) if t is not None]


def _permanent_target(fetched: FetchResult) -> str | None:
    """Where a chain of permanent redirects from the feed's URL leads (None if the first hop is
    not permanent; a temporary hop later in the chain ends what may be adopted)."""
    target = None
    for hop in fetched.redirects:
        if hop["status"] not in PERMANENT:
            break
        target = hop["location"]
    return target


def _acceptable_move(old: str, new: str) -> bool:
    try:
        check_url(new)
    except BadURL:
        return False
    return not (old.startswith("https:") and new.startswith("http:"))


def _cache_seconds(headers: Any, now: datetime) -> float | None:
    """Seconds the response asks to be cached for: Cache-Control max-age, else Expires."""
    match = re.search(r"max-age\s*=\s*(\d+)", headers.get("cache-control", ""))
    if match:
        return float(match.group(1))
    try:
        expires = email.utils.parsedate_to_datetime(headers.get("expires", ""))
    except (TypeError, ValueError, IndexError):
        return None
    if expires.tzinfo is None:
        return None
    return max(0.0, (expires - now).total_seconds())


def due_jobs(session: Any, now: datetime, everything: bool = False,
             limit: int | None = None) -> Iterator[Any]:
    """Feeds and pages whose next check has come (or all of them), most overdue first."""
    db = session.db
    stamp = iso(now)
    # "+state": the schedule's index (next_check_at) is the one to read, never the index on state
    # that the pages table's facet has: through that one, every tick read every active page.
    feed_where = "+state IN ('active', 'backoff')" + ("" if everything else
                 " AND (next_check_at IS NULL OR next_check_at <= :now)")
    page_where = "+state IN ('active', 'removed') AND next_check_at IS NOT NULL" + ("" if everything else
                 " AND next_check_at <= :now")
    leased = " AND (lease_until IS NULL OR lease_until <= :now)"  # not while a worker has it
    feed_where, page_where = feed_where + leased, page_where + leased
    feeds_sql = f"SELECT * FROM feeds WHERE {feed_where} ORDER BY coalesce(next_check_at, '') LIMIT :limit"
    pages_sql = (f"SELECT url, etag, last_modified, last_body_sha256 FROM pages WHERE {page_where} "
                 "ORDER BY next_check_at LIMIT :limit")
    params = {"now": stamp, "limit": -1 if limit is None else limit}
    for feed in [dict(r) for r in db.query(feeds_sql, params)]:
        yield FeedJob(session, feed["url"], feed)
    for page in list(db.query(pages_sql, params)):
        previous = Previous(page["etag"], page["last_modified"], page["last_body_sha256"])
        yield PageJob(session, page["url"], previous=previous)


def poll_once(session: Any, everything: bool, stop: Any = None, limit: int | None = None) -> "Tally":
    """Run every due job (and what they lead to) once; count what happened."""
    tally = Tally()
    for outcome in session.run(due_jobs(session, session.now(), everything, limit), stop):
        tally.add(outcome)
    return tally


class Tally:
    """What one pass did, for its summary line."""

    def __init__(self) -> None:
        self.counts = dict.fromkeys(("feeds", "not_modified", "entries", "snapshots", "unchanged",
                                     "pages", "errors"), 0)

    def add(self, outcome: PageOutcome | FeedOutcome) -> None:
        c = self.counts
        if isinstance(outcome, FeedOutcome):
            c["feeds"] += 1
            c["not_modified"] += outcome.result == "not_modified"
            c["entries"] += outcome.new_entries
        else:
            c["pages"] += 1
            c["snapshots"] += outcome.result == "new_snapshot"
            c["unchanged"] += outcome.result == "unchanged"
        c["errors"] += outcome.failed

    def summary(self) -> str:
        c = self.counts
        return (f"{c['feeds']} feeds polled ({c['not_modified']} not modified), {c['entries']} new entries, "
                f"{c['pages']} pages checked, {c['snapshots']} new snapshots, {c['errors']} errors")

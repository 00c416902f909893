"""What the user follows: subscribing to feeds (directly, by discovery, from OPML or the config),
watching pages, unsubscribing, and listing sources with their health."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable

from archiver.content import feeds
from archiver.jobs.polling import FeedJob
from archiver.store.db import ensure_page, find_page_id, iso, save_body, save_capture, transaction
from archiver.content.urls import canonical_url


@dataclass(frozen=True)
class Subscribed:
    url: str
    created: bool  # False: it was already subscribed


def subscribe(db: Any, url: str, source: str, now: datetime, title: str | None = None) -> Subscribed:
    """Subscribe to a feed URL (canonicalised); a paused or gone feed becomes active again."""
    url = canonical_url(url)
    with transaction(db):
        row = db.execute("SELECT id, state FROM feeds WHERE url = ?", [url]).fetchone()
        if row is None:
            db.table("feeds").insert({"url": url, "title": title, "state": "active", "source": source,
                                "added_at": iso(now), "next_check_at": iso(now)})
            return Subscribed(url, True)
        if row[1] in ("paused", "gone"):
            db.table("feeds").update(row[0], {"state": "active", "next_check_at": iso(now), "error_count": 0})
            return Subscribed(url, True)
    return Subscribed(url, False)


def sync_config_feeds(db: Any, urls: Iterable[str], now: datetime) -> list[Subscribed]:
    """Subscribe to the feeds listed in the config file that are not subscribed yet."""
    return [s for s in (subscribe_quietly(db, u, now) for u in urls) if s.created]


def subscribe_quietly(db: Any, url: str, now: datetime) -> Subscribed:
    row = db.execute("SELECT 1 FROM feeds WHERE url = ?", [canonical_url(url)]).fetchone()
    return Subscribed(canonical_url(url), False) if row else subscribe(db, url, "config", now)


class NothingToSubscribe(Exception):
    """The URL is neither a feed nor a page that links to one."""


def find_feeds(session: Any, url: str) -> list[str]:
    """The feed URLs that ``url`` stands for: itself if it is a feed, else the feeds its page
    links with <link rel=alternate> that really are feeds. Every fetch is recorded."""
    job = FeedJob(session, url)
    fetched = session.fetcher.fetch(url)
    _record(session, fetched)
    if not fetched.ok or not fetched.body:
        raise NothingToSubscribe(f"cannot subscribe to {url}: {fetched.reason}")
    if job.accepts(fetched) and job.digest(fetched).parsed is not None:
        return [url]
    found = []
    for candidate in feeds.discover_feeds(fetched.body, fetched.final_url)[:5]:
        probe = session.fetcher.fetch(candidate)
        _record(session, probe)
        if probe.ok and probe.body and FeedJob(session, candidate).digest(probe).parsed is not None:
            found.append(candidate)
    if not found:
        raise NothingToSubscribe(
            f"{url} is neither a feed nor a page that links to one; "
            f"to keep versions of the page itself, use: archiver watch {url}")
    return found


def _record(session: Any, fetched: Any) -> None:
    db = session.db
    with transaction(db):
        sha = save_body(db, fetched)
        save_capture(db, fetched, "discovery", outcome="discovery", body_sha256=sha)


def watch(db: Any, url: str, every: float, now: datetime) -> int:
    """Re-check a page every ``every`` seconds and keep every version; first check due now."""
    canonical = canonical_url(url)
    with transaction(db):
        page_id = ensure_page(db, canonical, iso(now))
        db.table("pages").update(page_id, {"watch_every": every, "next_check_at": iso(now), "state": "active"})
    return page_id


def remove(db: Any, url: str) -> str | None:
    """Stop following ``url``: a feed is paused (its entries and pages stay archived), a watched
    page goes back to the ordinary re-check schedule. None when it is not followed."""
    canonical = canonical_url(url)
    with transaction(db):
        row = db.execute("SELECT id FROM feeds WHERE url = ? AND state != 'paused'", [canonical]).fetchone()
        if row is not None:
            db.table("feeds").update(row[0], {"state": "paused", "next_check_at": None})
            return "feed"
        page_id = find_page_id(db, canonical)
        if page_id is not None and db.table("pages").get(page_id)["watch_every"]:
            db.table("pages").update(page_id, {"watch_every": None})
            return "page"
    return None

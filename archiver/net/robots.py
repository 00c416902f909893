"""robots.txt for article pages (RFC 9309), fetched through the run's Fetcher, parsed by Protego.

- 2xx: the rules, parsed from at most the first 500 KiB;
- 4xx (other than 429): no robots.txt, everything is allowed;
- 5xx, 429, or unreachable (timeout, refused, ...): everything is disallowed until a later fetch
  succeeds (Protego alone would read an HTML error page as "allow all");
- kept for 24 hours per origin (an unreachable one is asked again sooner);
- ``Crawl-delay`` is honoured, capped, by spacing the starts of requests to that origin.

A page's URL is checked before it is requested, and so is every redirect target on the way
(``Fetcher.fetch(may_follow=...)``), each against its own origin's robots.txt.

A refusal comes back as a ``FetchResult`` with ``error="robots_disallowed"``, so that the page's
job records it as a capture with the reason, like any other failed fetch. When robots.txt could
not be fetched at all (refused, DNS, blocked address, timeout, ...), the refusal carries that
error instead: the host is what failed, and the page was not requested.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable
from urllib.parse import urlsplit

from protego import Protego

from archiver.net.fetcher import Fetcher, FetchResult
from archiver.content.urls import redact_url

log = logging.getLogger(__name__)

AGENT = "archiver"                 # the product token matched against User-agent lines
MAX_PARSED_BYTES = 500 * 1024      # RFC 9309: parse at least 500 KiB; we parse exactly that
CACHE_SECONDS = 24 * 3600.0
UNREACHABLE_RETRY_SECONDS = 600.0
MAX_CRAWL_DELAY = 30.0
MAX_ORIGINS = 10_000


@dataclass(frozen=True)
class RobotsRules:
    """What one robots.txt fetch decided for an origin."""

    parser: Protego | None
    refused: str | None            # why everything is disallowed, when it is
    crawl_delay: float | None
    expires: float                 # on the policy's monotonic clock
    error: str = "robots_disallowed"  # or the network error that made robots.txt unreachable

    def allows(self, url: str) -> bool:
        if self.refused is not None:
            return False
        return self.parser is None or self.parser.can_fetch(url, AGENT)


def rules_from(fetched: FetchResult, expires_at: Callable[[float], float]) -> RobotsRules:
    """Turn a robots.txt fetch into rules, per RFC 9309 §2.3.1."""
    status = fetched.status
    if fetched.ok and fetched.body is not None:
        text = fetched.body[:MAX_PARSED_BYTES].decode("utf-8", errors="replace")
        if len(fetched.body) > MAX_PARSED_BYTES:
            text = text.rsplit("\n", 1)[0]  # never act on half a rule
        parser = Protego.parse(text)
        delay = parser.crawl_delay(AGENT)
        return RobotsRules(parser, None, min(delay, MAX_CRAWL_DELAY) if delay else None,
                           expires_at(CACHE_SECONDS))
    if status is not None and 400 <= status < 500 and status != 429:
        return RobotsRules(None, None, None, expires_at(CACHE_SECONDS))
    if status is not None:
        return RobotsRules(None, f"robots.txt answered HTTP {status}: everything disallowed", None,
                           expires_at(UNREACHABLE_RETRY_SECONDS))
    return RobotsRules(None, f"robots.txt unreachable, page not requested: {fetched.reason}", None,
                       expires_at(UNREACHABLE_RETRY_SECONDS), error=fetched.error or "robots_disallowed")


class RobotsPolicy:
    """Per-origin robots.txt rules, fetched on first use; ``refusal(url)`` is the page hook."""

    def __init__(self, fetcher: Fetcher, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.fetcher = fetcher
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._rules: OrderedDict[str, RobotsRules] = OrderedDict()
        self._fetching: dict[str, threading.Lock] = {}
        self._next_start: dict[str, float] = {}

    def refusal(self, url: str) -> FetchResult | None:
        """None when ``url`` may be fetched (after any Crawl-delay wait); else a failed
        FetchResult saying which robots.txt refused it and why."""
        origin = _origin(url)
        if origin is None:
            return None  # not a URL the fetcher would fetch either; it records why
        rules = self.rules_for(origin)
        if not rules.allows(url):
            reason = rules.refused or f"{origin}/robots.txt disallows this URL for {AGENT}"
            log.info("robots.txt refused %s: %s", url, reason)
            return _refused(url, rules.error, reason)
        if rules.crawl_delay:
            self._pace(origin, rules.crawl_delay)
        return None

    def rules_for(self, origin: str) -> RobotsRules:
        """The cached rules of ``origin``, fetching robots.txt when absent or expired (one fetch
        per origin at a time; other threads wait for its answer)."""
        with self._lock:
            fetching = self._fetching.setdefault(origin, threading.Lock())
        with fetching:
            with self._lock:
                cached = self._rules.get(origin)
                if cached is not None and cached.expires > self._clock():
                    return cached
            fetched = self.fetcher.fetch(origin + "/robots.txt", max_bytes=self.fetcher.config.max_body_bytes)
            rules = rules_from(fetched, lambda seconds: self._clock() + seconds)
            self._remember(origin, rules)
            return rules

    def _remember(self, origin: str, rules: RobotsRules) -> None:
        with self._lock:
            self._rules[origin] = rules
            self._rules.move_to_end(origin)
            while len(self._rules) > MAX_ORIGINS:
                old, _ = self._rules.popitem(last=False)
                self._fetching.pop(old, None)
                self._next_start.pop(old, None)

    def _pace(self, origin: str, delay: float) -> None:
        """Reserve the next start time for ``origin`` (``delay`` after the previous one), wait for it."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next_start.get(origin, now))
            self._next_start[origin] = start + delay
        if start > now:
            self._sleep(start - now)


def _origin(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not host:
        return None
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def _refused(url: str, error: str, reason: str) -> FetchResult:
    return FetchResult(requested_url=redact_url(url), final_url=redact_url(url), status=None, headers={},
                       redirects=(), started_at=datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                       elapsed_ms=0, error=error, error_detail=reason)

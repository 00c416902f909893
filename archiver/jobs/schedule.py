"""When to look again: pure functions of what was seen and when (DESIGN.md, "Polling policy")."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Sequence

from archiver.settings import parse_duration

BACKOFF_BASE = 60.0


def parse_recheck_schedule(pairs: Sequence[str]) -> list[tuple[float, float]]:
    """``["3h=15m", "1d=1h"]`` -> ``[(10800, 900), (86400, 3600)]``, sorted by age."""
    steps = []
    for pair in pairs:
        age, _, every = pair.partition("=")
        steps.append((parse_duration(age), parse_duration(every)))
    return sorted(steps)


def page_next_check(now: datetime, last_changed: datetime | None, watch_every: float | None,
                    steps: Sequence[tuple[float, float]]) -> datetime | None:
    """Next re-check of a page: its own interval if watched, else decaying with the time since it
    last changed (NewsDiffs-style); None once it is older than the last step."""
    if watch_every:
        return now + timedelta(seconds=watch_every)
    age = (now - (last_changed or now)).total_seconds()
    for max_age, every in steps:
        if age < max_age:
            return now + timedelta(seconds=every)
    return None


def backoff_delay(error_count: int, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter on the upper half: base * 2^(n-1), capped."""
    draw = rng.random if rng else random.random
    ceiling = min(cap, BACKOFF_BASE * 2 ** max(0, min(error_count - 1, 30)))
    return ceiling / 2 + draw() * ceiling / 2


def feed_interval(entry_times: Sequence[datetime], now: datetime, asked: float | None,
                  lo: float, hi: float, rng: random.Random | None = None) -> float:
    """Seconds until the next poll: a week over the entries of the last week, clamped to
    [lo, hi], never shorter than what the feed asked (ttl, max-age, Expires), with jitter."""
    # The module's generator when none is given: a new random.Random() seeds itself from
    # 2.5 kB of os.urandom, 1% of an unchanged re-poll's CPU when made for every feed.
    draw = rng.random if rng else random.random
    week = 7 * 86400
    recent = [t for t in entry_times if 0 <= (now - t).total_seconds() <= week]
    interval = week / len(recent) if recent else hi
    interval = min(hi, max(lo, interval))
    if asked:
        interval = max(interval, asked)
    return interval * (1 + 0.1 * draw())  # only later, so a feed's ask is never undercut

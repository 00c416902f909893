"""Telling people what changed, through Apprise: the only module that uses it.

Notifications leave from an outbox. The save path writes one ``notifications`` row per change
and target in the change's own transaction; delivery reads due rows, sends each after that
commit, outside any transaction, and marks it sent only once Apprise says it was delivered, so
a crash can repeat a notification but never lose one. A failed attempt is tried again later,
each wait twice the last (with jitter, capped). Delivery has its own database connection and,
in the daemon, its own thread: an endpoint that is down or slow never holds up archiving.

Targets are the user's configuration (``notify``), never taken from archived content, and not
subject to the fetcher's public-address rule. The archive stores each target only as Apprise
shows it with its secrets masked, the key by which delivery finds the configured URL again.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from archiver.jobs.schedule import backoff_delay
from archiver.settings import Config, ConfigError
from archiver.store.changes import due_notifications, get_change, mark_failed, mark_sent
from archiver.store.db import StoreError, iso, open_db, transaction

log = logging.getLogger(__name__)

RETRY_CAP = 6 * 3600.0     # longest wait between two attempts at one notification
BATCH = 50                 # notifications taken from the outbox at a time
EXIT_BUDGET = 10.0         # seconds `fetch` and `poll` spend delivering before they exit
IDLE_WAIT = 30.0           # seconds the daemon's sender sleeps when nothing is due
TEST_TITLE = "archiver: test notification"


@dataclass(frozen=True)
class Target:
    key: str  # as stored and shown: Apprise's own rendering of the URL, secrets masked
    url: str  # as configured


_parsed: dict[tuple[str, ...], tuple[Target, ...]] = {}


def targets(config: Config) -> tuple[Target, ...]:
    """The configured ``notify`` URLs; ConfigError naming the first one Apprise cannot use."""
    urls = tuple(config.notify)
    if not urls:
        return ()
    if urls not in _parsed:
        _parsed[urls] = _parse_targets(urls)
    return _parsed[urls]


def target_keys(config: Config) -> list[str]:
    """What the outbox stores for each configured target."""
    return [t.key for t in targets(config)]


def _parse_targets(urls: tuple[str, ...]) -> tuple[Target, ...]:
    import apprise  # only when there is something to notify: it takes a tenth of a second

    found: list[Target] = []
    for url in urls:
        plugin = apprise.Apprise.instantiate(url)
        if plugin is None:
            raise ConfigError(f"notify: not a usable Apprise URL: {_masked_scheme(url)}")
        key = plugin.url(privacy=True).split("?", 1)[0]
        keys = {t.key for t in found}
        base, n = key, 2
        while key in keys:  # two targets that look alike once masked stay two targets
            key, n = f"{base}#{n}", n + 1
        found.append(Target(key, url))
    return tuple(found)


def _masked_scheme(url: str) -> str:
    scheme, sep, _ = url.partition("://")
    return f"{scheme}://..." if sep else "(no scheme)"


# -- sending -----------------------------------------------------------------------------------

def send(url: str, title: str, body: str) -> str | None:
    """Send one message to one Apprise URL; None when delivered, else why not (one line)."""
    import apprise

    sender = apprise.Apprise()
    if not sender.add(url):
        return "not a usable Apprise URL"
    with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as captured:
        try:
            ok = sender.notify(title=title, body=body, body_format=apprise.NotifyFormat.TEXT)
        except Exception as exc:  # a plugin's own bug must not end the delivery of the others
            return f"{type(exc).__name__}: {exc}"
        problems = captured.getvalue()
    if ok:
        return None
    lines = [line.strip() for line in problems.splitlines() if line.strip()]
    return " / ".join(lines[-2:])[:500] or "delivery failed"


def message(change: dict[str, Any]) -> tuple[str, str]:
    """The title and text of a notification about one change (a row of ``list_changes``)."""
    kinds = ", ".join(change["kinds"])
    title = f"{kinds}: {change['title'] or change['page_url']}"
    body = f"{change['summary']}\n{change['page_url']}\ndetected {change['detected_at']}"
    return " ".join(title.split())[:250], body


@dataclass(frozen=True)
class Delivery:
    sent: int = 0
    failed: int = 0
    left: int = 0  # due but not tried: the time budget ran out


def deliver_due(db: Any, config: Config, now: Callable[[], datetime], budget: float = EXIT_BUDGET,
                stop: threading.Event | None = None) -> Delivery:
    """Send what is due in the outbox, for at most ``budget`` seconds (a send already started
    finishes within Apprise's own timeouts)."""
    by_key = {t.key: t.url for t in targets(config)}
    until = time.monotonic() + budget
    sent = failed = 0
    while True:
        due = due_notifications(db, iso(now()), BATCH)
        if not due:
            return Delivery(sent, failed, 0)
        for number, row in enumerate(due):
            if time.monotonic() >= until or (stop is not None and stop.is_set()):
                return Delivery(sent, failed, len(due) - number)
            if _deliver_one(db, row, by_key, now):
                sent += 1
            else:
                failed += 1
        if failed:  # what failed is due later; do not spin on a batch that keeps failing
            return Delivery(sent, failed, 0)


def _deliver_one(db: Any, row: dict[str, Any], by_key: dict[str, str], now: Callable[[], datetime]) -> bool:
    change = get_change(db, row["change_id"])
    url = by_key.get(row["target"])
    if url is None:
        error = "this target is no longer in the notify setting"
    elif change is None:
        error = "the change is no longer in the archive"
    else:
        error = send(url, *message(change))
    with transaction(db):
        if error is None:
            mark_sent(db, row["id"], iso(now()))
        else:
            wait = backoff_delay(row["attempts"] + 1, RETRY_CAP)
            mark_failed(db, row["id"], error, iso(now() + timedelta(seconds=wait)))
    if error is None:
        log.info("notified %s of change %s", row["target"], row["change_id"])
    else:
        log.warning("notifying %s of change %s failed (attempt %s): %s", row["target"], row["change_id"],
                    row["attempts"] + 1, error)
    return error is None


def deliver_before_exit(config: Config) -> Delivery | None:
    """What `archiver fetch` and `archiver poll` do last: deliver what is due, for a bounded time."""
    if not config.notify:
        return None
    db = open_db(config.db)
    try:
        done = deliver_due(db, config, lambda: datetime.now(timezone.utc))
    finally:
        db.conn.close()
    if done.left:
        log.warning("%s notifications are left for the next run (or the daemon) to send", done.left)
    return done


def send_tests(config: Config) -> list[tuple[str, str | None]]:
    """One test message to each configured target: (target as shown, None or the error)."""
    body = "archiver can reach this target; changes to the pages it archives will be reported here."
    return [(t.key, send(t.url, TEST_TITLE, body)) for t in targets(config)]


class Sender:
    """The daemon's delivery: a thread with its own connection, woken after each tick."""

    def __init__(self, config: Config, now: Callable[[], datetime]):
        self.config = config
        self.now = now
        self.stop_event = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="notify", daemon=True)

    def start(self) -> "Sender":
        if self.config.notify:
            self._thread.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    def stop(self, wait: float = 2.0) -> None:
        """Stop sending; a send in progress is left to finish on its own (its row stays unsent)."""
        self.stop_event.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(wait)

    def _loop(self) -> None:
        db = None
        while not self.stop_event.is_set():
            try:
                db = db or open_db(self.config.db, migrate=False)
                deliver_due(db, self.config, self.now, budget=IDLE_WAIT, stop=self.stop_event)
            except (StoreError, ConfigError, OSError) as exc:
                log.error("notifications: %s", exc)
            except Exception:  # the sender must outlive whatever one pass meets
                log.exception("notifications: unexpected error")
            self._wake.wait(IDLE_WAIT)
            self._wake.clear()
        if db is not None:
            db.conn.close()

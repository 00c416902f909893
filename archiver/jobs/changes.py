"""Recording what changed: the save path's hook and `archiver changes --rebuild`.

The decision is ``archiver.content.changes.detect``; the rows are ``archiver.store.changes``.
Both callers walk a page's captures the same way, so the table rebuilt from the evidence equals
the one written as the captures came in.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

from archiver.content.changes import (Change, Check, PageState, Version, adopt, advance, detect,
                                      matches_kinds)
from archiver.content.urls import host_of
from archiver.jobs.notify import target_keys
from archiver.store.changes import (capture_final_url, page_captures, queue_notifications, replace_changes,
                                    save_change, version_fingerprints)
from archiver.store.db import transaction

log = logging.getLogger(__name__)

ANSWERED = frozenset({"new_snapshot", "unchanged", "not_modified"})  # capture outcomes: the page was there


def version_of(row: Mapping[str, Any], final_url: str | None) -> Version:
    """A snapshot row (``id`` or ``snapshot_id``, ``version``, the article's fields) as the
    classifier reads it."""
    return Version(int(row.get("snapshot_id") or row["id"]), int(row["version"]), row["title"], row["author"],
                   row["published"], row["text"] or "", row["content_sha256"], final_url)


def state_before(db: Any, page: Mapping[str, Any], latest: Mapping[str, Any] | None,
                 with_history: bool) -> PageState:
    """What the page looked like before this capture (``page`` and ``latest`` read before it);
    the fingerprints of its earlier versions only when a new version needs them."""
    if latest is None:
        return PageState(page["url"], None, page["state"] == "removed")
    before = version_of(latest, capture_final_url(db, latest["capture_id"]))
    earlier = version_fingerprints(db, page["id"], before.version) if with_history else {}
    return PageState(page["url"], before, page["state"] == "removed", earlier)


def record_change(db: Any, config: Any, page: Mapping[str, Any], state: PageState, check: Check,
                  now: str) -> Change | None:
    """Classify what ``check`` showed and store it, with one outbox row per notify target when
    it is worth telling; inside the caller's transaction (the capture's)."""
    change = detect(state, check)
    if change is None:
        return None
    change_id = save_change(db, page["id"], change, host_of(page["url"]))
    if not change.boring and matches_kinds(change.kinds, config.notify_kinds):
        queue_notifications(db, change_id, target_keys(config), now)
    log.debug("change on %s: %s", page["url"], change.summary)
    return change


def page_changes(db: Any, page: Mapping[str, Any]) -> list[Change]:
    """Every change in a page's history, from its captures and snapshots."""
    state = PageState(page["url"])
    found = []
    for row in page_captures(db, page["id"]):
        new = version_of(row, row["final_url"]) if row["snapshot_id"] is not None else None
        if new is not None and row["reextracted_from"] is not None:
            state = adopt(state, new)  # today's extractor, not the page, made this version
            continue
        check = Check(row["capture_id"], row["started_at"], row["status"], row["final_url"],
                      row["outcome"] in ANSWERED, new)
        change = detect(state, check)
        if change is not None:
            found.append(change)
        state = advance(state, check)
    return found


def rebuild_changes(db: Any) -> dict[str, int]:
    """Recompute the whole ``changes`` table from the evidence, in one transaction. Idempotent:
    a change already there keeps its row (and its notifications); none is notified anew."""
    with transaction(db):
        pages = [dict(zip(("id", "url"), r)) for r in db.execute("SELECT id, url FROM pages ORDER BY id")]
        rows = [(page["id"], change, host_of(page["url"])) for page in pages for change in page_changes(db, page)]
        rows.sort(key=lambda row: row[1].capture_id)
        counts = replace_changes(db, rows)
    counts["pages"] = len(pages)
    counts["changes"] = len(rows)
    return counts

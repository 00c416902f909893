"""Rows of ``changes`` and of the ``notifications`` outbox: every read and write of them.

The classifier (``archiver.content.changes``) decides; these functions only store and read. The
writers expect the caller's transaction (``archiver.store.db.transaction``)."""

from __future__ import annotations

import json
from typing import Any, Iterable, Iterator, Sequence

import sqlite_utils

from archiver.store.db import _first, insert_row

# What `archiver changes` and the notifications show of a change: the row and its page.
_LISTED = ("SELECT c.*, p.url AS page_url, coalesce(s.title, f.title, p.title) AS title "
           "FROM changes c JOIN pages p ON p.id = c.page_id "
           "LEFT JOIN snapshots s ON s.id = c.to_snapshot_id "
           "LEFT JOIN snapshots f ON f.id = c.from_snapshot_id")


def save_change(db: sqlite_utils.Database, page_id: int, change: Any, site: str) -> int:
    """Insert one classified change (an ``archiver.content.changes.Change``); return its id."""
    return insert_row(db, "changes", {
        "page_id": page_id, "from_snapshot_id": change.from_snapshot_id,
        "to_snapshot_id": change.to_snapshot_id, "capture_id": change.capture_id,
        "detected_at": change.detected_at, "kinds": json.dumps(list(change.kinds)),
        "words_added": change.words_added, "words_removed": change.words_removed,
        "summary": change.summary, "boring": int(change.boring), "site": site,
    })


def queue_notifications(db: sqlite_utils.Database, change_id: int, targets: Iterable[str], now: str) -> int:
    """One outbox row per target for a change, due at once; returns how many were queued."""
    queued = 0
    for target in targets:
        cursor = db.execute(
            "INSERT OR IGNORE INTO notifications (change_id, target, created_at, attempts, next_attempt_at) "
            "VALUES (?, ?, ?, 0, ?)", [change_id, target, now, now])
        queued += cursor.rowcount
    return queued


def page_captures(db: sqlite_utils.Database, page_id: int) -> Iterator[dict[str, Any]]:
    """A page's captures in order, each with the snapshot it made (``snapshot_*`` columns, NULL
    when it made none; a capture re-extracted later comes once more with each re-extraction):
    the history ``archiver changes --rebuild`` walks."""
    cursor = db.execute(
        "SELECT c.id AS capture_id, c.started_at, c.status, c.final_url, c.outcome, "
        "s.id AS snapshot_id, s.version, s.title, s.author, s.published, s.text, s.content_sha256, "
        "s.reextracted_from "
        "FROM captures c LEFT JOIN snapshots s ON s.capture_id = c.id AND s.page_id = c.page_id "
        "WHERE c.page_id = ? AND c.kind = 'page' ORDER BY c.id, s.version", [page_id])
    names = [d[0] for d in cursor.description]
    for values in cursor:
        yield dict(zip(names, values))


def version_fingerprints(db: sqlite_utils.Database, page_id: int, below: int) -> dict[str, int]:
    """content_sha256 -> the first version that had it, for a page's versions before ``below``."""
    rows = db.execute("SELECT content_sha256, min(version) FROM snapshots WHERE page_id = ? AND version < ? "
                      "GROUP BY content_sha256", [page_id, below]).fetchall()
    return {sha: int(version) for sha, version in rows}


def capture_final_url(db: sqlite_utils.Database, capture_id: int) -> str | None:
    row = db.execute("SELECT final_url FROM captures WHERE id = ?", [capture_id]).fetchone()
    return None if row is None else row[0]


def replace_changes(db: sqlite_utils.Database, rows: Sequence[tuple[int, Any, str]]) -> dict[str, int]:
    """Make ``changes`` hold exactly ``rows`` ((page_id, Change, site), in capture order): a row
    for the same capture keeps its id (and its notifications) and takes the new values; rows
    no longer wanted go, with their notifications. Returns the counts of each."""
    wanted = {change.capture_id for _, change, _ in rows}
    existing = {capture: row_id for row_id, capture in db.execute("SELECT id, capture_id FROM changes")}
    stale = [row_id for capture, row_id in existing.items() if capture not in wanted]
    for row_id in stale:
        db.execute("DELETE FROM notifications WHERE change_id = ?", [row_id])
        db.execute("DELETE FROM changes WHERE id = ?", [row_id])
    counts = {"added": 0, "updated": 0, "deleted": len(stale)}
    for page_id, change, site in rows:
        if change.capture_id in existing:
            _update_change(db, existing[change.capture_id], page_id, change, site)
            counts["updated"] += 1
        else:
            save_change(db, page_id, change, site)
            counts["added"] += 1
    return counts


def _update_change(db: sqlite_utils.Database, row_id: int, page_id: int, change: Any, site: str) -> None:
    db.execute("UPDATE changes SET page_id = ?, from_snapshot_id = ?, to_snapshot_id = ?, detected_at = ?, "
               "kinds = ?, words_added = ?, words_removed = ?, summary = ?, boring = ?, site = ? WHERE id = ?",
               [page_id, change.from_snapshot_id, change.to_snapshot_id, change.detected_at,
                json.dumps(list(change.kinds)), change.words_added, change.words_removed,
                change.summary, int(change.boring), site, row_id])


def list_changes(db: sqlite_utils.Database, since: str | None = None, kinds: Sequence[str] = (),
                 boring: bool = False, limit: int | None = None) -> list[dict[str, Any]]:
    """Changes newest first (by detection time, then id), with their page's URL and title;
    boring ones only when ``boring``; only those of one of ``kinds`` when given."""
    where, params = ["1"], []
    if since:
        where.append("c.detected_at >= ?")
        params.append(since)
    if not boring:
        where.append("c.boring = 0")
    if kinds:
        where.append(f"EXISTS (SELECT 1 FROM json_each(c.kinds) WHERE value IN ({', '.join('?' * len(kinds))}))")
        params.extend(kinds)
    sql = f"{_LISTED} WHERE {' AND '.join(where)} ORDER BY c.detected_at DESC, c.id DESC LIMIT ?"
    cursor = db.execute(sql, [*params, -1 if limit is None else limit])
    names = [d[0] for d in cursor.description]
    return [_decoded(dict(zip(names, values))) for values in cursor]


def get_change(db: sqlite_utils.Database, change_id: int) -> dict[str, Any] | None:
    row = _first(db, f"{_LISTED} WHERE c.id = ?", [change_id])
    return None if row is None else _decoded(row)


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    row["kinds"] = json.loads(row["kinds"])
    row["boring"] = bool(row["boring"])
    return row


# -- the outbox --------------------------------------------------------------------------------

def due_notifications(db: sqlite_utils.Database, now: str, limit: int) -> list[dict[str, Any]]:
    """Unsent notifications whose next attempt has come, in the order of their changes."""
    cursor = db.execute("SELECT * FROM notifications WHERE sent_at IS NULL AND next_attempt_at <= ? "
                        "ORDER BY id LIMIT ?", [now, limit])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, values)) for values in cursor]


def mark_sent(db: sqlite_utils.Database, notification_id: int, at: str) -> None:
    db.execute("UPDATE notifications SET sent_at = ?, attempts = attempts + 1, last_error = NULL "
               "WHERE id = ?", [at, notification_id])


def mark_failed(db: sqlite_utils.Database, notification_id: int, error: str, next_at: str) -> None:
    db.execute("UPDATE notifications SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? "
               "WHERE id = ?", [error, next_at, notification_id])


def outbox_summary(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Per target: notifications sent, pending, and the last error of a pending one."""
    cursor = db.execute(
        "SELECT target, count(sent_at) AS sent, count(*) - count(sent_at) AS pending, "
        "(SELECT last_error FROM notifications n2 WHERE n2.target = n.target AND n2.sent_at IS NULL "
        " AND n2.last_error IS NOT NULL ORDER BY n2.id DESC LIMIT 1) AS last_error "
        "FROM notifications n GROUP BY target ORDER BY target")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, values)) for values in cursor]

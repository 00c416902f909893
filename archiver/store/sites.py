"""Rows of the per-host boilerplate model (``site_blocks``, ``site_hosts``, ``site_pages``; the
schema is migration m010 in archiver.store.db, the decisions archiver.content.boilerplate)."""

from __future__ import annotations

from typing import Mapping, Sequence

import sqlite_utils


def site_block_stats(db: sqlite_utils.Database, host: str,
                     hashes: Sequence[str]) -> tuple[int, dict[str, tuple[int, bool]]]:
    """(recent pages learned of ``host``, {block hash: (pages seen, dropped)}) for these blocks."""
    row = db.execute("SELECT pages_learned FROM site_hosts WHERE host = ?", [host]).fetchone()
    found: dict[str, tuple[int, bool]] = {}
    for start in range(0, len(hashes), 500):
        chunk = list(hashes[start:start + 500])
        sql = (f"SELECT block_hash, pages_seen, dropped FROM site_blocks WHERE host = ? "
               f"AND block_hash IN ({', '.join('?' * len(chunk))})")
        found.update({h: (n, bool(d)) for h, n, d in db.execute(sql, [host, *chunk])})
    return (row[0] if row else 0), found


def learn_site_blocks(db: sqlite_utils.Database, host: str, page_id: int, blocks: Sequence[tuple[str, str]],
                      now: str, window: int) -> bool:
    """Count page ``page_id`` of ``host`` and each of its (hash, sample) blocks, unless the page
    was counted before (then False); past ``2 * window`` pages, halve the host's counts (old pages
    fade) and forget blocks that fall to zero. Caller holds the transaction."""
    if db.execute("INSERT OR IGNORE INTO site_pages (page_id, host, learned_at) VALUES (?, ?, ?)",
                  [page_id, host, now]).rowcount == 0:
        return False
    db.execute("INSERT INTO site_hosts (host, pages_learned, updated_at) VALUES (?, 1, ?) "
               "ON CONFLICT(host) DO UPDATE SET pages_learned = pages_learned + 1, updated_at = ?",
               [host, now, now])
    db.conn.executemany(
        "INSERT INTO site_blocks (host, block_hash, sample, pages_seen, first_seen_at, last_seen_at, dropped) "
        "VALUES (?, ?, ?, 1, ?, ?, 0) ON CONFLICT(host, block_hash) DO UPDATE SET "
        "pages_seen = pages_seen + 1, last_seen_at = excluded.last_seen_at",
        [(host, digest, sample, now, now) for digest, sample in blocks])
    pages = db.execute("SELECT pages_learned FROM site_hosts WHERE host = ?", [host]).fetchone()[0]
    if pages >= 2 * window:
        db.execute("UPDATE site_blocks SET pages_seen = pages_seen / 2 WHERE host = ?", [host])
        db.execute("DELETE FROM site_blocks WHERE host = ? AND pages_seen = 0", [host])
        db.execute("UPDATE site_hosts SET pages_learned = pages_learned / 2 WHERE host = ?", [host])
    return True


def mark_site_blocks(db: sqlite_utils.Database, host: str, decisions: Mapping[str, str | None]) -> None:
    """Record, for each block hash, whether it is dropped now and why (None: kept)."""
    db.conn.executemany("UPDATE site_blocks SET dropped = ?, reason = ? WHERE host = ? AND block_hash = ?",
                   [(int(reason is not None), reason, host, digest) for digest, reason in decisions.items()])

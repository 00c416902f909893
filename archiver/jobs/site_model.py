"""The per-host boilerplate model at work: learn a page's blocks as it is saved, and drop the
host's boilerplate from its article (archiver.content.boilerplate decides; archiver.store.sites
keeps the counts in ``site_blocks`` and ``site_hosts``). Runs inside the caller's transaction."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from archiver.content.article import Article
from archiver.content.boilerplate import (WINDOW, BlockStats, is_boilerplate, page_blocks,
                                          strip_boilerplate)
from archiver.store.sites import learn_site_blocks, mark_site_blocks, site_block_stats

log = logging.getLogger(__name__)


def apply_site_model(db: Any, host: str | None, article: Article, now: str, page_id: int | None) -> Article:
    """``article`` without its host's boilerplate. With a ``page_id``, the page is counted first,
    if it never was (a re-check or a re-extraction of a page does not count it again)."""
    if not host:
        return article
    blocks = page_blocks(article.text, article.container_lines)
    learned = page_id is not None and learn_site_blocks(db, host, page_id, [(b.hash, b.sample) for b in blocks],
                                                        now, WINDOW)
    host_pages, found = site_block_stats(db, host, [b.hash for b in blocks])
    stats = {h: BlockStats(n, dropped) for h, (n, dropped) in found.items()}
    if learned:
        _record_decisions(db, host, stats, host_pages)
    stripped = strip_boilerplate(article.text, article.container_lines, stats, host_pages)
    if not stripped.dropped:
        return article
    log.debug("dropped %s boilerplate lines of %s from %s", len(stripped.dropped), host, article.canonical_url)
    return dataclasses.replace(article, text=stripped.text)


def _record_decisions(db: Any, host: str, stats: dict[str, BlockStats], host_pages: int) -> None:
    """Mark the blocks whose status changed, with the numbers that decided it."""
    changes = {}
    for digest, found in stats.items():
        now_dropped = is_boilerplate(found, host_pages)
        if now_dropped != found.dropped:
            changes[digest] = (f"on {found.pages_seen} of the last {host_pages} pages" if now_dropped else None)
    if changes:
        mark_site_blocks(db, host, changes)

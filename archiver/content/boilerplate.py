"""Site boilerplate: the lines of text a host repeats on most of its pages ("Advertisement",
"Sign up for our free weekly newsletter", "Most read"), and the decision to drop them from an
extracted article. Pure functions: the counts come from the archive (archiver.store.db keeps
them in ``site_blocks`` and ``site_hosts``), the decision is made here.

A line is a *block*, known by the hash of its normalised text. A block is dropped from a page
when it was seen on at least ``MIN_PAGES`` distinct pages of the host and on at least
``MIN_SHARE`` of the host's recent pages (``RELEASE_SHARE`` once it is dropped, so that a block
near the line does not come and go), and never when the line is inside the page's main article
container (``Article.container_lines``): a standard disclaimer that belongs to the article stays.
Lines inside the container are not counted at all. Prose differs from page to page, so its
blocks are each seen once and never qualify.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

MIN_PAGES = 3
MIN_SHARE = 0.5
RELEASE_SHARE = 0.25
MAX_BLOCK_CHARS = 400  # longer lines are prose: not learned, never dropped
MAX_BLOCKS_PER_PAGE = 200
WINDOW = 100  # the host's "recent pages": counts are halved when a host reaches twice this


@dataclass(frozen=True)
class Block:
    """One distinct line of a page, as the model counts it."""

    hash: str
    sample: str


@dataclass(frozen=True)
class BlockStats:
    """What the archive knows of one block of one host."""

    pages_seen: int
    dropped: bool = False


@dataclass(frozen=True)
class Stripped:
    """An article's text with the host's boilerplate removed, and what was removed."""

    text: str
    dropped: tuple[str, ...]


_PUNCTUATION = re.compile(r"[^\w\s]")


def block_key(line: str) -> str:
    """The normalised form of a line: case, spacing and punctuation ignored."""
    text = unicodedata.normalize("NFKC", line).casefold()
    return " ".join(_PUNCTUATION.sub(" ", text).split())


def block_hash(line: str) -> str:
    return _key_hash(block_key(line))


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def page_blocks(text: str, container_lines: tuple[int, ...] | None = None) -> list[Block]:
    """The distinct short lines of an article's text outside its main container, in order (at
    most MAX_BLOCKS_PER_PAGE): what the model learns from a page."""
    blocks: dict[str, Block] = {}
    protected = set(container_lines or ())
    for index, line in enumerate(text.split("\n")):
        key = "" if index in protected or len(line) > MAX_BLOCK_CHARS else block_key(line)
        if not key:
            continue
        digest = _key_hash(key)
        blocks.setdefault(digest, Block(digest, line[:200]))
        if len(blocks) >= MAX_BLOCKS_PER_PAGE:
            break
    return list(blocks.values())


def is_boilerplate(stats: BlockStats, host_pages: int) -> bool:
    """Whether a block seen this often, on a host with this many recent pages, is boilerplate."""
    if stats.pages_seen < MIN_PAGES or host_pages <= 0:
        return False
    share = stats.pages_seen / host_pages
    return share >= (RELEASE_SHARE if stats.dropped else MIN_SHARE)


def strip_boilerplate(text: str, container_lines: tuple[int, ...] | None,
                      stats: Mapping[str, BlockStats], host_pages: int) -> Stripped:
    """``text`` without the lines that are the host's boilerplate and outside the main container.

    A text that would lose every line is left whole: the page is then all template (or the
    model is wrong about it), and an empty snapshot helps no one.
    """
    if not any(is_boilerplate(found, host_pages) for found in stats.values()):
        return Stripped(text, ())
    protected = set(container_lines or ())
    kept, dropped = [], []
    for index, line in enumerate(text.split("\n")):
        found = stats.get(block_hash(line)) if len(line) <= MAX_BLOCK_CHARS else None
        if found is not None and index not in protected and is_boilerplate(found, host_pages):
            dropped.append(line)
        else:
            kept.append(line)
    if not kept:
        return Stripped(text, ())
    return Stripped("\n".join(kept), tuple(dropped))

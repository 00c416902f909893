"""An extracted article and the error for a body that holds none: the records that cross from
the extraction workers to the writer. Kept apart from ``archiver.content.extractor`` so that processes
which only save articles never import trafilatura."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Article:
    """The article found in one HTML body: plain text and metadata, all free of control characters."""

    title: str | None
    author: str | None
    published: str | None  # ISO 8601 date, "YYYY-MM-DD"
    sitename: str | None
    hostname: str | None
    language: str | None
    description: str | None
    categories: tuple[str, ...]
    tags: tuple[str, ...]
    canonical_url: str | None  # <link rel=canonical>, else og:url; absolute http(s) only
    text: str  # the article's paragraphs, one per line
    charset: str  # the charset the body was decoded with
    extractor: str  # name and version, e.g. "trafilatura 2.3.1"
    modified: str | None = None  # ISO 8601 date the page says it was last changed
    # (field, source) for each metadata field: "jsonld", "og" or "trafilatura" (archiver.content.metadata)
    sources: tuple[tuple[str, str], ...] = ()
    # (field, source, value) where a structured source said something else than the value kept
    alternatives: tuple[tuple[str, str, str], ...] = ()
    # indexes of the lines of ``text`` found inside the page's main article container (<article>,
    # itemprop=articleBody): never dropped as site boilerplate; None when the page has no container
    container_lines: tuple[int, ...] | None = None


class ExtractionError(Exception):
    """The body yields no article; ``.reason`` is one of REASONS, ``.detail`` says more."""

    def __init__(self, reason: str, detail: str = "") -> None:
        # Both values go to Exception.__init__ so the error pickles across a process boundary.
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}" if self.detail else self.reason


def extract_in_worker(body: bytes, url: str, content_type: str | None, max_bytes: int) -> Article:
    """``archiver.content.extractor.extract_article``, imported where it runs: in a worker process."""
    from archiver.content.extractor import extract_article

    return extract_article(body, url, content_type, max_bytes=max_bytes)

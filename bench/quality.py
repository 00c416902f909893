"""Score archiver's extractor against plain trafilatura on the shared article corpus.

    python bench/quality.py                       # every page of every source
    python bench/quality.py --sample 20           # the first 20 pages of each source
    python bench/quality.py --source trafilatura-eval --worst 5

For each source it prints, for the baseline (``trafilatura.extract(html, url=url)`` with default
settings, measured in the same run) and for ``archiver.content.extractor.extract_article``: mean 4-gram
shingle P/R/F1 where a body ground truth exists, exact date match where dates are known, the
share of trafilatura-eval ``with`` snippets found and ``without`` snippets absent, failures, and
milliseconds per page. Scoring lives in ``bench/corpus_quality.py``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import trafilatura  # the baseline; archiver itself imports it only in extractor.py

# Run as a script: find corpus_quality next to this file and the archiver package above it.
sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

import corpus_quality as cq  # noqa: E402

from archiver.content.extractor import ExtractionError, extract_article  # noqa: E402


@dataclass(frozen=True)
class Prediction:
    """What one extractor made of one page."""

    text: str | None
    date: str | None
    seconds: float
    failure: str | None = None
    title: str | None = None
    author: str | None = None


@dataclass
class Tally:
    """One extractor's results over one source."""

    texts: list[cq.PRF] = field(default_factory=list)
    dates: list[tuple[str | None, str | None]] = field(default_factory=list)
    titles: list[tuple[str | None, str | None]] = field(default_factory=list)
    authors: list[tuple[str | None, str | None]] = field(default_factory=list)
    found: list[float] = field(default_factory=list)
    absent: list[float] = field(default_factory=list)
    seconds: float = 0.0
    pages: int = 0
    failures: int = 0
    per_page: list[tuple[float, str]] = field(default_factory=list)


def predict_baseline(page: cq.CorpusPage) -> Prediction:
    """Plain trafilatura on the raw bytes: extract() for the text (timed), bare_extraction() for
    the date, title and author."""
    start = time.perf_counter()
    text = trafilatura.extract(page.html, url=page.url)
    seconds = time.perf_counter() - start
    document = None
    if page.date or page.title or page.author:
        document = trafilatura.bare_extraction(page.html, url=page.url, with_metadata=True)
    return Prediction(text, getattr(document, "date", None), seconds, None if text else "no_content",
                      getattr(document, "title", None), getattr(document, "author", None))


def predict_ours(page: cq.CorpusPage) -> Prediction:
    """archiver's extractor, given the page as the fetcher would (trafilatura-eval: no charset)."""
    content_type = "text/html" if page.source == "trafilatura-eval" else "text/html; charset=utf-8"
    start = time.perf_counter()
    try:
        article = extract_article(page.html, page.url, content_type)
    except ExtractionError as err:
        return Prediction(None, None, time.perf_counter() - start, err.reason)
    return Prediction(article.text, article.published, time.perf_counter() - start, None,
                      article.title, article.author)


def record(tally: Tally, page: cq.CorpusPage, prediction: Prediction) -> None:
    """Add one page's scores to the tally."""
    tally.pages += 1
    tally.seconds += prediction.seconds
    tally.failures += prediction.failure is not None
    if page.truth_text is not None:
        score = cq.shingle_f1(page.truth_text, prediction.text)
        tally.texts.append(score)
        tally.per_page.append((score.f1, page.id))
    if page.date:
        tally.dates.append((page.date, prediction.date))
        if not page.truth_text:
            tally.per_page.append((float(cq.date_match(page.date, prediction.date)), page.id))
    if page.title:
        tally.titles.append((page.title, prediction.title))
    if page.author:
        tally.authors.append((page.author, prediction.author))
    found, absent = cq.snippet_scores(page, prediction.text)
    if found is not None:
        tally.found.append(found)
    if absent is not None:
        tally.absent.append(absent)


def summary(name: str, tally: Tally) -> str:
    """One line of numbers for one extractor on one source."""
    parts = [f"  {name:<9}"]
    if tally.texts:
        prf = cq.mean_prf(tally.texts)
        parts.append(f"F1 {prf.f1:.3f} (P {prf.precision:.3f} R {prf.recall:.3f})")
    if tally.dates:
        parts.append(f"date {cq.date_accuracy(tally.dates):.3f} (n={len(tally.dates)})")
    if tally.titles:
        parts.append(f"title {cq.field_accuracy(tally.titles, cq.title_match):.3f} (n={len(tally.titles)})")
    if tally.authors:
        parts.append(f"author {cq.field_accuracy(tally.authors, cq.author_match):.3f} (n={len(tally.authors)})")
    if tally.found:
        parts.append(f"with {_mean(tally.found):.3f} without {_mean(tally.absent):.3f}")
    parts.append(f"failed {tally.failures}/{tally.pages}")
    parts.append(f"{1000 * tally.seconds / max(1, tally.pages):.1f} ms/page")
    return "  ".join(parts)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one block per source."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", type=int, help="only the first N pages of each source")
    parser.add_argument("--source", action="append", choices=cq.SOURCES, help="repeatable; default: all")
    parser.add_argument("--corpus", type=Path, default=cq.CORPUS, help="the corpus directory")
    parser.add_argument("--worst", type=int, default=0, help="list our N worst pages per source")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.CRITICAL)  # trafilatura logs every discarded page
    pages = cq.load_pages(args.corpus, args.source or cq.SOURCES, args.sample)
    totals = {"baseline": Tally(), "archiver": Tally()}
    for source in args.source or cq.SOURCES:
        baseline, ours = Tally(), Tally()
        for page in (p for p in pages if p.source == source):
            record(baseline, page, predict_baseline(page))
            record(ours, page, predict_ours(page))
        print(f"{source} ({ours.pages} pages)")
        print(summary("baseline", baseline))
        print(summary("archiver", ours))
        for score, page_id in sorted(ours.per_page)[: args.worst]:
            print(f"    {score:.3f}  {page_id}")
        for name, tally in (("baseline", baseline), ("archiver", ours)):
            _add_metadata(totals[name], tally)
    print(f"metadata, every page that has it ({totals['archiver'].pages} pages)")
    for name, tally in totals.items():
        print(summary(name, tally))
    return 0


def _add_metadata(total: Tally, tally: Tally) -> None:
    """Pool one source's metadata pairs, time and counts into ``total`` (text scores stay per source)."""
    total.dates += tally.dates
    total.titles += tally.titles
    total.authors += tally.authors
    total.pages += tally.pages
    total.failures += tally.failures
    total.seconds += tally.seconds


if __name__ == "__main__":
    sys.exit(main())

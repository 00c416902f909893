"""Score article extraction against the shared test corpus (``/work/shared/corpus/articles``).

Pure functions, no network and no archiver imports, so the benchmark CLI (``bench/quality.py``)
and the end-to-end tests can both use them:

- ``load_manifest()`` reads ``manifest.jsonl``; ``load_page()`` turns one row into a ``CorpusPage``
  (raw bytes, URL to extract with, ground truth);
- ``title_match()`` / ``author_match()`` compare metadata after light normalisation;
- ``shingle_f1()`` is the 4-gram token-shingle score of the scrapinghub benchmark, per document;
- ``score_text()`` averages it over documents; ``date_match()`` / ``snippet_scores()`` score the
  trafilatura-eval metadata and ``with``/``without`` snippets.
"""

from __future__ import annotations

import gzip
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import lxml.html

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
READABILITY_BASE_URL = "http://fakehost/test/page.html"
TEXT_SOURCES = ("scrapinghub-aeb", "mozilla-readability")
DATE_SOURCES = ("trafilatura-eval",)
SOURCES = ("scrapinghub-aeb", "mozilla-readability", "trafilatura-eval")

_TOKEN_RE = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class CorpusPage:
    """One corpus page with what it should extract to (fields are None where unknown)."""

    source: str
    id: str
    url: str  # the original URL, or the Readability base URL
    html: bytes  # decompressed, bytes exactly as saved
    truth_text: str | None  # the article body (scrapinghub, readability)
    date: str | None  # publication date, YYYY-MM-DD
    title: str | None
    author: str | None
    with_snippets: tuple[str, ...] = ()
    without_snippets: tuple[str, ...] = ()


@dataclass(frozen=True)
class PRF:
    """Precision, recall and F1 of one document, or their means over several."""

    precision: float
    recall: float
    f1: float


def load_manifest(corpus: Path = CORPUS, sources: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """The rows of ``articles/manifest.jsonl``, optionally only those of the given sources."""
    wanted = set(sources) if sources is not None else None
    with open(corpus / "articles" / "manifest.jsonl", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return [row for row in rows if wanted is None or row["source"] in wanted]


def read_html(row: dict[str, Any], corpus: Path = CORPUS) -> bytes:
    """The page's bytes, decompressed if the corpus stores them gzipped."""
    data = (corpus / row["html"]).read_bytes()
    return gzip.decompress(data) if row.get("html_gzip") else data


def load_page(row: dict[str, Any], corpus: Path = CORPUS) -> CorpusPage:
    """A manifest row with its bytes and ground truth loaded."""
    truth, with_, without = _ground_truth(row, corpus)
    date = row.get("date")
    if row["source"] == "mozilla-readability":
        date = _readability_date(row, corpus)
    return CorpusPage(
        source=row["source"],
        id=row["id"],
        url=row.get("url") or row.get("base_url") or READABILITY_BASE_URL,
        html=read_html(row, corpus),
        truth_text=truth,
        date=date,
        title=row.get("title"),
        author=_as_text(row.get("author")),
        with_snippets=with_,
        without_snippets=without,
    )


def load_pages(
    corpus: Path = CORPUS, sources: Iterable[str] | None = None, sample: int | None = None
) -> list[CorpusPage]:
    """Pages of the given sources; with ``sample``, the first ``sample`` of each source."""
    rows = load_manifest(corpus, sources)
    if sample is not None:
        seen: Counter[str] = Counter()
        kept = []
        for row in rows:
            seen[row["source"]] += 1
            if seen[row["source"]] <= sample:
                kept.append(row)
        rows = kept
    return [load_page(row, corpus) for row in rows]


def _ground_truth(row: dict[str, Any], corpus: Path) -> tuple[str | None, tuple[str, ...], tuple[str, ...]]:
    """(body text, with-snippets, without-snippets) for a row, from the original ground-truth files."""
    gt = row["ground_truth"]
    if gt["format"] == "aeb-articleBody":
        return _json_file(corpus / gt["file"])[gt["key"]]["articleBody"], (), ()
    if gt["format"] == "readability-expected":
        expected = (corpus / gt["body_html"]).read_text(encoding="utf-8")
        return html_text(expected), (), ()
    if gt["format"] == "trafilatura-evaldata":
        entry = _json_file(corpus / gt["file"])[gt["key"]]
        return None, tuple(entry.get("with") or ()), tuple(entry.get("without") or ())
    raise ValueError(f"unknown ground-truth format {gt['format']!r}")


def _readability_date(row: dict[str, Any], corpus: Path) -> str | None:
    """The date part of Readability's ``publishedTime``, if it gives one."""
    meta = _json_file(corpus / row["ground_truth"]["metadata"])
    published = meta.get("publishedTime")
    return published[:10] if isinstance(published, str) and len(published) >= 10 else None


@lru_cache(maxsize=8)
def _json_file(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _as_text(value: Any) -> str | None:
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return value if isinstance(value, str) else None


def html_text(html: str) -> str:
    """The text content of an HTML fragment (how Readability's expected output is compared)."""
    if not html.strip():
        return ""
    return str(lxml.html.fromstring(html).text_content())  # type: ignore[attr-defined]


def tokenize(text: str | None) -> list[str]:
    """Unicode word tokens, as the scrapinghub benchmark splits them."""
    return _TOKEN_RE.findall(text or "")


def shingles(text: str | None, n: int = 4) -> Counter[str]:
    """Counts of the text's n-token shingles (a text shorter than n is one shingle)."""
    tokens = tokenize(text)
    return Counter(" ".join(tokens[i : i + n]) for i in range(max(1, len(tokens) - n + 1)))


def shingle_f1(truth: str | None, pred: str | None, n: int = 4) -> PRF:
    """Precision, recall and F1 of ``pred`` against ``truth`` on n-gram shingles, for one document.

    tp/fp/fn are normalised to sum to 1 so that long documents weigh no more than short ones.
    """
    true_counts, pred_counts = shingles(truth, n), shingles(pred, n)
    tp = fp = fn = 0
    for key in true_counts.keys() | pred_counts.keys():
        t, p = true_counts.get(key, 0), pred_counts.get(key, 0)
        tp += min(t, p)
        fp += max(0, p - t)
        fn += max(0, t - p)
    total = tp + fp + fn
    if total == 0:
        return PRF(0.0, 0.0, 0.0)
    ntp, nfp, nfn = tp / total, fp / total, fn / total
    precision = ntp / (ntp + nfp) if ntp + nfp else 0.0
    recall = ntp / (ntp + nfn) if ntp + nfn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return PRF(precision, recall, f1)


def mean_prf(scores: Sequence[PRF]) -> PRF:
    """The mean precision, recall and F1 over documents (zeros for none)."""
    if not scores:
        return PRF(0.0, 0.0, 0.0)
    n = len(scores)
    return PRF(
        sum(s.precision for s in scores) / n,
        sum(s.recall for s in scores) / n,
        sum(s.f1 for s in scores) / n,
    )


def score_text(pairs: Iterable[tuple[str | None, str | None]]) -> PRF:
    """Mean shingle P/R/F1 over (truth, prediction) pairs; a missing prediction scores 0."""
    return mean_prf([shingle_f1(truth, pred) for truth, pred in pairs])


def date_match(truth: str | None, pred: str | None) -> bool:
    """Whether the predicted date has the same YYYY-MM-DD as the truth (a datetime counts by its date)."""
    if not truth or not pred:
        return False
    return truth.strip()[:10] == pred.strip()[:10]


def date_accuracy(pairs: Iterable[tuple[str | None, str | None]]) -> float:
    """Share of exact date matches over (truth, prediction) pairs that have a true date."""
    judged = [date_match(truth, pred) for truth, pred in pairs if truth]
    return sum(judged) / len(judged) if judged else 0.0


def _field_key(value: str) -> str:
    """A metadata value as compared: NFKC, case and runs of whitespace ignored, a leading "By "
    and surrounding punctuation dropped (Readability's bylines keep both)."""
    text = " ".join(unicodedata.normalize("NFKC", value).casefold().split())
    return _BY_PREFIX.sub("", text).strip(" .,;:|-\u2013\u2014")


_BY_PREFIX = re.compile(r"^(?:by|von|par|door|di)\s+")
_NAME_SEPARATORS = re.compile(r"\s*(?:;|,|&|\band\b|\bund\b)\s*")


def title_match(truth: str | None, pred: str | None) -> bool:
    """Whether the predicted title equals the true one (see ``_field_key`` for what is ignored)."""
    if not truth or not pred:
        return False
    return _field_key(truth) == _field_key(pred)


def author_match(truth: str | None, pred: str | None) -> bool:
    """Whether the predicted author(s) are the true ones: the same set of names, in any order."""
    if not truth or not pred:
        return False

    def names(value: str) -> set[str]:
        return {n for n in (_field_key(p) for p in _NAME_SEPARATORS.split(_field_key(value))) if n}

    return names(truth) == names(pred)


def field_accuracy(pairs: Iterable[tuple[str | None, str | None]], match: Any) -> float:
    """Share of ``match(truth, pred)`` over (truth, prediction) pairs that have a truth."""
    judged = [match(truth, pred) for truth, pred in pairs if truth]
    return sum(judged) / len(judged) if judged else 0.0


def snippet_scores(page: CorpusPage, text: str | None) -> tuple[float | None, float | None]:
    """(share of ``with`` snippets found, share of ``without`` snippets absent) in ``text``."""
    haystack = _squash(text or "")
    found = [_squash(s) in haystack for s in page.with_snippets]
    absent = [_squash(s) not in haystack for s in page.without_snippets]
    return (
        sum(found) / len(found) if found else None,
        sum(absent) / len(absent) if absent else None,
    )


def _squash(text: str) -> str:
    # Compare snippets independently of line breaks and runs of spaces.
    return " ".join(text.split())

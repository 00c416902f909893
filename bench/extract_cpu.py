"""Where extraction CPU goes, and what each step of it buys, on the shared article corpus.

    python bench/extract_cpu.py                 # CPU per page and F1 of each variant, 2 rounds
    python bench/extract_cpu.py --profile 25    # cProfile of archiver's extractor, top 25 lines

Variants, each run on every page in turn (so machine noise hits them alike), after one warm-up
round (dateparser and lxml build their caches on first use; ``--rounds`` counts the others):

    plain          trafilatura.extract(html, url=url): the issue's baseline (text only, with
                   trafilatura's readability/justext fallbacks, no metadata)
    archiver       archiver.content.extractor.extract_article: text and metadata
    text-fast      bare_extraction on one parsed tree, fast=True, no metadata: archiver's text step
    text-fallback  the same with fast=False: what the fallback extractors add

CPU is ``time.process_time``; F1 the 4-gram shingle F1 of ``bench/corpus_quality.py``, per source
(``--per-host`` lists the pages where the fallbacks change F1, by host).
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import pstats
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

import trafilatura

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

import corpus_quality as cq  # noqa: E402

from archiver.content.extractor import ExtractionError, decode_html, extract_article  # noqa: E402


def _content_type(page: cq.CorpusPage) -> str:
    return "text/html" if page.source == "trafilatura-eval" else "text/html; charset=utf-8"


def plain(page: cq.CorpusPage) -> str | None:
    return trafilatura.extract(page.html, url=page.url)


def archiver(page: cq.CorpusPage) -> str | None:
    try:
        return extract_article(page.html, page.url, _content_type(page)).text
    except ExtractionError:
        return None


def _text_only(fast: bool) -> Callable[[cq.CorpusPage], str | None]:
    def run(page: cq.CorpusPage) -> str | None:
        tree = trafilatura.load_html(decode_html(page.html, _content_type(page))[0])
        document = trafilatura.bare_extraction(tree, url=page.url, with_metadata=False, fast=fast,
                                               include_comments=False)
        return document.text if document is not None else None
    return run


VARIANTS: dict[str, Callable[[cq.CorpusPage], str | None]] = {
    "plain": plain, "archiver": archiver, "text-fast": _text_only(True), "text-fallback": _text_only(False),
}


def measure(pages: list[cq.CorpusPage], rounds: int) -> tuple[dict[str, float], dict[str, dict[str, Any]]]:
    """(CPU seconds per variant over the measured rounds, {variant: {page id: text}})."""
    cpu: dict[str, float] = defaultdict(float)
    texts: dict[str, dict[str, Any]] = defaultdict(dict)
    for round_number in range(rounds + 1):  # round 0 warms the caches up and is not counted
        for page in pages:
            for name, variant in VARIANTS.items():
                started = time.process_time()
                text = variant(page)
                if round_number:
                    cpu[name] += time.process_time() - started
                texts[name][page.id] = text
    return cpu, texts


def report(pages: list[cq.CorpusPage], cpu: dict[str, float], texts: dict[str, dict[str, Any]],
           rounds: int, per_host: bool) -> None:
    """Print CPU per page and F1 per source for each variant."""
    scored = [p for p in pages if p.truth_text is not None]
    print(f"{len(pages)} pages, {rounds} measured rounds; CPU ms per page, body F1 per source")
    for name in VARIANTS:
        f1 = {source: cq.score_text([(p.truth_text, texts[name][p.id]) for p in scored if p.source == source]).f1
              for source in cq.TEXT_SOURCES}
        ratio = cpu[name] / cpu["plain"]
        print(f"  {name:<14} {1000 * cpu[name] / rounds / len(pages):6.1f} ms  {ratio:5.2f}x plain  "
              + "  ".join(f"{s} {v:.3f}" for s, v in f1.items()))
    if per_host:
        print("pages where the fallbacks change F1 (host: fast -> with fallbacks)")
        for page in scored:
            fast = cq.shingle_f1(page.truth_text, texts["text-fast"][page.id]).f1
            full = cq.shingle_f1(page.truth_text, texts["text-fallback"][page.id]).f1
            if abs(fast - full) >= 0.005:
                print(f"  {urlsplit(page.url).hostname or page.id}: {fast:.3f} -> {full:.3f}")


def profile(pages: list[cq.CorpusPage], lines: int) -> None:
    """cProfile of archiver's extractor over the pages, after one warm-up pass."""
    for page in pages:
        archiver(page)
    profiler = cProfile.Profile()
    profiler.enable()
    for page in pages:
        archiver(page)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=1, help="measured rounds after the warm-up one")
    parser.add_argument("--sample", type=int, help="only the first N pages of each source")
    parser.add_argument("--profile", type=int, metavar="LINES", help="print a cProfile of archiver instead")
    parser.add_argument("--per-host", action="store_true", help="list pages whose F1 the fallbacks change")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.CRITICAL)
    pages = cq.load_pages(sample=args.sample)
    if args.profile:
        profile(pages, args.profile)
        return 0
    cpu, texts = measure(pages, args.rounds)
    report(pages, cpu, texts, args.rounds, args.per_host)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Where extraction CPU goes, and what each step of it buys, on the shared article corpus.

    python bench/extract_cpu.py                 # CPU per page and F1 of each variant, 3 rounds
    python bench/extract_cpu.py --previous DIR  # and archiver as checked out in DIR, for an A/B
    python bench/extract_cpu.py --profile 25    # cProfile of archiver's extractor, top 25 lines
    python bench/extract_cpu.py --steps         # CPU of each step of archiver's extractor

Variants:

    plain          trafilatura.extract(html, url=url) in a process that never imports archiver:
                   the issue's baseline as a user gets it (text only, with trafilatura's
                   readability/justext fallbacks, no metadata, none of archiver's changes to
                   trafilatura's expressions)
    archiver       archiver.content.extractor.extract_article: text and metadata
    text-fast      bare_extraction on one parsed tree, fast=True, no metadata: archiver's text step
    text-fallback  the same with fast=False: what the fallback extractors add
    previous       archiver from ``--previous DIR`` (another checkout), when given

Each variant runs alone in a fresh process: one pass over the pages to warm up (dateparser and
lxml build their caches on first use), then one measured pass. A round runs every variant once,
each round in a different order, so that drift of the machine hits them alike. Running them
page by page in one process instead would flatter whichever runs second on a page: trafilatura
and htmldate cache what they computed for the same strings (about 8%, measured).

CPU is ``time.process_time`` of the measured pass; F1 the 4-gram shingle F1 of
``bench/corpus_quality.py``, per source (``--per-host`` lists the pages where the fallbacks
change F1, by host).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import logging
import os
import pstats
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

import trafilatura

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

import corpus_quality as cq  # noqa: E402


def _content_type(page: cq.CorpusPage) -> str:
    return "text/html" if page.source == "trafilatura-eval" else "text/html; charset=utf-8"


def plain(page: cq.CorpusPage) -> str | None:
    return trafilatura.extract(page.html, url=page.url)


def archiver(page: cq.CorpusPage) -> str | None:
    from archiver.content.extractor import ExtractionError, extract_article
    try:
        return extract_article(page.html, page.url, _content_type(page)).text
    except ExtractionError:
        return None


def _text_only(fast: bool) -> Callable[[cq.CorpusPage], str | None]:
    def run(page: cq.CorpusPage) -> str | None:
        from archiver.content.extractor import decode_html
        tree = trafilatura.load_html(decode_html(page.html, _content_type(page))[0])
        document = trafilatura.bare_extraction(tree, url=page.url, with_metadata=False, fast=fast,
                                               include_comments=False)
        return document.text if document is not None else None
    return run


VARIANTS: dict[str, Callable[[cq.CorpusPage], str | None]] = {
    "plain": plain, "archiver": archiver, "text-fast": _text_only(True), "text-fallback": _text_only(False),
    "previous": archiver,
}


def run_variant(name: str, sample: int | None) -> dict[str, Any]:
    """In this (fresh) process: a warm-up pass, then the measured one. CPU seconds and texts."""
    if name != "plain":
        import archiver.content.extractor as module  # archiver's changes to trafilatura, before the warm-up
        print(f"{name}: {module.__file__}", file=sys.stderr)
    else:
        assert not [m for m in sys.modules if m.partition(".")[0] == "archiver"], "plain must run pristine"
    run = VARIANTS[name]
    pages = cq.load_pages(sample=sample)
    for page in pages:
        run(page)
    started = time.process_time()
    texts = {page.id: run(page) for page in pages}
    return {"cpu": time.process_time() - started, "texts": texts}


def measure(variants: list[str], rounds: int, sample: int | None,
            previous: str | None) -> tuple[dict[str, list[float]], dict[str, dict[str, Any]]]:
    """({variant: CPU seconds of each round}, {variant: {page id: text}}), each variant in its
    own process, in a rotated order each round."""
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    texts: dict[str, dict[str, Any]] = {}
    for round_number in range(rounds):
        shift = round_number % len(variants)
        for name in variants[shift:] + variants[:shift]:
            source = previous if name == "previous" else str(ROOT)
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")]))}
            command = [sys.executable, __file__, "--worker", name] + (["--sample", str(sample)] if sample else [])
            done = subprocess.run(command, env=env, cwd=source, check=True, capture_output=True, text=True)
            result = json.loads(done.stdout)
            cpu[name].append(result["cpu"])
            texts.setdefault(name, result["texts"])
    return cpu, texts


def report(pages: list[cq.CorpusPage], cpu: dict[str, list[float]], texts: dict[str, dict[str, Any]],
           per_host: bool) -> None:
    """Print CPU per page (median of the rounds) and F1 per source for each variant."""
    scored = [p for p in pages if p.truth_text is not None]
    rounds = len(cpu["plain"])
    print(f"{len(pages)} pages, {rounds} rounds, each variant alone in its own process; "
          "CPU ms per page (median of the rounds; each round's ratio to plain), body F1 per source")
    for name in cpu:
        f1 = {source: cq.score_text([(p.truth_text, texts[name][p.id]) for p in scored if p.source == source]).f1
              for source in cq.TEXT_SOURCES}
        ratios = " ".join(f"{own / base:.2f}" for own, base in zip(cpu[name], cpu["plain"]))
        print(f"  {name:<14} {1000 * statistics.median(cpu[name]) / len(pages):6.1f} ms  "
              f"{statistics.median(cpu[name]) / statistics.median(cpu['plain']):5.2f}x plain ({ratios})  "
              + "  ".join(f"{s} {v:.3f}" for s, v in f1.items()))
    if per_host and "text-fast" in texts and "text-fallback" in texts:
        print("pages where the fallbacks change F1 (host: fast -> with fallbacks)")
        for page in scored:
            fast = cq.shingle_f1(page.truth_text, texts["text-fast"][page.id]).f1
            full = cq.shingle_f1(page.truth_text, texts["text-fallback"][page.id]).f1
            if abs(fast - full) >= 0.005:
                print(f"  {urlsplit(page.url).hostname or page.id}: {fast:.3f} -> {full:.3f}")


# The steps of extract_article that --steps times, by where they live: (module, name, label).
STEPS = [
    ("archiver.content.extractor", "_run_trafilatura", "trafilatura's text step (without parsing)"),
    ("trafilatura.core", "html2txt", "  of which: its estimate of the page's whole text"),
    ("trafilatura.core", "_recall_retry", "  of which: its retry of short extractions"),
    ("trafilatura", "load_html", "parsing (trafilatura.load_html)"),
    ("archiver.content.extractor", "extract_author", "trafilatura's whole-page author search (restated)"),
    ("trafilatura.metadata", "find_date", "trafilatura's (htmldate's) date search"),
    ("archiver.content.extractor", "_CATSTAGS_LINKS", "category and tag links: finding them (one walk)"),
    ("archiver.content.extractor", "catstags", "category and tag links: the lists"),
    ("trafilatura.metadata", "examine_meta", "trafilatura's <meta> reader"),
    ("trafilatura.metadata", "extract_meta_json", "trafilatura's JSON-LD reader"),
    ("archiver.content.extractor", "read_byline", "archiver's byline reader"),
    ("archiver.content.extractor", "read_opengraph", "archiver's OpenGraph reader"),
    ("archiver.content.extractor", "jsonld_objects", "archiver's JSON-LD parsing"),
    ("archiver.content.extractor", "_MICRODATA", "microdata search (the first walk of the parsed page)"),
    ("archiver.content.extractor", "main_container", "the article container"),
    ("archiver.content.extractor", "_whole_body", "split bodies (trafilatura again where needed)"),
    ("archiver.content.extractor", "decode_html", "decoding"),
    ("archiver.content.extractor", "sniff_non_html", "the not-HTML check"),
    ("archiver.content.extractor", "_garbage_share", "the garbage check"),
]


def steps(pages: list[cq.CorpusPage]) -> None:
    """CPU of each step of extract_article, each timed where it is called (nested steps are
    also counted in the step around them), over a second pass over the pages."""
    import importlib

    spent: dict[str, float] = dict.fromkeys((label for _, _, label in STEPS), 0.0)

    def timed(label: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            started = time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                spent[label] += time.process_time() - started
        return run

    importlib.import_module("archiver.content.extractor")  # its changes to trafilatura first
    for module_name, name, label in STEPS:
        module = importlib.import_module(module_name)
        setattr(module, name, timed(label, getattr(module, name)))
    for page in pages:
        archiver(page)
    for label in spent:
        spent[label] = 0.0
    started = time.process_time()
    for page in pages:
        archiver(page)
    total = time.process_time() - started
    print(f"archiver's extract_article: {1000 * total / len(pages):.1f} ms a page (second pass, timed steps)")
    for label, seconds in spent.items():
        print(f"  {label:<58} {1000 * seconds / len(pages):5.2f} ms")


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
    parser.add_argument("--rounds", type=int, default=3, help="rounds; each runs every variant once")
    parser.add_argument("--sample", type=int, help="only the first N pages of each source")
    parser.add_argument("--variants", default="plain,archiver,text-fast,text-fallback",
                        help="comma-separated variants to run (plain is always run)")
    parser.add_argument("--previous", metavar="DIR", help="also run archiver as checked out in DIR")
    parser.add_argument("--profile", type=int, metavar="LINES", help="print a cProfile of archiver instead")
    parser.add_argument("--steps", action="store_true", help="print the CPU of each step of archiver's extractor instead")
    parser.add_argument("--per-host", action="store_true", help="list pages whose F1 the fallbacks change")
    parser.add_argument("--worker", choices=sorted(VARIANTS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.CRITICAL)
    if args.worker:
        json.dump(run_variant(args.worker, args.sample), sys.stdout)
        return 0
    pages = cq.load_pages(sample=args.sample)
    if args.profile or args.steps:
        sys.path.insert(1, str(ROOT))  # this checkout's archiver, in this process
    if args.profile:
        profile(pages, args.profile)
        return 0
    if args.steps:
        steps(pages)
        return 0
    variants = list(dict.fromkeys(["plain", *args.variants.split(",")] + (["previous"] if args.previous else [])))
    cpu, texts = measure(variants, args.rounds, args.sample,
                         str(Path(args.previous).resolve()) if args.previous else None)
    report(pages, cpu, texts, args.per_host)
    return 0


if __name__ == "__main__":
    sys.exit(main())

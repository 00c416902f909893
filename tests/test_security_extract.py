"""SECURITY.md §4 section D: extraction (items 34-36), end to end through `archiver fetch`.

The archive stores plain text only: no column of a snapshot or page may carry markup or a
script from an archived page. Extraction of hostile HTML (huge, deeply nested, endless empty
elements, broken encodings) runs in a killable worker with a time limit and a memory limit:
every outcome is recorded as a capture, within the configured time budget, and no process of
the run (workers included) goes over 300 MB. Nothing but the archiver's own fetcher talks to
the publisher (trafilatura's downloader is disabled in every process).
"""

from __future__ import annotations

import os
import re
import sqlite3
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from conftest import Site, db_rows, run_cli
from test_security_http import PEAK_MB, Run, run_measured

from archiver.settings import load_config

XSS = re.compile(r"(?i)javascript:|\son\w+=|<script|<iframe")
EXTRACT_TIMEOUT = 4.0  # ARCHIVER_EXTRACT_TIMEOUT for the cost tests (the default is 15 s)

PARAGRAPHS = [
    "The city library will stay open until midnight during the exam season, the council said "
    "on Wednesday, after students collected more than two thousand signatures in a week.",
    "The longer hours will be paid for by closing the reading room on Monday mornings, when "
    "the number of visitors is lowest, according to figures published by the library itself.",
    "Librarians welcomed the decision but warned that the building's heating system, installed "
    "in the nineteen seventies, would struggle to keep the upper floors warm late at night.",
]


@pytest.fixture(autouse=True)
def _publisher_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARCHIVER_ALLOW_NETWORKS", "127.0.0.2/32")


@pytest.fixture
def publisher() -> Iterator[Site]:
    server = Site("127.0.0.2")
    yield server
    server.close()


def assert_only_the_archiver_asked(site: Site) -> None:
    """SECURITY.md D.36: every request the publisher saw came from the archiver's own fetcher
    (its User-Agent), never from trafilatura's or feedparser's downloader."""
    agents = {r.headers.get("user-agent", "") for r in site.requests}
    assert agents and all(a.startswith("archiver/") for a in agents), agents


# -- D.34 XSS that survives extraction ---------------------------------------------------------------

XSS_ARTICLE = """<!doctype html>
<html><head>
<title>Library hours <script>alert('title')</script></title>
<meta http-equiv="refresh" content="0;url=javascript:alert('refresh')">
<meta name="description" content="Late opening &lt;img src=x onerror=alert(1)&gt;">
<meta property="og:title" content="Library hours">
<meta property="og:url" content="javascript:alert('og')">
<meta name="author" content="Jane &lt;script&gt;alert('author')&lt;/script&gt; Doe">
<link rel="canonical" href="javascript:alert('canonical')">
<style>body { background: url(javascript:alert('css')) }</style>
<script>document.location = 'javascript:alert(1)'</script>
</head>
<body onload="alert('body')">
<nav><a href="javascript:alert('nav')">Home</a></nav>
<article>
<h1 onclick="alert('h1')">Library hours</h1>
<p>{p0} <a href="javascript:alert('link')">Read more</a>.</p>
<p onmouseover="alert('p')">{p1} <img src="x" onerror="alert('img')"> <svg onload="alert('svg')"><circle r="1"/></svg></p>
<iframe srcdoc="&lt;script&gt;alert('srcdoc')&lt;/script&gt;"></iframe>
<form action="javascript:alert('form')"><input name="q" onfocus="alert('input')" autofocus></form>
<p style="background-image: url(javascript:alert('style'))">{p2}</p>
<object data="javascript:alert('object')"></object><embed src="javascript:alert('embed')">
<math><a xlink:href="javascript:alert('math')">x</a></math>
<a href="jav&#x09;ascript:alert('entity')">tabbed</a> <a href="JaVaScRiPt:alert('case')">case</a>
</article>
<script src="javascript:alert('src')"></script>
</body></html>"""


def text_columns(db: Path) -> Iterator[tuple[str, str, str]]:
    """(table, column, value) for every text value of the derived tables: snapshots, pages,
    page_urls, entries and feeds (the raw evidence, bodies and capture headers, is excluded:
    it is what the server sent, stored compressed and never rendered as HTML)."""
    conn = sqlite3.connect(db)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        for table in sorted(tables & {"snapshots", "pages", "page_urls", "entries", "feeds"}):
            cursor = conn.execute(f'SELECT * FROM "{table}"')
            names = [d[0] for d in cursor.description]
            for row in cursor:
                for name, value in zip(names, row):
                    if isinstance(value, str):
                        yield table, name, value
    finally:
        conn.close()


def test_xss_is_not_stored(publisher: Site, tmp_path: Path) -> None:
    """SECURITY.md D.34: an article carrying ``javascript:`` links, event handlers, ``<svg
    onload>``, ``<iframe srcdoc>``, ``<form action>``, a meta refresh and CSS
    ``url(javascript:)`` is archived as plain text: no stored column matches
    ``(?i)javascript:|\\son\\w+=|<script|<iframe``; nor does `archiver show` print one."""
    html = XSS_ARTICLE
    for i, paragraph in enumerate(PARAGRAPHS):
        html = html.replace(f"{{p{i}}}", paragraph)
    url = publisher.route("/library", html)
    result = run_cli("fetch", url)
    assert result.code == 0, result
    db = tmp_path / "archive.db"
    assert db_rows(db, "SELECT count(*) FROM snapshots") == [(1,)]
    text = db_rows(db, "SELECT text FROM snapshots")[0][0]
    assert PARAGRAPHS[0][:60] in text and PARAGRAPHS[2][:60] in text
    hits = [(t, c, v[:120]) for t, c, v in text_columns(db) if XSS.search(v)]
    assert hits == []
    for flags in ((), ("--json",)):
        shown = run_cli("show", *flags, url)
        assert shown.code == 0, shown
        assert not XSS.search(shown.out), shown.out
    assert_only_the_archiver_asked(publisher)


# -- D.35 extraction cost ------------------------------------------------------------------------------

def test_extraction_budget_defaults() -> None:
    """SECURITY.md D.35 and §5: the extraction budgets by default: input capped (at most 5 MB)
    before extraction, at most 15 s per extraction, and a worker memory limit that keeps its
    RSS under 300 MB (RSS never exceeds the address space that RLIMIT_AS limits)."""
    config = load_config(environ={})
    assert 0 < config.max_extract_bytes <= 5_000_000
    assert 0 < config.extract_timeout <= 15
    assert 0 < config.extract_memory_mb <= PEAK_MB


DENSE = ("<div class='c'><p>Lorem <b>ipsum</b> dolor sit amet, <a href='/x'>consectetur</a> "
         "adipiscing elit.</p><span>x</span></div>\n")


def hostile_pages() -> dict[str, bytes]:
    return {
        # 20 MB of HTML: over the fetch cap, refused before extraction
        "20 MB": (b"<html><body><article>" + DENSE.encode() * (20_000_000 // len(DENSE))
                  + b"</article></body></html>"),
        # 14 MB of dense markup: under the fetch cap; capped before extract(), then slow
        "14 MB dense": (b"<html><body><article>" + DENSE.encode() * (14_000_000 // len(DENSE))
                        + b"</article></body></html>"),
        "50k nested divs": (b"<html><body>" + b"<div>" * 50_000 + b"<p>" + PARAGRAPHS[0].encode()
                            + b"</p>" + b"</div>" * 50_000 + b"</body></html>"),
        "1M empty p": b"<html><body><article>" + b"<p></p>" * 1_000_000 + b"</article></body></html>",
    }


@pytest.fixture(scope="module")
def baseline_seconds(tmp_path_factory: pytest.TempPathFactory) -> float:
    """How long `archiver fetch` of one small ordinary article takes here (start-up, workers,
    store): what the budgets below are measured on top of."""
    site = Site("127.0.0.2")
    try:
        url = site.route("/plain", article_html("Plain page"))
        db = tmp_path_factory.mktemp("baseline") / "archive.db"
        env = {"ARCHIVER_DB": str(db), "ARCHIVER_ALLOW_NETWORKS": "127.0.0.2/32",
               "ARCHIVER_PER_HOST_DELAY": "0", "ARCHIVER_EXTRACT_TIMEOUT": str(EXTRACT_TIMEOUT)}
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("ARCHIVER_")}, **env}
        runs = [run_measured([sys.executable, "-m", "archiver", "fetch", url], env) for _ in range(2)]
        assert all(r.code == 0 for r in runs), runs[0].err
        return min(r.seconds for r in runs)
    finally:
        site.close()


def article_html(title: str) -> str:
    body = "".join(f"<p>{p}</p>" for p in PARAGRAPHS)
    return f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>{body}</article></body></html>"


def capture_of(db: Path, url: str) -> dict[str, Any]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        row = conn.execute("SELECT * FROM captures WHERE requested_url = ?", [url]).fetchone()
        assert row is not None, f"no capture recorded for {url}"
        return dict(row)
    finally:
        conn.close()


@pytest.mark.parametrize("name", list(hostile_pages()))
def test_extraction_cost(name: str, publisher: Site, tmp_path: Path, baseline_seconds: float) -> None:
    """SECURITY.md D.35: 20 MB of HTML, 14 MB of dense markup, 50k nested divs and 1M empty
    ``<p>``: each run ends within the extraction budget (+1 s) on top of an ordinary run, no
    process of the run (the extraction workers included) exceeds 300 MB RSS, there is no
    ``RecursionError`` or traceback, and a capture records the outcome."""
    url = publisher.route("/hostile", hostile_pages()[name])
    run: Run = run_measured([sys.executable, "-m", "archiver", "fetch", url],
                            {"ARCHIVER_EXTRACT_TIMEOUT": str(EXTRACT_TIMEOUT)})
    assert "Traceback" not in run.err and "RecursionError" not in run.err, run.err
    assert run.code in (0, 1), run.err
    row = capture_of(tmp_path / "archive.db", url)
    assert row["error"] or row["outcome"], row
    fetch_seconds = row["elapsed_ms"] / 1000
    print(f"{name}: {run.seconds:.2f}s, ordinary run {baseline_seconds:.2f}s, fetch {fetch_seconds:.2f}s, "
          f"peak {run.worst_mb:.0f} MB")
    assert run.seconds - baseline_seconds <= EXTRACT_TIMEOUT + 1 + fetch_seconds, (
        run.seconds, baseline_seconds, row)
    assert run.worst_mb < PEAK_MB, (name, run.peak_mb, run.tree_peaks_mb)
    assert_only_the_archiver_asked(publisher)


def test_odd_encodings_are_archived(publisher: Site, tmp_path: Path) -> None:
    """SECURITY.md D.35: a latin-1 page with no charset anywhere and a page with invalid UTF-8
    are archived (or classified), never a crash; whatever is stored is valid UTF-8 without NUL
    or C0 control characters."""
    latin1 = article_html("Caf\u00e9 cr\u00e8me").replace("library", "biblioth\u00e8que")
    broken = article_html("Broken bytes").encode("utf-8").replace(b"library", b"libr\xff\xfe\xc3ry")
    urls = [publisher.route("/latin1", latin1.encode("latin-1"), content_type="text/html"),
            publisher.route("/broken", broken + b"\x00\x01", content_type="text/html; charset=utf-8")]
    result = run_cli("fetch", *urls)
    assert "Traceback" not in result.err, result.err
    db = tmp_path / "archive.db"
    for url in urls:
        row = capture_of(db, url)
        assert row["error"] is None and row["outcome"] in ("new_snapshot", "unchanged"), row
    titles = dict(db_rows(db, "SELECT c.requested_url, s.title FROM snapshots s "
                              "JOIN captures c ON c.id = s.capture_id"))
    assert titles[urls[0]] == "Caf\u00e9 cr\u00e8me"
    for _table, _column, value in text_columns(db):
        value.encode("utf-8")
        assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", value), value[:80]

"""archiver.content.feeds: the shared feed corpus, the Moscow Times fixture, and SECURITY.md section C."""

from __future__ import annotations

import gzip
import json
import pickle
import random
import re
import time
import tracemalloc
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from archiver.content.feeds import (
    CATEGORY_MAX_COUNT,
    CATEGORY_MAX_LEN,
    DISCOVER_MAX,
    RAW_DATE_MAX,
    SUMMARY_MAX,
    TITLE_MAX,
    URL_MAX,
    FeedEntry,
    NotAFeed,
    ParsedFeed,
    discover_feeds,
    looks_like_feed,
    parse_feed,
)

SHARED = Path(__file__).resolve().parents[2] / "shared"
CORPUS = SHARED / "corpus"
FEEDS = CORPUS / "feeds"
MANIFEST = json.loads((FEEDS / "manifest.json").read_text())
FEED_URL = "http://feed.example/news/rss.xml"
RSS = "application/rss+xml"
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
C0 = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")

# Ill-formed corpus feeds where this module keeps fewer entries than feedparser returns, and why.
FEWER_ENTRIES = {
    "rss-parser--itunes-missing-image.rss": (130, "one guid appears twice"),
    "node-feedparser--illegally-nested.xml": (11, "the bad nesting adds 10 entries with no field at "
                                                  "all; they share one hash guid, so one is kept"),
}


def corpus(category: str) -> list[dict[str, Any]]:
    return [item for item in MANIFEST if item["category"] == category]


def corpus_body(item: dict[str, Any]) -> tuple[bytes, str | None]:
    """The feed as the HTTP layer would hand it over: decompressed, with its Content-Type."""
    headers = {k.lower(): v for k, v in (item["http_headers"] or {}).items()}
    body = (CORPUS / item["file"]).read_bytes()
    if headers.get("content-encoding") == "gzip":
        body = gzip.decompress(body)
    return body, headers.get("content-type")


def name(item: dict[str, Any]) -> str:
    return Path(item["file"]).name


def rss(items: str, channel: str = "", prolog: str = "") -> bytes:
    """A small RSS 2.0 document."""
    return (f'<?xml version="1.0" encoding="utf-8"?>\n{prolog}<rss version="2.0"><channel>'
            f"<title>T</title>{channel}{items}</channel></rss>").encode()


def item(guid: str | None = None, title: str = "t", link: str | None = None,
         date: str | None = None, extra: str = "") -> str:
    parts = [f"<title>{title}</title>"]
    parts += [f"<guid>{guid}</guid>"] if guid is not None else []
    parts += [f"<link>{link}</link>"] if link is not None else []
    parts += [f"<pubDate>{date}</pubDate>"] if date is not None else []
    return "<item>" + "".join(parts) + extra + "</item>"


def texts(parsed: ParsedFeed) -> list[str]:
    """Every text value the parse produced."""
    values: list[Any] = [parsed.title, parsed.site_url, parsed.version, parsed.bozo]
    for entry in parsed.entries:
        for value in asdict(entry).values():
            values.extend(value if isinstance(value, tuple) else [value])
    return [v for v in values if isinstance(v, str)]


def assert_clean(parsed: ParsedFeed) -> None:
    """No C0 control survives, everything encodes as UTF-8, caps and schemes hold."""
    for value in texts(parsed):
        assert not C0.search(value)
        value.encode("utf-8")
    assert parsed.title is None or len(parsed.title) <= TITLE_MAX
    for entry in parsed.entries:
        assert entry.title is None or len(entry.title) <= TITLE_MAX
        assert entry.summary is None or len(entry.summary) <= SUMMARY_MAX
        assert entry.published_raw is None or len(entry.published_raw) <= RAW_DATE_MAX
        assert entry.link is None or (entry.link.startswith(("http://", "https://"))
                                      and len(entry.link) <= URL_MAX)
        assert len(entry.categories) <= CATEGORY_MAX_COUNT


def parse_or_not_a_feed(body: bytes, content_type: str | None = RSS) -> ParsedFeed | None:
    try:
        parsed = parse_feed(body, FEED_URL, content_type, now=NOW)
    except NotAFeed:
        return None
    assert_clean(parsed)
    return parsed


# --- the shared corpus --------------------------------------------------------------------------


@pytest.mark.parametrize("item", corpus("wellformed"), ids=name)
def test_wellformed_corpus_feed_parses_with_its_entry_count(item: dict[str, Any]) -> None:
    body, content_type = corpus_body(item)
    checks = item["checks"]
    parsed = parse_feed(body, "https://example.org/feed", content_type)
    assert parsed.version == checks["version"]
    assert len(parsed.entries) == min(checks["entries"], 500)
    assert parsed.truncated == (checks["entries"] > 500)
    assert parsed.bozo is None
    if checks["feed_title"]:
        assert parsed.title == C0.sub("", checks["feed_title"]).strip()[:TITLE_MAX]
    assert_clean(parsed)


@pytest.mark.parametrize("item", corpus("illformed"), ids=name)
def test_illformed_corpus_feed_parses_or_is_not_a_feed(item: dict[str, Any]) -> None:
    body, content_type = corpus_body(item)
    checks = item["checks"]
    try:
        parsed = parse_feed(body, "https://example.org/feed", content_type)
    except NotAFeed:
        assert not checks["version"], "feedparser recognised this feed"
        return
    assert parsed.version == checks["version"]
    expected = min(checks["entries"], 500)
    assert len(parsed.entries) == FEWER_ENTRIES.get(name(item), (expected,))[0]
    assert parsed.truncated == (checks["entries"] > 500)
    assert_clean(parsed)


def test_big_podcast_is_cut_to_the_newest_500() -> None:
    item_ = next(i for i in MANIFEST if name(i) == "rss-parser--giantbomb-podcast.rss")
    body, content_type = corpus_body(item_)
    parsed = parse_feed(body, "https://example.org/feed", content_type)
    assert parsed.truncated and len(parsed.entries) == 500
    dates = [e.published for e in parsed.entries]
    assert all(dates) and dates == sorted(dates, reverse=True)  # type: ignore[type-var]


@pytest.mark.parametrize("item", MANIFEST, ids=name)
def test_looks_like_feed_agrees_with_feedparser_on_the_corpus(item: dict[str, Any]) -> None:
    body, _ = corpus_body(item)
    assert looks_like_feed(body) == bool(item["checks"]["version"])


def test_relative_links_are_resolved_against_the_feed_url() -> None:
    body = (FEEDS / "illformed" / "node-feedparser--rss-with-relative-urls.xml").read_bytes()
    parsed = parse_feed(body, "https://example.org/blog/feed.xml", None)
    assert parsed.entries
    assert all(e.link and e.link.startswith("http") for e in parsed.entries)


# --- the Moscow Times fixture -------------------------------------------------------------------


def test_moscowtimes_feed() -> None:
    base = "http://127.0.0.1:8123"
    body = (SHARED / "fixtures" / "moscowtimes" / "feed.xml").read_bytes().replace(b"{{BASE}}", base.encode())
    parsed = parse_feed(body, f"{base}/rss/news", "application/rss+xml; charset=utf-8")
    assert (parsed.title, parsed.site_url, parsed.version) == ("The Moscow Times - News", f"{base}/", "rss20")
    assert parsed.ttl_seconds == 30 * 60 and parsed.bozo is None and not parsed.truncated
    assert [e.guid for e in parsed.entries] == ["tmt-42825", "tmt-42824", "tmt-42810"]
    first = parsed.entries[0]
    assert first == FeedEntry(
        guid="tmt-42825",
        link=f"{base}/2015/01/13/kim-jong-un-reportedly-due-to-visit-moscow-in-may-a42825"
             "?utm_source=rss&utm_medium=feed",
        title="Kim Jong Un Reportedly Due to Visit Moscow in May",
        author="Richard Ensor",
        published="2015-01-13T15:04:00+00:00",
        published_raw="Tue, 13 Jan 2015 18:04:00 +0300",
        updated=first.updated,
        summary=first.summary,
        categories=("News",),
    )
    assert first.summary and first.summary.startswith("North Korean leader Kim Jong Un")
    assert first.updated is None  # RSS has no update date; feedparser's alias to pubDate is not used
    assert [e.author for e in parsed.entries[1:]] == ["Staff Writer", "Staff Writer"]


# --- shape of the result ------------------------------------------------------------------------


def test_entries_are_newest_first_and_capped() -> None:
    start = datetime(2020, 1, 1, tzinfo=timezone.utc)
    items = "".join(item(guid=f"g{n}", date=(start + timedelta(hours=n)).strftime("%a, %d %b %Y %H:%M:%S +0000"))
                    for n in range(600))
    parsed = parse_feed(rss(items), FEED_URL, RSS, max_entries=500, now=NOW)
    assert parsed.truncated and len(parsed.entries) == 500
    assert parsed.entries[0].guid == "g599" and parsed.entries[-1].guid == "g100"


def test_document_order_is_kept_when_some_entries_are_undated() -> None:
    items = item(guid="a", date="Mon, 01 Jan 2024 00:00:00 GMT") + item(guid="b") + \
        item(guid="c", date="Tue, 02 Jan 2024 00:00:00 GMT")
    parsed = parse_feed(rss(items), FEED_URL, RSS, now=NOW)
    assert [e.guid for e in parsed.entries] == ["a", "b", "c"]
    assert not parsed.truncated


def test_zero_entry_feed_is_a_feed() -> None:
    parsed = parse_feed(rss(""), FEED_URL, RSS)
    assert parsed.version == "rss20" and parsed.entries == () and parsed.title == "T"


def test_ttl_from_sy_update_period() -> None:
    body = rss("", prolog="").replace(
        b'<rss version="2.0">',
        b'<rss version="2.0" xmlns:sy="http://purl.org/rss/1.0/modules/syndication/">',
    ).replace(b"<title>T</title>", b"<title>T</title><sy:updatePeriod>hourly</sy:updatePeriod>"
              b"<sy:updateFrequency>4</sy:updateFrequency>")
    assert parse_feed(body, FEED_URL, RSS).ttl_seconds == 900


@pytest.mark.parametrize("ttl", ["0", "-5", "soon", "99999999999999999999"])
def test_nonsense_ttl_is_ignored_or_capped(ttl: str) -> None:
    seconds = parse_feed(rss("", channel=f"<ttl>{ttl}</ttl>"), FEED_URL, RSS).ttl_seconds
    assert seconds is None or 0 < seconds <= 366 * 86_400


def test_site_url_must_be_http() -> None:
    assert parse_feed(rss("", channel="<link>javascript:alert(1)</link>"), FEED_URL, RSS).site_url is None
    assert parse_feed(rss("", channel="<link>/home</link>"), FEED_URL, RSS).site_url == "http://feed.example/home"


def test_categories_are_capped_and_deduplicated() -> None:
    tags = "".join(f"<category>c{n % 80}</category>" for n in range(10_000))
    tags += f"<category>{'x' * 5000}</category>"
    parsed = parse_feed(rss(item(guid="g", extra=tags)), FEED_URL, RSS)
    categories = parsed.entries[0].categories
    assert len(categories) == CATEGORY_MAX_COUNT == len(set(categories))
    assert all(len(c) <= CATEGORY_MAX_LEN for c in categories)


def test_not_a_feed_pickles() -> None:
    error = pickle.loads(pickle.dumps(NotAFeed("no RSS, Atom or RDF document found")))
    assert isinstance(error, NotAFeed)
    assert error.args == ("no RSS, Atom or RDF document found",)
    assert error.detail == "no RSS, Atom or RDF document found"


# --- SECURITY.md section C: hostile XML and feed content ----------------------------------------

LOL = "\n".join(
    ['<!DOCTYPE rss [', '<!ENTITY lol "lol">']
    + [f'<!ENTITY lol{n} "{("&lol" + (str(n - 1) if n > 1 else "") + ";") * 10}">' for n in range(1, 10)]
    + [']>']
)


@pytest.mark.parametrize("separator", ["\n", " "], ids=["multiline", "single-line"])
def test_billion_laughs_is_not_expanded(separator: str) -> None:
    """SECURITY.md C.25: the classic lol1..lol9 payload parses fast, unexpanded."""
    body = rss(item(guid="g", title="&lol9;"), prolog=LOL.replace("\n", separator) + "\n")
    started = time.perf_counter()
    parsed = parse_or_not_a_feed(body)
    assert time.perf_counter() - started < 1.0
    assert parsed is not None
    assert all(len(value) <= SUMMARY_MAX for value in texts(parsed))
    assert "lollollol" not in " ".join(texts(parsed))


def big_entity_feed(references: int = 5_000, size: int = 100_000, prolog_extra: str = "",
                    declaration: str | None = None) -> bytes:
    declaration = declaration or f'<!ENTITY a "{"A" * size}">'
    prolog = f"<!DOCTYPE rss [\n{prolog_extra}{declaration}\n]>\n"
    return rss(item(guid="g", title="&a;" * references), prolog=prolog)


def test_one_big_entity_referenced_5000_times_is_not_expanded() -> None:
    """SECURITY.md C.26: one 100 KB entity x 5,000 references (10.6 s and 2.4 GB unguarded)."""
    body = big_entity_feed()
    started = time.perf_counter()
    parsed = parse_feed(body, FEED_URL, RSS)
    assert time.perf_counter() - started < 1.0
    title = parsed.entries[0].title
    assert title is not None and len(title) <= TITLE_MAX and "AAAA" not in title
    tracemalloc.start()
    try:
        parse_feed(body, FEED_URL, RSS)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100 * 2**20


@pytest.mark.parametrize("variant", [
    pytest.param({"prolog_extra": "<!-- <a hides the DTD from a naive '<\\w' split -->\n"}, id="comment"),
    pytest.param({"prolog_extra": '<!ENTITY b "x>y">\n'}, id="gt-in-value"),
    pytest.param({"declaration": "<!ENTITY a '" + "A" * 100_000 + "'>"}, id="single-quoted"),
    pytest.param({"declaration": '<!entity a "' + "A" * 100_000 + '">'}, id="lowercase"),
    pytest.param({"prolog_extra": '<!ENTITY % p "x">\n%p;\n'}, id="parameter-entity"),
])
def test_big_entity_variants_are_not_expanded(variant: dict[str, Any]) -> None:
    """SECURITY.md C.26: the same blow-up hidden behind comments, quotes, case and PE references."""
    started = time.perf_counter()
    parsed = parse_or_not_a_feed(big_entity_feed(**variant))
    assert time.perf_counter() - started < 1.0
    assert parsed is None or all("AAAA" not in value for value in texts(parsed))


def test_dtd_hidden_behind_a_comment_is_not_expanded_by_expat() -> None:
    """SECURITY.md C.26: a '<a' inside a comment ends feedparser's idea of the prolog, so it keeps
    the DTD, and expat expands a 1 MB entity 100 times before its amplification limit trips
    (198 MB without the DOCTYPE rebuild; 1 GB for a 10 MB entity)."""
    body = big_entity_feed(references=200, size=1_000_000, prolog_extra="<!-- <a -->\n")
    tracemalloc.start()
    try:
        started = time.perf_counter()
        parsed = parse_or_not_a_feed(body)
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < 1.0 and peak < 50 * 2**20
    assert parsed is None or all("AAAA" not in value for value in texts(parsed))


def test_big_entity_in_a_utf16_document_is_not_expanded() -> None:
    """SECURITY.md C.26: the DTD is inspected after decoding, so UTF-16 does not hide it."""
    body = big_entity_feed().decode().replace('encoding="utf-8"', 'encoding="utf-16"').encode("utf-16")
    started = time.perf_counter()
    parsed = parse_or_not_a_feed(body, None)
    assert time.perf_counter() - started < 1.0
    assert parsed is None or all("AAAA" not in value for value in texts(parsed))


def test_entity_declaration_inside_a_doctype_literal_is_not_used() -> None:
    """SECURITY.md C.26: feedparser's own prolog regex also reads declarations inside quotes."""
    declaration = '<!ENTITY a "' + "A" * 100_000 + '">'
    prolog = f"<!DOCTYPE rss PUBLIC '\n{declaration}' 'x.dtd'>\n"
    body = rss(item(guid="g", title="&a;" * 5000), prolog=prolog)
    started = time.perf_counter()
    parsed = parse_or_not_a_feed(body)
    assert time.perf_counter() - started < 1.0
    assert parsed is None or all("AAAA" not in value for value in texts(parsed))


def test_small_entities_still_work() -> None:
    """SECURITY.md §3.1: an RSS 0.91-style internal subset with &nbsp; keeps working."""
    prolog = '<!DOCTYPE rss [\n<!ENTITY nbsp "&#160;">\n<!ENTITY big "' + "B" * 1000 + '">\n]>\n'
    parsed = parse_feed(rss(item(guid="g", title="a&nbsp;b"), prolog=prolog), FEED_URL, RSS)
    assert parsed.entries[0].title == "a\xa0b"


@pytest.fixture()
def sentinel(tmp_path: Path) -> Path:
    path = tmp_path / "sentinel.txt"
    path.write_text("SENTINEL-7f3a9c-SECRET")
    return path


@pytest.mark.parametrize("kind", ["general", "parameter", "external-dtd"])
def test_xxe_reads_nothing(sentinel: Path, tmp_path: Path, kind: str) -> None:
    """SECURITY.md C.27: SYSTEM entities, parameter entities and external DTDs are never read."""
    dtd = tmp_path / "evil.dtd"
    dtd.write_text(f'<!ENTITY x SYSTEM "{sentinel.as_uri()}"><!ENTITY y "SENTINEL-7f3a9c-SECRET">')
    prolog = {
        "general": f'<!DOCTYPE rss [\n<!ENTITY x SYSTEM "{sentinel.as_uri()}">\n]>\n',
        "parameter": f'<!DOCTYPE rss [\n<!ENTITY % p SYSTEM "{dtd.as_uri()}">\n%p;\n]>\n',
        "external-dtd": f'<!DOCTYPE rss SYSTEM "{dtd.as_uri()}">\n',
    }[kind]
    body = rss(item(guid="g&x;", title="&x;&y;", extra="<description>&x;&y;</description>"),
               channel="<description>&x;</description>", prolog=prolog)
    parsed = parse_or_not_a_feed(body)
    assert parsed is None or "SENTINEL" not in repr(parsed)


@pytest.mark.parametrize("body", [
    pytest.param(rss(item(guid="g", title="a\x00b\x01c\x1fd")), id="nul-and-c0"),
    pytest.param(rss(item(guid="g", title="bad BYTES")).replace(b"BYTES", b"\xff\xfe\xc3("), id="invalid-utf8"),
    pytest.param(rss(item(guid="g", title="a&#xD800;b")), id="surrogate-reference"),
    pytest.param(rss(item(guid="g", title="a&#x110000;b&#99999999999999999999;c")), id="huge-references"),
    pytest.param(rss(item(guid="g", title="café")).replace(b'encoding="utf-8"', b'encoding="utf-16"'),
                 id="utf16-declared-over-utf8"),
    pytest.param(rss(item(guid="g", title="x")).replace(b'encoding="utf-8"', b'encoding="x-no-such"'),
                 id="unknown-encoding"),
    pytest.param(rss(item(guid="g", title="Ünïcödé")).decode().replace('encoding="utf-8"', 'encoding="utf-16"')
                 .encode("utf-16"), id="utf16-bom"),
    pytest.param(rss(item(guid="g", title="x")) + b"\x00\x01garbage after the end", id="trailing-bytes"),
    pytest.param(rss(item(guid="g\x00\x07", title="t", link="http://a.example/\x00x")), id="controls-in-ids"),
])
def test_broken_encodings_and_control_characters(body: bytes) -> None:
    """SECURITY.md C.28: no crash; no NUL or C0 in any field; every field encodes as UTF-8."""
    parse_or_not_a_feed(body)
    parse_or_not_a_feed(body, "text/xml; charset=iso-8859-1")  # a header that disagrees
    parse_or_not_a_feed(body, None)


@pytest.mark.parametrize("body", [
    pytest.param(b'<?xml version="1.0" encoding="\xce\x20"?><rss version="2.0"><channel/></rss>',
                 id="non-utf8-encoding-name"),
    pytest.param(b'<?xml version="1.0" encoding="utf\x008"?><rss version="2.0"><channel/></rss>',
                 id="nul-in-encoding-name"),
    pytest.param(b'<rss version="2.0"><channel><title>t</title><image></width></image></channel></rss>',
                 id="empty-width"),
    pytest.param(b"<item<category</item>y</category>", id="category-without-tags"),
])
def test_inputs_that_crash_feedparser_become_not_a_feed(body: bytes) -> None:
    """SECURITY.md C.28: feedparser raises UnicodeDecodeError, ValueError, TypeError or KeyError
    on these (found by fuzzing the corpus); parse_feed raises NotAFeed instead."""
    with pytest.raises(NotAFeed, match="feedparser could not parse it"):
        parse_feed(body, FEED_URL, None)
    for content_type in (RSS, "text/xml; charset=utf-8", "text/html"):
        parse_or_not_a_feed(body, content_type)


def test_mangled_corpus_feeds_parse_or_are_not_feeds() -> None:
    """SECURITY.md C.28 and C.33: 300 seeded mutations of corpus feeds (insertions of hostile
    tokens, deletions, byte flips, truncations) give a ParsedFeed or NotAFeed, nothing else."""
    rng = random.Random(20260509)
    sources = [corpus_body(i)[0] for i in MANIFEST if i["bytes"] < 30_000]
    tokens = [b"&#xD800;", b"<![CDATA[", b"]]>", b"<!--", b"<!DOCTYPE x [", b"]>", b'<!ENTITY a "aaaa">',
              b"&a;", b"\x00", b"\xff", b"<", b"&", b"</item>", b"<author>", b"<guid>", b"</category>",
              b'encoding="\xe9"', b"</width>", b"%p;"]
    for _ in range(300):
        body = bytearray(rng.choice(sources))
        for _ in range(rng.randint(1, 5)):
            at = rng.randrange(len(body) + 1)
            action = rng.random()
            if action < 0.4:
                body[at:at] = rng.choice(tokens)
            elif action < 0.6:
                del body[at:at + rng.randint(1, 40)]
            elif action < 0.8 and at < len(body):
                body[at] = rng.randrange(256)
            else:
                del body[at:]
        parse_or_not_a_feed(bytes(body), rng.choice([None, RSS, "text/xml", "text/html"]))


def test_reference_to_a_surrogate_does_not_sink_the_feed() -> None:
    """SECURITY.md C.28: feedparser's loose parser raises on &#xD800; (and ValueError beyond
    U+10FFFF); such references become U+FFFD and the rest of the feed is kept."""
    items = item(guid="a", title="x&#xD800;y") + item(guid="b", title="&#x110000;") + item(guid="c")
    parsed = parse_feed(rss(items), FEED_URL, RSS)
    assert [e.guid for e in parsed.entries] == ["a", "b", "c"]
    assert parsed.entries[0].title == "x\ufffdy"


def test_nul_and_controls_are_removed_from_the_title() -> None:
    """SECURITY.md C.28: feedparser passes 'a\\x00b' through; the parse result does not."""
    parsed = parse_feed(rss(item(guid="g", title="a\x00b\x01c")), FEED_URL, RSS)
    assert parsed.entries[0].title == "abc"


CHALLENGE = b"""<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title>
<meta http-equiv="refresh" content="35"></head><body><div id="challenge-body">
<h1>Checking your browser before accessing example.com.</h1><noscript>Enable JavaScript</noscript>
</div></body></html>"""
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"


@pytest.mark.parametrize(("body", "content_type"), [
    pytest.param(CHALLENGE, "text/html; charset=UTF-8", id="challenge-html"),
    pytest.param(CHALLENGE, None, id="challenge-no-content-type"),
    pytest.param(CHALLENGE, RSS, id="challenge-claiming-rss"),
    pytest.param(b"", RSS, id="empty"),
    pytest.param(b" \n\t ", None, id="whitespace"),
    pytest.param(b'{"version": "https://jsonfeed.org/version/1", "items": []}', "application/json", id="json"),
    pytest.param(PNG, "image/png", id="png"),
    pytest.param(b"/etc/passwd", "text/plain", id="a-path"),
    pytest.param(b"http://127.0.0.1:9/latest/meta-data/", "text/plain", id="a-url"),
])
def test_not_a_feed(body: bytes, content_type: str | None) -> None:
    """SECURITY.md C.29 (and C.8): pages, empty bodies, JSON and images raise NotAFeed."""
    with pytest.raises(NotAFeed) as caught:
        parse_feed(body, FEED_URL, content_type)
    assert caught.value.detail
    assert not looks_like_feed(body)


@pytest.mark.parametrize("date", [
    "Mon, 01 Jan 2500 00:00:00 GMT",
    "9" * 1_000_000,
    "Sat, 01 Jan 99999 00:00:00 GMT",
    "Thu, 01 Jan 2026 12:00:00 +9999",
    "not a date",
    "Tue, 05 Mar 1901 10:00:00 GMT",
    "",
])
def test_date_abuse(date: str) -> None:
    """SECURITY.md C.30: no published date later than now + 1 day; the raw string is kept, capped."""
    parsed = parse_feed(rss(item(guid="g", date=date)), FEED_URL, RSS, now=NOW)
    entry = parsed.entries[0]
    if entry.published is not None:
        assert datetime.fromisoformat(entry.published) <= NOW + timedelta(days=1)
    for value in (entry.published, entry.updated):
        assert value is None or datetime.fromisoformat(value).utcoffset() == timedelta(0)
    assert entry.published_raw == (date.strip()[:RAW_DATE_MAX] or None)


def test_far_future_date_is_dropped_and_past_date_kept() -> None:
    """SECURITY.md C.30: year 2500 becomes None; 1901 is a real date."""
    items = item(guid="future", date="Mon, 01 Jan 2500 00:00:00 GMT") + \
        item(guid="past", date="Tue, 05 Mar 1901 10:00:00 GMT")
    entries = {e.guid: e for e in parse_feed(rss(items), FEED_URL, RSS, now=NOW).entries}
    assert entries["future"].published is None
    assert entries["future"].published_raw == "Mon, 01 Jan 2500 00:00:00 GMT"
    assert entries["past"].published == "1901-03-05T10:00:00+00:00"


def test_duplicate_guids_collapse_to_the_first() -> None:
    """SECURITY.md C.31: one entry per guid within a document, the first one kept."""
    items = item(guid="same", title="first") + item(guid="same", title="second") + item(guid="other")
    parsed = parse_feed(rss(items), FEED_URL, RSS)
    assert [(e.guid, e.title) for e in parsed.entries] == [("same", "first"), ("other", "t")]


def test_missing_guid_falls_back_to_link_then_hash() -> None:
    """SECURITY.md C.31: no guid -> the link; no link either -> sha256 of title and date."""
    items = item(title="linked", link="/a") + item(title="bare", date="Mon, 01 Jan 2024 00:00:00 GMT") + \
        item(title="bare2")
    entries = parse_feed(rss(items), FEED_URL, RSS).entries
    assert entries[0].guid == "http://feed.example/a"
    assert entries[1].guid.startswith("sha256:") and entries[2].guid.startswith("sha256:")
    assert entries[1].guid != entries[2].guid
    again = parse_feed(rss(items), "https://moved.example/other/feed", RSS).entries
    assert [e.guid for e in again[1:]] == [e.guid for e in entries[1:]]


@pytest.mark.parametrize(("guid_xml", "expected"), [
    ("<guid>g1</guid>", "g1"),
    ("<guid>/posts/1</guid>", "/posts/1"),
    ("<guid>12345</guid>", "12345"),
    ('<guid isPermaLink="false">42</guid>', "42"),
    ("<guid>https://site.example/p/1</guid>", "https://site.example/p/1"),
    ("<guid>tag:site.example,2024:1</guid>", "tag:site.example,2024:1"),
])
def test_relative_guid_is_kept_as_received(guid_xml: str, expected: str) -> None:
    """SECURITY.md C.31: feedparser resolves relative guids; the entry keeps the guid as written."""
    body = rss(f"<item><title>t</title>{guid_xml}</item>")
    first = parse_feed(body, "http://feed.example/news/rss.xml", RSS).entries[0]
    moved = parse_feed(body, "https://elsewhere.example/x/y/feed", RSS).entries[0]
    assert first.guid == moved.guid == expected
    if ":" not in expected and "isPermaLink" not in guid_xml:
        # a permalink guid doubles as the link, and the link IS resolved against the feed URL
        assert first.link and first.link.startswith("http://feed.example/")


def test_relative_atom_id_is_kept_as_received() -> None:
    """SECURITY.md C.31: the same holds for Atom <id>."""
    body = (b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>'
            b'<entry><id>e-1</id><title>x</title><link href="p/1"/></entry></feed>')
    entry = parse_feed(body, "https://feed.example/blog/atom.xml", "application/atom+xml").entries[0]
    assert entry.guid == "e-1" and entry.link == "https://feed.example/blog/p/1"


def test_very_long_guid_is_hashed() -> None:
    """SECURITY.md B.24 and C.31: a 100 KB guid becomes its sha256, not a 100 KB key."""
    parsed = parse_feed(rss(item(guid="g" * 100_000)), FEED_URL, RSS)
    assert parsed.entries[0].guid.startswith("sha256:") and len(parsed.entries[0].guid) == 71


@pytest.mark.parametrize(("link", "expected"), [
    ("javascript:alert(1)", None),
    ("JaVaScRiPt:alert(1)", None),
    ("data:text/html,<script>alert(1)</script>", None),
    ("file:///etc/passwd", None),
    ("ftp://files.example/x", None),
    ("//127.0.0.1/x", "http://127.0.0.1/x"),
    ("http://" + "a" * 100_000 + ".example/", None),
    ("https://site.example/a?b=1&amp;c=2", "https://site.example/a?b=1&c=2"),
    ("https://site.example/a\r\n/b\t", "https://site.example/a/b"),
])
def test_hostile_links(link: str, expected: str | None) -> None:
    """SECURITY.md C.32: only http(s) links survive (the fetcher's address guard does the rest)."""
    parsed = parse_feed(rss(item(guid="g", link=link)), FEED_URL, RSS)
    assert parsed.entries[0].link == expected


def test_ten_thousand_links_in_content() -> None:
    """SECURITY.md C.32: 10k links in content:encoded parse, and the summary is capped."""
    html = "".join(f'<a href="http://x.example/{n}">link {n}</a> ' for n in range(10_000))
    extra = f"<description><![CDATA[{html}]]></description>"
    started = time.perf_counter()
    parsed = parse_feed(rss(item(guid="g", extra=extra)), FEED_URL, RSS)
    assert time.perf_counter() - started < 5.0
    summary = parsed.entries[0].summary
    assert summary is not None and len(summary) <= SUMMARY_MAX


def test_enormous_fields_are_capped() -> None:
    """SECURITY.md B.24: a 2 MB title and a 1 MB author are capped, quickly."""
    extra = f"<author>{'w' * 1_000_000}</author>"
    parsed = parse_feed(rss(item(guid="g", title="T" * 2_000_000, extra=extra)), FEED_URL, RSS)
    entry = parsed.entries[0]
    assert entry.title is not None and len(entry.title) == TITLE_MAX
    assert entry.author is not None and len(entry.author) <= 1_000


def authors(count: int, author_xml: str) -> bytes:
    items = "".join(f"<item><guid>g{n}</guid>{author_xml}</item>" for n in range(count))
    return rss(items).replace(b'<rss version="2.0">',
                              b'<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">')


@pytest.mark.parametrize(("body", "expected"), [
    pytest.param(authors(1, f"<author>{'w' * 1_000_000}</author>"), "w" * 64, id="one-run"),
    pytest.param(authors(1, f"<author>{('w' * 900 + '<b/>') * 1_100}</author>"), None, id="around-children"),
    pytest.param(authors(1, f"<dc:creator>{'&#119;' * 170_000}</dc:creator>"), None, id="references"),
    pytest.param(authors(1, f"<author>{('w' * 60 + '<![CDATA[]]>') * 14_000}</author>"), None, id="cdata-pieces"),
    pytest.param(authors(1, f"<author>{('w' * 60 + '<!-- > -->') * 14_000}</author>"), None, id="comment-pieces"),
    pytest.param(authors(1, f"<dc:creator><![CDATA[{'w' * 1_000_000}]]></dc:creator>"), None, id="cdata"),
    pytest.param(authors(3_000, f"<author>{'w' * 1_000}</author>"), "w" * 64, id="3000-authors"),
])
def test_long_author_does_not_stall_feedparser(body: bytes, expected: str | None) -> None:
    """SECURITY.md B.24: feedparser's e-mail regex is quadratic in the longest run of letters
    (a 1 MB <author> never finishes, 3,000 authors of 1,000 letters took 28 s)."""
    started = time.perf_counter()
    parsed = parse_feed(body, FEED_URL, RSS)
    assert time.perf_counter() - started < 3.0
    assert parsed.entries[0].author == expected


@pytest.mark.parametrize(("author_xml", "expected"), [
    ("<author>jane.doe@example.com (Jane Doe)</author>", "jane.doe@example.com (Jane Doe)"),
    ("<dc:creator><![CDATA[Jane & Joe]]></dc:creator>", "Jane & Joe"),
    ("<author>" + ", ".join(f"Author Number{n}" for n in range(50)) + "</author>",
     ", ".join(f"Author Number{n}" for n in range(50))),
])
def test_ordinary_authors_are_untouched(author_xml: str, expected: str) -> None:
    """SECURITY.md B.24: the guard leaves normal, CDATA-wrapped and long-but-spaced authors alone."""
    assert parse_feed(authors(1, author_xml), FEED_URL, RSS).entries[0].author == expected


def test_deep_nesting() -> None:
    """SECURITY.md C.33: 50k nested elements finish within budget, no RecursionError."""
    nested = "<x>" * 50_000 + "</x>" * 50_000
    started = time.perf_counter()
    parse_or_not_a_feed(rss(item(guid="g", extra=nested)))
    assert time.perf_counter() - started < 5.0


def test_deeply_nested_html_in_cdata() -> None:
    """SECURITY.md C.33: 100k nested <div> inside CDATA finish within budget."""
    nested = "<div>" * 100_000 + "</div>" * 100_000
    started = time.perf_counter()
    parse_or_not_a_feed(rss(item(guid="g", extra=f"<description><![CDATA[{nested}]]></description>")))
    assert time.perf_counter() - started < 10.0


# --- looks_like_feed and discover_feeds ---------------------------------------------------------


@pytest.mark.parametrize(("body", "expected"), [
    (b'<?xml version="1.0"?>\n<!-- hi -->\n<?xml-stylesheet href="s.xsl"?>\n<rss version="2.0"/>', True),
    (b'\xef\xbb\xbf<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "]>">]><rss/>', True),
    (b'<feed xmlns="http://www.w3.org/2005/Atom"/>', True),
    (b'<atom:feed xmlns:atom="http://www.w3.org/2005/Atom"/>', True),
    (b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/>', True),
    ('<?xml version="1.0" encoding="utf-16"?><rss/>'.encode("utf-16"), True),
    (b"<!DOCTYPE html><html><body><rss/></body></html>", False),
    (b"<!-- never closed <rss>", False),
    (b"", False),
    (b'{"rss": 1}', False),
])
def test_looks_like_feed(body: bytes, expected: bool) -> None:
    assert looks_like_feed(body) is expected


def test_discover_feeds_resolves_and_filters() -> None:
    page = b"""<html><head>
      <link rel="alternate" type="application/rss+xml" href="/feed.xml">
      <link rel="Alternate" type="application/atom+xml; charset=utf-8" href="atom.xml">
      <link rel="alternate" type="application/rss+xml" href="/feed.xml">
      <link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">
      <link rel="alternate" type="application/rss+xml" href="file:///etc/passwd">
      <link rel="alternate" type="text/html" href="/fr/">
      <link rel="stylesheet" type="application/rss+xml" href="/not-a-feed.xml">
      <link rel="alternate" type="application/rss+xml" href="https://other.example/f">
    </head><body><link rel="alternate" type="application/atom+xml" href="//cdn.example/b"></body></html>"""
    assert discover_feeds(page, "https://site.example/blog/post") == [
        "https://site.example/feed.xml",
        "https://site.example/blog/atom.xml",
        "https://other.example/f",
        "https://cdn.example/b",
    ]


def test_discover_feeds_honours_base() -> None:
    page = b'<html><head><base href="https://static.example/sub/"><link rel="alternate" ' \
           b'type="application/rss+xml" href="rss"></head></html>'
    assert discover_feeds(page, "https://site.example/") == ["https://static.example/sub/rss"]
    bad_base = page.replace(b"https://static.example/sub/", b"javascript:x")
    assert discover_feeds(bad_base, "https://site.example/a/") == ["https://site.example/a/rss"]


def test_discover_feeds_is_capped_and_survives_junk() -> None:
    links = "".join(f'<link rel="alternate" type="application/rss+xml" href="/f{n}">' for n in range(100))
    assert len(discover_feeds(f"<html><head>{links}</head></html>".encode(), "http://s.example/")) == DISCOVER_MAX
    assert discover_feeds(b"", "http://s.example/") == []
    assert discover_feeds(PNG, "http://s.example/") == []

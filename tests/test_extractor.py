"""archiver.content.extractor: bytes in, article out. Pure tests: fixtures read in place, no server."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import pickle
import random
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from conftest import gunzip_file

from archiver.content import speedups
from archiver.content.extractor import (
    Article,
    ExtractionError,
    catstags,
    decode_html,
    extract_article,
    is_html,
)

SHARED = Path(__file__).resolve().parents[2] / "shared"
MOSCOW = SHARED / "fixtures" / "moscowtimes"
CORPUS = SHARED / "corpus"
KIM_PATH = "/2015/01/13/kim-jong-un-reportedly-due-to-visit-moscow-in-may-a42825"
KIM_SERVED = f"http://127.0.0.1:8123{KIM_PATH}?utm_source=rss&utm_medium=feed"
KIM_CANONICAL = f"https://www.themoscowtimes.com{KIM_PATH}"

BODY = "".join(
    f"<p>Paragraph {n}: the city council met on Tuesday and argued at length about trams, "
    f"budgets, snow clearing and the schedule of the new line through the old town.</p>"
    for n in range(1, 6)
)


def corpus_rows() -> list[dict]:
    """The corpus manifest's rows, one per page."""
    return [json.loads(line) for line in (CORPUS / "articles" / "manifest.jsonl").open(encoding="utf-8")]


def corpus_html(row: dict) -> str:
    """A corpus page's HTML, decoded as the extractor decodes it."""
    return decode_html(gunzip_file(CORPUS / row["html"]), "text/html")[0]


def page(body: str = BODY, head: str = "", title: str = "A test article") -> str:
    """A small but complete article page."""
    return (
        f"<!DOCTYPE html><html lang=\"en\"><head>{head}<title>{title}</title></head>"
        f"<body><nav><a href=\"/\">Home</a></nav><article><h1>{title}</h1>{body}</article>"
        f"<footer>Copyright footer text</footer></body></html>"
    )


def all_fields(article: Article) -> list[str]:
    """Every string the article carries."""
    values = [v for v in vars(article).values() if isinstance(v, str)]
    return values + list(article.categories) + list(article.tags)


# --------------------------------------------------------------------------- the Moscow Times


def expected_paragraphs() -> list[str]:
    """The body paragraphs of expected.md: between the date line and "Original url:"."""
    lines = (MOSCOW / "expected.md").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if re.fullmatch(r"\w+ \d{1,2}, \d{4}", line.strip()))
    end = next(i for i, line in enumerate(lines) if line.startswith("Original url:"))
    return [line.strip().replace("\\$", "$") for line in lines[start + 1 : end] if line.strip()]


@pytest.fixture(scope="module")
def kim() -> Article:
    return extract_article((MOSCOW / "article.html").read_bytes(), KIM_SERVED, "text/html; charset=utf-8")


def test_moscowtimes_metadata(kim: Article) -> None:
    assert kim.title == "Kim Jong Un Reportedly Due to Visit Moscow in May"
    assert kim.author == "Richard Ensor"
    assert kim.published == "2015-01-13"
    assert kim.canonical_url == KIM_CANONICAL
    assert kim.sitename == "The Moscow Times"
    assert kim.language == "en"
    assert kim.charset == "utf-8"
    assert kim.extractor == f"trafilatura {importlib.metadata.version('trafilatura')}"


def test_moscowtimes_text_is_expected_paragraphs_in_order(kim: Article) -> None:
    paragraphs = expected_paragraphs()
    assert len(paragraphs) == 9
    assert kim.text.split("\n") == paragraphs


@pytest.mark.parametrize(
    "clutter",
    ["We use cookies", "Accept", "Opinion", "Podcasts", "Support The Moscow Times", "Read more",
     "Ruble Slides Again", "Putin Meets North Korean Envoy", "Share on", "Facebook", "Twitter",
     "all rights reserved", "Privacy Policy", "About us", "dataLayer", "font-family"],
)
def test_moscowtimes_text_has_no_clutter(kim: Article, clutter: str) -> None:
    assert clutter not in kim.text


def test_moscowtimes_canonical_url_matches_expected_md(kim: Article) -> None:
    last = (MOSCOW / "expected.md").read_text(encoding="utf-8").strip().splitlines()[-1]
    assert last == f"<{kim.canonical_url}>"


@pytest.mark.parametrize("name", ["tram-line.html", "winter-festival.html"])
def test_other_moscowtimes_pages_extract(name: str) -> None:
    article = extract_article((MOSCOW / name).read_bytes(), f"http://127.0.0.1:8123/{name}", "text/html")
    assert article.title and article.text
    assert "We use cookies" not in article.text
    assert article.canonical_url and article.canonical_url.startswith("https://www.themoscowtimes.com/")


# --------------------------------------------------------------------------- charsets


GERMAN = "Die Straße führt über Äcker; schöne Grüße aus München, sagt Jürgen."


def german_page(head: str = "") -> str:
    return page(body=f"<p>{GERMAN} {BODY}</p>" + BODY, head=head, title="Größe")


def test_header_charset_beats_meta() -> None:
    body = german_page('<meta charset="utf-8">').encode("cp1252")
    text, charset = decode_html(body, "text/html; charset=windows-1252")
    assert charset == "cp1252"
    assert GERMAN in text


def test_meta_charset_used_without_header_charset() -> None:
    body = german_page('<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">').encode("latin-1")
    text, charset = decode_html(body, "text/html")
    assert charset == "cp1252"  # browsers read latin-1 labels as windows-1252
    assert GERMAN in text


def test_meta_charset_beats_bom() -> None:
    # The order of trust is header, meta, BOM; the UTF-8 BOM bytes are dropped either way.
    body = b"\xef\xbb\xbf" + german_page('<meta charset="windows-1252">').encode("cp1252")
    text, charset = decode_html(body, None)
    assert charset == "cp1252"
    assert text.startswith("<!DOCTYPE html>")
    assert GERMAN in text


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16-le", "utf-16-be"])
def test_bom_used_when_nothing_is_declared(encoding: str) -> None:
    bom = {"utf-8": b"\xef\xbb\xbf", "utf-16-le": b"\xff\xfe", "utf-16-be": b"\xfe\xff"}[encoding]
    body = bom + german_page().encode(encoding)
    assert is_html(body, None)
    text, charset = decode_html(body, None)
    assert (charset, text[:15]) == (encoding, "<!DOCTYPE html>")
    assert GERMAN in extract_article(body, "http://example.org/a", None).text


def test_unknown_declared_charset_falls_to_the_next() -> None:
    body = german_page('<meta charset="windows-1252">').encode("cp1252")
    text, charset = decode_html(body, "text/html; charset=x-no-such-charset")
    assert charset == "cp1252" and GERMAN in text


def test_declared_utf8_that_does_not_fit_falls_back_to_windows_1252() -> None:
    body = german_page('<meta charset="utf-8">').encode("cp1252")
    text, charset = decode_html(body, "text/html; charset=utf-8")
    assert charset == "cp1252" and GERMAN in text


def test_latin1_page_without_any_charset() -> None:
    article = extract_article(german_page().encode("latin-1"), "http://example.org/a", "text/html")
    assert article.charset == "cp1252"
    assert GERMAN in article.text
    assert "\ufffd" not in article.text


def test_utf8_page_without_any_charset() -> None:
    article = extract_article(german_page().encode("utf-8"), "http://example.org/a", "text/html")
    assert article.charset == "utf-8" and GERMAN in article.text


def test_trafilatura_eval_windows_1252_page_served_without_charset() -> None:
    rows = corpus_rows()
    row = next(r for r in rows if r["id"] == "d60caba9d12c467b9708ec8981cad8aa.html")
    body = gunzip_file(CORPUS / row["html"])
    article = extract_article(body, row["url"], "text/html")
    assert article.charset == "cp1252"
    assert article.title == row["title"]
    assert article.published == row["date"]
    assert "Fußball heute im TV" in article.text


@pytest.mark.parametrize("body", [
    "<p>plain</p>".encode(),
    "\ufeff<p>BOM, tab\there,\r\nline ends, NUL \x00 and ESC \x1b</p>".encode(),
    ("<p>M\u00fcnchen " * 60).encode() + b"invalid \xff\xfe, cut \xe2\x28 and \x01\x02\x1f</p>\xe2\x82",
    b"\x00" * 40 + "<p>mostly NUL, then M\u00fcnchen \ufffd</p>".encode(),
    ("\u00e9" * 300).encode() + bytes(range(32)) + b"\x80\xff\xc3",
], ids=["clean", "bom-and-controls", "invalid-utf8", "nul-heavy", "every-control"])
def test_garbage_share_of_utf8_counts_bytes_as_the_text_scan_would(body: bytes) -> None:
    """The UTF-8 shortcut of _garbage_share (controls counted in the bytes) gives the share a
    scan of the decoded text gives."""
    from archiver.content.extractor import _GARBAGE, _garbage_share

    text, charset = decode_html(body, "text/html; charset=utf-8")
    assert charset == "utf-8"
    expected = len(_GARBAGE.findall(text)) / len(text)
    assert _garbage_share(text, body, charset) == expected
    assert _garbage_share(text, body, "scan") == expected


def test_truncation_inside_a_character_still_decodes() -> None:
    body = german_page().encode("utf-8")
    cut = body.index("München".encode()) + 2  # inside the two bytes of "ü"
    text, charset = decode_html(body[:cut], None)
    assert charset == "utf-8" and text.endswith("M")


def test_body_over_max_bytes_is_truncated_and_extracted() -> None:
    body = page(BODY * 40).encode()
    article = extract_article(body, "http://example.org/a", "text/html", max_bytes=len(body) // 2)
    assert "Paragraph 1:" in article.text
    assert len(article.text) < len(BODY * 40) // 2


# --------------------------------------------------------------------------- not HTML


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"


@pytest.mark.parametrize(
    ("body", "content_type", "media_type"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>", "application/pdf", "application/pdf"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>", "text/html", "application/pdf"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>", None, "application/pdf"),
        (PNG, "image/png", "image/png"),
        (PNG, "text/html; charset=utf-8", "image/png"),
        (PNG, "application/octet-stream", "image/png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", None, "image/jpeg"),
        (b"GIF89a\x01\x00\x01\x00\x80\x00\x00", None, "image/gif"),
        (b'{"title": "<p>not a page</p>", "items": [1, 2]}', "application/json", "application/json"),
        (b'{"title": "<p>not a page</p>", "items": [1, 2]}', None, "application/json"),
        (b'  [{"a": "<b>"}]', "text/html", "application/json"),
        (b"\x00\x01\x02\x03binary\x00data<p>", None, "application/octet-stream"),
        (b"just some words, no markup at all", "text/plain", "text/plain"),
        (b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>',
         "text/xml", "application/rss+xml"),
        (b"<feed xmlns='http://www.w3.org/2005/Atom'><title>t</title></feed>", None, "application/atom+xml"),
        (b"body{color:red}", "text/css", "text/css"),
    ],
)
def test_non_html_bodies_are_refused(body: bytes, content_type: str | None, media_type: str) -> None:
    assert not is_html(body, content_type)
    with pytest.raises(ExtractionError) as caught:
        extract_article(body, "http://example.org/x", content_type)
    assert caught.value.reason == "not_html"
    assert caught.value.detail == media_type


@pytest.mark.parametrize("content_type", [None, "", "text/plain", "application/octet-stream", "text/html"])
def test_html_is_recognised_without_a_reliable_content_type(content_type: str | None) -> None:
    body = (MOSCOW / "article.html").read_bytes()
    assert is_html(body, content_type)
    assert extract_article(body, KIM_SERVED, content_type).title == "Kim Jong Un Reportedly Due to Visit Moscow in May"


@pytest.mark.parametrize(
    "body",
    [b"", b"   \n", b"<html><body></body></html>",
     b"<html><head><script>var a = 1;</script></head><body><img src='a.png'></body></html>"],
)
def test_pages_without_an_article_are_no_content(body: bytes) -> None:
    with pytest.raises(ExtractionError) as caught:
        extract_article(body, "http://example.org/x", "text/html")
    assert caught.value.reason == "no_content"


def test_a_body_of_white_space_is_empty_by_the_same_bytes_strip_takes() -> None:
    # extract_article asks isspace() (which stops at the first other byte) rather than strip()
    for value in range(256):
        for body in (bytes([value]), bytes([value]) * 3, b" \t" + bytes([value])):
            assert (not body or body.isspace()) == (not body.strip()), body
    with pytest.raises(ExtractionError) as caught:
        extract_article(b" \t\r\n\x0b\x0c", "http://example.org/x", "text/html")
    assert (caught.value.reason, caught.value.detail) == ("no_content", "empty body")


def test_extraction_error_pickles() -> None:
    error = ExtractionError("not_html", "application/pdf")
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), copy.reason, copy.detail, str(copy)) == (
        ExtractionError, "not_html", "application/pdf", "not_html: application/pdf",
    )


# --------------------------------------------------------------------------- hostile content


def test_nul_and_control_characters_are_removed_from_every_field() -> None:
    head = (
        '<meta name="author" content="Jane\x00 Doe\x07">'
        '<meta name="description" content="A\x1b[31m description\x0c">'
        '<meta property="og:site_name" content="Site\x00Name">'
    )
    body = BODY.replace("trams", "tr\x00ams\x08").replace("budgets", "bud\x1fgets\x7f")
    article = extract_article(page(body, head, title="Ti\x00tle\x01 here").encode(), "http://example.org/a", None)
    assert "tr" in article.text and "Paragraph 3" in article.text
    for value in all_fields(article):
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", value), repr(value)
    assert article.author == "Jane Doe"
    assert "trams" in article.text and "budgets" in article.text


def test_scripts_and_javascript_links_never_reach_the_fields() -> None:
    body = (
        "<script>alert('body script')</script>"
        + BODY.replace("snow clearing", "<a href=\"javascript:alert('link')\">snow clearing</a>")
        + "<p onclick=\"alert('handler')\">One more paragraph with enough words to be kept as text here.</p>"
        + "<img src=x onerror=\"alert('img')\"><svg onload=\"alert('svg')\"></svg>"
        + "<iframe srcdoc=\"<script>alert('frame')</script>\"></iframe>"
    )
    head = (
        "<script>alert('head script')</script>"
        "<link rel=\"canonical\" href=\"javascript:alert('canonical')\">"
        "<meta property=\"og:url\" content=\"data:text/html,<script>alert('og')</script>\">"
    )
    article = extract_article(page(body, head).encode(), "http://example.org/a", "text/html")
    assert "snow clearing" in article.text
    assert article.canonical_url is None
    for value in all_fields(article):
        assert not re.search(r"(?i)javascript:|alert\(|<script|\son\w+=|<iframe", value), repr(value)


@pytest.mark.parametrize(
    ("head", "canonical"),
    [
        ('<link rel="canonical" href="/news/a?x=1">', "https://example.org/news/a?x=1"),
        ('<link rel="Canonical Alternate" href="//cdn.example.net/a">', "https://cdn.example.net/a"),
        ('<meta property="og:url" content="http://other.example/a">', "http://other.example/a"),
        ('<link rel="canonical" href="ftp://example.org/a"><meta property="og:url" content="https://example.org/b">',
         "https://example.org/b"),
        ('<link rel="canonical" href="mailto:someone@example.org">', None),
        ("", None),
    ],
)
def test_canonical_url(head: str, canonical: str | None) -> None:
    article = extract_article(page(head=head).encode(), "https://example.org/news/a?utm_source=x", "text/html")
    assert article.canonical_url == canonical


def test_fields_have_the_documented_types() -> None:
    head = '<meta name="keywords" content="one, two"><meta property="article:tag" content="Trams">'
    article = extract_article(page(head=head).encode(), "https://example.org/news/a", "text/html")
    assert isinstance(article.categories, tuple) and isinstance(article.tags, tuple)
    assert all(isinstance(v, str) for v in article.categories + article.tags)
    assert article.hostname == "example.org"
    assert "\n\n" not in article.text and article.text == article.text.strip()
    assert article.text.split("\n")[0].startswith("Paragraph 1:")  # the <h1> is the title, not text
    assert article.text.count("\n") == 4  # five paragraphs, one per line


# --------------------------------------------------------------------------- categories and tags

# trafilatura 2.x's extract_catstags, which archiver.content.extractor.catstags restates in part.
EXTRACT_CATSTAGS_SHA256 = "3f8fb883298aab2e249b67c7f17d51074f4182f992fd53a540e58b819ba95515"


def test_trafilatura_still_has_the_catstags_search_that_catstags_skips() -> None:
    import hashlib
    import inspect

    import trafilatura.metadata

    source = inspect.getsource(trafilatura.metadata.extract_catstags)
    assert hashlib.sha256(source.encode()).hexdigest() == EXTRACT_CATSTAGS_SHA256, (
        "trafilatura's extract_catstags changed: compare catstags in archiver/content/extractor.py with it")


# The sources of CATEGORIES_XPATHS and TAGS_XPATHS, each ``//STEP//a[@href]``, which catstags
# asks of each link as ``ancestor::STEP``.
CATSTAGS_XPATHS_SHA256 = "1c87a69e9693b976247b4c26b2acafc760cee3bf4a3770d58b7b56865ebff2ba"


def test_trafilatura_still_has_the_category_and_tag_searches_catstags_reverses() -> None:
    import hashlib

    from test_xpathregex import pristine_module

    xpaths = pristine_module("trafilatura.xpaths")
    source = "\n".join(x.path for x in [*xpaths.CATEGORIES_XPATHS, *xpaths.TAGS_XPATHS])
    assert hashlib.sha256(source.encode()).hexdigest() == CATSTAGS_XPATHS_SHA256, (
        "trafilatura's category or tag searches changed: check _catstags_tests in archiver/content/extractor.py")


def test_catstags_finds_what_trafilatura_finds_on_random_pages() -> None:
    """Links that name categories and tags (and others), nested in elements that trafilatura's
    searches look for (and near misses), the same lists of both kinds as trafilatura's."""
    import lxml.html
    import trafilatura
    import trafilatura.metadata

    rng = random.Random(5)
    tags = ["div", "p", "footer", "li", "span", "header", "section", "a"]
    classes = [None, "post-meta", "meta x", "entry-meta", "entry-categories", "post-category", "cat-links",
               "entry-header", "row", "tags", "entry-tags", "jp-relatedposts", "tagcloud", "topics", "tags-links",
               "entry-footer", "postinfo", "x-meta"]
    hrefs = ["/category/sport/", "/categories/a/", "/tag/cup/", "/tags/b", "/tagged/c/", "/categorical", "/news/"]

    def element(depth: int) -> str:
        if depth > 1 and rng.random() < 0.4:
            return f'<a href="{rng.choice(hrefs)}">{rng.choice(["Sport", "Cup", "", "News  items"])}</a>'
        tag = rng.choice(tags[:-1])
        kind = rng.choice(classes)
        attributes = (f' class="{kind}"' if kind else "") + (' id="postpath-1"' if rng.random() < 0.05 else "")
        inner = "".join(element(depth + 1) for _ in range(rng.randrange(1, 4 if depth < 4 else 2)))
        return f"<{tag}{attributes}>{inner}</{tag}>"

    found = 0
    for _ in range(600):
        head = '<meta property="article:section" content="Politics">' if rng.random() < 0.3 else ""
        tree = trafilatura.load_html(f"<html><head>{head}</head><body><p>Text.</p>{element(0)}{element(0)}</body></html>")
        for kind in ("category", "tag"):
            theirs = trafilatura.metadata.extract_catstags(kind, tree)
            assert catstags(kind, tree) == theirs, (kind, lxml.html.tostring(tree))
            found += bool(theirs)
    assert found > 300, found


def test_the_restated_searches_give_way_to_trafilatura_s_own_where_its_expressions_change(monkeypatch) -> None:
    """An upgrade of trafilatura that gives its category, tag or author-deletion expressions
    another form makes catstags and extract_author run trafilatura's own, rather than fail."""
    import trafilatura
    import trafilatura.metadata
    from lxml.etree import XPath

    from archiver.content import extractor

    for changed in ("//div[1]//a[@href]", "//div/p//a[@href]", "//div//a[@href][1]", ".//a[@href]"):
        assert extractor._catstags_tests([XPath(changed)]) is None, changed
    assert extractor._catstags_tests([XPath("//div[@class='tags']//a[@href]")]) is not None
    tree = trafilatura.load_html(
        '<html><body><div class="tags"><a href="/tag/cup/">Cup</a></div><div class="post-meta">'
        '<a href="/category/sport/">Sport</a></div><div class="author">Jane<span class="sidebar">x</span> Doe'
        "</div></body></html>")
    monkeypatch.setattr(extractor, "_CATSTAGS_TESTS", {"category": None, "tag": None})
    monkeypatch.setattr(extractor, "_DISCARD_TESTS", None)
    assert catstags("tag", tree) == trafilatura.metadata.extract_catstags("tag", tree) == ["Cup"]
    assert catstags("category", tree) == trafilatura.metadata.extract_catstags("category", tree) == ["Sport"]
    assert extractor.extract_author(tree) == trafilatura.metadata.extract_author(tree) == "Jane Doe"


def test_catstags_finds_what_trafilatura_finds_on_every_corpus_page() -> None:
    import trafilatura
    import trafilatura.metadata

    rows = corpus_rows()
    found = {"category": 0, "tag": 0}
    for row in rows:
        html = corpus_html(row)
        tree = trafilatura.load_html(html)
        for kind in found:
            theirs = trafilatura.metadata.extract_catstags(kind, tree)
            assert catstags(kind, tree) == theirs, (row["html"], kind)
            found[kind] += bool(theirs)
    assert len(rows) >= 391 and min(found.values()) >= 20  # pages with some of each were compared


# --------------------------------------------------------------------------- characters XML refuses


def test_the_characters_xml_refuses_are_those_of_trafilaturas_pattern() -> None:
    import importlib.util as util
    import sys as _sys

    import trafilatura.utils

    from archiver.content.speedups import XmlRefusedChars

    assert isinstance(trafilatura.utils.INVALID_XML_CHARS, XmlRefusedChars)
    pristine = re.compile(trafilatura.utils.INVALID_XML_CHARS.compiled.pattern)
    assert pristine.pattern == XmlRefusedChars.SOURCE
    # trafilatura's own pattern, read from its source: the one this stands in for
    spec = util.find_spec("trafilatura.utils")
    assert f'INVALID_XML_CHARS = re.compile(r"{XmlRefusedChars.SOURCE}")' in spec.loader.get_source("trafilatura.utils")
    matched = {chr(c) for c in range(_sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF and pristine.match(chr(c))}
    assert matched == set(XmlRefusedChars.CHARS)
    stand_in = trafilatura.utils.INVALID_XML_CHARS
    for char in [*XmlRefusedChars.CHARS, "\t", "\n", "\r", "\ufffd", "a", "\u00e9"]:
        text = f"<p>a{char}b{char}</p>"
        assert stand_in.sub("", text) == pristine.sub("", text)
    rows = corpus_rows()[::4]
    for row in rows:
        html = corpus_html(row)
        assert stand_in.sub("", html) == pristine.sub("", html)
    assert stand_in.search("x\x0by") and stand_in.pattern == XmlRefusedChars.SOURCE


# --------------------------------------------------------------------------- element classes


def _extract_or_reason(body: bytes, url: str) -> object:
    try:
        return extract_article(body, url, "text/html")
    except ExtractionError as err:
        return err.reason


def test_one_element_class_changes_no_extraction() -> None:
    """Every page parsed into plain HtmlElements (archiver's lookup) and into lxml.html's form,
    input and label classes: the same article from every third corpus page, and a form page."""
    import trafilatura.utils
    from lxml.html import FormElement, HtmlElementClassLookup


    rows = corpus_rows()[::3]
    form = (b"<html><body><article><form><label>Name</label><input value='x'><select><option>A</option>"
            b"</select><textarea>Write here</textarea></form>" + b"<p>Some article text goes here.</p>" * 20
            + b"</article></body></html>")
    pages = [(gunzip_file(CORPUS / row["html"]), row.get("url") or "https://example.org/a")
             for row in rows] + [(form, "https://example.org/form")]
    parser = trafilatura.utils.HTML_PARSER
    assert type(trafilatura.load_html(form).find(".//form")) is not FormElement
    ours = [_extract_or_reason(body, url) for body, url in pages]
    try:
        parser.set_element_class_lookup(HtmlElementClassLookup())
        assert type(trafilatura.load_html(form).find(".//form")) is FormElement
        theirs = [_extract_or_reason(body, url) for body, url in pages]
    finally:
        parser.set_element_class_lookup(speedups.HTML_CLASSES)
    assert ours == theirs
    assert len(pages) > 130 and sum(isinstance(a, Article) for a in ours) > 120


# --------------------------------------------------------------------------- the cleaned tree's backup

# The functions of trafilatura.core that can read the backup _prepare_tree_without_backup skips.
BACKUP_READERS_SHA256 = {
    "trafilatura_sequence": "f03dc4d2946dacbd0e023ca1c51fdf329e0fdc0be342fd0f14924396ec646e05",
    "_extract_and_compare": "f7d056c2118222e8ffb17e32d4796ccbddc452936d7177e27c53fb6d39b8f6e6",
    "_recall_retry": "59594c39714f57be4b7184b9302d676f444c3afdbb41c05575538cac0abab25c",
    "_prepare_tree": "9595f0642825c2c7ca61f5f311b0070b1cfaaca7009a7d916bce8eeff9b93e34",
}


def test_trafilatura_still_reads_the_backup_only_where_it_did() -> None:
    import hashlib
    import inspect

    import trafilatura.core


    functions = {name: getattr(trafilatura.core, name) for name in BACKUP_READERS_SHA256}
    functions["_prepare_tree"] = speedups._prepare_tree  # trafilatura's, as the extractor found it
    functions["_extract_and_compare"] = speedups._extract_and_compare
    for name, function in functions.items():
        assert hashlib.sha256(inspect.getsource(function).encode()).hexdigest() == BACKUP_READERS_SHA256[name], (
            f"trafilatura's {name} changed: check _prepare_tree_without_backup in archiver/content/extractor.py")


def test_the_text_without_the_backup_is_the_same_on_every_corpus_page() -> None:
    """bare_extraction as the extractor runs it (fast, no comments), with trafilatura's own
    _prepare_tree and with the one that skips the unread backup: the same text everywhere; and
    trafilatura's own when the backup can be read (fast=False)."""
    import trafilatura
    import trafilatura.core


    rows = corpus_rows()
    options = {"with_metadata": False, "include_comments": False, "fast": True}
    for row in rows:
        html = corpus_html(row)
        tree = trafilatura.load_html(html)
        assert trafilatura.core._prepare_tree is speedups._prepare_tree_without_backup
        ours = trafilatura.bare_extraction(tree, url=row.get("url"), **options)
        try:
            trafilatura.core._prepare_tree = speedups._prepare_tree
            theirs = trafilatura.bare_extraction(tree, url=row.get("url"), **options)
        finally:
            trafilatura.core._prepare_tree = speedups._prepare_tree_without_backup
        assert (ours and ours.text) == (theirs and theirs.text), row["html"]
    assert len(rows) >= 391
    tree = trafilatura.load_html("<html><body><article><p>" + "Words of text. " * 40 + "</p></article></body></html>")
    cleaned, backup = speedups._prepare_tree_without_backup(
        tree, trafilatura.settings.Extractor(fast=False, comments=False), None)
    assert backup is not None


# trafilatura's extract_content, whose end _extract_content_without_backup restates.
EXTRACT_CONTENT_SHA256 = "f0270c94ac5f30b587af9038adf70bc04082aaef15249c854bc6f8044074af3a"


def test_trafilatura_extract_content_is_the_one_restated() -> None:
    import hashlib
    import inspect

    import trafilatura.core
    import trafilatura.main_extractor

    source = inspect.getsource(trafilatura.main_extractor.extract_content)
    assert hashlib.sha256(source.encode()).hexdigest() == EXTRACT_CONTENT_SHA256, (
        "trafilatura's extract_content changed: check _extract_content_without_backup in archiver/content/speedups.py")
    assert speedups._extract_content is trafilatura.main_extractor.extract_content
    assert trafilatura.core.extract_content is speedups._extract_content_without_backup
    # its only caller, right after the tree was prepared
    assert inspect.getsource(trafilatura.core).count("extract_content(") == 1
    assert "postbody, temp_text = extract_content(cleaned_tree, options)" in inspect.getsource(
        speedups._extract_and_compare)


def _text_of_every_corpus_page(extract_content: object, monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    import trafilatura
    import trafilatura.core

    monkeypatch.setattr(trafilatura.core, "extract_content", extract_content)
    texts = []
    for row in corpus_rows():
        document = trafilatura.bare_extraction(trafilatura.load_html(corpus_html(row)), url=row.get("url"),
                                               with_metadata=False, include_comments=False, fast=True)
        texts.append(document and document.text)
    return texts


def _trafilaturas_counted(monkeypatch: pytest.MonkeyPatch) -> tuple[object, list[object]]:
    """trafilatura's extract_content, counting each tree the stand-in hands over to it (the
    stand-in calls it by this name), and the list of those trees."""
    handed_over, trafilaturas = [], speedups._extract_content

    def theirs(cleaned_tree, options):
        handed_over.append(cleaned_tree)
        return trafilaturas(cleaned_tree, options)

    monkeypatch.setattr(speedups, "_extract_content", theirs)
    return theirs, handed_over


def test_the_main_pass_without_its_backup_gives_the_same_text_on_every_corpus_page(monkeypatch) -> None:
    """bare_extraction as the extractor runs it: the same text with trafilatura's extract_content
    and with the stand-in, which hands the pages its main pass finds too little on to
    trafilatura's (a few of them on the corpus)."""
    theirs, handed_over = _trafilaturas_counted(monkeypatch)
    ours = _text_of_every_corpus_page(speedups._extract_content_without_backup, monkeypatch)
    recovered = len(handed_over)
    assert _text_of_every_corpus_page(theirs, monkeypatch) == ours
    assert len(ours) >= 391 and 0 < recovered < len(ours) / 5, recovered


def test_a_page_with_too_little_for_the_main_pass_is_prepared_again_for_trafilatura(monkeypatch) -> None:
    import trafilatura

    # text in a bare <div>, no container and no paragraph: only trafilatura's recovery finds it
    html = ("<html><body><div class='x'><div>" + "Some words of a short note, alone on its page. " * 3
            + "</div></div></body></html>")
    trafilaturas = speedups._extract_content
    _, given = _trafilaturas_counted(monkeypatch)

    def text() -> str | None:
        document = trafilatura.bare_extraction(trafilatura.load_html(html), with_metadata=False, fast=True,
                                               include_comments=False)
        return document and document.text

    ours = text()
    assert given and ours and "Some words of a short note" in ours
    monkeypatch.setattr(trafilatura.core, "extract_content", trafilaturas)
    assert text() == ours

# --------------------------------------------------------------------------- the page's text, for the retry


def test_trafilatura_measures_the_page_only_for_its_retry_after_the_extraction() -> None:
    import inspect

    import trafilatura.core

    def code(source: str) -> str:
        return "\n".join(line for line in source.splitlines() if not line.strip().startswith("#"))

    module = code(inspect.getsource(trafilatura.core))
    sequence = code(inspect.getsource(trafilatura.core.trafilatura_sequence))
    assert module.count("html2txt(") == sequence.count("html2txt(") == 1, (
        "trafilatura.core calls html2txt elsewhere: check _page_text_where_it_can_matter")
    assert "len(temp_text) < ESCALATION_PAGE_SHARE * len(html2txt(tree))" in sequence
    assert sequence.index("= _extract_and_compare(") < sequence.index("html2txt(")


def test_the_page_text_bound_holds_and_the_text_is_the_same_on_every_corpus_page() -> None:
    """page_text_bound is at least html2txt's length; bare_extraction as the extractor runs it
    gives the same text with the shortcut and without it."""
    import trafilatura
    import trafilatura.core


    rows = corpus_rows()
    options = {"with_metadata": False, "include_comments": False, "fast": True}
    measured = []
    calls = {"made": 0, "skipped": 0}

    def counting(tree, clean=True):
        text = speedups._page_text_where_it_can_matter(tree, clean)
        calls["made"] += 1
        calls["skipped"] += text == ""
        return text

    for row in rows:
        tree = trafilatura.load_html(corpus_html(row))
        measured.append((speedups.page_text_bound(tree), len(speedups._html2txt(tree))))
        try:
            trafilatura.core.html2txt = counting
            ours = trafilatura.bare_extraction(tree, url=row.get("url"), **options)
            trafilatura.core.html2txt = speedups._html2txt
            theirs = trafilatura.bare_extraction(tree, url=row.get("url"), **options)
        finally:
            trafilatura.core.html2txt = speedups._page_text_where_it_can_matter
        assert (ours and ours.text) == (theirs and theirs.text), row["html"]
    assert all(bound >= length for bound, length in measured)
    assert len(rows) >= 391 and calls["made"] > 100 and calls["skipped"] > 30
    # Blocks glued together without spaces, control characters, a cookie banner: still a bound.
    html = ("<html><body>" + "<div>a<p>b</p>c</div><li>\x07d</li><span>e</span>" * 50
            + '<div class="Cookie-Banner">Accept all cookies</div><footer>f</footer></body></html>')
    tree = trafilatura.load_html(html)
    assert speedups.page_text_bound(tree) >= len(speedups._html2txt(tree)) > 200
    # Scripts and style sheets count for nothing, their tails for what they hold.
    words = "Short article text that stays. " * 4
    html = (f"<html><body><p>{words}</p><script>var data = {{'x': '{'y' * 5000}'}};</script> tail words "
            f"<style>p {{ color: red; }}</style><p>{words}</p></body></html>")
    tree = trafilatura.load_html(html)
    assert len(speedups._html2txt(tree)) <= speedups.page_text_bound(tree) < 400


def test_trafilatura_still_deletes_scripts_and_style_sheets_before_measuring_the_page() -> None:
    """page_text_bound leaves out the text of <script> and <style>: html2txt's cleaning deletes them."""
    import inspect

    from test_xpathregex import pristine_module

    baseline = pristine_module("trafilatura.baseline")
    paths = pristine_module("trafilatura.settings").BASIC_CLEAN_XPATH.path.split("|")
    assert ".//script" in paths and ".//style" in paths
    assert "_spaced_text(basic_cleaning(body) if clean else body)" in inspect.getsource(baseline.html2txt)
    assert "for elem in BASIC_CLEAN_XPATH(tree):\n        delete_element(elem)" in inspect.getsource(
        baseline.basic_cleaning)


# --------------------------------------------------------------------------- the author search

# trafilatura 2.x's extract_author and extract_metainfo, and the sources of AUTHOR_XPATHS and
# AUTHOR_DISCARD_XPATHS as trafilatura writes them: archiver.content.extractor.extract_author
# restates them without the copy of the page, on the ground that the expressions test names and
# own attributes only.
AUTHOR_SEARCH_SHA256 = {
    "extract_author": "e356580cb8515cbbc57c6b8f1f639687b45ee9a8c40d02b3aea61630497de194",
    "extract_metainfo": "a93943e7782f221add1ce6e5d8300befa2a617fcbceb13403f79af7b51b32918",
    "expressions": "bd5f280624916a837f627a558a6f87d6ebde80d97a00908c8a856c7b7b9eae82",
}


def test_trafilatura_still_searches_for_authors_as_extract_author_restates_it() -> None:
    import hashlib
    import inspect

    import trafilatura.metadata

    from test_xpathregex import pristine_module

    xpaths = pristine_module("trafilatura.xpaths")
    sources = {
        "extract_author": inspect.getsource(trafilatura.metadata.extract_author),
        "extract_metainfo": inspect.getsource(trafilatura.metadata.extract_metainfo),
        "expressions": "\n".join(x.path for x in [*xpaths.AUTHOR_XPATHS, *xpaths.AUTHOR_DISCARD_XPATHS]),
    }
    for name, source in sources.items():
        assert hashlib.sha256(source.encode()).hexdigest() == AUTHOR_SEARCH_SHA256[name], (
            f"trafilatura's {name} changed: compare extract_author in archiver/content/extractor.py with it")


def test_extract_author_finds_what_trafilatura_finds_on_every_corpus_page() -> None:
    import trafilatura
    import trafilatura.metadata

    from archiver.content.extractor import extract_author

    rows = corpus_rows()
    found = 0
    for row in rows:
        tree = trafilatura.load_html(corpus_html(row))
        theirs = trafilatura.metadata.extract_author(tree)
        assert extract_author(tree) == theirs, row["html"]
        found += theirs is not None
    assert len(rows) >= 391 and found > 200


def _random_author_page(rng: random.Random) -> str:
    """Nested elements that the author search selects, that its pruning deletes (inside and around
    each other), with texts and tails of every length around its 3-to-119 limit, and comments."""
    tags = ["a", "div", "span", "section", "p", "strong", "h3", "time", "figure", "address", "b", "author"]
    classes = [None, "author", "byline", "author-name", "sidebar", "comments", "title", "date", "quote",
               "print", "meta-date", "x", "Byline writer", "post-author sidebar"]
    ids = [None, None, "author", "comments", "commentlist-1", "x"]

    def words() -> str:
        return " ".join(rng.choice(["Ann", "Bo", "Lee", "by", "x", "Jane Doe", "  ", "\n"]) * rng.choice([1, 1, 2, 30])
                        for _ in range(rng.randrange(3)))

    def element(depth: int) -> str:
        tag = rng.choice(tags)
        attributes = "".join(f' {name}="{value}"' for name, value in
                             (("class", rng.choice(classes)), ("id", rng.choice(ids))) if value)
        children = "".join(element(depth + 1) + words() for _ in range(rng.randrange(4 if depth < 4 else 1)))
        comment = "<!-- c -->" if rng.random() < 0.1 else ""
        return f"<{tag}{attributes}>{words()}{comment}{children}</{tag}>"

    return f"<html><body>{''.join(element(0) + words() for _ in range(rng.randrange(1, 5)))}</body></html>"


def test_extract_author_finds_what_trafilatura_finds_on_random_pages() -> None:
    import random

    import lxml.html
    import trafilatura
    import trafilatura.metadata

    from archiver.content import extractor

    rng = random.Random(15)
    found = pruned = 0
    for _ in range(3000):
        tree = trafilatura.load_html(_random_author_page(rng))
        theirs = trafilatura.metadata.extract_author(tree)
        assert extractor.extract_author(tree) == theirs, lxml.html.tostring(tree)
        found += theirs is not None
        pruned += any(extractor._DISCARD_TESTS[1](e) and not extractor._DISCARD_TESTS[0](e)
                      for x in trafilatura.metadata.AUTHOR_XPATHS for e in x(tree))
    assert found > 1000 and pruned > 300, (found, pruned)


@pytest.mark.parametrize("body, author", [
    # the match holds a sidebar and a date, which are deleted, their tails kept and joined
    ('<div class="author">Jane<span class="sidebar">Menu</span> Doe<time>Today</time></div>', "Jane Doe"),
    ('<div class="author">Ja<span class="sidebar">Menu</span>ne Doe</div>', "Jane Doe"),
    # the first match is inside a comment section, the second is not
    ('<div id="comments"><span class="author">Troll Reader</span></div><p class="author">Jane Doe</p>',
     "Jane Doe"),
    # a <rel> child is read by its text (rel='me'), here "me" only once the sidebar is deleted:
    # the page goes to trafilatura's own search
    ('<p>Words</p><span><rel>m<span class="sidebar">x</span>e</rel>Jane Doe</span>', "Me Jane Doe"),
])
def test_extract_author_on_pruned_matches(body: str, author: str) -> None:
    import trafilatura
    import trafilatura.metadata

    from archiver.content.extractor import extract_author

    tree = trafilatura.load_html(f"<html><body>{body}</body></html>")
    assert extract_author(tree) == trafilatura.metadata.extract_author(tree) == author


# --------------------------------------------------------------------------- html2txt's cleaning


def test_the_cookie_consent_stand_in_selects_what_trafilatura_selects_on_every_corpus_page() -> None:
    """CookieConsentOnce against BASIC_CLEAN_XPATH as trafilatura writes it, at each page's
    <body> (where html2txt cleans) and at its root (the baseline), on pages with and without a
    class or id the cookie pattern matches."""
    import sys as _sys

    import trafilatura

    from archiver.content.speedups import CookieConsentOnce
    from test_xpathregex import pristine_module

    pristine = pristine_module("trafilatura.settings").BASIC_CLEAN_XPATH
    stand_in = _sys.modules["trafilatura.baseline"].BASIC_CLEAN_XPATH
    assert isinstance(stand_in, CookieConsentOnce)
    matched = 0
    for row in corpus_rows():
        tree = trafilatura.load_html(corpus_html(row))
        for context in (tree, tree.find(".//body")):
            if context is not None:
                assert stand_in(context) == pristine(context), row["html"]
        matched += len(pristine(tree)) != len(stand_in.rest(tree))
    assert matched > 20


@pytest.mark.parametrize("attributes", [
    'class="CookieBanner"', 'id="site-COOKIE_notice"', 'class="x onetrust-pc"', 'class="coo\u212aie-law"',
    'class="notice--cookie"', 'class="cookies"', 'id="consent"', 'class=""',
])
def test_the_cookie_consent_stand_in_on_near_misses(attributes: str) -> None:
    import sys as _sys

    import trafilatura

    from test_xpathregex import pristine_module

    pristine = pristine_module("trafilatura.settings").BASIC_CLEAN_XPATH
    stand_in = _sys.modules["trafilatura.baseline"].BASIC_CLEAN_XPATH
    tree = trafilatura.load_html(f"<html><body><div {attributes}><p>Text</p></div><aside>a</aside></body></html>")
    for context in (tree, tree.find(".//body"), tree.find(".//body/div")):
        assert stand_in(context) == pristine(context)


def test_the_cookie_consent_stand_in_stands_only_for_its_expression() -> None:
    from lxml.etree import XPath

    from archiver.content.speedups import CookieConsentOnce

    other = XPath(".//aside|.//*[re:test(@class, 'cookie', 'i')]", namespaces={"re": "http://exslt.org/regular-expressions"})
    assert CookieConsentOnce.standing_in(other) is other


def _attribute_walks() -> list[tuple[object, object]]:
    """(the stand-in, trafilatura's expression as it writes it) for each of its raw-page prunes
    and its two discard expressions (see speedups.OwnAttributeWalk)."""
    import trafilatura.xpaths

    from test_xpathregex import pristine_module

    pristine = pristine_module("trafilatura.xpaths")
    names = ("RAW_TREE_PRUNE_XPATH", "REMOVE_COMMENTS_AND_LISTS_XPATH", "OVERALL_DISCARD_XPATH")
    return [pair for name in names
            for pair in zip(getattr(trafilatura.xpaths, name), getattr(pristine, name), strict=True)]


def test_trafilatura_s_prunes_and_discards_are_walked_by_archiver_s_stand_ins() -> None:
    """Each stands in for trafilatura's expression only as trafilatura 2.3.1 writes it: another
    form leaves the expression in place, and this test fails, so that the stand-in is looked at."""
    import trafilatura.core
    import trafilatura.main_extractor
    import trafilatura.xpaths
    from lxml.etree import XPath

    assert [type(x) for x, _ in _attribute_walks()] == [
        speedups.AppendedArticles, speedups.ShareButtons, speedups.CommentSections, speedups.DiscardedSections,
        speedups.HiddenAndReplies]
    assert trafilatura.core.RAW_TREE_PRUNE_XPATH is trafilatura.xpaths.RAW_TREE_PRUNE_XPATH
    assert trafilatura.core.REMOVE_COMMENTS_AND_LISTS_XPATH is trafilatura.xpaths.REMOVE_COMMENTS_AND_LISTS_XPATH
    assert trafilatura.main_extractor.OVERALL_DISCARD_XPATH is trafilatura.xpaths.OVERALL_DISCARD_XPATH
    for _, pristine in _attribute_walks():
        changed = pristine.path.replace("self::section", "self::nav").replace("'true'", "'yes'")
        other = XPath(changed, namespaces={"re": "http://exslt.org/regular-expressions"})
        assert speedups.OwnAttributeWalk.standing_in(other) is other


def test_the_attribute_walks_select_what_trafilatura_selects_on_every_corpus_page() -> None:
    import trafilatura

    selected = [0] * 5
    for row in corpus_rows():
        tree = trafilatura.load_html(corpus_html(row))
        for index, (stand_in, pristine) in enumerate(_attribute_walks()):
            for context in (tree, tree.find(".//body")):
                if context is not None:
                    assert stand_in(context) == pristine(context), (row["html"], index)
            selected[index] += bool(pristine(tree))
    # The appended-article and share-button expressions select nothing on the corpus: the random
    # pages below test them.
    assert min(selected[2:]) > 10, selected


def test_the_attribute_walks_select_what_trafilatura_selects_on_random_pages() -> None:
    """Nested elements whose attributes, in any order, hit and nearly miss each test."""
    import lxml.html
    import trafilatura

    rng = random.Random(15)
    tags = ["div", "section", "aside", "ol", "ul", "details", "list", "item", "p", "span", "h1", "article", "a"]
    values = {
        "id": ["", "comment", "Comments", "commentary", "comol-3", "disqus_thread", "dsq-comments", "x-cookie",
               "reply-4", "x reply-4", "hidden-box", "reader-comments", "akismet", "shared", "nav-1", "menu",
               "Footer", "ad-top", "bad-top", "mvp-post-add-box", "infinite-scroll", "main"],
        "class": ["", "comment", "commentary x", "article-comments", "post-comments-list", "my comments",
                  "mvp-post-add-wrapper", "mvp-post-add", "infinitescroll", "infinite--scroll", "Infinite-scroll",
                  "elementor-share-buttons", "elementor-share-button", "cookie-bar", "cookies", "reply-x",
                  "comments-title", "comments-title x", "hide-me", "x hidden", "xhidden", "noprint", "messages",
                  "social", "navbar", "ad", "x ad y", "bad-ad-", "entry-content", "bar", "comment\nary"],
        "style": ["", "display:none", "display: none", "display:  none", "visibility: hidden", "color: red"],
        "role": ["", "navigation", "Navigation", "NAV", "main"],
        "data-component": ["", "MostPopularStories", "mostpopularstories"],
        "data-lp-replacement-content": [""],
        "aria-hidden": ["true", "false", "TRUE"],
    }

    def element(depth: int) -> str:
        tag = rng.choice(tags)
        names = [name for name in values if rng.random() < (0.5 if name in ("id", "class", "style") else 0.08)]
        rng.shuffle(names)
        attributes = "".join(f' {name}="{rng.choice(values[name])}"' for name in names)
        inner = "".join(element(depth + 1) for _ in range(rng.randrange(0, 4 if depth < 4 else 1)))
        return f"<{tag}{attributes}>{inner or 'Text'}</{tag}>"

    selected = [0] * 5
    for _ in range(600):
        tree = trafilatura.load_html(f"<html><body>{element(0)}{element(0)}</body></html>")
        for index, (stand_in, pristine) in enumerate(_attribute_walks()):
            theirs = pristine(tree)
            assert stand_in(tree) == theirs, (index, lxml.html.tostring(tree))
            selected[index] += bool(theirs)
    assert min(selected) > 50, selected


def test_the_article_body_walk_stops_at_what_trafilatura_reads_of_its_expression() -> None:
    """trafilatura reads only the first element its first article-container expression selects,
    in one place: the stand-in selects that element alone."""
    import inspect
    from pathlib import Path as _Path

    import trafilatura
    import trafilatura.main_extractor
    import trafilatura.xpaths

    assert isinstance(trafilatura.xpaths.BODY_XPATH[0], speedups.ArticleBody)
    assert trafilatura.main_extractor.BODY_XPATH is trafilatura.xpaths.BODY_XPATH
    source = inspect.getsource(trafilatura.main_extractor._extract)
    assert "for expr in BODY_XPATH:\n        # select tree if the expression has been found\n" \
           "        subtree = next((s for s in expr(tree) if s is not None), None)\n" in source
    package = _Path(trafilatura.__file__).parent
    readers = sorted(path.name for path in package.glob("*.py")
                     if re.search(r"\bBODY_XPATH\b", path.read_text(encoding="utf-8")))
    assert readers == ["main_extractor.py", "xpaths.py"], readers
    assert source.count("BODY_XPATH") == 1


def _article_body() -> tuple[object, object]:
    import trafilatura.xpaths

    from test_xpathregex import pristine_module

    return trafilatura.xpaths.BODY_XPATH[0], pristine_module("trafilatura.xpaths").BODY_XPATH[0]


def test_the_article_body_walk_finds_trafilatura_s_first_on_every_corpus_page() -> None:
    import trafilatura

    stand_in, pristine = _article_body()
    found = 0
    for row in corpus_rows():
        tree = trafilatura.load_html(corpus_html(row))
        for context in (tree, tree.find(".//body")):
            if context is not None:
                assert stand_in(context) == pristine(context)[:1], row["html"]
        found += bool(pristine(tree))
    assert found > 150, found


def test_the_article_body_walk_finds_trafilatura_s_first_on_random_pages() -> None:
    import lxml.html
    import trafilatura

    stand_in, pristine = _article_body()
    rng = random.Random(16)
    tags = ["article", "div", "main", "section", "p", "span", "aside"]
    values = {"id": ["", "articleContent", "articlecontent", "entry-content", "x-article-body", "articleBody-2",
                     "body-text", "bodytext", "main"],
              "class": ["", "post", "entry", "post entry", "post-text", "post_text", "postText", "article__container",
                        "ArticleContent", "articlecontent", "page-content x", "content", "art-content"],
              "itemprop": ["articleBody", "articlebody", "text"]}

    def element(depth: int) -> str:
        tag = rng.choice(tags)
        names = [name for name in values if rng.random() < (0.3 if name != "itemprop" else 0.05)]
        attributes = "".join(f' {name}="{rng.choice(values[name])}"' for name in names)
        inner = "".join(element(depth + 1) for _ in range(rng.randrange(0, 4 if depth < 4 else 1)))
        return f"<{tag}{attributes}>{inner or 'Text'}</{tag}>"

    found = 0
    for _ in range(600):
        tree = trafilatura.load_html(f"<html><body>{element(0)}{element(0)}</body></html>")
        theirs = pristine(tree)
        assert stand_in(tree) == theirs[:1], lxml.html.tostring(tree)
        found += len(theirs) > 1
    assert found > 100, found


@pytest.mark.parametrize("head, body, categories, tags", [
    ('<meta property="article:section" content="Politics">', "", ["Politics"], []),
    ("", '<div class="entry-meta"><a href="/category/sport/">Sport</a> <a href="/tag/cup/">Cup</a></div>',
     ["Sport"], ["Cup"]),
    ('<meta property="article:section" content="Politics">',
     '<div class="post-meta"><a href="/categories/world/">World</a></div>', ["World"], []),
    ("", '<div class="entry-meta"><a href="/sport/">Sport</a></div>', [], []),
])
def test_catstags_links_and_the_section_fallback(head: str, body: str, categories: list[str],
                                                 tags: list[str]) -> None:
    import trafilatura
    import trafilatura.metadata

    tree = trafilatura.load_html(f"<html><head>{head}</head><body><article><p>Text.</p>{body}</article></body></html>")
    assert catstags("category", tree) == trafilatura.metadata.extract_catstags("category", tree) == categories
    assert catstags("tag", tree) == trafilatura.metadata.extract_catstags("tag", tree) == tags


# --------------------------------------------------------------------------- the scoring module


def corpus_quality() -> ModuleType:
    """bench/corpus_quality.py, which is a script directory, not a package."""
    path = Path(__file__).resolve().parents[1] / "bench" / "corpus_quality.py"
    spec = importlib.util.spec_from_file_location("corpus_quality", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("corpus_quality", module)
    spec.loader.exec_module(module)
    return module


def test_shingle_f1() -> None:
    cq = corpus_quality()
    text = "one two three four five six seven"
    assert cq.shingle_f1(text, text).f1 == 1.0
    assert cq.shingle_f1(text, "eight nine ten eleven twelve").f1 == 0.0
    assert cq.shingle_f1(text, None).f1 == 0.0
    half = cq.shingle_f1(text, "one two three four five")  # 2 of the 4 shingles, nothing extra
    assert (half.precision, half.recall) == (1.0, 0.5)


def test_corpus_sample_scores_like_trafilatura() -> None:
    cq = corpus_quality()
    pages = cq.load_pages(sources=["scrapinghub-aeb"], sample=12)
    pairs = [(p.truth_text, extract_article(p.html, p.url, "text/html; charset=utf-8").text) for p in pages]
    assert cq.score_text(pairs).f1 >= 0.85


# --------------------------------------------------------------------------- menus taken for the article


def _lines(*groups: tuple[int, str]) -> str:
    return "\n".join(f"{text} {n}" for count, text in groups for n in range(count))


@pytest.mark.parametrize("text, menu", [
    (_lines((60, "Council")), True),  # sixty one-word links
    (_lines((48, "Council"), (12, "The council met on Tuesday and argued at length about trams")), True),  # 80% short
    (_lines((47, "Council"), (13, "The council met on Tuesday and argued at length about trams")), False),
    (_lines((49, "Council")), False),  # too few lines to tell a menu from a short list
    (_lines((60, "Meeting of the municipal council")), False),  # five words: not a link label
    (_lines((60, "Administrações Regionais")), False),  # three words, but over 25 characters
    (_lines((60, "一波波接續性低溫寒流報到已將新竹尖石鄉後山一帶層層山巒披上")), False),  # prose without spaces
    ("", False),
])
def test_looks_like_navigation(text: str, menu: bool) -> None:
    from archiver.content.extractor import looks_like_navigation

    assert looks_like_navigation(text) is menu


def test_a_menu_taken_for_the_article_is_extracted_again_in_recall_mode(kim: Article) -> None:
    """On jaraguadosul.com.br, trafilatura's main extractor returns the site's 850-line menu;
    in its recall mode it finds the article (with a category label and the site's footer)."""
    import trafilatura

    from archiver.content.extractor import looks_like_navigation
    from archiver.jobs.pages import snapshot_row

    row = next(r for r in corpus_rows() if "jaraguadosul.com.br" in r["url"])
    body = gunzip_file(CORPUS / row["html"])
    fast = trafilatura.bare_extraction(corpus_html(row), url=row["url"], with_metadata=False, fast=True)
    assert looks_like_navigation(fast.text) and "Ortofotos de 2005" in fast.text  # the page still fails so
    article = extract_article(body, row["url"], "text/html")
    assert "arrombamento de dois dos cinco automóveis" in article.text
    assert "Ortofotos de 2005" not in article.text and len(article.text.split("\n")) < 10
    # and the snapshot says how its text was found
    row = snapshot_row(1, "2026-01-01T00:00:00Z", article, "fingerprint", None)
    assert json.loads(row["metadata_sources"])["text"] == "recall"
    assert "text" not in json.loads(snapshot_row(1, "2026-01-01T00:00:00Z", kim, "f", None)["metadata_sources"])


def test_recall_mode_runs_only_for_a_text_that_looks_like_a_menu(monkeypatch: pytest.MonkeyPatch) -> None:
    """One extra extraction on a menu, none on an article; a menu where recall mode finds
    nothing better is kept rather than lost."""
    import archiver.content.extractor as extractor

    calls: list[str] = []
    real = extractor._text_in_recall_mode
    monkeypatch.setattr(extractor, "_text_in_recall_mode", lambda html, url: calls.append(url) or real(html, url))
    extract_article((MOSCOW / "article.html").read_bytes(), KIM_SERVED, "text/html")
    assert calls == []
    links = "".join(f"<li><p>Section {n}</p></li>" for n in range(80))
    menu = f"<html><body><article><h1>Sections</h1><ul>{links}</ul></article></body></html>"
    article = extract_article(menu.encode(), "https://news.example/sections", "text/html")
    text = article.text
    assert calls == ["https://news.example/sections"]  # recall mode finds the same menu: kept
    assert "Section 0" in text and "Section 79" in text and "text" not in dict(article.sources)
    monkeypatch.setattr(extractor, "_text_in_recall_mode", lambda html, url: "")
    assert extract_article(menu.encode(), "https://news.example/sections", "text/html").text == text


def test_extraction_never_uses_trafilaturas_downloader(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("trafilatura tried to open a URL")

    for name in ("fetch_url", "fetch_response", "_send_urllib_request", "_send_pycurl_request"):
        monkeypatch.setattr(f"trafilatura.downloads.{name}", refuse, raising=False)
    article = extract_article((MOSCOW / "article.html").read_bytes(), KIM_SERVED, "text/html")
    assert article.author == "Richard Ensor"


def test_a_body_split_into_sibling_parts_is_extracted_whole() -> None:
    """trafilatura keeps the first of several same-class body parts (ads between them); the
    extractor joins them when it found under half of the article's text."""
    def paragraph(part: int, n: int) -> str:
        return (f"<p>Part {part}, paragraph {n}: the committee heard evidence about the harbour, the "
                f"ferries, the fares and the winter timetable for hours.</p>")

    parts = "".join(f'<div class="grid body article__body">{"".join(paragraph(k, n) for n in range(4))}</div>'
                    '<div class="ad"><p>Advertisement</p></div>' for k in range(3))
    html = f"<html><head><title>Ferries</title></head><body><article><h1>Ferries</h1>{parts}</article></body></html>"
    text = extract_article(html.encode(), "https://example.org/ferries", "text/html; charset=utf-8").text
    assert [line.split(":")[0] for line in text.split("\n")] == [
        f"Part {k}, paragraph {n}" for k in range(3) for n in range(4)]


# --------------------------------------------------------------------------- trafilatura on the parsed tree


def test_trafilatura_copies_only_the_tree_it_is_given() -> None:
    """_InPlace relies on bare_extraction copying the tree load_html returns only when that is
    the object it was given, and on load_html being called nowhere else in trafilatura.core."""
    import inspect

    import trafilatura.core

    source = inspect.getsource(trafilatura.core.bare_extraction)
    assert "tree = load_html(filecontent, options.max_file_size)" in source
    assert "if tree is filecontent:\n            tree = copy(tree)" in source
    assert inspect.getsource(trafilatura.core).count("load_html(") == 1, (
        "trafilatura.core calls load_html elsewhere: check _load_html_in_place in archiver/content/extractor.py")


def test_trafilatura_works_on_the_tree_itself_only_when_told() -> None:
    import trafilatura

    from archiver.content import extractor

    words = "The council met on Tuesday and heard from residents about the new ferry timetable. " * 8
    html = (f"<html><body><article><p>{words}</p></article>"
            '<div id="comments"><p>A reader wrote this comment.</p></div></body></html>')
    copied, in_place = trafilatura.load_html(html), trafilatura.load_html(html)
    assert extractor._run_trafilatura(copied, "https://example.org/a").text.startswith("The council met")
    assert copied.find(".//div[@id='comments']") is not None  # left as it was
    assert extractor._run_trafilatura(in_place, "https://example.org/a", in_place=True).text.startswith("The council")
    assert in_place.find(".//div[@id='comments']") is None  # trafilatura pruned the tree itself


def test_articles_are_the_same_whether_trafilatura_works_on_the_tree_or_on_a_copy(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Every page read twice: as the extractor runs, and with trafilatura always given a copy,
    so that the tree stays as parsed whatever reads it after trafilatura. Pages whose container
    is split into parts, or that quote in an <article>, are among them."""
    from archiver.content import extractor

    run = extractor._run_trafilatura

    def read(body: bytes, url: str) -> Article | str:
        try:
            return extract_article(body, url, "text/html")
        except ExtractionError as error:
            return error.reason

    pages = [(row["html"], gunzip_file(CORPUS / row["html"]), row.get("url") or "http://fakehost/")
             for row in corpus_rows()]
    ours = [read(body, url) for _, body, url in pages]
    monkeypatch.setattr(extractor, "_run_trafilatura",
                        lambda tree, url, in_place=False, recall=False: run(tree, url, recall=recall))
    for (name, body, url), article in zip(pages, ours):
        assert read(body, url) == article, name
    assert len(pages) >= 391 and sum(isinstance(article, Article) for article in ours) >= 380


def test_microdata_elements_are_those_with_either_itemprop() -> None:
    """_MICRODATA reaches the elements through their itemprop attribute: the same elements, in
    document order, as a test of each element."""
    import trafilatura
    from lxml.etree import XPath

    from archiver.content.extractor import _MICRODATA

    each = XPath('/descendant::*[@itemprop="articleBody" or @itemprop="datePublished"]')
    found = 0
    for row in corpus_rows():
        tree = trafilatura.load_html(corpus_html(row))
        assert _MICRODATA(tree) == each(tree), row["html"]
        found += bool(each(tree))
    assert found > 50
    tree = trafilatura.load_html(
        '<html><body><div itemprop="articleBody"><time itemprop="datePublished">1 May</time>'
        '<p itemprop="articleBody author">x</p><span itemprop="datepublished">y</span></div>'
        '<article itemprop="datePublished"></article></body></html>')
    assert [e.tag for e in _MICRODATA(tree)] == [e.tag for e in each(tree)] == ["div", "time", "article"]

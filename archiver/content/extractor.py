"""Turn an HTML body into an article: its text and metadata. Pure functions on bytes.

This module and archiver.content.speedups (trafilatura made cheaper, imported here first) are the
only ones that import trafilatura, and they only use its pure functions on HTML we fetched
ourselves: never ``fetch_url`` or anything else that opens a URL.

    extract_article(body, url, content_type) -> Article
        1. cap the body at ``max_bytes`` (truncate, then extract what is there)
        2. refuse what is not HTML (``is_html``: the media type, then the bytes)
        3. decode (``decode_html``: header charset, then <meta>, then BOM, then a fallback)
        4. trafilatura: the main text, without its fallback extractors; a body split into
           sibling parts is joined and extracted again (``_whole_body``)
        5. metadata: the page's JSON-LD, OpenGraph, other <meta>, <title> and byline
           (archiver.content.metadata), then trafilatura's guesses; canonical URL and language
           read from the tree; the lines inside the article container noted (site boilerplate)
        6. strip NUL and control characters from every field

Failures raise ``ExtractionError`` with a short ``reason``:

    ExtractionError
      .reason = "not_html"      the body is a PDF, image, JSON, feed, binary... (.detail: media type)
      .reason = "no_content"    HTML, but no article text in it
      .reason = "bad_encoding"  the bytes decode to mostly garbage
      .reason = "too_large"     reserved for callers that refuse oversized bodies; extract_article
                                truncates instead
"""

from __future__ import annotations

import codecs
import logging
import re
import unicodedata
from copy import deepcopy
from dataclasses import replace
from functools import lru_cache
from itertools import islice, takewhile
from typing import Any, Iterator
from urllib.parse import urljoin, urlsplit

import trafilatura
import trafilatura.core
import trafilatura.downloads
import trafilatura.metadata
import trafilatura.settings
import trafilatura.utils
from lxml.etree import XPath
from lxml.html import HtmlElement

__all__ = [
    "EXTRACTOR",
    "Article",
    "ExtractionError",
    "decode_html",
    "extract_article",
    "is_html",
    "parse_content_type",
    "sniff_non_html",
]

from archiver.content.article import Article, ExtractionError
from archiver.content.dates import HEADLINES, dateline, microdata_date, url_date
from archiver.content.metadata import (Candidates, Chosen, choose, date_search_matters, jsonld_objects, names_an_author,
                                      read_jsonld, read_opengraph, read_byline, read_title_element)
from archiver.content.speedups import PRISTINE_SOURCES, InPlace, native_xpath

log = logging.getLogger(__name__)


class DownloaderDisabled(RuntimeError):
    """Something tried to make trafilatura fetch a URL; only archiver.fetcher talks HTTP."""


def _refuse_download(*args: Any, **kwargs: Any) -> Any:
    raise DownloaderDisabled("trafilatura's downloader is disabled: every fetch goes through archiver.fetcher")


# trafilatura's downloader bypasses the address guard and retries TLS failures without
# verification; in every process that can extract, it is replaced by a refusal.
for _name in ("fetch_url", "fetch_response", "_send_urllib_request", "_send_pycurl_request",
              "is_live_page", "_urllib3_is_live_page", "_pycurl_is_live_page"):
    setattr(trafilatura.downloads, _name, _refuse_download)
    if hasattr(trafilatura, _name):
        setattr(trafilatura, _name, _refuse_download)


EXTRACTOR = f"trafilatura {trafilatura.__version__}"
DEFAULT_MAX_BYTES = 5_000_000
REASONS = ("not_html", "no_content", "bad_encoding", "too_large")

_META_SCAN_BYTES = 16_384  # how far into the document a <meta charset> is looked for
_SNIFF_BYTES = 4096
_BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),  # before utf-16-le, whose BOM is its prefix
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
)


# --------------------------------------------------------------------------- the pipeline


def extract_article(
    body: bytes, url: str, content_type: str | None, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> Article:
    """The article in an HTML ``body`` served from ``url`` with this Content-Type header.

    Raises ExtractionError when the body is not HTML or holds no article text.
    """
    if len(body) > max_bytes:
        log.info("extracting the first %s of %s bytes of %s", max_bytes, len(body), url)
        body = body[:max_bytes]
    if not body or body.isspace():  # body.strip() would copy the whole body to find out
        raise ExtractionError("no_content", "empty body")
    non_html = sniff_non_html(body, content_type)
    if non_html is not None:
        raise ExtractionError("not_html", non_html)
    html, charset = decode_html(body, content_type)
    if _garbage_share(html, body, charset) > 0.2:
        raise ExtractionError("bad_encoding", f"undecodable as {charset}")
    tree = trafilatura.load_html(html)
    if tree is None:
        raise ExtractionError("no_content", "unparsable HTML")
    # The page is read before trafilatura runs, while the tree just parsed is still in the
    # processor's cache, and trafilatura then works on the tree itself rather than on a copy of
    # it (it deletes comment sections and the like from it). Where something must be read after
    # it, from the tree as parsed, trafilatura gets a copy: an article container split into parts
    # (joined, then trafilatura runs again, see _whole_body) and quotes in an <article>.
    marked = _MICRODATA(tree)  # itemprop=articleBody and datePublished: one pass for both
    container = main_container(tree, [e for e in marked if e.get("itemprop") == "articleBody"])
    document = None
    if container is not None and _has_split_parts(container[0]):
        document, container = _whole_body(tree, container, url, _run_trafilatura(tree, url))
    element = container[0] if container else None
    headlines = list(islice(tree.iter("h1"), HEADLINES))
    candidates = page_candidates(tree, element, url, headlines, [e for e in marked if e.get("itemprop") != "articleBody"])
    guesses = trafilatura_guesses(tree, url, need_author=not candidates.has("author", _STRONG),
                                  need_title=not candidates.has("title", _STRONG),
                                  need_date=date_search_matters(candidates))
    chosen = page_metadata(candidates, guesses, headlines, url)
    language, canonical_url = find_language(tree), find_canonical_url(tree, url)
    quoted = _has_article_quotes(tree)
    if document is None:
        document = _run_trafilatura(tree, url, in_place=not quoted)
    title = _clean_line(guesses.title) or _clean_line(chosen.values.get("title"))
    text = _without_title(_clean_text(document.text or ""), title)
    recalled = _without_title(_text_in_recall_mode(html, url), title) if looks_like_navigation(text) else ""
    if recalled:
        text = recalled
        chosen.sources["text"] = RECALL_SOURCE  # recorded in the snapshot's metadata_sources
    if not text:
        raise ExtractionError("no_content", "no article text found")
    if quoted:
        text = "\n".join([*_lead_quotes(tree, text), text])
    article = _build_article(guesses, chosen, language, canonical_url, url, text, charset)
    return replace(article, container_lines=container_lines(container[1] if container else None, text))


def _whole_body(tree: HtmlElement, container: tuple[HtmlElement, str], url: str,
                document: Any) -> tuple[Any, tuple[HtmlElement, str]]:
    """trafilatura's Document once more, when what it found is under half the text of the page's
    article container, which splits the body into sibling parts of one class (ads or pull quotes
    between them, see _has_split_parts): the parts joined into the first, which trafilatura takes
    whole. trafilatura keeps only the first part of such a body."""
    if len(document.text or "") * 2 >= len(container[1]):
        return document, container
    _join_split_parts(container[0])
    again = _run_trafilatura(tree, url)
    container = (container[0], _squash(container[0].text_content()))  # the parts are in a new order
    return (again if len(again.text or "") > len(document.text or "") else document), container


def _join_split_parts(container: HtmlElement) -> None:
    """Move the children of later siblings that share a class and hold paragraphs into the first
    of them."""
    for parent in list(container.iter()):
        for first, *rest in _split_parts(parent):
            for part in rest:
                first.extend(list(part))
                part.getparent().remove(part)


def _has_split_parts(container: HtmlElement) -> bool:
    """Whether _join_split_parts would join anything."""
    return any(_split_parts(parent) for parent in container.iter())


def _split_parts(parent: HtmlElement) -> list[list[HtmlElement]]:
    """The children of ``parent`` that hold paragraphs, by class, where more than one has it."""
    parts: dict[str, list[HtmlElement]] = {}
    for child in parent:
        kind = child.get("class")
        if kind and isinstance(child.tag, str) and next(child.iter("p"), None) is not None:
            parts.setdefault(kind, []).append(child)
    return [group for group in parts.values() if len(group) > 1]


def _run_trafilatura(tree: HtmlElement, url: str, in_place: bool = False, recall: bool = False) -> Any:
    """trafilatura's Document for the tree, which it copies, leaving ours untouched, unless
    ``in_place`` (it then deletes comment sections and the like from ours, and saves a copy).
    With ``recall``, in its mode that prefers more text when unsure."""
    document = trafilatura.bare_extraction(
        InPlace(tree) if in_place else tree,
        url=url,
        with_metadata=False,  # trafilatura_guesses reads what is needed, and only that
        include_comments=False,  # readers' comments are not the article
        # Without the readability/justext fallbacks: on the corpus this costs 0.006 F1 on the
        # readability set, gains 0.003 on scrapinghub's, keeps every date, and takes a quarter
        # less CPU, which is most of the cost of an archive.
        fast=True,
        favor_recall=recall,
    )
    if document is None:
        raise ExtractionError("no_content", "no article text found")
    return document


# A text of at least NAVIGATION_LINES lines, NAVIGATION_SHARE of them a few words of at most
# NAVIGATION_CHARS characters, is a site's menu, which trafilatura's main extractor takes for the
# article on some pages. On the corpus's 391 pages, the menu has 853 lines, 96% of them that
# short; of the articles of 50 lines or more, none has more than 59% (a recipe's ingredients).
NAVIGATION_LINES = 50
NAVIGATION_SHARE = 0.8
NAVIGATION_CHARS = 25
NAVIGATION_WORDS = 3
RECALL_SOURCE = "recall"  # metadata_sources["text"] of a text that recall mode found instead of a menu


def looks_like_navigation(text: str) -> bool:
    """Whether ``text`` (one paragraph a line) reads as a list of links rather than an
    article: many lines, nearly all of them a few short words."""
    if text.count("\n") + 1 < NAVIGATION_LINES:
        return False
    lines = text.split("\n")
    short = sum(1 for line in lines if len(line) <= NAVIGATION_CHARS and len(line.split()) <= NAVIGATION_WORDS)
    return short >= NAVIGATION_SHARE * len(lines)


def _text_in_recall_mode(html: str, url: str) -> str:
    """The page's text from trafilatura's main extractor in recall mode, on a fresh parse of the
    page; empty when it finds none or only a menu again. Where the default mode took a menu for
    the article, recall mode looks further. (trafilatura's fallback extractors find the article
    too, but justext's stop words for every language then stay in the worker: 27 MB.)"""
    tree = trafilatura.load_html(html)
    if tree is None:
        return ""
    try:
        text = _clean_text(_run_trafilatura(tree, url, in_place=True, recall=True).text or "")
    except ExtractionError:
        return ""
    return "" if looks_like_navigation(text) else text


def _build_article(guesses: Any, chosen: Chosen, language: str | None, canonical_url: str | None, url: str,
                   text: str, charset: str) -> Article:
    """An Article from the chosen metadata, trafilatura's other fields and what we read from the tree."""
    field = chosen.values.get
    return Article(
        title=_clean_line(field("title")),
        author=_clean_line(field("author")),
        published=_clean_line(field("published")),
        modified=_clean_line(field("modified")),
        sitename=_clean_line(field("sitename")),
        hostname=_hostname(guesses, url),
        language=language,
        description=_clean_line(guesses.description),
        categories=_clean_list(guesses.categories),
        tags=_clean_list(guesses.tags),
        canonical_url=canonical_url,
        text=text,
        charset=charset,
        extractor=EXTRACTOR,
        sources=tuple(chosen.sources.items()),
        alternatives=tuple((name, source, value) for name, others in chosen.alternatives.items()
                           for source, value in others.items()),
    )


def _hostname(guesses: Any, url: str) -> str | None:
    return _clean_line(guesses.hostname) or _clean_line(urlsplit(url).hostname)


def page_candidates(tree: HtmlElement, container: HtmlElement | None, url: str | None = None,
                    headlines: list[HtmlElement] | None = None,
                    date_published: list[HtmlElement] | None = None) -> Candidates:
    """What the page's JSON-LD, OpenGraph and other <meta>, <title>, byline, microdata
    ``date_published`` elements, dateline (after one of its ``headlines``, <h1>) and URL say (see
    archiver.content.metadata and archiver.content.dates); the byline is looked for only where
    the structured data names no author."""
    candidates = Candidates()
    read_jsonld(jsonld_objects(tree), candidates)
    read_opengraph(tree, candidates)
    read_title_element(tree, candidates)
    if not names_an_author(candidates, ("jsonld", "og"), urlsplit(url).hostname if url else None):
        read_byline(tree, candidates, container)
    candidates.add("published", "meta", microdata_date(date_published or []))
    titles = [value for _, value in candidates.values.get("title", ())]
    candidates.add("published", "html", dateline(headlines or [], titles))
    candidates.add("published", "url", url_date(url))
    return candidates


def page_metadata(candidates: Candidates, guesses: Any, headlines: list[HtmlElement], url: str) -> Chosen:
    """Title, author, dates and site name: the page's own sources, then trafilatura's guesses."""
    for name, value in (("title", guesses.title), ("author", guesses.author),
                        ("published", guesses.date), ("sitename", guesses.sitename)):
        candidates.add(name, "trafilatura", _clean_line(value))
    texts = [" ".join(h.text_content().split()) for h in headlines[:3]]
    return choose(candidates, _hostname(guesses, url), texts)


def trafilatura_guesses(tree: HtmlElement, url: str, *, need_author: bool, need_title: bool,
                        need_date: bool = True) -> Any:
    """trafilatura's metadata Document, as ``trafilatura.metadata.extract_metadata`` makes it, but
    its searches of the whole page for an author or a title only when the page's own sources
    have none: they copy and scan the tree, a tenth of the extraction's CPU. Its date search
    only where its answer could change the date chosen (``need_date``), another tenth."""
    meta = trafilatura.metadata
    document = meta.examine_meta(tree)
    if document.author and " " not in document.author:
        document.author = None
    try:
        document = meta.extract_meta_json(tree, document)
    except Exception as err:  # noqa: BLE001 -- trafilatura guards this call the same way
        log.debug("trafilatura's JSON metadata failed: %s", err)
    if not document.title and need_title:
        document.title = meta.extract_title(tree)
    if not document.author and need_author:
        document.author = extract_author(tree)
    document.url = document.url or meta.extract_url(tree, url)
    if document.url:
        document.hostname = meta.extract_domain(document.url, fast=True)
    document.date = meta.find_date(tree, **{**_DATE_PARAMS, "url": document.url}) if need_date else None
    _guess_sitename(document, tree)
    links = _CATSTAGS_LINKS(tree) if not (document.categories and document.tags) else []
    document.categories = document.categories or catstags("category", tree, links)
    document.tags = document.tags or catstags("tag", tree, links)
    document.clean_and_trim()
    return document


_DATE_PARAMS = trafilatura.settings.set_date_params(True)
_STRONG = ("jsonld", "og", "html")  # sources that make trafilatura's own search unneeded
# The links whose address names a category (/category/, /categories/...) or a tag (/tag/,
# /tags/...): the only kind trafilatura.metadata.extract_catstags keeps from its searches.
# (Written with descendant:: steps rather than //, here and below: see archiver.content.xpathaxes.)
_CATSTAGS_LINKS = XPath("/descendant::a[contains(@href, '/categor') or contains(@href, '/tag')]")
_SECTION_META = XPath('descendant::head/descendant::meta[@property="article:section" or contains(@name, "subject")]'
                      '[@content]')


def _catstags_tests(expressions: list[XPath]) -> list[XPath] | None:
    """For each of trafilatura's category or tag searches, all of the form ``//STEP//a[@href]``
    with a STEP that tests names and attributes only: whether a given link is among what it
    selects, that is whether an ancestor of the link is a STEP. None if a search has another
    form (catstags then runs trafilatura's own)."""
    tests = []
    for expression in expressions:
        source = PRISTINE_SOURCES.get(expression, expression.path).strip()
        if not (source.startswith("//") and source.endswith("//a[@href]")):
            return None
        step = source[len("//"):-len("//a[@href]")]
        if "/" in step or re.search(r"position\(|last\(|\[\s*\d", step):
            return None
        tests.append(native_xpath(f"boolean(ancestor::{step})"))
    return tests


_CATSTAGS_TESTS = {"category": _catstags_tests(trafilatura.metadata.CATEGORIES_XPATHS),
                   "tag": _catstags_tests(trafilatura.metadata.TAGS_XPATHS)}


def catstags(metatype: str, tree: HtmlElement, links: list[HtmlElement] | None = None) -> list[str]:
    """``trafilatura.metadata.extract_catstags``: the same list, without its searches of the whole
    page. Each search (six for categories, four for tags, 2.4 ms a page together) selects the
    links inside some element and keeps only those whose address names a category or a tag.
    Here those links are found first, in one walk for both kinds (``links``, read from the tree
    if not given), and each search is asked in turn whether it holds one, by the ancestors of
    the link; a page with none (three in four) goes straight to the fallback, which for
    categories is the ``article:section`` and subject <meta>, read here as trafilatura reads them."""
    meta = trafilatura.metadata
    searches = _CATSTAGS_TESTS[metatype]
    if searches is None:
        return list(meta.extract_catstags(metatype, tree))
    address = re.compile("/" + metatype.rstrip("y") + "(?:y|ies|s)?/")
    named = [link for link in (_CATSTAGS_LINKS(tree) if links is None else links) if address.search(link.attrib["href"])]
    results: list[str] = []
    for inside in searches if named else ():
        results = [meta.block_text(link) for link in named if inside(link)]
        if results:
            break
    if metatype == "category" and not results:
        results = [element.attrib["content"] for element in _SECTION_META(tree)]
    return [value for value in dict.fromkeys(meta.line_processing(x) for x in results if x) if value]


def _discard_tests() -> tuple[XPath, XPath] | None:
    """Whether an element is, or is inside, something ``trafilatura.metadata.extract_author``
    deletes before its search (AUTHOR_DISCARD_XPATHS: ``.//*[names][attributes]`` then
    ``//time|//figure``); and whether it holds one. The same name and attribute tests, on the
    ancestor-or-self and the descendant axes. None if the expressions have another form
    (extract_author then runs trafilatura's own)."""
    sources = [PRISTINE_SOURCES.get(x, x.path).strip() for x in trafilatura.metadata.AUTHOR_DISCARD_XPATHS]
    if len(sources) != 2 or not sources[0].startswith(".//*[") or sources[1] != "//time|//figure":
        return None
    steps = sources[0][len(".//"):]

    def on(axis: str) -> XPath:  # [parent::*]: delete_element leaves the root where it is
        return native_xpath(f"boolean(({axis}::{steps} | {axis}::time | {axis}::figure)[parent::*])")
    return on("ancestor-or-self"), on("descendant")


_DISCARD_TESTS = _discard_tests()


def extract_author(tree: HtmlElement) -> str | None:
    """``trafilatura.metadata.extract_author`` without its copy of the whole page. It copies the
    page, deletes from the copy what AUTHOR_DISCARD_XPATHS select (comment sections, sidebars,
    dates, figures...), keeping their tails, and takes the first match of AUTHOR_XPATHS whose
    text is 3 to 119 characters. Those expressions test an element's name and own attributes
    only, so the matches in the copy are the matches in the page outside anything deleted, in
    the same order, and only a match that holds something deleted has another text there: that
    one match is copied and pruned as trafilatura prunes the page. One test reads a child's text
    (``rel='me'``, a <rel> element); a page that has one goes to trafilatura's own. 2.6 ms on the
    pages that are searched (a third of them), where trafilatura's own takes 4.1: what is left
    is its three searches, which walk the whole page."""
    meta = trafilatura.metadata
    if _DISCARD_TESTS is None or tree.find(".//rel") is not None:
        return meta.extract_author(tree)
    discarded, holds_discarded = _DISCARD_TESTS
    for expression in meta.AUTHOR_XPATHS:
        for element in expression(tree):
            if discarded(element):
                continue
            if holds_discarded(element):
                element = meta.prune_unwanted_nodes(deepcopy(element), meta.AUTHOR_DISCARD_XPATHS)
            content = trafilatura.utils.trim(" ".join(element.itertext()))
            if content and 2 < len(content) < 120:
                return meta.normalize_authors(None, content)
    return None


def _guess_sitename(document: Any, tree: HtmlElement) -> None:
    """trafilatura's site name rules: the <title>'s, without "@", capitalised; else the URL's."""
    meta = trafilatura.metadata
    document.sitename = document.sitename or meta.extract_sitename(tree)
    if document.sitename:
        document.sitename = document.sitename.lstrip("@")
        if document.sitename and "." not in document.sitename and not document.sitename[0].isupper():
            document.sitename = document.sitename.title()
    elif document.url and (match := meta.META_URL.match(document.url)):
        document.sitename = match[1]


# --------------------------------------------------------------------------- HTML or not


def is_html(body: bytes, content_type: str | None) -> bool:
    """Whether the body should be treated as an HTML page (see ``sniff_non_html``)."""
    return sniff_non_html(body, content_type) is None


def sniff_non_html(body: bytes, content_type: str | None) -> str | None:
    """The media type of a body that is not HTML, or None when it is (or may be) HTML.

    A declared non-HTML type is believed; a declared HTML type is believed unless the bytes say
    otherwise (file signatures, NUL bytes, JSON, a feed); no type, text/plain and
    application/octet-stream need HTML markup near the start.
    """
    media_type, _ = parse_content_type(content_type)
    if media_type and media_type not in _HTML_TYPES | _SNIFFED_TYPES | _XML_TYPES:
        return media_type
    sniffed = _sniff_bytes(body)
    if sniffed is not None:
        return sniffed
    if media_type in _HTML_TYPES:
        return None
    if _HTML_MARKUP.search(_head_text(body)):
        return None
    return media_type or "text/plain"


_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_XML_TYPES = frozenset({"text/xml", "application/xml"})
_SNIFFED_TYPES = frozenset(
    {"", "text/plain", "application/octet-stream", "binary/octet-stream", "application/unknown",
     "unknown/unknown", "application/x-unknown-content-type", "*/*"}
)
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"\x00\x00\x01\x00", "image/x-icon"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b", "application/gzip"),
    (b"BZh", "application/x-bzip2"),
    (b"\xfd7zXZ\x00", "application/x-xz"),
    (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (b"Rar!\x1a\x07", "application/vnd.rar"),
    (b"%!PS", "application/postscript"),
    (b"OggS", "application/ogg"),
    (b"ID3", "audio/mpeg"),
    (b"fLaC", "audio/flac"),
    (b"\x1aE\xdf\xa3", "video/webm"),
    (b"wOFF", "font/woff"),
    (b"wOF2", "font/woff2"),
    (b"\x00asm", "application/wasm"),
    (b"\x7fELF", "application/x-executable"),
    (b"MZ", "application/x-msdownload"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),
    (b"SQLite format 3\x00", "application/vnd.sqlite3"),
)
_HTML_MARKUP = re.compile(
    r"<(?:!doctype\s+html|html|head|body|title|meta|link|script|style|div|p|a|table|h[1-6]|"
    r"article|main|section|header|nav|br|iframe|font|b|span|ul|img|form)\b",
    re.IGNORECASE,
)
_FEED_ROOT = re.compile(r"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*|<\?[^>]*>\s*)*<(rss|feed|rdf:RDF)\b", re.S)


def _sniff_bytes(body: bytes) -> str | None:
    """The media type the bytes themselves reveal when they are clearly not HTML."""
    for signature, media_type in _SIGNATURES:
        if body.startswith(signature):
            return media_type
    if body[8:12] in (b"WEBP", b"WAVE", b"AVI ") and body.startswith(b"RIFF"):
        return {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}[body[8:12]]
    if body[4:8] == b"ftyp":
        return "video/mp4"
    stripped = _head_text(body).lstrip("\ufeff \t\r\n")
    # NUL bytes mean binary, unless a BOM says UTF-16/32 or the body starts as markup does.
    if b"\x00" in body[:_SNIFF_BYTES] and _bom_charset(body) is None and not stripped.startswith("<"):
        return "application/octet-stream"
    if stripped.startswith(("{", "[")):
        return "application/json"
    feed = _FEED_ROOT.match(stripped)
    if feed is not None:
        return "application/atom+xml" if feed.group(1) == "feed" else "application/rss+xml"
    return None


def _head_text(body: bytes) -> str:
    """The start of the body as text, good enough to look for markup."""
    bom = _bom_charset(body)
    if bom is not None and bom != "utf-8":
        return body[:_SNIFF_BYTES * 4].decode(bom, errors="ignore")
    # latin-1 maps every byte, so ASCII markup is found whatever the real charset.
    return body[:_SNIFF_BYTES].decode("latin-1")


# --------------------------------------------------------------------------- charsets


def decode_html(body: bytes, content_type: str | None) -> tuple[str, str]:
    """(text, charset used) for an HTML body.

    Trust, in order: the Content-Type charset, a <meta charset> or <meta http-equiv> (or an XML
    declaration) in the first 16 KB, a byte-order mark. A declared charset Python does not know
    is skipped; a multi-byte one the bytes do not fit is skipped. Then UTF-8, or windows-1252
    when the bytes are plainly not UTF-8. A byte-order mark is never part of the text.
    """
    _, header_charset = parse_content_type(content_type)
    bom = _bom_charset(body)
    candidates = [
        _codec(header_charset),
        _meta_codec(_meta_charset(body)) if bom in (None, "utf-8") else None,
        bom,
    ]
    for charset in dict.fromkeys(c for c in candidates if c):
        text = _decode(_strip_bom(body, charset), charset)
        if text is not None:
            return text, charset
        log.debug("body does not decode as declared %s", charset)
    return _fallback_decode(_strip_bom(body, "utf-8"))


def parse_content_type(content_type: str | None) -> tuple[str, str | None]:
    """(lower-case media type or "", charset parameter or None) of a Content-Type value."""
    if not content_type:
        return "", None
    media_type, _, params = content_type.partition(";")
    charset = None
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip("\"'").strip() or None
    return media_type.strip().lower(), charset


_META_CHARSET = re.compile(
    rb"""<meta\s[^>]*?charset\s*=\s*["']?\s*([a-z0-9_:.+\-]+)"""
    rb"""|<\?xml\s[^>]*?encoding\s*=\s*["']([a-z0-9_:.+\-]+)""",
    re.IGNORECASE,
)


def _meta_charset(body: bytes) -> str | None:
    """The charset named by a <meta> tag or XML declaration near the start, if any."""
    match = _META_CHARSET.search(body[:_META_SCAN_BYTES])
    if match is None:
        return None
    return (match.group(1) or match.group(2)).decode("ascii")


# Labels that browsers decode with a superset codec (WHATWG Encoding Standard); pages rely on it.
_SUPERSETS = {
    "ascii": "cp1252", "latin-1": "cp1252", "iso8859-1": "cp1252", "gb2312": "gb18030",
    "gbk": "gb18030", "euc_kr": "cp949", "tis-620": "cp874", "iso8859-11": "cp874",
    "iso8859-9": "cp1254", "big5": "big5hkscs", "shift_jis": "cp932",
}


@lru_cache(maxsize=256)
def _codec(label: str | None) -> str | None:
    """Python's name for a charset label (mapped to the browser's superset), None if unknown."""
    if not label:
        return None
    try:
        name = codecs.lookup(label.strip().lower()).name
    except LookupError:
        log.debug("unknown charset %r", label)
        return None
    return _SUPERSETS.get(name, name)


def _meta_codec(label: str | None) -> str | None:
    # A <meta> we could read as ASCII cannot be in UTF-16/32 (the Encoding Standard says: UTF-8).
    name = _codec(label)
    if name is not None and name.startswith(("utf-16", "utf-32")):
        return "utf-8"
    return name


def _bom_charset(body: bytes) -> str | None:
    for bom, charset in _BOMS:
        if body.startswith(bom):
            return charset
    return None


def _strip_bom(body: bytes, charset: str) -> bytes:
    """The body without a leading BOM: its own, or a UTF-8 one (never content in any charset)."""
    bom = _bom_charset(body)
    if bom == charset or (bom == "utf-8" and not charset.startswith(("utf-16", "utf-32"))):
        return body[len(next(b for b, c in _BOMS if c == bom)):]
    return body


def _decode(body: bytes, charset: str) -> str | None:
    """The body decoded with ``charset``, or None if it does not fit a multi-byte charset.

    A sequence cut off at the very end (a truncated body) is dropped, not counted as a misfit.
    """
    errors = "replace" if _single_byte(charset) else "strict"
    try:
        return body.decode(charset, errors=errors)
    except UnicodeDecodeError as err:
        if err.start >= len(body) - 4 and err.end == len(body):
            return _decode(body[: err.start], charset)
        return None


# Two-byte sequences that UTF-8, Shift-JIS, EUC, GBK, Big5 or UHC read as one character.
_MULTIBYTE_PROBES = (b"\xc3\xa9", b"\x82\xa0", b"\xa4\xa1", b"\xb0\xa1", b"\x81\x40", b"\x8e\xa1")


@lru_cache(maxsize=64)
def _single_byte(charset: str) -> bool:
    """Whether every byte is one character in ``charset`` (so the bytes always fit it)."""
    if len(bytes(range(256)).decode(charset, errors="replace")) != 256:
        return False
    return all(len(probe.decode(charset, errors="replace")) == 2 for probe in _MULTIBYTE_PROBES)


def _fallback_decode(body: bytes) -> tuple[str, str]:
    """UTF-8 if the bytes are mostly UTF-8, else windows-1252, which maps almost every byte."""
    text = _decode(body, "utf-8")
    if text is not None:
        return text, "utf-8"
    lenient = body.decode("utf-8", errors="replace")
    bad = lenient.count("\ufffd")
    good = sum(1 for ch in lenient if ord(ch) > 127) - bad
    # A few stray bytes in a UTF-8 page are noise; mostly invalid sequences mean a legacy charset.
    if bad * 10 <= good:
        return lenient, "utf-8"
    return body.decode("cp1252", errors="replace"), "cp1252"


_GARBAGE = re.compile("[\ufffd\x00-\x08\x0b\x0c\x0e-\x1f]")
# Every byte but the C0 controls _GARBAGE counts: deleting them leaves the controls.
_NOT_CONTROL_BYTES = bytes(b for b in range(256) if not (b < 0x20 and _GARBAGE.match(chr(b))))


def _garbage_share(text: str, body: bytes, charset: str) -> float:
    """Share of replacement characters and C0 controls (but tab and line ends) in ``text``, the
    ``body`` decoded as ``charset``."""
    if not text:
        return 0.0
    if charset == "utf-8":
        # A UTF-8 byte below 0x80 is always that character and never part of a longer sequence,
        # so the controls can be counted in the bytes: five times as fast as scanning the text.
        # (``in`` finds a replacement character four times as fast as ``count`` counts them, and
        # most pages have none.)
        replaced = text.count("\ufffd") if "\ufffd" in text else 0
        garbage = len(body.translate(None, _NOT_CONTROL_BYTES)) + replaced
    else:
        garbage = len(_GARBAGE.findall(text))
    return garbage / len(text)


# --------------------------------------------------------------------------- from the tree


def find_canonical_url(tree: HtmlElement, url: str) -> str | None:
    """<link rel=canonical>, else og:url, resolved against ``url``; only absolute http(s) URLs."""
    candidates = [
        link.get("href")
        for link in tree.iter("link")
        if "canonical" in (link.get("rel") or "").lower().split()
    ]
    candidates += [
        meta.get("content") for meta in tree.iter("meta") if (meta.get("property") or meta.get("name")) == "og:url"
    ]
    for candidate in candidates:
        resolved = _absolute_http_url(candidate, url)
        if resolved is not None:
            return resolved
    return None


def _absolute_http_url(href: str | None, base: str) -> str | None:
    href = _clean_line(href)
    if not href:
        return None
    try:
        resolved = urljoin(base, href)
        parts = urlsplit(resolved)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return resolved


_LANGUAGE_TAG = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]{1,8})*$", re.IGNORECASE)


def find_language(tree: HtmlElement) -> str | None:
    """The page's declared language tag (<html lang>, Content-Language, og:locale), e.g. "en-GB"."""
    candidates = [tree.get("lang"), tree.get("{http://www.w3.org/XML/1998/namespace}lang")]
    for meta in tree.iter("meta"):
        key = (meta.get("http-equiv") or meta.get("property") or meta.get("name") or "").lower()
        if key in ("content-language", "og:locale", "language"):
            candidates.append(meta.get("content"))
    for candidate in candidates:
        tag = (candidate or "").strip().replace("_", "-").split(",")[0].strip()
        if _LANGUAGE_TAG.match(tag):
            return tag
    return None


_NOT_LEAD_QUOTE = frozenset({"header", "footer", "nav", "aside", "figure", "form", "p", "blockquote"})
_EMBED_CLASS = re.compile(r"twitter|instagram|tiktok|embed", re.IGNORECASE)


def _quoting_articles(tree: HtmlElement) -> Iterator[HtmlElement]:
    """The page's <article>s that hold a <blockquote>: the only ones _lead_quotes reads."""
    return (article for article in tree.iter("article") if next(article.iter("blockquote"), None) is not None)


def _has_article_quotes(tree: HtmlElement) -> bool:
    return next(_quoting_articles(tree), None) is not None


def _lead_quotes(tree: HtmlElement, text: str) -> list[str]:
    """Quotes an <article> shows before the paragraph the extracted text starts with.

    trafilatura keeps the body container only, so a pull quote or epigraph placed above it (as
    in the Moscow Times layout of fixtures/moscowtimes) would be lost; the reader sees it first.
    """
    first_line = text.split("\n", 1)[0]
    for article in _quoting_articles(tree):
        start = next((p for p in article.iter("p") if _squash(p.text_content()) == first_line), None)
        if start is not None:
            return [q for q in _quotes_before(article, start) if q != first_line]
    return []


def _quotes_before(article: HtmlElement, start: HtmlElement) -> list[str]:
    """The texts of the top-level <blockquote>s of ``article`` that precede ``start``."""
    quotes = []
    stops = {start, *start.iterancestors()}
    for element in article.iterdescendants():
        if element in stops:
            break
        if element.tag != "blockquote" or _EMBED_CLASS.search(element.get("class") or ""):
            continue
        between = takewhile(lambda a: a is not article, element.iterancestors())
        if any(a.tag in _NOT_LEAD_QUOTE for a in between):
            continue
        quote = _clean_line(element.text_content())
        if quote and len(quote) >= 20:
            quotes.append(quote)
    return quotes


def main_container(tree: HtmlElement, article_bodies: list[HtmlElement]) -> tuple[HtmlElement, str] | None:
    """The page's main article container and its text (whitespace squashed): the longest of its
    itemprop=articleBody elements (``article_bodies``), else the longest <article>, or None."""
    candidates = [(c, c.text_content()) for c in article_bodies or tree.iter("article")]
    if not candidates:
        return None
    element, text = max(candidates, key=lambda pair: len(pair[1]))
    return element, _squash(text)


# The elements whose itemprop is one of these: found through the attribute, which tests the value
# only on elements that have an itemprop, half the CPU of a predicate on every element.
_MICRODATA = XPath('/descendant::*/@itemprop[. = "articleBody" or . = "datePublished"]/..')


def container_lines(inside: str | None, text: str) -> tuple[int, ...] | None:
    """Indexes of the lines of ``text`` found in the container's text ``inside`` (None: no container)."""
    if inside is None:
        return None
    return tuple(i for i, line in enumerate(text.split("\n")) if _squash(line) in inside)


def _without_title(text: str, title: str | None) -> str:
    """The text without a first line that only repeats the title (the title is its own field)."""
    first, _, rest = text.partition("\n")
    return rest if rest and title and first == title else text


def _squash(value: str) -> str:
    return _clean_line(value) or ""


# --------------------------------------------------------------------------- cleaning


# C0 controls but \t and \n, DEL, C1 controls, and noncharacters that only break consumers.
_CONTROL_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ufffe\uffff]")


def _clean_text(text: str) -> str:
    """Plain text, one paragraph per line: controls removed, lines trimmed, blank lines dropped."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = (_CONTROL_CHARS.sub("", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def _clean_line(value: Any) -> str | None:
    """A one-line field: controls removed, whitespace collapsed, None when nothing is left."""
    if value is None:
        return None
    text = _CONTROL_CHARS.sub(" ", unicodedata.normalize("NFC", str(value)))
    return " ".join(text.split()) or None


def _clean_list(values: Any) -> tuple[str, ...]:
    """Cleaned, de-duplicated, non-empty strings, in their order."""
    cleaned = (_clean_line(v) for v in (values or ()))
    return tuple(dict.fromkeys(v for v in cleaned if v))

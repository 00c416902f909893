"""Parse RSS, Atom and RDF feeds from bytes. The only module that imports feedparser.

Everything here is a pure function of bytes: nothing fetches, opens a file or follows a URL.

- `parse_feed(content, url, content_type)` gives a `ParsedFeed` of `FeedEntry` records, or raises
  `NotAFeed` for an HTML page, JSON, an image or an empty body.
- `discover_feeds(html, url)` lists the feeds a page links to with `<link rel="alternate">`.
- `looks_like_feed(content)` is a cheap sniff of the root element, to tell a feed URL from a page.

Hostile input (SECURITY.md findings 2, 3 and 9, section 3.1): feedparser only ever gets an
`io.BytesIO`; entity declarations of an internal DTD subset are neutralised before feedparser sees
the document; every text field is stripped of NUL and C0 controls and capped; links keep only
http(s); dates more than a day in the future are dropped (the raw string is kept).
"""

from __future__ import annotations

import codecs
import hashlib
import io
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urljoin, urlsplit

# feedparser and lxml are imported where they are used: the process that only writes the archive
# (and every short command) never parses a feed, and importing both takes about 30 ms.

__all__ = [
    "FeedEntry",
    "NotAFeed",
    "ParsedFeed",
    "discover_feeds",
    "looks_like_feed",
    "parse_feed",
]

log = logging.getLogger(__name__)

TITLE_MAX = 1_000
AUTHOR_MAX = 1_000
SUMMARY_MAX = 100_000
URL_MAX = 8_192
AUTHOR_RUN_MAX = 64        # longest run of e-mail characters in an author (see _shorten_authors)
AUTHOR_MARKUP_MAX = 256    # bytes of an author element that holds markup
GUID_MAX = 2_048          # a longer guid is replaced by its sha256, so it still identifies the entry
RAW_DATE_MAX = 200
CATEGORY_MAX_COUNT = 50
CATEGORY_MAX_LEN = 200
DISCOVER_MAX = 20
SNIFF_BYTES = 65_536
TTL_MAX = 365 * 86_400
FUTURE_SLACK = timedelta(days=1)

# What feedparser 6.0.14 raised on mangled corpus feeds (KeyError 'where' and 'tags', TypeError
# from int(None), UnicodeDecodeError and "embedded null character" while sniffing the encoding):
# it has no error contract of its own, so these mean "could not be parsed as a feed".
_FEEDPARSER_FAILURES = (ArithmeticError, AssertionError, AttributeError, LookupError, RecursionError,
                        TypeError, ValueError)
_FEED_ROOTS = frozenset({"rss", "feed", "rdf"})
_FEED_LINK_TYPES = frozenset({
    "application/rss+xml", "application/atom+xml", "application/rdf+xml",
    "application/x-rss+xml", "application/x-atom+xml", "application/xml", "text/xml",
})
_SY_PERIODS = {"hourly": 3_600, "daily": 86_400, "weekly": 604_800,
               "monthly": 2_592_000, "yearly": 31_536_000}

# C0 controls except tab, newline and carriage return; lone surrogates and the two non-characters
# cannot be encoded as UTF-8 (SQLite would refuse them), so they go too.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_URL_CONTROL = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")  # a URL parser drops tabs and newlines too
_DIGITS = re.compile(r"\d{1,12}", re.ASCII)
_NOT_SPACE = re.compile(rb"[^ \t\r\n]")
_DOCTYPE_TOKEN = re.compile(rb"\"[^\"]*\"|'[^']*'|[\[>]")
_DECL_TOKEN = re.compile(rb"\"[^\"]*\"|'[^']*'|>")
_CHAR_REFERENCE = re.compile(rb"&#([0-9]+|[xX][0-9A-Fa-f]+);")
_AUTHOR_TAG = re.compile(
    rb"<((?:[\w.-]+:)?(?:author|creator|managingeditor|webmaster|publisher|contributor))(?=[\s>])"
    rb"[^>]*(?<!/)>", re.IGNORECASE)
_ONE_CDATA = re.compile(rb"\s*<!\[CDATA\[((?:(?!\]\]>).)*)\]\]>\s*", re.DOTALL)
_LONG_RUN = re.compile(rb"[A-Za-z0-9_.+\-&#;]{%d,}" % (AUTHOR_RUN_MAX + 1))
_PE_REFERENCE = re.compile(rb"%[^;\s]+;")
_ENTITY_DECL = re.compile(rb"<!ENTITY", re.IGNORECASE)
_HEAD_TOKEN = re.compile(rb"<\w|<!ENTITY", re.IGNORECASE)
_SAFE_ENTITY = re.compile(rb'<!ENTITY\s+(\w+)\s+"(&#\w+;|[^&%<>"]*)"\s*>')
_ROOT_NAME = re.compile(rb"<(?:[\w.-]+:)?([\w.-]+)")
_ID_ELEMENT = re.compile(rb"<(?:[\w.-]+:)?(?:guid|id)\b([^>]*)>\s*(?:<!\[CDATA\[\s*)?([^<\s]*)",
                         re.IGNORECASE)
_PERMALINK = re.compile(rb"ispermalink\s*=\s*([\"'])(.*?)\1", re.IGNORECASE)
_HAS_SCHEME = re.compile(rb"[A-Za-z][A-Za-z0-9+.-]*:")


@dataclass(frozen=True)
class FeedEntry:
    """One item of a feed, cleaned and capped."""

    guid: str                    # the id as received; else the link; else "sha256:" of title and date
    link: str | None             # absolute http(s) URL or None
    title: str | None            # plain text as in the feed (not HTML-rendered)
    author: str | None
    published: str | None        # aware-UTC ISO 8601; None if missing or more than a day ahead
    published_raw: str | None    # the date string as the feed wrote it
    updated: str | None
    summary: str | None          # feedparser-sanitised HTML or text
    categories: tuple[str, ...]


@dataclass(frozen=True)
class ParsedFeed:
    """A parsed feed document: its metadata and its newest entries."""

    title: str | None
    site_url: str | None
    ttl_seconds: int | None
    version: str                 # feedparser's version string, e.g. "rss20", "atom10"
    entries: tuple[FeedEntry, ...]
    truncated: bool              # more distinct entries than max_entries were present
    bozo: str | None             # class name of the problem feedparser recovered from


class NotAFeed(Exception):
    """The body is not a feed (an HTML page, JSON, an image, an empty body...)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True)
class _Doctype:
    start: int
    end: int                     # just past the closing ">", or -1 if the declaration never ends
    header: bytes                # "<!DOCTYPE name externalID", without the internal subset
    decls: tuple[bytes, ...]     # the markup declarations of the internal subset


@dataclass(frozen=True)
class _Prepared:
    body: bytes                  # what feedparser is given
    headers: dict[str, str]      # content-type and content-location, as feedparser gets them
    utf8: bytes                  # the document as feedparser decodes it, neutralised
    bozo: str | None             # an encoding problem found while converting, if body is converted


def parse_feed(content: bytes, url: str, content_type: str | None, *,
               max_entries: int = 500, now: datetime | None = None) -> ParsedFeed:
    """Parse a feed document fetched from `url` into a `ParsedFeed`; raise `NotAFeed` if it is none."""
    if not content or content.isspace():
        raise NotAFeed("empty body")
    now = _aware(now or datetime.now(timezone.utc))
    prepared = _prepare(content, content_type, url)
    result = _run_feedparser(prepared.body, prepared.headers)
    if not result.get("version"):
        raise NotAFeed(_not_a_feed_detail(result, content_type))
    raw_ids = _raw_ids(prepared, result.entries)
    entries, truncated = _select_entries(result.entries, raw_ids, url, now, max_entries)
    feed = result.feed
    bozo = type(result.bozo_exception).__name__ if result.get("bozo") else prepared.bozo
    return ParsedFeed(
        title=_text(feed.get("title"), TITLE_MAX),
        site_url=_http_url(feed.get("link"), url),
        ttl_seconds=_ttl_seconds(feed),
        version=result.version,
        entries=entries,
        truncated=truncated,
        bozo=bozo,
    )


def looks_like_feed(content: bytes) -> bool:
    """Whether the first element after the prolog is <rss>, <feed> or <rdf:RDF>."""
    head = _sniffable(content[:SNIFF_BYTES])
    start, _ = _scan_prolog(head)
    root = _ROOT_NAME.match(head, start) if start >= 0 else None
    return root is not None and root.group(1).decode("ascii", "replace").lower() in _FEED_ROOTS


def discover_feeds(html: bytes, url: str) -> list[str]:
    """The feed URLs a page announces with <link rel="alternate" type="...rss/atom...">, in order."""
    import lxml.html
    from lxml import etree

    try:
        root = lxml.html.document_fromstring(html)
    except (etree.LxmlError, ValueError):
        return []
    base = url
    for href in root.xpath("//base/@href")[:1]:
        base = _http_url(str(href), url) or url
    found: list[str] = []
    for link in root.iter("link"):
        rels = (link.get("rel") or "").lower().split()
        media_type = (link.get("type") or "").split(";")[0].strip().lower()
        if "alternate" not in rels or media_type not in _FEED_LINK_TYPES:
            continue
        href = _http_url(link.get("href"), base)
        if href and href not in found:
            found.append(href)
            if len(found) >= DISCOVER_MAX:
                break
    return found


def _run_feedparser(body: bytes, headers: dict[str, str], **options: bool) -> Any:
    """feedparser.parse on a BytesIO (a str or bytes argument may be opened as a path or URL)."""
    import feedparser

    try:
        return feedparser.parse(io.BytesIO(body), response_headers=headers, **options)
    except _FEEDPARSER_FAILURES as exc:
        raise _feedparser_failed(exc) from exc


def _feedparser_failed(exc: BaseException) -> NotAFeed:
    message = _CONTROL.sub("", str(exc))[:200]
    return NotAFeed(f"feedparser could not parse it ({type(exc).__name__}: {message})")


# --- before feedparser: encoding and the internal DTD subset -------------------------------------


def _prepare(content: bytes, content_type: str | None, url: str) -> _Prepared:
    """Decide what feedparser gets: the bytes as fetched, or a neutralised UTF-8 copy.

    feedparser decodes first and strips entities afterwards, so the DTD is inspected in the same
    UTF-8 form it will see (a UTF-16 or EBCDIC DTD looks like nothing to a byte regex). A missing
    Content-Type counts as application/xml: the document's own declaration decides, else UTF-8.
    """
    from feedparser.encodings import convert_to_utf8, parse_content_type

    media_type = content_type.strip() if content_type and content_type.strip() else "application/xml"
    headers = {"content-type": media_type, "content-location": url}
    status: dict[str, Any] = {}
    try:
        utf8 = convert_to_utf8(headers, content, status)
    except _FEEDPARSER_FAILURES as exc:
        raise _feedparser_failed(exc) from exc
    safe = _shorten_authors(_fix_character_references(_neutralise_dtd(utf8)))
    if safe == utf8:
        return _Prepared(content, headers, utf8, None)
    log.debug("rewrote entity declarations, character references or authors before parsing")
    headers["content-type"] = parse_content_type(media_type)[0] + "; charset=utf-8"
    problem = status.get("bozo_exception")
    return _Prepared(safe, headers, safe, type(problem).__name__ if problem else None)


def _neutralise_dtd(data: bytes) -> bytes:
    """Drop every entity declaration that could make the document bigger (SECURITY.md §3.1).

    Entities whose value is one character reference, or no longer than their reference, stay:
    old RSS 0.91 feeds declare `&nbsp;` and friends that way. Two passes, because feedparser's
    loose parser reads declarations from its own idea of the prolog (everything before `<\\w`),
    while expat reads the real DOCTYPE.
    """
    _, doctypes = _scan_prolog(data)
    for doctype in reversed(doctypes):
        if doctype.end > 0 and any(_is_unsafe(d) for d in doctype.decls):
            data = data[:doctype.start] + _rebuilt_doctype(doctype) + data[doctype.end:]
    return _strip_head_entities(data)


def _fix_character_references(data: bytes) -> bytes:
    """Replace references to surrogates or beyond U+10FFFF with U+FFFD.

    feedparser's loose parser turns `&#xD800;` into a UnicodeEncodeError and `&#x110000;` into a
    ValueError instead of recovering.
    """
    if b"&#" not in data:
        return data
    return _CHAR_REFERENCE.sub(_checked_reference, data)


def _checked_reference(match: re.Match[bytes]) -> bytes:
    digits = match.group(1)
    hexadecimal = digits[:1] in (b"x", b"X")
    if len(digits) > 12:
        return b"&#xFFFD;"
    code = int(digits[1:], 16) if hexadecimal else int(digits)
    return b"&#xFFFD;" if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF else match.group()


def _shorten_authors(data: bytes) -> bytes:
    """Defuse author-like elements whose text would stall feedparser.

    feedparser looks for an e-mail address in every author string with a regex that takes time
    quadratic in the longest run of letters, digits and `_.+-`: a 1 MB <author> never finishes,
    3,000 authors of 1,000 letters take 28 s. Text around child elements, CDATA and references
    all join that string, so the whole element is examined.
    """
    pieces: list[bytes] = []
    copied = done = 0          # elements are handled left to right, never inside one another
    unclosed: set[bytes] = set()
    for tag in _AUTHOR_TAG.finditer(data):
        name = tag.group(1).lower()
        if tag.start() < done or name in unclosed:
            continue
        end = _end_tag(data, tag.end(), name)
        if end < 0:
            unclosed.add(name)  # no later element of this name can find an end tag either
            continue
        content = data[tag.end():end]
        defused = _defused_author(content)
        if defused is not content:
            pieces += [data[copied:tag.end()], defused]
            copied = end
        done = end
    if not pieces:
        return data
    pieces.append(data[copied:])
    return b"".join(pieces)


def _end_tag(data: bytes, pos: int, name: bytes) -> int:
    """Where `</name>` closing the content at `pos` starts, CDATA and comments skipped; -1 if none."""
    close = re.compile(rb"</" + re.escape(name) + rb"\s*>", re.IGNORECASE)
    while pos >= 0 and (lt := data.find(b"<", pos)) >= 0:
        if data.startswith(b"<![CDATA[", lt):
            pos = _past(data, lt + 9, b"]]>")
        elif data.startswith(b"<!--", lt):
            pos = _past(data, lt + 4, b"-->")
        elif close.match(data, lt):
            return lt
        else:
            pos = lt + 1
    return -1


def _defused_author(content: bytes) -> bytes:
    """The author element's content, unless its text holds a run long enough to stall the regex.

    A run of the regex's letters is cut to AUTHOR_RUN_MAX in plain text; text that has markup or
    references is measured conservatively (`&#119;` counts as six letters) and dropped instead.
    """
    cdata = _ONE_CDATA.fullmatch(content)  # WordPress wraps dc:creator in one CDATA section
    text = cdata.group(1) if cdata else content
    if b"<" in text:
        return content if len(content) <= AUTHOR_MARKUP_MAX else b""
    if not _LONG_RUN.search(text):
        return content
    if cdata or b"&" in text:
        return b""
    return _LONG_RUN.sub(lambda run: run.group()[:AUTHOR_RUN_MAX], content)


def _scan_prolog(data: bytes) -> tuple[int, list[_Doctype]]:
    """Where the root element starts (-1 if the prolog never ends), and the DOCTYPEs before it."""
    pos = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    doctypes: list[_Doctype] = []
    while pos >= 0:
        pos = _skip_space(data, pos)
        if data.startswith(b"<?", pos):
            pos = _past(data, pos + 2, b"?>")
        elif data.startswith(b"<!--", pos):
            pos = _past(data, pos + 4, b"-->")
        elif data[pos:pos + 9].upper() == b"<!DOCTYPE":
            doctype = _scan_doctype(data, pos)
            doctypes.append(doctype)
            pos = doctype.end
        else:
            return pos, doctypes
    return -1, doctypes


def _scan_doctype(data: bytes, start: int) -> _Doctype:
    """Read the DOCTYPE at `start`, quotes respected, splitting off its internal subset."""
    for token in _DOCTYPE_TOKEN.finditer(data, start + 9):
        if token.group() == b">":
            return _Doctype(start, token.end(), data[start:token.start()], ())
        if token.group() == b"[":
            decls, end = _scan_subset(data, token.end())
            return _Doctype(start, end, data[start:token.start()], decls)
    return _Doctype(start, -1, data[start:], ())


def _scan_subset(data: bytes, pos: int) -> tuple[tuple[bytes, ...], int]:
    """The markup declarations of an internal subset, and where the DOCTYPE ends (-1: malformed)."""
    decls: list[bytes] = []
    while pos >= 0:
        pos = _skip_space(data, pos)
        pe_reference = _PE_REFERENCE.match(data, pos)
        if data.startswith(b"]", pos):
            end = _skip_space(data, pos + 1)
            return tuple(decls), end + 1 if data.startswith(b">", end) else -1
        if data.startswith(b"<!--", pos):
            pos = _past(data, pos + 4, b"-->")
        elif data.startswith(b"<?", pos):
            pos = _past(data, pos + 2, b"?>")
        elif data.startswith(b"<!", pos):
            end = _declaration_end(data, pos)
            decls.append(data[pos:end])
            pos = end if end > pos else -1
        elif pe_reference:
            pos = pe_reference.end()
        else:
            pos = -1
    return tuple(decls), -1


def _declaration_end(data: bytes, pos: int) -> int:
    """Just past the `>` that closes the declaration at `pos`, quotes respected; -1 if none."""
    for token in _DECL_TOKEN.finditer(data, pos):
        if token.group() == b">":
            return token.end()
    return -1


def _skip_space(data: bytes, pos: int) -> int:
    found = _NOT_SPACE.search(data, pos)
    return found.start() if found else len(data)


def _past(data: bytes, pos: int, terminator: bytes) -> int:
    found = data.find(terminator, pos)
    return -1 if found < 0 else found + len(terminator)


def _is_unsafe(decl: bytes) -> bool:
    return bool(_ENTITY_DECL.match(decl)) and not _is_safe_entity(decl)


def _is_safe_entity(decl: bytes) -> bool:
    """An entity whose expansion is never longer than its reference (or one character reference)."""
    match = _SAFE_ENTITY.fullmatch(decl)
    if not match:
        return False
    name, value = match.groups()
    return value.startswith(b"&#") or len(value) <= len(name) + 2


def _rebuilt_doctype(doctype: _Doctype) -> bytes:
    """The DOCTYPE with only its safe entities, one per line (where feedparser looks for them)."""
    safe = [decl for decl in doctype.decls if _is_safe_entity(decl)]
    if not safe:
        return doctype.header + b">"
    return doctype.header + b"[\n" + b"\n".join(safe) + b"\n]>"


def _strip_head_entities(data: bytes) -> bytes:
    """Remove unsafe `<!ENTITY ...>` before the first `<\\w`, where feedparser's loose parser reads them."""
    pieces: list[bytes] = []
    pos = 0
    while (token := _HEAD_TOKEN.search(data, pos)) and token.group()[1:2] == b"!":
        close = data.find(b">", token.end())
        end = token.end() if close < 0 else close + 1
        pieces.append(data[pos:token.start()])
        if _is_safe_entity(data[token.start():end]):
            pieces.append(data[token.start():end])
        pos = end
    if not pieces:
        return data
    pieces.append(data[pos:])
    return b"".join(pieces)


def _sniffable(head: bytes) -> bytes:
    """The start of a document as UTF-8 bytes, decoding UTF-16 and UTF-32 (BOM or `<` pattern)."""
    for marker, codec in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                          (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
                          (b"<\0\0\0", "utf-32-le"), (b"\0\0\0<", "utf-32-be"),
                          (b"<\0", "utf-16-le"), (b"\0<", "utf-16-be")):
        if head.startswith(marker):
            return head.decode(codec, "ignore").encode("utf-8")
    return head


# --- after feedparser: entries ------------------------------------------------------------------


def _not_a_feed_detail(result: Any, content_type: str | None) -> str:
    reasons = [f"content type {content_type[:100]!r}"] if content_type else []
    if result.get("bozo"):
        reasons.append(type(result.bozo_exception).__name__)
    suffix = f" ({', '.join(reasons)})" if reasons else ""
    return "no RSS, Atom or RDF document found" + suffix


def _raw_ids(prepared: _Prepared, entries: list[Any]) -> list[str | None]:
    """Entry ids as received: feedparser resolves relative ones against the feed URL.

    Only when the document holds an id that is not an absolute URI is it parsed a second time,
    without the feed URL, to read the ids as written; both passes see the same bytes, so entries
    line up one to one.
    """
    ids = [entry.get("id") for entry in entries]
    if not _may_have_relative_ids(prepared.utf8):
        return ids
    headers = {"content-type": prepared.headers["content-type"]}
    try:
        bare = _run_feedparser(prepared.body, headers, resolve_relative_uris=False, sanitize_html=False)
    except NotAFeed:
        bare = None
    if bare is None or len(bare.entries) != len(entries):
        log.warning("the second parse disagreed with the first; entry ids kept resolved")
        return ids
    return [entry.get("id") for entry in bare.entries]


def _may_have_relative_ids(utf8: bytes) -> bool:
    """Whether some <guid> or <id> that feedparser would resolve lacks a URI scheme."""
    for match in _ID_ELEMENT.finditer(utf8):
        permalink = _PERMALINK.search(match.group(1))
        if permalink and permalink.group(2) != b"true":
            continue  # feedparser leaves isPermaLink="false" guids alone
        if not _HAS_SCHEME.match(match.group(2)):
            return True
    return False


@dataclass(frozen=True)
class _Pick:
    raw: Any
    guid: str
    link: str | None
    published: datetime | None
    updated: datetime | None


def _select_entries(raw_entries: list[Any], raw_ids: list[str | None], url: str, now: datetime,
                    max_entries: int) -> tuple[tuple[FeedEntry, ...], bool]:
    """Distinct entries (first of each guid), newest first when all are dated, at most max_entries."""
    seen: set[str] = set()
    picks: list[_Pick] = []
    for raw, raw_id in zip(raw_entries, raw_ids):
        link = _http_url(raw.get("link"), url)
        guid = _guid(raw_id, link, raw)
        if guid in seen:
            continue
        seen.add(guid)
        picks.append(_Pick(raw, guid, link, _moment(raw.get("published_parsed"), now),
                           _moment(_own(raw, "updated_parsed"), now)))
    if all(p.published or p.updated for p in picks):
        picks.sort(key=lambda p: p.published or p.updated or now, reverse=True)
    truncated = len(picks) > max_entries
    return tuple(_entry(p) for p in picks[:max(max_entries, 0)]), truncated


def _entry(pick: _Pick) -> FeedEntry:
    raw = pick.raw
    return FeedEntry(
        guid=pick.guid,
        link=pick.link,
        title=_text(raw.get("title"), TITLE_MAX),
        author=_text(raw.get("author"), AUTHOR_MAX),
        published=pick.published.isoformat() if pick.published else None,
        published_raw=_text(raw.get("published"), RAW_DATE_MAX),
        updated=pick.updated.isoformat() if pick.updated else None,
        summary=_text(raw.get("summary"), SUMMARY_MAX),
        categories=_categories(raw.get("tags")),
    )


def _guid(raw_id: object, link: str | None, raw: Any) -> str:
    """The entry's identity: its id as received, else its link, else a hash of title and date."""
    guid = _text(raw_id, None)
    if guid:
        return guid if len(guid) <= GUID_MAX else "sha256:" + _sha256(guid)
    if link:
        return link
    title = _text(raw.get("title"), TITLE_MAX) or ""
    date = _text(raw.get("published") or _own(raw, "updated"), RAW_DATE_MAX) or ""
    # With neither title nor date, the summary is all that tells two entries apart.
    extra = "" if title or date else _text(raw.get("summary"), SUMMARY_MAX) or ""
    return "sha256:" + _sha256("\x1f".join((title, date, extra)))


def _own(raw: Any, key: str) -> Any:
    """feedparser's value for `key` without its aliases (`updated` would fall back to `published`)."""
    return dict.get(raw, key)


def _sha256(text: str) -> str:
    """Hex sha256 of the UTF-8 text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _moment(parsed: Any, now: datetime) -> datetime | None:
    """A feedparser UTC struct_time as an aware datetime, or None if invalid or too far ahead."""
    if not parsed:
        return None
    try:
        year, month, day, hour, minute, second = parsed[:6]
        moment = datetime(year, month, day, hour, minute, min(second, 59), tzinfo=timezone.utc)
    except (TypeError, ValueError, OverflowError):
        return None
    return None if moment > now + FUTURE_SLACK else moment


def _categories(tags: object) -> tuple[str, ...]:
    found: list[str] = []
    for tag in tags if isinstance(tags, list) else ():
        term = _text(tag.get("term") or tag.get("label"), CATEGORY_MAX_LEN) if isinstance(tag, dict) else None
        if term and term not in found:
            found.append(term)
            if len(found) >= CATEGORY_MAX_COUNT:
                break
    return tuple(found)


def _ttl_seconds(feed: Any) -> int | None:
    """The feed's own refresh hint: <ttl> minutes, else sy:updatePeriod / sy:updateFrequency."""
    minutes = _positive_int(feed.get("ttl"))
    if minutes:
        return min(minutes * 60, TTL_MAX)
    period = _SY_PERIODS.get(str(feed.get("sy_updateperiod") or "").strip().lower())
    if period is None:
        return None
    frequency = _positive_int(feed.get("sy_updatefrequency")) or 1
    return max(1, min(period // frequency, TTL_MAX))


def _positive_int(value: object) -> int | None:
    text = value.strip() if isinstance(value, str) else ""
    if not _DIGITS.fullmatch(text):
        return None
    return int(text) or None


def _text(value: object, limit: int | None) -> str | None:
    """`value` without C0 controls, surrogates or surrounding space, capped; None if empty."""
    if not isinstance(value, str):
        return None
    if limit is not None:
        value = value[:4 * limit]  # bounds the work on a 20 MB title; controls rarely fill 3/4
    cleaned = _CONTROL.sub("", value).strip()
    return cleaned[:limit] if cleaned else None


def _http_url(value: object, base: str) -> str | None:
    """`value` resolved against `base`, if it is an http(s) URL with a host within URL_MAX."""
    if not isinstance(value, str) or len(value) > URL_MAX:
        return None
    value = _URL_CONTROL.sub("", value).strip()
    try:
        absolute = urljoin(base, value) if value else ""
        parts = urlsplit(absolute)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or len(absolute) > URL_MAX:
        return None
    return absolute


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)

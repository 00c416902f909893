"""An article's title, author and dates from the page's structured data, cleaned. Pure functions
on an lxml tree that the extractor has already parsed.

Sources, best first (``SOURCES``):

    jsonld       <script type="application/ld+json">: NewsArticle, Article, BlogPosting and their
                 kin, also inside ``@graph`` and lists: headline, author(s), datePublished,
                 dateModified; the publisher's or WebSite's name as the site name
    og           OpenGraph and ``article:*`` <meta>: og:title, og:site_name, article:author,
                 article:published_time, article:modified_time
    feed         the feed entry that led to the page (merged later, where the entry is known)
    html         the <title> element (trafilatura prefers a lone <h1>, often a section's name)
                 and a visible byline ("By Jane Doe", "Von Jane Doe", "Autor: Jane Doe")
    meta         Dublin Core's creator, <meta name="author"> and the "Written by" label and
                 value pair (twitter:label1 / twitter:data1) that WordPress SEO plugins write;
                 below a visible byline, as <meta name="author"> is often the site's name
    trafilatura  trafilatura's own guesses

The publication date has more sources (date <meta> names and microdata as "meta", the dateline
by the headline as "html", the URL as "url") and its own rule: archiver.content.dates. ``choose``
picks and cleans each field; ``with_feed`` adds the feed entry's values; ``metadata_sources`` is what a snapshot records.

JSON-LD is hostile input like the rest of the page: scripts, their size, their nesting and the
number of objects looked at are bounded, and nothing here raises on any input.
"""

from __future__ import annotations

import html
import json
import logging
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice, takewhile
from typing import Any

from lxml.etree import XPath
from lxml.html import HtmlElement

from archiver.content.dates import choose_published, iso_date, loose_date, meta_date, page_search_matters

log = logging.getLogger(__name__)

SOURCES = ("jsonld", "og", "feed", "html", "meta", "trafilatura")
# The publication date's sources in the order archiver.content.dates.choose_published weighs
# them; the feed's date only where the page gives none.
_ORDER = {"published": ("jsonld", "og", "meta", "html", "url", "trafilatura", "feed")}
FIELDS = ("title", "author", "published", "modified", "sitename")  # "publisher" only helps clean titles

MAX_SCRIPTS = 16  # JSON-LD scripts read per page
MAX_SCRIPT_CHARS = 200_000  # a bigger script is skipped, not parsed
MAX_DEPTH = 8  # how deep into nested objects an article is looked for
MAX_NODES = 2_000  # objects visited per page, over all scripts

_ARTICLE_TYPES = frozenset({"article", "newsarticle", "blogposting", "liveblogposting", "report",
                            "reportagenewsarticle", "analysisnewsarticle", "opinionnewsarticle",
                            "reviewnewsarticle", "backgroundnewsarticle", "techarticle",
                            "scholarlyarticle", "socialmediaposting", "posting"})
_SITE_TYPES = frozenset({"website", "organization", "newsmediaorganization"})


@dataclass(frozen=True)
class Candidates:
    """What each source says about each field: ``values[field]`` is [(source, value), ...], best first."""

    values: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def add(self, name: str, source: str, value: str | None) -> None:
        if value:
            self.values.setdefault(name, []).append((source, value))

    def has(self, name: str, sources: tuple[str, ...]) -> bool:
        """Whether one of these sources gave a value for the field."""
        return any(source in sources for source, _ in self.values.get(name, ()))


# --------------------------------------------------------------------------- JSON-LD


def jsonld_objects(tree: HtmlElement) -> list[dict[str, Any]]:
    """The JSON objects of the page's JSON-LD scripts (within the bounds above), unparsable ones skipped."""
    objects: list[dict[str, Any]] = []
    scripts = 0
    for script in tree.iter("script"):
        if (script.get("type") or "").strip().lower() != "application/ld+json":
            continue
        scripts += 1
        if scripts > MAX_SCRIPTS:
            break
        text = script.text or ""
        if len(text) > MAX_SCRIPT_CHARS:
            log.debug("skipping a JSON-LD script of %s characters", len(text))
            continue
        try:
            data = json.loads(_CDATA.sub("", text).strip().rstrip(";"))
        except (ValueError, RecursionError):
            continue
        objects.extend(_walk(data))
    return objects


# XHTML-era pages wrap the JSON in a CDATA section, sometimes behind // or /* */ comments
_CDATA = re.compile(r"^\s*(?://|/\*)?\s*<!\[CDATA\[(?:\s*\*/)?|(?://|/\*)?\s*\]\]>(?:\s*\*/)?\s*$")


def _walk(data: Any) -> Iterator[dict[str, Any]]:
    """Every dict in ``data`` down to MAX_DEPTH, at most MAX_NODES of them, breadth first."""
    level, seen = [data], 0
    for _ in range(MAX_DEPTH):
        following: list[Any] = []
        for item in level:
            if isinstance(item, list):
                following.extend(item[:MAX_NODES])
            elif isinstance(item, dict):
                seen += 1
                if seen > MAX_NODES:
                    return
                yield item
                following.extend(v for v in item.values() if isinstance(v, (dict, list)))
        level = following
        if not level:
            return


def _types(node: dict[str, Any]) -> set[str]:
    kind = node.get("@type")
    kinds = kind if isinstance(kind, list) else [kind]
    return {k.rsplit("/", 1)[-1].lower() for k in kinds if isinstance(k, str)}


def read_jsonld(objects: list[dict[str, Any]], into: Candidates) -> None:
    """Add the first article object's fields, and a site name, to ``into``."""
    # a node by its @id: the full one, not a bare {"@id": ...} reference to it
    by_id = {n["@id"]: n for n in objects if isinstance(n.get("@id"), str) and set(n) - {"@id", "@type"}}
    article = next((n for n in objects if _types(n) & _ARTICLE_TYPES), None)
    if article is not None:
        headline, name = _text(article.get("headline")), _text(article.get("name"))
        into.add("title", "jsonld", headline or name)
        if headline and name:
            into.add("jsonld name", "jsonld", name)  # the title where the page's <h1> shows it (choose)
        into.add("author", "jsonld", _names(article.get("author"), by_id))
        into.add("published", "jsonld", _date_time(_text(article.get("datePublished"))))
        into.add("modified", "jsonld", iso_date(_text(article.get("dateModified"))))
        publisher = _resolve(article.get("publisher"), by_id)
        into.add("publisher", "jsonld", _text(publisher.get("name")) if publisher else None)
    site = next((n for n in objects if _types(n) & _SITE_TYPES), None)
    if site is not None:
        into.add("sitename", "jsonld", _text(site.get("name")))


def _date_time(value: str | None) -> str | None:
    """An ISO 8601 date or date-time kept as the page gives it (``choose`` reads its zone), another
    format ("Di., 25.01.2022 - 14:45") as its day, or None."""
    return value if iso_date(value) else loose_date(value)


def _resolve(value: Any, by_id: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """A JSON-LD node, following a bare {"@id": ...} reference within the page."""
    if isinstance(value, list):
        value = value[0] if value else None
    if not isinstance(value, dict):
        return None
    if set(value) <= {"@id", "@type"} and isinstance(value.get("@id"), str):
        return by_id.get(value["@id"], value)
    return value


def _names(value: Any, by_id: dict[str, dict[str, Any]]) -> str | None:
    """Author names from a string, an object with ``name``, or a list of either, joined by "; "."""
    items = value if isinstance(value, list) else [value]
    names = []
    for item in items[:20]:
        if isinstance(item, str):
            names.append(item)
        else:
            node = _resolve(item, by_id)
            if node is not None:
                names.append(_text(node.get("name")) or "")
    cleaned = [c for c in (clean_author(n) for n in names) if c]
    return "; ".join(dict.fromkeys(cleaned)) or None


def _text(value: Any) -> str | None:
    """A one-line string from a JSON-LD value (a string, a number, or the first of a list)."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("@value")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    # a CMS often escapes the JSON's strings for HTML as well: "Olive &#038; Herb"
    return " ".join(unicodedata.normalize("NFC", html.unescape(value)).split())[:1000] or None


# --------------------------------------------------------------------------- OpenGraph


_OG_FIELDS = {"og:title": "title", "og:site_name": "sitename", "article:author": "author",
              "article:published_time": "published", "article:modified_time": "modified"}


_WRITTEN_BY = re.compile(r"^(?:written by|author|autor|verfasst von|geschrieben von|écrit par|auteur|"
                         r"escrito por|scritto da)$", re.IGNORECASE)


def read_opengraph(tree: HtmlElement, into: Candidates) -> None:
    """Add the OpenGraph and ``article:*`` <meta> values to ``into``, and the other <meta> that
    name the author (source "meta": Dublin Core's creator first, then name="author" and the
    "Written by" twitter:label/data pair) or the publication date (archiver.content.dates'
    ``PUBLISHED_META``, also as itemprop). A property attribute may hold several names (RDFa)."""
    labels: dict[str, str] = {}
    authors: list[tuple[int, str]] = []
    dates: dict[int, str] = {}
    for meta in tree.iter("meta"):
        keys = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").lower().split()
        content = _text(meta.get("content")) or ""
        for key in keys:
            name = _OG_FIELDS.get(key)
            if name is None:
                _read_author_meta(key, content, labels, authors)
                meta_date(key, content, dates)
            elif not any(source == "og" for source, _ in into.values.get(name, ())):
                into.add(name, "og", _clean_og(name, content))
    for _, author in sorted(authors, key=lambda pair: pair[0]):
        into.add("author", "meta", author)
    if dates:
        into.add("published", "meta", dates[min(dates)])


def _clean_og(name: str, content: str) -> str | None:
    if name == "author":
        return clean_author(content)
    if name == "published":
        return _date_time(content)  # cleaned by ``choose``, which reads its zone first
    if name == "modified":
        return iso_date(content)
    return content or None


_DC_CREATOR = frozenset({"dc:creator", "dc.creator", "dcterms:creator", "dcterms.creator"})


def _read_author_meta(key: str, content: str, labels: dict[str, str], authors: list[tuple[int, str]]) -> None:
    """Dublin Core's creator (rank 0), <meta name="author"> and twitter:dataN where
    twitter:labelN says "Written by" (rank 1), appended to ``authors``."""
    found: tuple[int, str | None] | None = None
    if key in _DC_CREATOR:
        found = (0, clean_author(content))
    elif key == "author":
        found = (1, clean_author(content))
    elif key.startswith("twitter:label") and _WRITTEN_BY.match(content.strip()):
        labels[key.removeprefix("twitter:label")] = content
    elif key.startswith("twitter:data") and key.removeprefix("twitter:data") in labels:
        found = (1, clean_author(content))
    if found is not None and found[1]:
        authors.append((found[0], found[1]))


def read_title_element(tree: HtmlElement, into: Candidates) -> None:
    """Add the document's <title> to ``into``."""
    element = next(tree.iter("title"), None)
    if element is not None:
        into.add("title", "html", _text(element.text_content()))


_BYLINE_WORDS = ("by", "von", "par", "door", "por", "autor", "autorin", "author", "written by")
_BYLINE_LABEL = re.compile(rf"^(?:{'|'.join(_BYLINE_WORDS)})\s*:?$", re.IGNORECASE)
_BYLINE = re.compile(rf"^(?:{'|'.join(_BYLINE_WORDS)})\s*:?\s+(.+)$", re.IGNORECASE)
_BYLINE_START = re.compile(rf"\s*(?:{'|'.join(_BYLINE_WORDS)})\b", re.IGNORECASE)
# What a text that _BYLINE_START matches starts with, after its white space: half a microsecond
# less than the pattern for each of the 400-odd short texts of a page.
_BYLINE_INITIALS = frozenset(word[0] for word in _BYLINE_WORDS) | frozenset(word[0].upper() for word in _BYLINE_WORDS)
_NAME = re.compile(r"^[^\W\d_][\w.'’-]*(?:\s+[\w.'’-]+){1,4}$")
_PARTICLES = frozenset({"de", "la", "le", "van", "von", "der", "den", "da", "di", "du", "del", "dos", "zu", "v."})
_NOT_BYLINE_PARENTS = frozenset({"figcaption", "figure", "nav", "footer", "script", "style", "title"})
_MAX_ELEMENTS = 20_000


def read_byline(tree: HtmlElement, into: Candidates, container: HtmlElement | None = None) -> None:
    """Add a visible byline ("By Jane Doe", "Von Jane Doe", "Autor: Jane Doe") to ``into``: the
    first in the article's ``container`` if it has one, else the first in the page."""
    for scope in (container, next(tree.iter("body"), None)):
        if scope is None:
            continue
        for text, following in _byline_texts(scope):
            name = _byline_name(text, following)
            if name:
                into.add("author", "html", name)
                return


def _byline_texts(scope: HtmlElement) -> Iterator[tuple[str, Any]]:
    """(short text that starts like a byline, a function giving the text after it) in ``scope``,
    outside captions, navigation and footers. (Each element's text and tail are read in the loop
    itself: a tuple of the two for each of the page's elements took a sixth of its CPU.)"""
    initials, starts = _BYLINE_INITIALS, _BYLINE_START.match
    for element in islice(scope.iter(), _MAX_ELEMENTS):
        text = element.text
        if text and len(text) < 80 and text.lstrip()[:1] in initials and starts(text) and not _in_excluded(element):
            yield " ".join(text.split()), lambda e=element: _text_after(e, False)
        text = element.tail
        if text and len(text) < 80 and text.lstrip()[:1] in initials and starts(text):
            holder = element.getparent()
            if holder is not None and not _in_excluded(holder) and not _mid_sentence(element, text):
                yield " ".join(text.split()), lambda e=element: _text_after(e, True)


_INLINE = frozenset({"a", "abbr", "b", "cite", "em", "i", "q", "small", "span", "strong", "sub", "sup", "u"})
_BYLINE_BLOCK = 100  # characters: "Posted on <a>May 1, 2024</a> by <a>Jane Doe</a> | 3 comments" is well within


def _mid_sentence(element: HtmlElement, tail: str) -> bool:
    """Whether a bare "by" after an element goes on a sentence ("a portrait of Hinepare of
    <a>Ngati Kahungunu</a> by <a>Gottfried Lindauer</a>, showing ...") rather than starting a
    byline: the element is inline and holds words, and what holds them both is longer than a
    byline line."""
    if element.tag not in _INLINE or not _BYLINE_LABEL.match(tail.strip()) or not element.text_content().strip():
        return False
    return _longer_than(element.getparent(), _BYLINE_BLOCK)


def _longer_than(element: HtmlElement, limit: int) -> bool:
    """Whether the element's text, white space squashed, is longer than ``limit`` characters:
    read only as far as needed (a page of many "<a>...</a> by" in one block would otherwise have
    the block's whole text read for each), and a block of more pieces of text than that is long."""
    length, in_word = -1, False  # no space before the first word
    for count, piece in enumerate(element.itertext()):
        words = piece.split()
        if words:  # each word and a space before it, but for a word the piece goes on
            length += sum(map(len, words)) + len(words) - (in_word and not piece[0].isspace())
            in_word = not piece[-1].isspace()
        elif piece:
            in_word = False
        if length > limit or count > limit:
            return True
    return False


def _in_excluded(element: HtmlElement) -> bool:
    return any(e.tag in _NOT_BYLINE_PARENTS for e in (element, *element.iterancestors()))


def _text_after(element: HtmlElement, is_tail: bool) -> str | None:
    """The first non-blank text after an element's text (or after its tail)."""
    pair = (_TAIL_AND_NEXT if is_tail else _TEXT_AND_NEXT)(element)
    return " ".join(str(pair[1]).split()) if len(pair) == 2 else None


# From an element: its tail and the next non-blank text; its text and the next non-blank text.
_TAIL_AND_NEXT = XPath("following::text()[normalize-space()][position() <= 2]")
_TEXT_AND_NEXT = XPath("(descendant::text() | following::text())[normalize-space()][position() <= 2]")


def _byline_name(text: str, following: Any) -> str | None:
    """The author's name in a byline text (or, after a bare label, in the text that follows)."""
    match = _BYLINE.match(text)
    if match is not None:
        name = match.group(1)
    elif _BYLINE_LABEL.match(text):
        name = following()
    else:
        return None
    name = clean_author(name.split("/")[0]) if name else None
    # the names it starts with: "Jane Doe, John Roe" and "Jane Doe and John Roe" are two,
    # "Uta Staschewski, Projektleiterin der HSS in Tunesien" is one, "Brenda Goodman, MA" too
    names = list(takewhile(_looks_like_a_name, _NAME_LIST.split(name or "")))
    return "; ".join(names) or None


def _looks_like_a_name(text: str) -> bool:
    """Two to five words, each capitalised but for particles ("de la", "van", "von")."""
    return bool(_NAME.match(text)) and all(w[0].isupper() or w.lower() in _PARTICLES for w in text.split())


# --------------------------------------------------------------------------- cleaning


_BY = re.compile(r"^(?:(?:written|posted|published|words|text|story)\s+)?(?:by|von|par|door|por|di)\b[\s:]*",
                 re.IGNORECASE)
_ROLE_WORDS = (r"writer|reporter|editor|correspondent|contributor|columnist|journalist|author|"
               r"staff|redakteur\w*|autor\w*|redaktion|chefredakt\w*|photographer|producer|analyst|"
               r"critic|intern|fellow|news|health news|associated press|reuters|dpa|afp|apa|epd|kna|sid")
_ROLE_SUFFIX = re.compile(rf"\s*(?:[,|\-\u2013\u2014/]|\bis\b|\bfor\b)\s*(?:[\w.'’ ]*\s)?(?:{_ROLE_WORDS})\b.*$",
                          re.IGNORECASE)
_ROLE_TAIL = re.compile(rf"(\s+[\w.'’-]+)?\s+(?:{_ROLE_WORDS})$", re.IGNORECASE)
_ROLE_PREFIX = re.compile(r"^[\w-]*(?:experte|expertin|redakteur|redakteurin|reporter|reporterin|korrespondent|"
                          r"korrespondentin|editor|correspondent|columnist)\s+", re.IGNORECASE)
_AND = re.compile(r"\s+(?:and|und|et|y|&|im gespräch mit|in conversation with)\s+", re.IGNORECASE)
# between the names of a byline: "Jane Doe, John Roe and Ann Lee"
_NAME_LIST = re.compile(rf"\s*[;,]\s*(?:(?:and|und|et|y|&)\s+)?|{_AND.pattern}", re.IGNORECASE)
_TRAILING_DATE = re.compile(r"\s+(?:\d{1,2}\s+)?(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
                            r"\s+\d{1,2}(?:,\s*|\s+)\d{4}.*$|\s+\d{1,2}[./]\d{1,2}[./]\d{2,4}.*$",
                            re.IGNORECASE)
# an address, an e-mail, or the site's own account ("admin", "Wordpressadmin"): no one's name
_NOT_A_NAME = re.compile(r"^(?:https?://|www\.)|@\S+\.\w|^\W*$|^\w*(?:admin|administrator|webmaster)$", re.IGNORECASE)


def clean_author(value: str | None) -> str | None:
    """An author's name without a leading "By ", a role or date after it, or a profile URL."""
    text = " ".join(unicodedata.normalize("NFC", value or "").split())
    if not text or _NOT_A_NAME.search(text):
        return None
    text = _BY.sub("", text)
    text = _TRAILING_DATE.sub("", text)
    text = _ROLE_SUFFIX.sub("", text).strip(" ,;:|-\u2013\u2014")
    text = _ROLE_PREFIX.sub("", text) if len(text.split()) > 2 else text
    text = _without_role_tail(text)
    names = _AND.split(text)
    if len(names) > 1 and all(_looks_like_a_name(n) for n in names):
        return "; ".join(names)  # "Jane Doe and John Roe": two authors
    return text or None


def _without_role_tail(text: str) -> str:
    """ "Ben Silverman Games Editor" -> "Ben Silverman": a role word, and the word before it if a
    name of two words is left."""
    match = _ROLE_TAIL.search(text)
    if match is None:
        return text
    for cut in (match.start(), match.start() + len(match.group(1) or "")):
        if len(text[:cut].split()) >= 2:
            return text[:cut]
    return text
    return text or None


_SEPARATORS = r"\s+[|\-\u2013\u2014:\u00b7\u2022»/]+\s+|\s+::\s+|\s*\|\s*"


def clean_title(title: str | None, sitenames: list[str]) -> str | None:
    """The title without a trailing (or leading) " | Site Name" / " - Site" when the site is known."""
    text = " ".join((title or "").split())
    if not text:
        return None
    known = {_key(s) for s in sitenames if s and _key(s)}
    if not known:
        return text
    parts = re.split(f"({_SEPARATORS})", text)
    lead = re.split(f"({_SEPARATORS}|:\\s+)", text, maxsplit=1)  # "Site: Title" too
    if len(lead) == 3 and _key(lead[0]) in known:
        return lead[2].strip() or text
    # cut at the site's name, and whatever follows it: "Title | Site - Slogan"
    cut = next((i for i in range(2, len(parts), 2) if _key(parts[i]) in known), None)
    return "".join(parts[: cut - 1]).strip() if cut else text


def headline_part(title: str, headlines: list[str]) -> str | None:
    """The page's visible headline when the title is it plus a kicker or a suffix:
    "Kicker: Headline" or "Headline - Section" with an <h1> "Headline"."""
    keys = {_key(h) for h in headlines if len(h) >= 10}
    parts = re.split(f"(?:{_SEPARATORS}|:\\s+)", title)
    if len(parts) < 2:
        return None
    return next((p.strip() for p in parts if _key(p) in keys), None)


def _loose(value: str) -> str:
    return re.sub(r"\W+", "", _key(value))


def _key(value: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split()).strip(" .")


def host_names(hostname: str | None) -> list[str]:
    """Names a site may go by in its titles, from its host: "www.ehow.com" gives ehow.com, ehow."""
    labels = (hostname or "").lower().removeprefix("www.").split(".")
    if len(labels) < 2 or not labels[0]:
        return []
    return [".".join(labels), labels[-2]]


# --------------------------------------------------------------------------- choosing


@dataclass(frozen=True)
class Chosen:
    """The best value of each field, the source it came from, and what good sources said otherwise."""

    values: dict[str, str]
    sources: dict[str, str]
    alternatives: dict[str, dict[str, str]]


_STRUCTURED = ("jsonld", "og", "meta", "feed")


def choose(candidates: Candidates, hostname: str | None, headlines: list[str] | None = None) -> Chosen:
    """Each field's first candidate in source order, cleaned; differing structured values recorded.
    A title that is one of the page's ``headlines`` (<h1>) with a kicker or suffix becomes that headline."""
    sitenames = _sitenames(candidates, hostname)
    site_keys = {_loose(s) for s in sitenames}  # a title or author that is the site's name is none
    # the publisher names the site in titles too, but may be a person: the author
    sitenames += [v for _, v in candidates.values.get("publisher", ())]
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    alternatives: dict[str, dict[str, str]] = {}
    for name in FIELDS:
        found = _ordered(name, candidates.values.get(name, []))
        cleaned = _kept(name, found, sitenames, site_keys)
        if not cleaned:
            continue
        source, value = (choose_published(found) if name == "published" else None) or _untruncated(cleaned)
        if name == "title" and headlines:
            value = headline_part(value, headlines) or _shown_name(source, value, candidates, headlines) or value
        values[name], sources[name] = value, source
        others = {s: v for s, v in cleaned if s in _STRUCTURED and s != source and not same_value(name, v, value)}
        if others:
            alternatives[name] = others
    return Chosen(values, sources, alternatives)


def _shown_name(source: str, headline: str, candidates: Candidates, headlines: list[str]) -> str | None:
    """The JSON-LD ``name`` where the page's <h1> is it and not the JSON-LD ``headline``:
    Wikipedia's headline is a description ("constitutional monarchy in Oceania"), its name the
    article's title ("New Zealand")."""
    if source != "jsonld":
        return None
    keys = {_key(h) for h in headlines}
    name = next((v for _, v in candidates.values.get("jsonld name", ())), None)
    return name if name and _key(name) in keys and _key(headline) not in keys else None


def _sitenames(candidates: Candidates, hostname: str | None) -> list[str]:
    return [v for _, v in candidates.values.get("sitename", ())] + host_names(hostname)


def names_an_author(candidates: Candidates, sources: tuple[str, ...], hostname: str | None) -> bool:
    """Whether one of these sources names an author that ``choose`` would keep: not one that
    cleans to nothing, nor the site's own name ("LN" on the Lübecker Nachrichten's pages). Where
    none does, the page's visible byline is worth reading."""
    site_keys = {_loose(s) for s in _sitenames(candidates, hostname)}
    named = [(s, v) for s, v in candidates.values.get("author", ()) if s in sources]
    return bool(_kept("author", named, [], site_keys))


def _kept(name: str, found: list[tuple[str, str]], sitenames: list[str],
          site_keys: set[str]) -> list[tuple[str, str]]:
    """(source, value) of a field, each value cleaned, without those that clean to nothing and
    titles or authors that are only the site's name."""
    cleaned = [(s, _clean(name, v, sitenames)) for s, v in found]
    return [(s, v) for s, v in cleaned if v and not _site_name_only(name, s, v, site_keys)]


def _site_name_only(name: str, source: str, value: str, site_keys: set[str]) -> bool:
    """A title or an author that is the site's name is none."""
    return name in ("title", "author") and _loose(value) in site_keys


def date_search_matters(candidates: Candidates) -> bool:
    """Whether trafilatura's date search can change the publication date ``choose`` picks from
    these candidates (see archiver.content.dates.page_search_matters)."""
    return page_search_matters(_ordered("published", candidates.values.get("published", [])))


def _ordered(name: str, found: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The first value of each source, best source first."""
    firsts: dict[str, str] = {}
    for source, value in found:
        firsts.setdefault(source, value)
    return [(s, firsts[s]) for s in _ORDER.get(name, SOURCES) if s in firsts]


def with_feed(chosen: Chosen, feed: dict[str, str | None]) -> Chosen:
    """``chosen`` with the feed entry's values (title, author, published) where they rank higher
    than the page's source for that field, or the page has none; a differing feed value that
    ranks lower is recorded among the alternatives."""
    values, sources = dict(chosen.values), dict(chosen.sources)
    alternatives = {k: dict(v) for k, v in chosen.alternatives.items()}
    for name, raw in feed.items():
        value = _clean(name, raw, []) if raw else None
        if not value:
            continue
        order = _ORDER.get(name, SOURCES)
        current = sources.get(name)
        if current is None or order.index("feed") < (order.index(current) if current in order else 0):
            if current is not None and not same_value(name, value, values[name]):
                alternatives.setdefault(name, {})[current] = values[name]
            values[name], sources[name] = (raw if name == "published" else value), "feed"
        elif not same_value(name, value, values[name]):
            alternatives.setdefault(name, {})["feed"] = raw if name == "published" else value
    return Chosen(values, sources, alternatives)


_SCRIPTS = re.compile(r"(?is)<(script|style)\b[^>]*>.*?</\1\s*>")
_TAG = re.compile(r"<[^>]*>")


def _plain(value: str) -> str:
    """A name without markup: a person's name never holds any, and markup in an author field
    (a ``<script>``, escaped in the page's HTML) never reaches the archive. Titles keep theirs:
    a headline may really be about ``<script>``, and is archived as the page shows it."""
    if "<" not in value:
        return value
    return _TAG.sub(" ", _SCRIPTS.sub(" ", value))


def _clean(name: str, value: str, sitenames: list[str]) -> str | None:
    if name == "title":
        return clean_title(value, sitenames)
    if name == "author":
        return clean_author(_plain(value))
    if name in ("published", "modified"):
        return iso_date(value)
    return " ".join(value.split()) or None


def _untruncated(cleaned: list[tuple[str, str]]) -> tuple[str, str]:
    """The first value, unless it is cut short with an ellipsis and a later one is it in full."""
    source, value = cleaned[0]
    stem = value.removesuffix("…").removesuffix("...").rstrip()
    if stem != value and len(stem) >= 20:
        for other_source, other in cleaned[1:]:
            if other.startswith(stem) and len(other) > len(stem):
                return other_source, other
    return source, value


def same_value(name: str, a: str, b: str) -> bool:
    """Whether two values of a field say the same (dates by their day, text by its words)."""
    if name in ("published", "modified"):
        return a[:10] == b[:10]
    return _key(a) == _key(b)


def metadata_sources(chosen: Chosen) -> dict[str, Any]:
    """What a snapshot's ``metadata_sources`` holds: {"title": "jsonld", "author": "feed", ...},
    the last modification date as {"modified": {"jsonld": "2024-01-02"}}, and where good sources
    disagreed, {"alternatives": {"author": {"og": "Jane Doe"}}}; {"text": "recall"} where the text
    is what trafilatura's recall mode found after its default mode took a menu for the article."""
    recorded: dict[str, Any] = {k: v for k, v in chosen.sources.items() if k in ("title", "author", "published", "text")}
    if chosen.values.get("modified"):
        recorded["modified"] = {chosen.sources.get("modified", "page"): chosen.values["modified"]}
    if chosen.alternatives:
        recorded["alternatives"] = chosen.alternatives
    return recorded

"""When an article was published: the dates a page gives beyond its JSON-LD and OpenGraph, and
the rule that picks one day among every source's. Pure functions on a tree already parsed.

Sources of a publication date (archiver.content.metadata adds "jsonld", "og", "feed" and
"trafilatura"):

    meta   <meta> names for the publication date that publishing systems and analytics tags
           write (``PUBLISHED_META``: itemprop=datePublished, pubdate, dc.date.issued,
           sailthru.date, parsely-pub-date, article.published ...), and schema.org microdata
           itemprop="datePublished" on any element
    html   the dateline the page shows with its headline: the first <time> or date after the
           headline's <h1>, within a few lines, or a <time> just before it; a date labelled as
           an update ("Updated", "Aktualisiert", "Mis à jour") is not the publication date
    url    a /YYYY/MM/DD/ path

``choose_published`` picks among them: see its docstring.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime
from email.utils import parsedate_tz
from itertools import islice

from lxml.etree import iterwalk
from lxml.html import HtmlElement

# <meta> names (name, property or itemprop) for the publication date, best first
PUBLISHED_META = ("datepublished", "article.published", "article:published", "parsely-pub-date", "sailthru.date",
                  "pubdate", "publishdate", "publish-date", "publish_date", "published_time", "date.published",
                  "dcterms.issued", "dc.date.issued", "dc.date.created", "dcterms.created",
                  "citation_publication_date", "dc.date", "dcterms.date", "date")
_META_RANK = {name: rank for rank, name in enumerate(PUBLISHED_META)}

# A day is shown and stored as the page gives it: its own local date, never shifted to UTC.
_ISO_DATE = re.compile(r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})(?!\d)")
_LOCAL_TIME = re.compile(r"^\s*\d{4}-\d{1,2}-\d{1,2}[T ]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*"
                         r"(?:[+-](?!00:?00)\d{2}:?\d{2})$")
_EARLIEST, _LATEST = datetime(1990, 1, 1), datetime(2100, 1, 1)


def iso_date(value: str | None) -> str | None:
    """The YYYY-MM-DD a date or date-time string starts with (the page's own local date), or None."""
    match = _ISO_DATE.match(value or "")
    if match is None:
        return None
    year, month, day = (int(g) for g in match.groups())
    try:
        found = date(year, month, day)
    except ValueError:  # "2024-02-30"
        return None
    return found.isoformat() if _EARLIEST.year <= year < _LATEST.year else None


def has_local_time(value: str) -> bool:
    """Whether a date-time names its zone by an offset other than UTC's: its day is then the
    publisher's own. A UTC time, or one without a zone, may fall on another day where it was
    published."""
    return bool(_LOCAL_TIME.match(value))


def loose_date(value: str | None) -> str | None:
    """The day a <meta> value or an attribute names: ISO 8601, an e-mail style date ("Wed, 02 Feb
    2022 09:12:22 +0100"), or what htmldate's regular expressions read ("02.02.2022")."""
    if not value:
        return None
    if _ISO_DATE.match(value):
        return iso_date(value)  # and not "2024-02", the first of a month, when it is invalid
    if (parts := parsedate_tz(value)) is not None:
        return iso_date(f"{parts[0]:04d}-{parts[1]:02d}-{parts[2]:02d}")
    return text_date(value)


_FIRST = re.compile(r"(?<!\d)0?1(?!\d)")


def text_date(text: str) -> str | None:
    """The day a short visible text names ("1. Februar 2022", "Nov 8, 2023", "29.04.2020, 12:01"),
    by htmldate's regular expressions (no free-text parser: cheap), or None."""
    text = " ".join(text.split())
    if not text or len(text) > 80:
        return None
    # trafilatura's own date parser, regular expressions only here. Imported where it is used:
    # htmldate loads urllib3 and dateutil, 40 ms that a poll finding every feed unchanged never needs.
    from htmldate.extractors import try_date_expr

    found = try_date_expr(text, "%Y-%m-%d", False, _EARLIEST, _LATEST)
    # htmldate reads a month alone ("02/2022") as its first day: a first needs a 1 in the text
    if found and found.endswith("-01") and not _FIRST.search(text):
        return None
    return found


# --------------------------------------------------------------------------- <meta> and microdata


def meta_date(key: str, content: str, found: dict[int, str]) -> None:
    """Note in ``found`` (by rank) a <meta> whose name is a publication date's: an ISO 8601 value
    as given (its zone counts when choosing), another format as its day."""
    rank = _META_RANK.get(key)
    if rank is not None and rank not in found and (day := loose_date(content)):
        found[rank] = content.strip() if iso_date(content) else day


def microdata_date(elements: list[HtmlElement]) -> str | None:
    """The day of the first of the page's schema.org microdata itemprop="datePublished"
    ``elements`` that is not a <meta> (read with the others): its ``content`` or ``datetime``
    attribute, else its text."""
    for element in islice((e for e in elements if e.tag != "meta"), 3):
        day = loose_date(element.get("content") or element.get("datetime")) or text_date(element.text_content())
        if day:
            return day
    return None


# --------------------------------------------------------------------------- the URL

_URL_DATE = re.compile(r"/((?:19|20)\d{2})[/_-](\d{1,2})[/_-](\d{1,2})(?:[/_.-]|$)")


def url_date(url: str | None) -> str | None:
    """The day in a URL's path ("/2024/05/02/slug"), or None."""
    path = (url or "").split("?", 1)[0].split("#", 1)[0]
    match = _URL_DATE.search(path)
    return iso_date("-".join(match.groups())) if match else None


# --------------------------------------------------------------------------- the dateline

HEADLINES = 5  # <h1> elements looked at for the headline
_AFTER_CHARS = 300  # visible text after the headline in which its dateline is looked for
_BEFORE_CHARS = 200  # and before it, for a <time> only
_MAX_ELEMENTS = 300  # elements walked on either side
_SKIPPED = frozenset({"script", "style", "noscript", "template", "svg", "button", "select", "option"})
_UPDATED = re.compile(r"\b(?:updated?|last modified|modified|aktualisiert|geändert|mis à jour|actualizad[oa]|"
                      r"actualización|aggiornat[oa]|bijgewerkt|atualizad[oa])\b", re.IGNORECASE)


def dateline(headlines: list[HtmlElement], titles: list[str]) -> str | None:
    """The day the page shows with its headline: the first <time> or date text after the <h1>
    (of the page's first ``headlines``) that is the headline (within ``_AFTER_CHARS`` of text),
    else the nearest <time> before it (within ``_BEFORE_CHARS``). Dates labelled as updates are
    passed over."""
    headline = _headline(headlines, titles)
    if headline is None:
        return None
    return _first_date(_texts_after(headline), _AFTER_CHARS, times_only=False) or _first_date(
        _texts_before(headline), _BEFORE_CHARS, times_only=True)


def _headline(headlines: list[HtmlElement], titles: list[str]) -> HtmlElement | None:
    """The <h1> whose text is in the page's title (or holds it), else the first that is not only
    a link (a logo)."""
    keys = [" ".join(t.casefold().split()) for t in titles if t]
    fallback = None
    for h1 in headlines:
        text = " ".join(h1.text_content().casefold().split())
        if len(text) >= 15 and any(text in key or key in text for key in keys):
            return h1
        if fallback is None and text and not _only_a_link(h1, text):
            fallback = h1
    return fallback


def _only_a_link(element: HtmlElement, text: str) -> bool:
    return any(" ".join(a.text_content().casefold().split()) == text for a in element.iter("a"))


def _first_date(texts: Iterator[tuple[HtmlElement, str]], budget: int, *, times_only: bool) -> str | None:
    """The first day in ``texts`` ((element, text) pairs) before ``budget`` characters are read."""
    label = ""
    for element, text in texts:
        time_element = _time_of(element)
        if time_element is not None:
            shown = time_element.text_content()
            day = loose_date(time_element.get("datetime")) or text_date(shown)
        else:
            shown, day = text, None if times_only else text_date(text)
        if day and not _UPDATED.search(f"{label} {text} {shown}"):
            return day
        budget -= len(text.strip())
        if budget <= 0:
            return None
        label = text if not day else ""  # "Updated" in one element, its date in the next
    return None


def _time_of(element: HtmlElement) -> HtmlElement | None:
    """The <time> element that holds ``element`` (itself or its parent), if any."""
    if element.tag == "time":
        return element
    parent = element.getparent()
    return parent if parent is not None and parent.tag == "time" else None


def _texts_after(element: HtmlElement) -> Iterator[tuple[HtmlElement, str]]:
    """(element, text) of the non-blank texts after ``element`` ends, in document order."""
    seen = 0
    node: HtmlElement | None = element
    while node is not None and seen < _MAX_ELEMENTS:
        parent = node.getparent()
        if node.tail and node.tail.strip() and parent is not None:
            yield parent, node.tail
        for sibling in node.itersiblings():
            walker = iterwalk(sibling, events=("start", "end"))
            for event, descendant in walker:
                if event == "start":
                    seen += 1
                    if not isinstance(descendant.tag, str) or descendant.tag in _SKIPPED:
                        walker.skip_subtree()
                    elif descendant.text and descendant.text.strip():
                        yield descendant, descendant.text
                elif descendant is not sibling and descendant.tail and descendant.tail.strip():
                    yield descendant.getparent(), descendant.tail
            if sibling.tail and sibling.tail.strip():
                yield parent, sibling.tail
            if seen >= _MAX_ELEMENTS:
                return
        node = parent


def _texts_before(element: HtmlElement) -> Iterator[tuple[HtmlElement, str]]:
    """(element, text) of the non-blank texts of the elements before ``element``, nearest first."""
    seen = 0
    node: HtmlElement | None = element
    while node is not None and seen < _MAX_ELEMENTS:
        for sibling in node.itersiblings(preceding=True):
            for descendant in reversed(list(sibling.iter())[-_MAX_ELEMENTS:]):
                seen += 1
                if isinstance(descendant.tag, str) and descendant.tag not in _SKIPPED:
                    text = descendant.text_content() if descendant.tag == "time" else descendant.text
                    if text and text.strip():
                        yield descendant, text
            if seen >= _MAX_ELEMENTS:
                return
        node = node.getparent()


# --------------------------------------------------------------------------- choosing

_STRUCTURED = ("jsonld", "og", "meta")
_SHOWN = ("html", "trafilatura")  # the day the page shows, or htmldate's reading of the page


def _days(found: list[tuple[str, str]]) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """(source, YYYY-MM-DD, value) of each value that names a day, and those of them from
    structured sources."""
    days = [(source, day, value) for source, value in found if (day := iso_date(value) or loose_date(value))]
    return days, [entry for entry in days if entry[0] in _STRUCTURED]


def choose_published(found: list[tuple[str, str]]) -> tuple[str, str] | None:
    """(source, YYYY-MM-DD) of the publication date, from (source, value) pairs best source first.

    The page's structured data (JSON-LD, OpenGraph, other <meta> and microdata) comes first, as
    it is written for machines; where those disagree, the day most of the page's sources name
    (ties to the better source). A structured time that does not state the publisher's own zone
    (UTC, no zone or no time at all) gives way to the day the page shows (its dateline, else
    trafilatura's reading of the page) when that is the day before or after: the same moment,
    seen where it was published. Without structured data: the dateline, the URL, trafilatura.
    """
    days, structured = _days(found)
    if not structured:
        return (days[0][0], days[0][1]) if days else None
    votes = Counter(day for _, day, _ in days)
    source, day, value = max(structured, key=lambda entry: votes[entry[1]])  # max keeps the first of equals
    if not has_local_time(value):
        shown = next((entry for entry in days if entry[0] in _SHOWN), None)
        if shown is not None and _same_moment_elsewhere(value, day, shown[1]):
            return shown[0], shown[1]
    return source, day


def page_search_matters(found: list[tuple[str, str]]) -> bool:
    """Whether trafilatura's reading of the page (htmldate's search, a tenth of the extraction's
    CPU, and the one step that may hand free text to dateparser) can change what
    ``choose_published`` picks from ``found``, the other sources best first. It cannot when the
    structured sources agree on one day and either state the publisher's zone or come with a
    dateline (which outranks trafilatura as the day the page shows), nor when, without structured
    data, the dateline or the URL gives a day (both rank above trafilatura)."""
    days, structured = _days(found)
    if not structured:
        return not days
    if len({day for _, day, _ in structured}) > 1:
        return True  # its day is one more vote
    return not has_local_time(structured[0][2]) and not any(source == "html" for source, _, _ in days)


_HOUR = re.compile(r"^\s*\d{4}-\d{1,2}-\d{1,2}[T ](\d{1,2}):")


def _same_moment_elsewhere(value: str, day: str, other: str) -> bool:
    """Whether a time given in UTC or without a zone (``value``, on ``day``) may fall on ``other``
    in some zone (UTC-12 to UTC+14): the day before if it is before noon, the day after if it is
    10:00 or later; either for a date without a time."""
    apart = (date.fromisoformat(other) - date.fromisoformat(day)).days
    hour = _HOUR.match(value)
    if hour is None:
        return abs(apart) == 1
    return (apart == -1 and int(hour.group(1)) < 12) or (apart == 1 and int(hour.group(1)) >= 10)

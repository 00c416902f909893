"""An Atom feed (RFC 4287) of the archive's changes, for the feed readers people already use.

Titles and summaries come from archived pages, so they are untrusted: ElementTree escapes markup,
and characters XML 1.0 cannot carry at all (most control characters) are dropped.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

ATOM_NS = "http://www.w3.org/2005/Atom"
MEDIA_TYPE = "application/atom+xml; charset=utf-8"
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class AtomEntry:
    """One change, as a feed entry."""

    id: str
    title: str
    link: str
    updated: str
    summary: str
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class AtomFeed:
    """The feed's own fields; ``updated`` is used only when there is no entry."""

    id: str
    title: str
    self_link: str
    alternate_link: str
    updated: str
    author: str = "archiver"


def xml_text(value: object) -> str:
    """``value`` as text XML 1.0 can carry: characters it forbids are removed."""
    return _NOT_XML.sub("", "" if value is None else str(value))


def _add(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, {k: xml_text(v) for k, v in attrs.items()})
    if text is not None:
        element.text = xml_text(text)
    return element


def atom_feed(feed: AtomFeed, entries: list[AtomEntry]) -> bytes:
    """The feed as UTF-8 XML; ``entries`` are written in the order given (newest first)."""
    root = ET.Element("feed", {"xmlns": ATOM_NS})
    _add(root, "id", feed.id)
    _add(root, "title", feed.title)
    _add(root, "updated", max((e.updated for e in entries), default=feed.updated))
    _add(root, "link", rel="self", type="application/atom+xml", href=feed.self_link)
    _add(root, "link", rel="alternate", type="text/html", href=feed.alternate_link)
    _add(_add(root, "author"), "name", feed.author)
    for entry in entries:
        element = _add(root, "entry")
        _add(element, "id", entry.id)
        _add(element, "title", entry.title, type="text")
        _add(element, "link", rel="alternate", type="text/html", href=entry.link)
        _add(element, "updated", entry.updated)
        _add(element, "summary", entry.summary, type="text")
        for term in entry.categories:
            _add(element, "category", term=term)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)

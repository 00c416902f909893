"""OPML subscription lists in and out.

- `parse_opml(content)` lists the feeds of an OPML file (every `xmlUrl`, at any depth of nested
  outlines, http(s) only, first occurrence kept) or raises `OpmlError`.
- `export_opml(feeds)` writes an OPML 2.0 document.

OPML files come from other programs and other people, so the parser loads no DTD, expands no
external entity, never touches the network and lets libxml2 refuse entity amplification.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable
from urllib.parse import urlsplit

from lxml import etree

__all__ = ["OpmlError", "OpmlFeed", "export_opml", "parse_opml"]

TITLE_MAX = 1_000
URL_MAX = 8_192

# Characters XML 1.0 cannot carry at all: C0 controls but tab, newline and carriage return,
# lone surrogates and two non-characters.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_URL_CONTROL = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")  # a URL parser drops tabs and newlines too


@dataclass(frozen=True)
class OpmlFeed:
    """One subscription: the feed URL and the title the list gave it."""

    url: str
    title: str | None


class OpmlError(Exception):
    """The document is not a readable OPML file. args: (detail,)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def parse_opml(content: bytes, *, source: str = "the document") -> list[OpmlFeed]:
    """The http(s) feeds listed in an OPML file, in document order, without duplicates.

    `source` names the input in error messages, e.g. the file name.
    """
    root = _parse_xml(content, source)
    if not isinstance(root.tag, str) or etree.QName(root).localname.lower() != "opml":
        raise OpmlError(f"{source} is not an OPML file: the root element is not <opml>")
    feeds: list[OpmlFeed] = []
    seen: set[str] = set()
    for outline in root.iter("{*}outline"):
        attributes = {etree.QName(k).localname.lower(): v for k, v in outline.attrib.items()}
        url = _http_url(attributes.get("xmlurl"))
        if url is None or url in seen:
            continue
        seen.add(url)
        feeds.append(OpmlFeed(url, _title(attributes, url)))
    return feeds


def export_opml(feeds: Iterable[tuple[str, str | None]], title: str = "archiver subscriptions") -> str:
    """An OPML 2.0 document listing `feeds` as (url, title) pairs, one outline each."""
    root = etree.Element("opml", version="2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = _xml_text(title)
    body = etree.SubElement(root, "body")
    for url, feed_title in feeds:
        name = _xml_text(feed_title or "")
        outline = etree.SubElement(body, "outline", type="rss", text=name or _xml_text(url))
        if name:
            outline.set("title", name)
        outline.set("xmlUrl", _xml_text(url))
    document = str(etree.tostring(root, encoding="unicode", pretty_print=True))
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + document


def _parse_xml(content: bytes, source: str) -> etree._Element:
    """The root element of `content`, parsed with no DTD, no network and no entity expansion."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             huge_tree=False, remove_comments=True, remove_pis=True)
    try:
        root = etree.fromstring(content, parser)
    except etree.XMLSyntaxError as exc:
        raise OpmlError(f"{source} is not an OPML file: {_short(str(exc))}") from exc
    if root is None:
        raise OpmlError(f"{source} is not an OPML file: it is empty")
    return root


def _title(attributes: dict[str, str], url: str) -> str | None:
    """The outline's title, else its text; None when that only repeats the URL."""
    for name in ("title", "text"):
        value = _NOT_XML.sub("", attributes.get(name) or "").strip()[:TITLE_MAX]
        if value and value != url:
            return value
    return None


def _http_url(value: str | None) -> str | None:
    """`value` stripped, if it is an absolute http(s) URL with a host and within URL_MAX."""
    url = _URL_CONTROL.sub("", value or "").strip()
    if not url or len(url) > URL_MAX:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def _xml_text(value: str) -> str:
    """`value` without the characters XML cannot hold (lxml refuses them outright)."""
    return _NOT_XML.sub("", value)


def _short(message: str) -> str:
    return message if len(message) <= 200 else message[:197] + "..."

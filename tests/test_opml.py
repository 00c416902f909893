"""archiver.content.opml: reading subscription lists safely and writing them back."""

from __future__ import annotations

import pickle
import time
from pathlib import Path

import pytest

from archiver.content.opml import OpmlError, OpmlFeed, export_opml, parse_opml


def opml(body: str, prolog: str = "") -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n{prolog}<opml version="2.0">'
            f"<head><title>subs</title></head><body>{body}</body></opml>").encode()


def test_fifty_feeds_in_nested_outlines() -> None:
    folders = []
    for folder in range(5):
        inner = "".join(
            f'<outline type="rss" text="Feed {folder}-{n}" xmlUrl="https://f{folder}.example/{n}.xml"/>'
            for n in range(5)
        )
        deeper = "".join(
            f'<outline text="Deep {folder}-{n}" xmlUrl="http://deep{folder}.example/{n}"/>' for n in range(5)
        )
        folders.append(f'<outline text="Folder {folder}">{inner}<outline text="Sub">{deeper}</outline></outline>')
    feeds = parse_opml(opml("".join(folders)))
    assert len(feeds) == 50
    assert feeds[0] == OpmlFeed("https://f0.example/0.xml", "Feed 0-0")
    assert feeds[5] == OpmlFeed("http://deep0.example/0", "Deep 0-0")


def test_duplicates_and_non_http_urls_are_skipped() -> None:
    body = """
      <outline text="A" xmlUrl="https://a.example/feed"/>
      <outline text="A again" xmlUrl=" https://a.example/feed "/>
      <outline text="Folder without a feed"/>
      <outline text="JS" xmlUrl="javascript:alert(1)"/>
      <outline text="File" xmlUrl="file:///etc/passwd"/>
      <outline text="Relative" xmlUrl="/feed.xml"/>
      <outline text="Empty" xmlUrl=""/>
      <outline title="B" text="b text" xmlURL="http://b.example/rss"/>
      <outline xmlUrl="http://c.example/rss"/>
      <outline text="C with a newline" xmlUrl="http://c.example/&#10;rss"/>
    """
    assert parse_opml(opml(body)) == [
        OpmlFeed("https://a.example/feed", "A"),
        OpmlFeed("http://b.example/rss", "B"),
        OpmlFeed("http://c.example/rss", None),
    ]


def test_export_round_trip_escapes_everything() -> None:
    feeds = [
        ("https://a.example/feed?x=1&y=2", 'Tom & Jerry\'s "<best>" feed'),
        ("http://b.example/rss", None),
        ("https://c.example/ünïcode", "Ünïcode ☃"),
        ("https://d.example/ctl", "bell\x07 and nul\x00 removed"),
    ]
    document = export_opml(feeds, title="mine & yours")
    assert document.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    assert '<opml version="2.0">' in document and "<title>mine &amp; yours</title>" in document
    assert parse_opml(document.encode("utf-8")) == [
        OpmlFeed("https://a.example/feed?x=1&y=2", 'Tom & Jerry\'s "<best>" feed'),
        OpmlFeed("http://b.example/rss", None),
        OpmlFeed("https://c.example/ünïcode", "Ünïcode ☃"),
        OpmlFeed("https://d.example/ctl", "bell and nul removed"),
    ]


def test_export_of_nothing_is_still_opml() -> None:
    assert parse_opml(export_opml([]).encode()) == []


@pytest.mark.parametrize("content", [
    b"",
    b"   ",
    b"<html><head><title>Subscriptions</title></head><body>hi</body></html>",
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>',
    b'{"feeds": []}',
    b"<opml><body><outline xmlUrl='http://a.example/'></body>",
    b"\x89PNG\r\n\x1a\n",
])
def test_not_opml(content: bytes) -> None:
    with pytest.raises(OpmlError, match=r"^subs\.opml is not an OPML file: "):
        parse_opml(content, source="subs.opml")


def test_opml_error_pickles() -> None:
    error = pickle.loads(pickle.dumps(OpmlError("x is not an OPML file: empty")))
    assert error.args == ("x is not an OPML file: empty",) and error.detail == error.args[0]


LOL = "\n".join(
    ["<!DOCTYPE opml [", '<!ENTITY lol "lol">']
    + [f'<!ENTITY lol{n} "{("&lol" + (str(n - 1) if n > 1 else "") + ";") * 10}">' for n in range(1, 10)]
    + ["]>"]
)


@pytest.mark.parametrize("body", [
    '<outline text="&lol9;" xmlUrl="http://a.example/"/>',
    '<outline text="x" xmlUrl="http://a.example/&lol9;"/>',
])
def test_entity_bomb_does_not_expand(body: str) -> None:
    """SECURITY.md C.25: the billion laughs in an OPML file is refused or left unexpanded, fast."""
    started = time.perf_counter()
    try:
        feeds = parse_opml(opml(body, prolog=LOL + "\n"))
    except OpmlError:
        feeds = []
    assert time.perf_counter() - started < 1.0
    assert all(len(f.url) < 100 and len(f.title or "") < 100 for f in feeds)


def test_big_entity_does_not_expand() -> None:
    """SECURITY.md C.26: one 100 KB entity referenced 5,000 times in an attribute."""
    prolog = f'<!DOCTYPE opml [<!ENTITY a "{"A" * 100_000}">]>\n'
    body = f'<outline text="{"&a;" * 5000}" xmlUrl="http://a.example/"/>'
    started = time.perf_counter()
    try:
        feeds = parse_opml(opml(body, prolog=prolog))
    except OpmlError:
        feeds = []
    assert time.perf_counter() - started < 1.0
    assert all(len(f.title or "") <= 1_000 for f in feeds)


def test_external_entities_are_never_read(tmp_path: Path) -> None:
    """SECURITY.md C.27: SYSTEM entities and external DTDs pointing at a local file stay unread."""
    sentinel = tmp_path / "sentinel.txt"
    sentinel.write_text("SENTINEL-OPML-SECRET")
    dtd = tmp_path / "evil.dtd"
    dtd.write_text('<!ENTITY e "SENTINEL-OPML-SECRET">')
    prologs = [
        f'<!DOCTYPE opml [<!ENTITY x SYSTEM "{sentinel.as_uri()}">]>\n',
        f'<!DOCTYPE opml [<!ENTITY % p SYSTEM "{dtd.as_uri()}"> %p;]>\n',
        f'<!DOCTYPE opml SYSTEM "{dtd.as_uri()}">\n',
    ]
    for prolog in prologs:
        for body in ('<outline text="&x;&e;" xmlUrl="http://a.example/"/>',
                     '<outline text="t" xmlUrl="http://a.example/"><outline text="n">&x;&e;</outline></outline>'):
            try:
                feeds = parse_opml(opml(body, prolog=prolog))
            except OpmlError:
                continue
            assert "SENTINEL" not in repr(feeds)


def test_deep_nesting_is_refused() -> None:
    """SECURITY.md C.33: 50k nested outlines are refused at once (libxml2's depth limit without
    huge_tree), with no RecursionError."""
    body = '<outline text="x" xmlUrl="http://a.example/">' * 50_000 + "</outline>" * 50_000
    started = time.perf_counter()
    with pytest.raises(OpmlError, match="is not an OPML file"):
        parse_opml(opml(body))
    assert time.perf_counter() - started < 5.0

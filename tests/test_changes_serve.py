"""The archive's changes in `archiver serve`: the changes table and its facets, the recent changes
query, the diff view naming the kinds, a page per change, and the Atom feed, all over HTTP on
changes that real fetches of a changing article recorded (test_serve.build_archive)."""

from __future__ import annotations

import io
import json
import re
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import feedparser

from conftest import db_rows
from test_front_page import drop_changes, section
from test_serve import XSS_HEADLINE, Archive, ArchiveServer, assert_escaped, serving
from archiver.interfaces.atom import AtomEntry, AtomFeed, atom_feed

ATOM = "/archive/recent_changes.atom"


def changes(archive: Archive, where: str = "1") -> list[dict[str, Any]]:
    """The archive's change rows (with their versions' numbers), newest first."""
    names = ("id", "page_id", "kinds", "summary", "boring", "from_version", "to_version", "detected_at")
    rows = db_rows(archive.db, "SELECT c.id, c.page_id, c.kinds, c.summary, c.boring, f.version, t.version, "
                               "c.detected_at FROM changes c LEFT JOIN snapshots f ON f.id = c.from_snapshot_id "
                               "LEFT JOIN snapshots t ON t.id = c.to_snapshot_id "
                               f"WHERE {where} ORDER BY c.detected_at DESC, c.id DESC")
    return [{**dict(zip(names, row)), "kinds": json.loads(row[2])} for row in rows]


def find_change(archive: Archive, page: str, kind: str) -> dict[str, Any]:
    return next(c for c in changes(archive) if c["page_id"] == archive.page_ids[page] and kind in c["kinds"])


def parse_atom(body: str) -> Any:
    feed = feedparser.parse(io.BytesIO(body.encode("utf-8")))
    assert feed.bozo == 0, feed.get("bozo_exception")
    return feed


def test_the_archive_has_the_changes_the_fetches_made(archive: Archive) -> None:
    tram = [c["kinds"] for c in reversed(changes(archive)) if c["page_id"] == archive.page_ids["tram"]]
    assert tram == [["headline"], ["headline", "revert"], ["body", "correction"], ["removed"], ["restored"]]
    assert [c["boring"] for c in changes(archive) if "revert" in c["kinds"]] == [1]


# -- the changes table and the recent changes query ------------------------------------------------

def test_changes_table_has_facets_by_kind_and_site_and_newest_first(server: ArchiveServer,
                                                                    archive: Archive) -> None:
    data = server.get("/archive/changes.json?_shape=objects").json()
    kinds = {r["value"]: r["count"] for r in data["facet_results"]["kinds"]["results"]}
    assert kinds["headline"] == 4 and kinds["revert"] == 1 and kinds["removed"] == 1 and kinds["correction"] == 1
    assert {r["value"] for r in data["facet_results"]["site"]["results"]} == {"127.0.0.1"}
    assert [r["id"] for r in data["rows"]] == [c["id"] for c in changes(archive)]
    only = server.get("/archive/changes.json?_shape=objects&_facet_array=kinds&kinds__arraycontains=correction")
    assert [r["id"] for r in only.json()["rows"]] == [find_change(archive, "tram", "correction")["id"]]


def test_changes_table_rows_link_to_what_changed(server: ArchiveServer, archive: Archive) -> None:
    html = server.get("/archive/changes").text
    for change in changes(archive):
        link = re.search(rf'<td class="col-summary type-str"><a href="/-/change/{change["id"]}">([^<]*)</a>', html)
        assert link and unescape(link[1]) == change["summary"], change
    assert '<td class="col-kinds type-str">body, correction</td>' in html
    assert 'type="application/atom+xml"' in html and f'href="{ATOM}"' in html
    boring = find_change(archive, "tram", "revert")["id"]
    assert f"/-/change/{boring}\"" not in server.get("/archive/changes?boring=0").text
    assert_escaped(html, "/archive/changes")


def test_recent_changes_lists_what_is_not_boring_newest_first(server: ArchiveServer, archive: Archive) -> None:
    rows = server.get("/archive/recent_changes.json?_shape=objects").json()["rows"]
    expected = changes(archive, "c.boring = 0")
    assert [r["change_id"] for r in rows] == [c["id"] for c in expected]
    assert all(r["url"].startswith("http://127.0.0.1:") and r["title"] for r in rows)
    assert "Tram line opens on Saturday" in [r["title"] for r in rows]
    html = server.get("/archive/recent_changes").text
    for change in expected:
        assert f'<a href="/-/change/{change["id"]}">' in html, change
    assert_escaped(html, "/archive/recent_changes")


# -- where a change is shown -----------------------------------------------------------------------

def test_each_change_leads_to_the_diff_of_its_two_versions(server: ArchiveServer, archive: Archive) -> None:
    for change in changes(archive):
        reply = server.get(f"/-/change/{change['id']}")
        if change["to_version"] is None:  # a removal has no second version: its own page
            assert reply.status == 200, change
            continue
        diff = f"/-/diff/{change['page_id']}/{change['from_version']}/{change['to_version']}"
        assert reply.status == 302 and reply.headers["location"] == diff, change
        page = server.get(diff)
        assert page.status == 200, diff
        kinds = re.search(r'<p class="change-kinds">(.*?)</p>', page.text, re.S)
        assert kinds, diff
        for kind in change["kinds"]:
            assert f'<span class="kind kind-{kind}">{kind}</span>' in kinds[1], (diff, kind)
    assert server.get("/-/change/999999").status == 404


def test_diff_view_names_the_kinds_at_the_top(server: ArchiveServer, archive: Archive) -> None:
    html = server.get(f"/-/diff/{archive.page_ids['budget']}/1/2").text
    top = html[:html.index('<div class="diff-text">')]
    assert '<span class="kind kind-headline">headline</span>' in top
    assert '<span class="kind kind-body">body</span>' in top
    revert = server.get(f"/-/diff/{archive.page_ids['tram']}/2/3").text
    assert "kind-revert" in revert and "(boring: not shown in recent changes)" in revert
    across = server.get(f"/-/diff/{archive.page_ids['tram']}/1/4").text  # several changes: none named
    assert '<p class="change-kinds">' not in across


def test_a_removal_has_a_page_naming_it(server: ArchiveServer, archive: Archive) -> None:
    removal = find_change(archive, "tram", "removed")
    html = server.get(f"/-/change/{removal['id']}").text
    assert '<span class="kind kind-removed">removed</span>' in html
    assert "404" in html and 'href="/-/article/' in html and "version 4" in html


# -- the Atom feed ---------------------------------------------------------------------------------

def test_atom_feed_has_one_entry_per_change_that_is_not_boring(server: ArchiveServer, archive: Archive) -> None:
    reply = server.get(ATOM)
    assert reply.status == 200 and reply.headers["content-type"].startswith("application/atom+xml")
    assert "content-security-policy" in reply.headers
    feed = parse_atom(reply.text)
    expected = changes(archive, "c.boring = 0")
    assert len(feed.entries) == len(expected) == 6
    assert [e.summary for e in feed.entries] == [c["summary"] for c in expected]
    assert all("revert" not in [t.term for t in e.tags] for e in feed.entries)
    assert feed.feed.links[0].href == server.base + ATOM
    for entry, change in zip(feed.entries, expected):
        assert entry.link.startswith(server.base + "/-/"), entry.link
        assert [t.term for t in entry.tags] == change["kinds"]
        page = server.get(urlsplit(entry.link).path)
        assert page.status == 200, entry.link
        assert f'<span class="kind kind-{change["kinds"][0]}">' in page.text, entry.link


def test_atom_feed_carries_a_hostile_headline_as_text(server: ArchiveServer) -> None:
    reply = server.get(ATOM)
    assert "<script>" not in reply.text and "<img" not in reply.text
    feed = parse_atom(reply.text)
    hostile = [e for e in feed.entries if "</title><script>alert(1)</script>" in e.title]
    assert len(hostile) == 1, [e.title for e in feed.entries]
    assert XSS_HEADLINE.split("\x0b")[0].strip() in hostile[0].title
    assert "<script>alert(1)</script>" in hostile[0].summary


def test_atom_feed_of_an_empty_archive_and_of_one_from_before_changes(tmp_path: Path, archive: Archive) -> None:
    with serving(tmp_path / "new" / "archive.db", tmp_path) as server:
        feed = parse_atom(server.get(ATOM).text)
        assert feed.entries == [] and feed.feed.title
    old = tmp_path / "old.db"
    old.write_bytes(archive.db.read_bytes())
    drop_changes(old)
    with serving(old, tmp_path) as server:
        assert parse_atom(server.get(ATOM).text).entries == []
        assert server.get("/-/change/1").status == 404
        assert server.get(f"/-/diff/{archive.page_ids['budget']}/1/2").status == 200


def test_atom_feed_drops_characters_xml_cannot_carry() -> None:
    entry = AtomEntry(id="http://127.0.0.1/-/change/1", title="a\x00b\x0bc ]]> </title> & <x>",
                      link="http://127.0.0.1/-/diff/1/1/2?a=1&b=2", updated="2026-01-01T00:00:00.5+00:00",
                      summary="\x1f<script>alert(1)</script>", categories=("headline",))
    feed = AtomFeed(id="http://127.0.0.1/a.atom", title="t", self_link="http://127.0.0.1/a.atom",
                    alternate_link="http://127.0.0.1/", updated="2026-01-02T00:00:00+00:00")
    parsed = feedparser.parse(io.BytesIO(atom_feed(feed, [entry])))
    assert parsed.bozo == 0
    assert parsed.entries[0].title == "abc ]]> </title> & <x>"
    assert parsed.entries[0].link == "http://127.0.0.1/-/diff/1/1/2?a=1&b=2"
    assert parsed.feed.updated == "2026-01-01T00:00:00.5+00:00"  # the newest entry's, not the clock's


def add_changes(path: Path, page_id: int, count: int) -> None:
    """``count`` changes of one page written directly, a second apart from 2027 on, every other
    one boring, each with a capture of its own (a capture shows one change)."""
    from archiver.store.db import open_db, transaction

    db = open_db(path)
    with transaction(db):
        versions = db.execute("SELECT from_snapshot_id, to_snapshot_id FROM changes WHERE page_id = ? "
                              "AND to_snapshot_id IS NOT NULL LIMIT 1", [page_id]).fetchone()
        for number in range(count):
            at = f"2027-01-01T00:{number // 60:02d}:{number % 60:02d}+00:00"
            capture = db["captures"].insert({"kind": "page", "requested_url": "http://127.0.0.1/x",
                                             "page_id": page_id, "started_at": at}).last_pk
            db["changes"].insert({"page_id": page_id, "from_snapshot_id": versions[0],
                                  "to_snapshot_id": versions[1], "capture_id": capture, "detected_at": at,
                                  "kinds": '["body"]', "summary": f"edit {number}", "boring": number % 2})
    db.conn.close()


def test_atom_feed_is_bounded_to_the_newest_hundred(tmp_path: Path, archive: Archive) -> None:
    """Rendering given rows: 240 changes written into a copy of the archive, newer than the real ones."""
    path = tmp_path / "many.db"
    path.write_bytes(archive.db.read_bytes())
    add_changes(path, archive.page_ids["budget"], 240)
    with serving(path, tmp_path) as server:
        feed = parse_atom(server.get(ATOM).text)
    assert len(feed.entries) == 100
    assert [e.summary for e in feed.entries] == [f"edit {n}" for n in range(238, 39, -2)]
    assert feed.feed.updated == "2027-01-01T00:03:58+00:00"


# -- the front page --------------------------------------------------------------------------------

def test_front_page_lists_the_recent_changes_that_are_not_boring(server: ArchiveServer, archive: Archive) -> None:
    html = server.get("/").text
    shown = section(html, "changes")
    expected = changes(archive, "c.boring = 0")
    links = re.findall(r'</span> <a href="(/-/[^"]+)">', shown)
    paths = [f"/-/diff/{c['page_id']}/{c['from_version']}/{c['to_version']}" if c["to_version"]
             else f"/-/change/{c['id']}" for c in expected]
    assert links == paths[:len(links)] and len(links) == 6
    assert "revert" not in shown
    assert 'href="/archive/recent_changes"' in shown and f'href="{ATOM}"' in shown
    assert f'<link rel="alternate" type="application/atom+xml" title="Recent changes" href="{ATOM}">' in html
    assert_escaped(shown, "front page changes")


# -- Datasette's permissions hold ------------------------------------------------------------------

def test_a_private_changes_table_stays_private(archive: Archive) -> None:
    """With the changes table closed to visitors in the metadata, no route of ours shows them."""
    import asyncio
    from archiver.interfaces.serve import build_datasette

    datasette = build_datasette(archive.db)
    # what a metadata.json with "allow": false on the table gives (Datasette keeps it here)
    datasette._metadata_local["databases"]["archive"]["tables"]["changes"]["allow"] = False
    change = changes(archive)[0]

    async def fetch(path: str) -> Any:
        await datasette.invoke_startup()
        return await datasette.client.get(path)

    for path in (ATOM, f"/-/change/{change['id']}", "/archive/changes"):
        assert asyncio.run(fetch(path)).status_code == 403, path
    front = asyncio.run(fetch("/")).text
    assert "front-changes" not in front and ATOM not in front and "recent_changes" not in front
    assert "Council rejects budget" in section(front, "latest")
    diff = asyncio.run(fetch(f"/-/diff/{archive.page_ids['budget']}/1/2"))
    assert diff.status_code == 200 and '<p class="change-kinds">' not in diff.text

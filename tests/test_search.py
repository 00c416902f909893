"""Lean searches of the snapshots table, through a real ``archiver serve``: each page reads only
its own matches from the full-text index, and shows what Datasette's full search shows for the
same search newest first (asked with ``_sort_desc=id&_nocount=``, which takes Datasette's path)."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator
from urllib.parse import quote, unquote, urlsplit

import pytest

from test_serve import ArchiveServer, serving
from archiver.interfaces.lean_search import LEAN_PARAM
from archiver.store.db import ensure_page, insert_snapshot, iso, open_db, transaction

START = datetime(2026, 3, 1, tzinfo=timezone.utc)
SNAPSHOTS = 60
LEAN_SQL = "order by rowid desc limit :lean_limit"  # in the SQL of a page that read one page of matches
FULL = "&_sort_desc=id&_nocount="  # Datasette's own search, newest first, with its count
HOSTILE = ['"', '""', '"council', 'council"', "AND", "council AND budget", "council OR", "NOT council",
           "NEAR(", "NEAR(council budget)", "NEAR(council budget, 2)", "*", "counc*", "(", ")", "council)",
           "((council", "^council", "title:council", "-council", "+", "'", "\\", "%", "_", "council \U0001F642",
           "  ", "council\x00budget", "a" * 300]


def story(number: int) -> str:
    """Three in four versions name the council, one in two the budget, one the zeppelin."""
    words = ["The city council met on Monday" if number % 4 else "The city met on Monday"]
    if number % 2 == 0:
        words.append("and the budget was approved after a long debate")
    if number == 17:
        words.append("while a zeppelin passed over the town hall")
    return ". ".join(words) + "."


@pytest.fixture(scope="module")
def search_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArchiveServer]:
    """``archiver serve`` over 60 versions of 10 pages, written through the store's functions."""
    workdir = tmp_path_factory.mktemp("search")
    db = open_db(workdir / "archive.db")
    with transaction(db):
        for number in range(SNAPSHOTS):
            url = f"https://site{number % 3}.example/story/{number % 10}"
            at = iso(START + timedelta(hours=number))
            page_id = ensure_page(db, url, at)
            capture_id = db["captures"].insert({"kind": "page", "requested_url": url, "final_url": url,
                                                "status": 200, "started_at": at, "page_id": page_id,
                                                "outcome": "new_snapshot"}).last_pk
            insert_snapshot(db, page_id, {
                "capture_id": capture_id, "captured_at": at, "content_sha256": f"sha-{number}",
                "title": f"Story {number}", "sitename": f"Site {number % 3}", "hostname": f"site{number % 3}.example",
                "language": "en", "text": story(number)})
    db.conn.close()
    with serving(workdir / "archive.db", workdir) as server:
        yield server


def local(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


def json_pages(server: ArchiveServer, path: str) -> list[dict[str, Any]]:
    """Every page of a JSON search: a lean search follows each page's own next link; Datasette's
    path (``FULL``) adds each ``_next`` to its query, as its links drop the blank ``_nocount``."""
    pages, start = [], path
    while path:
        reply = server.get(path)
        assert reply.status == 200, (path, reply.text[:300])
        pages.append(reply.json())
        following = pages[-1]["next_url"] and local(pages[-1]["next_url"])
        path = following and (start + "&_next=" + quote(pages[-1]["next"]) if FULL in start else following)
    return pages


def html_page(text: str) -> tuple[str, str | None, str]:
    """The rows of an HTML table page, the ``_next`` of its next link, and its search box's words."""
    rows = re.search(r"<tbody>.*?</tbody>", text, re.S)
    link = re.search(r'<a href="([^"]*)">Next page</a>', text)
    box = re.search(r'<input id="_search" type="search" name="_search" value="([^"]*)"', text)
    assert box is not None
    return (rows[0] if rows else "", html.unescape(link[1]) if link else None, html.unescape(box[1]))


def html_pages(server: ArchiveServer, path: str) -> list[tuple[str, str | None, str]]:
    """Every page of an HTML search, followed as ``json_pages`` follows them."""
    pages, start = [], path
    while path:
        reply = server.get(path)
        assert reply.status == 200, (path, reply.text[:300])
        pages.append(html_page(reply.text))
        following = pages[-1][1] and local(pages[-1][1])
        path = following and (start + "&_next=" + quote(next_token(following) or "") if FULL in start else following)
    return pages


def next_token(url: str | None) -> str | None:
    match = re.search(r"_next=([^&]*)", url or "")
    return unquote(match[1]) if match else None


def test_a_lean_search_pages_through_the_same_rows_as_datasettes_search(search_server: ArchiveServer) -> None:
    lean = json_pages(search_server, "/archive/snapshots.json?_search=council&_size=2")
    full = json_pages(search_server, "/archive/snapshots.json?_search=council&_size=2" + FULL)
    assert len(lean) == 23 and full[0]["filtered_table_rows_count"] == 45  # 45 matches, 2 a page
    assert [page["rows"] for page in lean] == [page["rows"] for page in full]
    assert [page["next"] for page in lean] == [page["next"] for page in full]
    ids = [row[0] for page in lean for row in page["rows"]]
    assert ids == sorted(ids, reverse=True) and len(ids) == len(set(ids)) == 45
    for page in lean:  # each page read its own matches only, the later ones below the last id shown
        assert LEAN_SQL in page["query"]["sql"] and page["query"]["params"]["lean_limit"] == 3
        assert LEAN_PARAM in (page["next_url"] or LEAN_PARAM) and page["filtered_table_rows_count"] is None
    assert "lean_before" not in lean[0]["query"]["params"]
    assert [p["query"]["params"]["lean_before"] for p in lean[1:]] == [int(p["next"].split(",")[0]) for p in lean[:-1]]
    assert all(LEAN_SQL not in page["query"]["sql"] for page in full)
    assert lean[0]["human_description_en"] == full[0]["human_description_en"]


def test_the_html_pages_show_the_same_rows_links_and_words(search_server: ArchiveServer) -> None:
    lean = html_pages(search_server, "/archive/snapshots?_search=council&_size=2")
    full = html_pages(search_server, "/archive/snapshots?_search=council&_size=2" + FULL)
    assert len(lean) == len(full) == 23
    assert [rows for rows, _, _ in lean] == [rows for rows, _, _ in full]
    assert [next_token(link) for _, link, _ in lean] == [next_token(link) for _, link, _ in full]
    assert all(words == "council" for _, _, words in lean)
    assert all(LEAN_PARAM in link for _, link, _ in lean[:-1])
    assert lean[0][0].count("<tr") == 2 and lean[-1][1] is None


@pytest.mark.parametrize("words", ["zeppelin", "budget", "council budget", "nosuchword", "Story"])
@pytest.mark.parametrize("size", ["", "&_size=1", "&_size=3", "&_size=max", "&_size=0"])
def test_other_words_and_page_sizes_match_too(search_server: ArchiveServer, words: str, size: str) -> None:
    query = f"?_search={quote(words)}{size}"
    lean = json_pages(search_server, "/archive/snapshots.json" + query)
    full = json_pages(search_server, "/archive/snapshots.json" + query + FULL)
    assert [page["rows"] for page in lean] == [page["rows"] for page in full]
    assert [page["next"] for page in lean] == [page["next"] for page in full]
    assert LEAN_SQL in lean[0]["query"]["sql"]
    lean_html, full_html = (html_page(search_server.get("/archive/snapshots" + q).text) for q in (query, query + FULL))
    assert (lean_html[0], next_token(lean_html[1]), lean_html[2]) == (full_html[0], next_token(full_html[1]), words)


def test_a_word_with_no_match_is_an_empty_page(search_server: ArchiveServer) -> None:
    page = search_server.get("/archive/snapshots.json?_search=nosuchword").json()
    assert page["rows"] == [] and page["next"] is None and LEAN_SQL in page["query"]["sql"]
    text = search_server.get("/archive/snapshots?_search=nosuchword").text
    assert html_page(text)[1:] == (None, "nosuchword") and "0 rows" not in text


def outcome(server: ArchiveServer, path: str) -> tuple[int, Any]:
    reply = server.get(path)
    assert reply.status != 500 and "Traceback" not in reply.text, (path, reply.text[:500])
    body = reply.json()
    return reply.status, (body["rows"], body["next"]) if reply.status == 200 else body.get("error")


@pytest.mark.parametrize("mode", ["", "&_searchmode=raw", "&_searchmode=escaped"])
def test_hostile_words_fail_only_where_datasettes_search_fails(search_server: ArchiveServer, mode: str) -> None:
    statuses = {}
    for words in HOSTILE:
        path = f"/archive/snapshots.json?_search={quote(words)}&_size=2{mode}"
        lean, full = outcome(search_server, path), outcome(search_server, path + FULL)
        assert lean == full, (words, mode, lean, full)
        statuses[words] = lean[0]
        html_reply = search_server.get(path.replace(".json", ""))
        assert html_reply.status == lean[0] and "Traceback" not in html_reply.text, words
    # Escaped, FTS syntax is words like any other; raw, it is FTS syntax, and broken syntax is a 400.
    assert statuses["council AND budget"] == statuses["NEAR(council budget)"] == 200
    assert statuses["NEAR("] == statuses["((council"] == (400 if "raw" in mode else 200)
    assert statuses['"'] == 400  # Datasette's escaping leaves nothing to match: its own search fails


@pytest.mark.parametrize("token", ["5", "$null,5", "~24null,5", "abc,abc", "30,20", "30,30", "20,30", "30,",
                                   ",30", "99999999999999999999,1", "1_0,1_0", "3~30,3~30", "30,30,30", "-1,-1"])
def test_any_next_token_gives_what_datasette_gives(search_server: ArchiveServer, token: str) -> None:
    path = f"/archive/snapshots.json?_search=council&_size=2&_next={quote(token, safe='')}"
    assert outcome(search_server, path) == outcome(search_server, path + FULL)


@pytest.mark.parametrize("size", ["-1", "abc", "5000", "1.5"])
def test_a_size_datasette_refuses_is_refused_alike(search_server: ArchiveServer, size: str) -> None:
    path = f"/archive/snapshots.json?_search=council&_size={size}"
    lean, full = outcome(search_server, path), outcome(search_server, path + FULL)
    assert lean == full and lean[0] == 400


def test_the_search_box_replaces_the_words_of_the_page_it_is_on(search_server: ArchiveServer) -> None:
    # What the table page's form sends: the new words, its hidden arguments (the page's own words
    # among them), and the small-screen sort menu left blank.
    form = "/archive/snapshots?_search=zeppelin&_sort=&_lean_search=council&_nocount=1&_nofacet=1"
    rows, link, words = html_page(search_server.get(form).text)
    assert words == "zeppelin" and rows.count("<tr") == 1 and "Story 17" in rows and link is None
    page = search_server.get(form.replace("snapshots?", "snapshots.json?")).json()
    assert [row[0] for row in page["rows"]] == [18] and LEAN_SQL in page["query"]["sql"]


def test_links_that_ask_for_more_leave_the_lean_path(search_server: ArchiveServer) -> None:
    text = search_server.get("/archive/snapshots?_search=council").text
    links = {html.unescape(href) for href in re.findall(r'href="([^"]*_lean_search=[^"]*)"', text)}
    by_title = next(link for link in links if link.endswith("_sort=title"))
    sorted_page = search_server.get(local(by_title).replace("snapshots?", "snapshots.json?")).json()
    titles = [row[7] for row in sorted_page["rows"]]
    assert len(titles) == 45 and titles == sorted(titles) and LEAN_SQL not in sorted_page["query"]["sql"]
    csv_link = next(link for link in links if "snapshots.csv?" in link)
    csv_ids = [int(line.split(",")[0]) for line in search_server.get(local(csv_link)).text.splitlines()[1:]]
    lean = search_server.get("/archive/snapshots.json?_search=council").json()
    assert len(csv_ids) == 45 and csv_ids == [row[0] for row in lean["rows"]]
    faceted = search_server.get("/archive/snapshots.json?_lean_search=council&_size=2&_facet=sitename").json()
    assert faceted["facet_results"]["sitename"]["results"] and LEAN_SQL not in faceted["query"]["sql"]
    for link in links:
        assert search_server.get(local(link)).status == 200, link


def test_a_column_filter_or_column_search_takes_datasettes_search(search_server: ArchiveServer) -> None:
    filtered = search_server.get("/archive/snapshots.json?_search=council&sitename=Site+2&_size=2").json()
    assert LEAN_SQL not in filtered["query"]["sql"] and len(filtered["rows"]) == 2
    assert all(row[10] == "Site 2" for row in filtered["rows"])
    by_title = search_server.get("/archive/snapshots.json?_search_title=Story&_size=2").json()
    assert LEAN_SQL not in by_title["query"]["sql"] and [row[0] for row in by_title["rows"]] == [60, 59]


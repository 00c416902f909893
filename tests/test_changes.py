"""Issue 12: what changed, classified. The classifier on its own, then the scripted sequence of
edits on a real loopback article, archived by `archiver fetch` runs and by the daemon's re-checks."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from archiver.content.changes import (Check, PageState, TextDiff, Version, added_correction, advance, detect,
                                      compare_text, is_date_line, moved_to, trivial_edit)
from archiver.jobs.daemon import Daemon
from archiver.jobs.subscriptions import watch
from conftest import Site, db_rows, run_cli
from test_fetch import LOREM

PAGE = "https://news.example/2026/bridge"
TEXT = "\n".join(LOREM)


def version(n: int, title: str = "Bridge vote delayed", text: str = TEXT, author: str | None = "Ann Lee",
            published: str | None = "2026-12-05", final_url: str | None = PAGE) -> Version:
    from archiver.jobs.pages import content_fingerprint

    return Version(100 + n, n, title, author, published, text, content_fingerprint(title, text), final_url)


def edit(before: Version, after: Version, earlier: dict[str, int] | None = None, removed: bool = False,
         final_url: str | None = PAGE, status: int = 200):
    state = PageState(PAGE, before, removed, earlier or {})
    change = detect(state, Check(7, "2026-12-05T10:00:00+00:00", status, final_url, True, after))
    assert change is not None
    return change


# -- the classifier, kind by kind ----------------------------------------------------------------

def test_headline() -> None:
    change = edit(version(1), version(2, title="Bridge vote delayed again"))
    assert change.kinds == ("headline",) and not change.boring
    assert (change.words_added, change.words_removed) == (0, 0)
    assert change.summary == 'headline: "Bridge vote delayed" -> "Bridge vote delayed again"'
    assert (change.from_snapshot_id, change.to_snapshot_id, change.capture_id) == (101, 102, 7)
    assert change.detected_at == "2026-12-05T10:00:00+00:00"  # the capture's time, not the clock's


def test_byline_and_date() -> None:
    change = edit(version(1), version(2, author="Bo Chen", published="2026-12-06", text=TEXT + "\nMore."))
    assert change.kinds == ("byline", "date", "body")
    assert change.summary == ('byline: "Ann Lee" -> "Bo Chen"; date: "2026-12-05" -> "2026-12-06"; '
                              '+1 -0 words, first added "More."')
    assert not change.boring


def test_body_counts_words_added_and_removed() -> None:
    text = TEXT.replace("three designs", "four costly designs").replace("six weeks", "weeks")
    change = edit(version(1), version(2, text=text))
    assert change.kinds == ("body",)
    assert (change.words_added, change.words_removed) == (2, 2)  # three -> four costly; six gone
    assert change.summary == '+2 -2 words, first "three" -> "four costly"'
    assert compare_text("a b\nc d", "a b\nc d\ne f g") == TextDiff(3, 0, 'added "e f g"')
    assert compare_text("a b\nc d\ne", "c d") == TextDiff(0, 3, 'removed "a b"')


@pytest.mark.parametrize("note", [
    "Correction: An earlier version misstated the cost of the bridge.",
    "Update (Dec. 6): The vote has been moved to January.",
    "This article has been updated with comments from the mayor.",
    "An earlier version of this article gave the wrong date for the vote.",
    "CORRECTION: the committee has eleven members, not twelve.",
])
def test_correction_at_the_bottom_or_the_top(note: str) -> None:
    for text in (TEXT + "\n" + note, note + "\n" + TEXT):
        change = edit(version(1), version(2, text=text))
        assert change.kinds == ("body", "correction"), (note, change)
        assert change.summary.startswith("correction: ") and not change.boring


def test_not_a_correction() -> None:
    assert added_correction(TEXT, TEXT + "\nThe update to the plan was approved by the council.") is None
    old = TEXT + "\nCorrection: the vote is on Monday."
    # the same note edited is not a new correction
    assert added_correction(old, TEXT + "\nCorrection: the vote is on Tuesday.") is None
    assert added_correction(old, old + "\nCorrection: the panel has five members.") == \
        "Correction: the panel has five members."


def test_shrunk() -> None:
    change = edit(version(1), version(2, text=LOREM[0]))
    assert change.kinds == ("body", "shrunk") and not change.boring
    assert "text shrank" in change.summary
    lost_one = edit(version(1), version(2, text="\n".join(LOREM[:2])))
    assert lost_one.kinds == ("body",)  # a third is not more than half


def test_removed_and_restored() -> None:
    latest = version(3)
    live = PageState(PAGE, latest, False, {})
    gone = detect(live, Check(8, "2026-12-05T11:00:00+00:00", 404, PAGE, False))
    assert gone is not None and gone.kinds == ("removed",) and not gone.boring
    assert (gone.from_snapshot_id, gone.to_snapshot_id) == (103, None)
    assert "404 Not Found" in gone.summary
    assert detect(live, Check(8, "t", 410, PAGE, False)).summary.startswith("now answers 410 Gone")
    assert detect(live, Check(8, "t", 500, PAGE, False)) is None  # a failure is not a removal
    removed = advance(live, Check(8, "t", 404, PAGE, False))
    assert removed.removed
    assert detect(removed, Check(9, "t", 404, PAGE, False)) is None  # said once
    assert detect(removed, Check(9, "t", 500, PAGE, False)) is None
    back = detect(removed, Check(10, "2026-12-05T12:00:00+00:00", 200, PAGE, True))
    assert back is not None and back.kinds == ("restored",) and not back.boring
    assert (back.from_snapshot_id, back.to_snapshot_id) == (103, 103)
    assert not advance(removed, Check(10, "t", 200, PAGE, True)).removed
    # back with other text: one change, restored and what changed
    edited = edit(latest, version(4, title="Bridge vote off"), removed=True)
    assert edited.kinds == ("headline", "restored") and edited.summary.startswith("back after a removal")


def test_redirected() -> None:
    change = edit(version(1), version(2, title="Home", text="Welcome to the news."),
                  final_url="https://news.example/")
    assert "redirected" in change.kinds and "now redirects to https://news.example/" in change.summary
    assert not change.boring
    # the same address spelled another way is not another page, and a redirect is told once
    assert moved_to(PAGE, "http://www.news.example/2026/bridge/", PAGE) is None
    assert moved_to("https://feeds.example/x", "https://news.example/a", "https://news.example/a") is None
    assert moved_to(PAGE, "https://news.example/b", PAGE) == "https://news.example/b"
    assert moved_to(PAGE, None, PAGE) is None


def test_revert_is_boring() -> None:
    first, second = version(1), version(2, title="Bridge vote delayed again")
    back = version(3)  # identical to the first
    change = edit(second, back, earlier={first.content_sha256: 1})
    assert change.kinds == ("headline", "revert") and change.boring
    assert "same as version 1" in change.summary


@pytest.mark.parametrize("old, new", [
    ("The vote is on Monday, the mayor said.", "The vote is on Monday; the mayor said!"),
    ("Last updated: 9:00 a.m. ET, December 5, 2026", "Last updated: 10:32 a.m. ET, December 5, 2026"),
    ("Updated 5 minutes ago", "Updated 2 hours ago"),
    ("Published Dec. 5, 2026 at 09:00 UTC", "Published Dec. 5, 2026 at 11:15 UTC"),
])
def test_boring_punctuation_and_time_lines(old: str, new: str) -> None:
    change = edit(version(1, text=old + "\n" + TEXT), version(2, text=new + "\n" + TEXT))
    assert change.kinds == ("body",) and change.boring, change


def test_not_boring() -> None:
    assert not is_date_line("The vote was delayed to December 12 after a long debate")
    assert not is_date_line("Last updated")
    change = edit(version(1, text="Updated 5 minutes ago\n" + TEXT),
                  version(2, text="Updated 6 minutes ago\n" + TEXT + "\nThe mayor resigned."))
    assert not change.boring
    assert not trivial_edit(version(1, title="Vote delayed"), version(2, title="Vote cancelled"))
    assert not trivial_edit(version(1), version(2, title="bridge vote delayed"))  # case is not punctuation


def test_first_version_is_no_change() -> None:
    empty = PageState(PAGE)
    assert detect(empty, Check(1, "t", 200, PAGE, True, version(1))) is None
    assert detect(empty, Check(1, "t", 404, PAGE, False)) is None  # nothing was there to remove


# -- the scripted sequence on a loopback article ----------------------------------------------

EXTRA = ["The mayor said the city would publish the full reports before the vote.",
         "Residents of the old quarter have collected four thousand signatures against the plan."]
CORRECTION = "Correction: An earlier version of this article misstated the cost of the bridge."


def bridge_page(title: str = "Bridge vote delayed", updated: str = "9:00 a.m.", correction: bool = False,
                lose_paragraph: bool = False) -> str:
    from test_fetch import article_page

    paragraphs = [f"Last updated: {updated} ET, December 5, 2026", *LOREM, *EXTRA]
    if lose_paragraph:
        paragraphs.remove(EXTRA[0])
    if correction:
        paragraphs.append(CORRECTION)
    return article_page(title, paragraphs)


# Each step: what the server answers, then the change it must make (kinds, boring), or None.
SEQUENCE: list[tuple[str, dict, tuple[tuple[str, ...], bool] | None]] = [
    ("first version", {}, None),
    ("headline changed", {"title": "Bridge vote delayed again"}, (("headline",), False)),
    ("old headline back", {}, (("headline", "revert"), True)),
    ("correction appended", {"correction": True}, (("body", "correction"), False)),
    ("a paragraph lost", {"correction": True, "lose_paragraph": True}, (("body",), False)),
    ("only the time line", {"correction": True, "lose_paragraph": True, "updated": "10:32 a.m."},
     (("body",), True)),
    ("404", None, (("removed",), False)),
    ("back", {"correction": True, "lose_paragraph": True, "updated": "10:32 a.m."}, (("restored",), False)),
]
EXPECTED = [step[2] for step in SEQUENCE if step[2] is not None]


def serve_step(site: Site, page: dict | None) -> str:
    if page is None:
        return site.route("/bridge", "<html><body>Not found</body></html>", status=404)
    return site.route("/bridge", bridge_page(**page))


def change_rows(db: Path | str) -> list[tuple]:
    return db_rows(db, "SELECT kinds, boring, from_snapshot_id, to_snapshot_id, capture_id, detected_at, "
                       "words_added, words_removed, summary, site, page_id FROM changes ORDER BY id")


def assert_sequence(db: Path | str) -> None:
    rows = change_rows(db)
    assert [(tuple(json.loads(r[0])), bool(r[1])) for r in rows] == EXPECTED, rows
    versions = dict(db_rows(db, "SELECT id, version FROM snapshots"))
    steps = [(versions.get(r[2]), versions.get(r[3])) for r in rows]
    assert steps == [(1, 2), (2, 3), (3, 4), (4, 5), (5, 6), (6, None), (6, 6)]
    captured = dict(db_rows(db, "SELECT id, started_at FROM captures"))
    assert all(r[5] == captured[r[4]] for r in rows)  # detected when the capture was made
    assert rows[3][6:8] == (0, len(EXTRA[0].split())) and rows[2][6] == len(CORRECTION.split())
    assert {r[9] for r in rows} == {"127.0.0.1"}


def test_sequence_through_fetch_runs(site: Site, tmp_path: Path) -> None:
    db = tmp_path / "archive.db"
    for name, page, _ in SEQUENCE:
        url = serve_step(site, page)
        fetched = run_cli("fetch", url)
        assert fetched.code == (1 if page is None else 0), (name, fetched)
    assert_sequence(db)
    listed = run_cli("changes", "--json", "--all")
    assert listed.code == 0, listed
    shown = json.loads(listed.out)
    assert [(tuple(c["kinds"]), c["boring"]) for c in shown] == EXPECTED[::-1]  # newest first
    assert all(c["page_url"] == url and c["title"] == "Bridge vote delayed" for c in shown[:3])
    assert_listing(url)
    assert_rebuild_gives_the_same_rows(db)


def assert_listing(url: str) -> None:
    """The default listing leaves the boring ones out; --kind and --since filter."""
    lines = run_cli("changes").out.splitlines()
    kinds = [line.split("  ")[1] for line in lines]
    assert kinds == ["restored", "removed", "body", "body,correction", "headline"]
    assert all(f"<{url}>" in line for line in lines)
    assert lines[-1].endswith('headline: "Bridge vote delayed" -> "Bridge vote delayed again"')
    everything = run_cli("changes", "--all").out.splitlines()
    assert len(everything) == 7 and "headline,revert (boring)" in everything[-2]
    picked = json.loads(run_cli("changes", "--json", "--kind", "headline", "--kind", "removed", "--all").out)
    assert [c["kinds"] for c in picked] == [["removed"], ["headline", "revert"], ["headline"]]
    assert run_cli("changes", "--since", "1h").out.splitlines() == lines
    assert run_cli("changes", "--since", "2999-01-01").out == ""
    bad = run_cli("changes", "--since", "yesterday-ish")
    assert bad.code == 2 and "--since" in bad.err and "Traceback" not in bad.err
    assert run_cli("changes", "--kind", "typo").code == 2


def assert_rebuild_gives_the_same_rows(db: Path) -> None:
    live = db_rows(db, "SELECT * FROM changes ORDER BY id")
    conn = sqlite3.connect(db)
    conn.execute("DELETE FROM changes")
    conn.commit()
    conn.close()
    hint = run_cli("changes", "--db", str(db))
    assert hint.out == "" and "--rebuild" in hint.err
    rebuilt = run_cli("changes", "--rebuild", "--db", str(db))
    assert rebuilt.code == 0 and rebuilt.out.startswith("7 changes in 1 pages: 7 added"), rebuilt
    assert db_rows(db, "SELECT * FROM changes ORDER BY id") == live
    again = run_cli("changes", "--rebuild", "--db", str(db))
    assert "0 added, 7 kept, 0 deleted" in again.out, again
    assert db_rows(db, "SELECT * FROM changes ORDER BY id") == live


def test_sequence_through_daemon_rechecks(site: Site, clocked_session) -> None:
    session, clock = clocked_session
    daemon = Daemon(session)
    url = serve_step(site, SEQUENCE[0][1])
    watch(session.db, url, 900, clock.now)  # or found in a feed: the same re-checks either way
    for name, page, _ in SEQUENCE:
        serve_step(site, page)
        report = daemon.tick(budget=60)
        assert report.counts["pages"] == 1, (name, report)
        clock.advance(900)
    assert_sequence(session.config.db)
    assert_rebuild_gives_the_same_rows(Path(session.config.db))


def test_redirect_to_another_page(site: Site, tmp_path: Path) -> None:
    """A page that starts redirecting to another article: one change, redirected; the next
    version from that address is not told as a redirect again."""
    from test_fetch import article_page

    url = site.route("/story", bridge_page())
    assert run_cli("fetch", url).code == 0
    site.route("/elsewhere", article_page("Council news", EXTRA + LOREM[:1]))
    site.route("/story", "", status=301, headers={"Location": "/elsewhere"})
    assert run_cli("fetch", url).code == 0
    site.route("/elsewhere", article_page("Council news, updated", EXTRA + LOREM[:1]))
    assert run_cli("fetch", url).code == 0
    rows = json.loads(run_cli("changes", "--json").out)
    assert len(rows) == 2 and rows[0]["kinds"] == ["headline"], rows  # not "redirected" again
    assert {"headline", "body", "shrunk", "redirected"} <= set(rows[1]["kinds"]), rows
    assert f"now redirects to {site.url('/elsewhere')}" in rows[1]["summary"]


def test_a_reextracted_version_is_no_change_and_the_next_is_compared_with_it(site: Site, tmp_path: Path) -> None:
    """`archiver reextract` adds a version made by a newer extractor from a stored body: the page
    did not change, so no row; the next fetched version is compared with it, live and rebuilt."""
    from dataclasses import replace

    from archiver.content.extractor import extract_article
    from archiver.jobs.reextract import save_reextraction, select_targets
    from archiver.store.db import open_db

    db_path = tmp_path / "archive.db"
    url = site.route("/bridge", bridge_page())
    assert run_cli("fetch", url).code == 0
    db = open_db(db_path)
    target = next(select_targets(db))
    stored = extract_article(bridge_page().encode(), url, "text/html", max_bytes=10_000_000)
    better = replace(stored, text=stored.text.replace("Last updated: 9:00 a.m. ET, December 5, 2026\n", ""))
    assert save_reextraction(db, target, better).result == "changed"
    db.conn.close()
    assert change_rows(db_path) == []
    site.route("/bridge", bridge_page(title="Bridge vote delayed again"))
    assert run_cli("fetch", url).code == 0
    rows = change_rows(db_path)
    versions = dict(db_rows(db_path, "SELECT id, version FROM snapshots"))
    assert [(json.loads(r[0]), versions[r[2]], versions[r[3]]) for r in rows] == [(["headline", "body"], 2, 3)]
    rebuilt = run_cli("changes", "--rebuild")
    assert "1 changes in 1 pages: 0 added, 1 kept, 0 deleted" in rebuilt.out, rebuilt
    assert change_rows(db_path) == rows

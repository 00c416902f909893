"""The per-host boilerplate model: learning from saved pages, dropping what a site repeats, never
dropping article text. A site in the Moscow Times' later layout is generated here: the same
clutter ("Advertisement", a newsletter sign-up, "Most read", a "Log in" link) around different
articles, each with the same disclaimer inside its <article>."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from archiver.content.boilerplate import (BlockStats, block_hash, is_boilerplate, page_blocks,
                                          strip_boilerplate)
from conftest import Site, db_rows, run_cli

TOPICS = ["tram", "budget", "festival", "bridge", "school", "river", "museum", "airport"]
DISCLAIMER = "The Moscow Times is an independent newsroom; opinions of contributors are their own."
CLUTTER = ("Advertisement", "Sign up for our free weekly newsletter", "Most read", "Log in")


def paragraph(topic: str, n: int) -> str:
    return (f"The {topic} story, part {n}: officials in Moscow said on Tuesday that the {topic} plans "
            f"would change after residents of district {n} complained about noise, cost and delays.")


def template_page(i: int) -> str:
    """Article ``i`` of the site: its own text, the site's clutter around it."""
    topic = TOPICS[i % len(TOPICS)]
    body = "".join(f"<p>{paragraph(topic, n + i)}</p>" for n in range(4))
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{topic.title()} news {i} - The Moscow Times</title>
<meta property="og:site_name" content="The Moscow Times"></head><body>
<header><a href="/">The Moscow Times</a> <a href="/news">News</a></header>
<div class="article-body">
<div class="block"><p><a href="/login">Log in</a> to read more</p></div>
<div class="block"><p>Advertisement</p></div>
<article><h1>{topic.title()} news {i}</h1>{body}<p>{DISCLAIMER}</p></article>
<div class="block"><p>Advertisement</p></div>
<div class="block"><p>Sign up for our free weekly newsletter</p></div>
<div class="block"><p>Most read</p><p><a href="/a{i}">Kremlin says something {i}</a></p></div>
</div><footer>The Moscow Times 2024</footer></body></html>"""


def serve_site(site: Site, pages: int) -> list[str]:
    return [site.route(f"/2024/01/{i:02d}/{TOPICS[i % len(TOPICS)]}-news-a{i}", template_page(i))
            for i in range(pages)]


def test_clutter_is_dropped_once_the_site_has_been_seen(site: Site, tmp_path: Path) -> None:
    urls = serve_site(site, 6)
    for url in urls:
        assert run_cli("fetch", url).code == 0
    first = run_cli("show", urls[0]).out
    assert all(c in first for c in CLUTTER), first  # nothing learned yet
    for url in urls[3:]:
        shown = run_cli("show", url)
        assert shown.code == 0, shown
        assert not any(c in shown.out for c in CLUTTER), shown.out
        assert DISCLAIMER in shown.out  # repeated on every page, but inside the <article>
        assert paragraph(TOPICS[urls.index(url) % len(TOPICS)], urls.index(url)) in shown.out
    db = tmp_path / "archive.db"
    dropped = dict(db_rows(db, "SELECT sample, reason FROM site_blocks WHERE dropped = 1"))
    assert set(dropped) == {"Advertisement", "Sign up for our free weekly newsletter", "Most read",
                            "Log in to read more"}
    assert all(r.startswith("on ") and "pages" in r for r in dropped.values())
    assert db_rows(db, "SELECT host, pages_learned FROM site_hosts") == [("127.0.0.1", 6)]
    # the disclaimer is on every page, but inside the <article>: not counted as the site's
    assert db_rows(db, "SELECT count(*) FROM site_blocks WHERE sample = ?", (DISCLAIMER,)) == [(0,)]
    assert db_rows(db, "SELECT pages_seen FROM site_blocks WHERE sample = 'Advertisement'") == [(6,)]

    # re-checking a page does not count it again; re-extraction applies the model to the past
    assert run_cli("fetch", urls[5]).code == 0
    assert db_rows(db, "SELECT pages_learned FROM site_hosts") == [(6,)]
    assert run_cli("reextract").code == 0
    again = run_cli("show", urls[0]).out
    assert "Advertisement" not in again and DISCLAIMER in again
    assert "Advertisement" in run_cli("show", urls[0], "--version", "1").out  # the past is kept


def test_reextract_learns_an_archive_made_before_the_model(site: Site, tmp_path: Path) -> None:
    urls = serve_site(site, 5)
    for url in urls:
        assert run_cli("fetch", url).code == 0
    db = tmp_path / "archive.db"
    conn = sqlite3.connect(db)
    with conn:  # the archive as it was before the model: pages, no counts
        conn.executescript("DELETE FROM site_blocks; DELETE FROM site_hosts; DELETE FROM site_pages;")
    conn.close()
    assert run_cli("reextract").code == 0  # counts every page (and applies what it knows so far)
    assert db_rows(db, "SELECT pages_learned FROM site_hosts") == [(5,)]
    assert run_cli("reextract").code == 0  # counts none again, applies the whole model
    assert db_rows(db, "SELECT pages_learned FROM site_hosts") == [(5,)]
    for url in urls:
        shown = run_cli("show", url).out
        assert not any(c in shown for c in CLUTTER) and DISCLAIMER in shown, shown


def test_learning_needs_several_pages_and_a_share_of_them() -> None:
    assert not is_boilerplate(BlockStats(2), 2)  # two pages are not "many"
    assert is_boilerplate(BlockStats(3), 6)  # three, and half the recent pages
    assert not is_boilerplate(BlockStats(3), 7)
    assert is_boilerplate(BlockStats(3, dropped=True), 10)  # once dropped, kept dropped down to a quarter
    assert not is_boilerplate(BlockStats(2, dropped=True), 10)


def test_only_repeated_lines_outside_the_container_are_dropped() -> None:
    text = "\n".join(["Advertisement", paragraph("tram", 1), DISCLAIMER, "Advertisement", "Most read"])
    stats = {block_hash(line): BlockStats(9) for line in ("Advertisement", DISCLAIMER, "Most read")}
    stripped = strip_boilerplate(text, (1, 2), stats, 10)
    assert stripped.text == "\n".join([paragraph("tram", 1), DISCLAIMER])
    assert stripped.dropped == ("Advertisement", "Advertisement", "Most read")
    # without a container, the same disclaimer counts as the site's
    assert DISCLAIMER not in strip_boilerplate(text, None, stats, 10).text


def test_prose_in_a_different_form_on_each_page_is_never_learned_as_one_block() -> None:
    hashes = [{b.hash for b in page_blocks(paragraph(topic, 1))} for topic in TOPICS]
    assert all(len(h) == 1 for h in hashes) and len(set().union(*hashes)) == len(TOPICS)
    # spacing, case and punctuation are one block; different words are not
    assert block_hash("Most  read!") == block_hash("most read") != block_hash("Most shared")
    assert page_blocks("x" * 500) == []  # long lines are prose: not counted
    assert [b.sample for b in page_blocks("Advertisement\nDisclaimer", (1,))] == ["Advertisement"]


def test_a_text_that_is_all_template_is_left_whole() -> None:
    stats = {block_hash("Advertisement"): BlockStats(9)}
    assert strip_boilerplate("Advertisement", None, stats, 10).text == "Advertisement"

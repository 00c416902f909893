"""Metadata from every source, best first, cleaned and recorded (archiver.content.metadata and
its use in the extractor and the snapshot row). Pure tests: pages built here, no server."""

from __future__ import annotations

import json
import time

from archiver.content.extractor import extract_article
from archiver.content.metadata import (Candidates, choose, clean_author, clean_title, jsonld_objects,
                                       read_jsonld, with_feed)
from archiver.jobs.pages import snapshot_row

BODY = "".join(f"<p>Paragraph {n}: the council met on Tuesday and argued at length about trams, budgets, "
               f"snow clearing and the schedule of the new line through the old town.</p>" for n in range(6))
URL = "https://news.example.org/2024/05/trams"


def page(head: str = "", title: str = "Trams again | Example News", h1: str = "Trams again",
         byline: str = "") -> bytes:
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{title}</title>{head}</head>"
            f"<body><article><h1>{h1}</h1>{byline}{BODY}</article></body></html>").encode()


def ld(data: object) -> str:
    return f'<script type="application/ld+json">{json.dumps(data)}</script>'


def og(**values: str) -> str:
    return "".join(f'<meta property="{k.replace("_", ":", 1)}" content="{v}">' for k, v in values.items())


def extract(html: bytes):
    return extract_article(html, URL, "text/html; charset=utf-8")


def test_jsonld_in_graph_with_author_reference_wins_and_is_recorded() -> None:
    graph = {"@context": "https://schema.org", "@graph": [
        {"@type": "WebSite", "@id": "#site", "name": "Example News"},
        {"@type": "Person", "@id": "#jane", "name": "By Jane Doe, Staff Writer"},
        {"@type": ["NewsArticle"], "headline": "Trams &amp; budgets: the council argues",
         "author": [{"@id": "#jane"}, {"@type": "Person", "name": "Max Mustermann"}],
         "datePublished": "2024-05-02T09:30:00+02:00", "dateModified": "2024-05-03T10:00:00Z",
         "publisher": {"@id": "#site"}}]}
    article = extract(page(ld(graph) + og(og_title="Something else entirely", article_author="Ann Other")))
    assert article.title == "Trams & budgets: the council argues"
    assert article.author == "Jane Doe; Max Mustermann"
    assert article.modified == "2024-05-03"
    assert article.sitename == "Example News"
    sources = dict(article.sources)
    assert sources["title"] == sources["author"] == "jsonld"
    assert ("title", "og", "Something else entirely") in article.alternatives
    assert ("author", "og", "Ann Other") in article.alternatives


def test_author_as_string_or_list_of_strings() -> None:
    for author, expected in (("Jane Doe", "Jane Doe"), (["Jane Doe", "by John Roe"], "Jane Doe; John Roe")):
        article = extract(page(ld({"@type": "BlogPosting", "headline": "Trams again", "author": author})))
        assert article.author == expected, author


def test_opengraph_when_there_is_no_jsonld() -> None:
    head = og(og_title="Trams again - Example News", og_site_name="Example News",
              article_author="By Jane Doe", article_published_time="2024-05-02T23:30:00-05:00")
    article = extract(page(head, title="Something | Example News"))
    assert (article.title, article.author, article.published) == ("Trams again", "Jane Doe", "2024-05-02")
    assert dict(article.sources)["title"] == dict(article.sources)["author"] == "og"


def test_profile_url_in_article_author_is_not_a_name() -> None:
    article = extract(page(og(article_author="https://facebook.com/janedoe")))
    assert article.author != "https://facebook.com/janedoe"


def test_title_element_cleaned_of_known_site_name_and_visible_byline() -> None:
    article = extract(page(og(og_site_name="Example News"), title="Trams again | Example News",
                           h1="Section", byline="<p>Von Erika Musterfrau</p>"))
    assert article.title == "Trams again"
    assert article.author == "Erika Musterfrau"
    assert dict(article.sources) == {"title": "html", "author": "html",
                                     **({"published": "trafilatura"} if article.published else {}),
                                     "sitename": "og"}


def test_title_cleaning() -> None:
    assert clean_title("Trams again | Example News", ["Example News"]) == "Trams again"
    assert clean_title("Example News: Trams again", ["example news"]) == "Trams again"
    assert clean_title("Trams again | AOC media - Analyse", ["AOC media"]) == "Trams again"
    assert clean_title("Trams again – ehow", ["ehow.com", "ehow"]) == "Trams again"
    # an unknown site, or a separator that is part of the title: left as it is
    assert clean_title("Trams again | Example News", []) == "Trams again | Example News"
    assert clean_title("Left - right - left", ["Example News"]) == "Left - right - left"


def test_author_cleaning() -> None:
    assert clean_author("By Jane Doe") == "Jane Doe"
    assert clean_author("Written by Jane Doe, Senior Correspondent") == "Jane Doe"
    assert clean_author("Ben Silverman Games Editor") == "Ben Silverman"
    assert clean_author("Jane Doe | Staff Writer") == "Jane Doe"
    assert clean_author("By Nathan Willis March 25, 2015") == "Nathan Willis"
    assert clean_author("Jane Doe") == "Jane Doe"
    assert clean_author("https://example.org/jane") is None
    assert clean_author("   ") is None
    # the account a site publishes under is no one's name
    assert [clean_author(v) for v in ("admin", "Wordpressadmin", "Webmaster")] == [None, None, None]
    assert clean_author("Jane Admin-Doe") == "Jane Admin-Doe"


def test_truncated_headline_gives_way_to_the_full_title() -> None:
    candidates = Candidates()
    candidates.add("title", "jsonld", "The council argues about trams, budgets and…")
    candidates.add("title", "og", "The council argues about trams, budgets and snow")
    chosen = choose(candidates, "news.example.org")
    assert (chosen.values["title"], chosen.sources["title"]) == (
        "The council argues about trams, budgets and snow", "og")


def test_feed_ranks_between_structured_data_and_guesses() -> None:
    candidates = Candidates()
    candidates.add("title", "html", "Trams again - Example News")
    candidates.add("author", "jsonld", "Jane Doe")
    candidates.add("published", "trafilatura", "2024-05-02")
    chosen = with_feed(choose(candidates, None), {"title": "Trams again", "author": "J. Doe",
                                                   "published": "2024-05-01T22:00:00+00:00"})
    assert chosen.sources == {"title": "feed", "author": "jsonld", "published": "trafilatura"}
    assert chosen.values["title"] == "Trams again" and chosen.values["author"] == "Jane Doe"
    assert chosen.alternatives["author"] == {"feed": "J. Doe"}
    assert chosen.alternatives["title"] == {"html": "Trams again - Example News"}
    assert chosen.alternatives["published"] == {"feed": "2024-05-01T22:00:00+00:00"}


def test_snapshot_row_records_sources_feed_and_alternatives() -> None:
    head = ld({"@type": "NewsArticle", "headline": "Trams again", "dateModified": "2024-05-03"})
    article = extract(page(head, title="x"))
    row = snapshot_row(1, "2024-05-04T00:00:00+00:00", article, "f" * 64,
                       (7, "By Jane Doe", "2024-05-02T08:00:00+00:00", "Trams, again"))
    sources = json.loads(row["metadata_sources"])
    assert row["title"] == "Trams again" and sources["title"] == "jsonld"
    assert sources["alternatives"]["title"] == {"feed": "Trams, again"}
    assert (row["author"], sources["author"]) == ("Jane Doe", "feed")
    assert sources["modified"] == {"jsonld": "2024-05-03"}
    assert row["entry_id"] == 7


def test_hostile_jsonld_is_bounded_and_never_raises() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    nested: dict = {"@type": "NewsArticle", "headline": "Too deep"}
    for _ in range(50):
        nested = {"x": nested}
    scripts = [
        '<script type="application/ld+json">{"@type": "NewsArticle", "headline": </script>',  # malformed
        f'<script type="application/ld+json">{deep}</script>',  # deeply nested (and big)
        ld({"@type": "NewsArticle", "headline": "x" * 300_000}),  # over the size bound: skipped
        ld(nested),  # beyond the depth bound
        ld([{"@type": "Thing", "name": str(n)} for n in range(50_000)]),  # too many objects
        ld({"@type": "NewsArticle", "headline": 42, "author": {"name": ["A", {"x": 1}]},
            "datePublished": ["not a date"], "publisher": "plain"}),  # odd types
        ld({"@type": "NewsArticle", "author": [None, 3, {"@id": "#nobody"}]}),
    ] + [ld({"@type": "Thing"})] * 30
    started = time.perf_counter()
    article = extract(page("".join(scripts), title="Trams again"))
    assert time.perf_counter() - started < 10
    assert article.title == "42"  # the one usable headline, as text
    assert article.text
    tree_objects = jsonld_objects(__import__("lxml.html").html.fromstring(page("".join(scripts))))
    assert len(tree_objects) <= 2_000
    assert all(o.get("headline") != "Too deep" for o in tree_objects)
    candidates = Candidates()
    read_jsonld([{"@type": "NewsArticle", "headline": None, "author": {"@id": 5}}], candidates)
    assert candidates.values == {}


def test_meta_authors_rank_below_a_visible_byline_and_dublin_core_first() -> None:
    dc = ('<meta property="dc:creator twitter:site_name" content="Creator Name">'  # RDFa: two properties
          '<meta name="author" content="Example News">')
    assert extract(page(dc)).author == "Creator Name"
    assert dict(extract(page(dc)).sources)["author"] == "meta"
    yoast = ('<meta name="twitter:label1" content="Verfasst von"><meta name="twitter:data1" content="Erika Muster">'
             '<meta name="twitter:label2" content="Lesedauer"><meta name="twitter:data2" content="3 Minuten">')
    assert extract(page(yoast)).author == "Erika Muster"
    # a byline in the article beats <meta name="author">, and a site name is no author
    byline = '<meta name="author" content="Jane Doe">'
    assert extract(page(byline, byline="<p>By John Roe</p>")).author == "John Roe"
    named = og(og_site_name="Example News") + '<meta name="author" content="Example News">'
    assert extract(page(named)).author is None


def test_byline_label_then_name_in_the_next_element_and_particles() -> None:
    article = extract(page(byline='<div class="by"><h5>Autor:</h5>Peter Maahn/SP-X</div>'))
    assert article.author == "Peter Maahn"
    article = extract(page(byline='<div class="wrote_by">By&nbsp;<a href="/r/j">Jose de la Cruz</a></div>'))
    assert article.author == "Jose de la Cruz"
    # prose that happens to start with "by" is no byline; a caption's credit neither
    article = extract(page(byline="<figure><figcaption>By Photo Agency</figcaption></figure>"
                                  "<p>by the numbers</p>"))
    assert article.author is None


def test_jsonld_name_is_the_title_where_the_h1_shows_it_and_not_the_headline() -> None:
    """Wikipedia's JSON-LD has the article's title as its ``name`` and a description as its
    ``headline``: the <h1> decides. Where the <h1> is the headline, or neither, the headline stays."""
    data = {"@type": "Article", "name": "New Zealand", "headline": "constitutional monarchy in Oceania"}
    article = extract(page(ld(data), title="New Zealand - Wikipedia", h1="New Zealand"))
    assert (article.title, dict(article.sources)["title"]) == ("New Zealand", "jsonld")
    article = extract(page(ld({**data, "name": "NZ"}), title="New Zealand - Wikipedia", h1="New Zealand"))
    assert article.title == "constitutional monarchy in Oceania"
    headline_shown = {"@type": "NewsArticle", "name": "trams-again", "headline": "Trams again on the old line"}
    assert extract(page(ld(headline_shown), h1="Trams again on the old line")).title == "Trams again on the old line"


def test_structured_author_that_is_the_site_leaves_the_byline_to_name_the_writer() -> None:
    """JSON-LD that names the publication as the author ("LN" on the Lübecker Nachrichten) says
    nothing about the writer: the visible byline is read, as where there is no structured author."""
    site_as_author = ld({"@type": "NewsArticle", "headline": "Trams again",
                         "author": {"@type": "Organization", "name": "LN"},
                         "publisher": {"@type": "Organization", "name": "LN"}}) + og(og_site_name="LN")
    article = extract(page(site_as_author, byline="<p><em>Von <span>Cosima Künzel</span></em></p>"))
    assert (article.author, dict(article.sources)["author"]) == ("Cosima Künzel", "html")
    # a person named in the structured data still wins over the byline, which is not read
    person = ld({"@type": "NewsArticle", "headline": "Trams again", "author": {"name": "Jane Doe"}})
    article = extract(page(person + og(og_site_name="LN"), byline="<p>Von Cosima Künzel</p>"))
    assert (article.author, dict(article.sources)["author"]) == ("Jane Doe", "jsonld")


def test_a_block_of_many_mid_sentence_bys_is_not_read_whole_for_each() -> None:
    """Each "by" after a link asks how long its block is; that is read only as far as the answer
    needs, so a hostile block of 20,000 of them takes a fraction of a second, not a minute."""
    import trafilatura

    from archiver.content.metadata import read_byline

    tree = trafilatura.load_html("<html><body><div>" + "<a href='/x'>word</a> by " * 20_000 + "</div></body></html>")
    candidates = Candidates()
    started = time.perf_counter()
    read_byline(tree, candidates)
    assert time.perf_counter() - started < 5  # 0.5 s here; 60 s when the block was read whole for each
    assert "author" not in candidates.values


def test_longer_than_is_the_squashed_text_length_read_lazily() -> None:
    """_longer_than against the plainest statement of it: the length of the element's text with
    its white space squashed (a block of more pieces of text than the limit counts as long)."""
    import random

    import trafilatura

    from archiver.content import metadata

    rng = random.Random(3)
    texts = ["", " ", "a", "by", " word ", "\n  ", "Jane Doe", "x" * 40, "\u00a0", "ab\u00a0cd"]
    for _ in range(2000):
        inner = "".join(f"<{tag}>{rng.choice(texts)}</{tag}>{rng.choice(texts)}"
                        for tag in rng.choices(["a", "b", "span"], k=rng.randrange(8)))
        block = trafilatura.load_html(f"<html><body><p>{rng.choice(texts)}{inner}</p></body></html>").find(".//p")
        for limit in (0, 5, 20, 60, 100):
            plain = len(" ".join(block.text_content().split())) > limit
            assert metadata._longer_than(block, limit) == plain or sum(1 for _ in block.itertext()) > limit + 1


def test_a_byline_gives_the_names_it_starts_with() -> None:
    """A byline's names, up to what is not one: a list of writers is kept whole, a description
    or a degree after a comma is dropped (those bylines used to give no author at all)."""
    for byline, author in [("<p>By Jane Doe, John Roe and Ann Lee</p>", "Jane Doe; John Roe; Ann Lee"),
                           ("<p><strong>Autorin: Uta Staschewski, Projektleiterin der HSS in Tunesien.</strong></p>",
                            "Uta Staschewski"),
                           ("<p>By Brenda Goodman, MA</p>", "Brenda Goodman"),
                           ("<p>By LISA MASCARO, MARY CLARE JALONICK and ERIC TUCKER</p>",
                            "LISA MASCARO; MARY CLARE JALONICK; ERIC TUCKER"),
                           ("<p>By Jane Doe and John Roe</p>", "Jane Doe; John Roe")]:
        article = extract(page(byline=byline))
        assert (article.author, dict(article.sources).get("author")) == (author, "html"), byline
    assert extract(page(byline="<p>By the river, the council, and the trams</p>")).author is None


def test_a_by_in_the_middle_of_a_sentence_is_no_byline() -> None:
    """A "by" after a link or an italic title goes on the sentence ("a portrait of Hinepare by
    <a>Gottfried Lindauer</a>"): no author. A line of its own after a date link still is one."""
    prose = ('<p>A portrait of Hinepare of <a href="/w/n">Ngati Kahungunu</a> by <a href="/w/g">Gottfried '
             'Lindauer</a>, showing the chin moko that women of her rank wore in the nineteenth century.</p>'
             '<p>The story is based on <i>Kaligaminarile Kuttavalikal</i> written by <a href="/w/v">Vinoy Thomas</a>, '
             'a collection of short stories that won the state award in its year.</p>')
    assert extract(page(byline=prose)).author is None
    meta_line = '<div class="entry-meta">Posted on <a href="/2024/05/01">May 1, 2024</a> by <a href="/a/j">Jane Doe</a></div>'
    assert extract(page(byline=meta_line)).author == "Jane Doe"


def test_jsonld_in_a_cdata_section_and_two_authors_in_one_name() -> None:
    script = ('<script type="application/ld+json">//<![CDATA[\n{"@type": "NewsArticle", '
              '"headline": "Trams again", "author": {"name": "Jane Doe and John Roe"}}\n//]]></script>')
    article = extract(page(script, title="x"))
    assert (article.title, article.author) == ("Trams again", "Jane Doe; John Roe")
    assert clean_author("FOCUS-Online-Experte Robin Tschöpe") == "Robin Tschöpe"
    assert clean_author("David Hutzler, dpa") == "David Hutzler"


def test_the_byline_initials_let_through_every_text_the_byline_pattern_matches() -> None:
    """_byline_texts asks for one of _BYLINE_INITIALS after the white space before the pattern:
    every character the pattern's first letters match, whatever their case, is among them, and
    str.lstrip strips exactly what the pattern's \\s* skips."""
    import re
    import sys

    from archiver.content import metadata

    first_letters = re.compile("[" + "".join({w[0] for w in metadata._BYLINE_WORDS}) + "]", re.IGNORECASE)
    space = re.compile(r"\s")
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        if first_letters.fullmatch(char):
            assert char in metadata._BYLINE_INITIALS, hex(code)
        assert bool(space.fullmatch(char)) == char.isspace(), hex(code)
    for text in ("By Jane Doe", " \u00a0\tVon Hans Meier", "AUTOR: Ana", "written by Sam", "door Piet"):
        assert metadata._BYLINE_START.match(text) and text.lstrip()[:1] in metadata._BYLINE_INITIALS


def test_byline_texts_are_every_text_and_tail_in_page_order() -> None:
    """_byline_texts against the plainest statement of it (each node's text, then its tail, in
    document order, outside captions, navigation and footers, a tail not going on a sentence) on
    random pages of bylines as texts, tails and comments, inside and outside excluded elements."""
    import random
    from itertools import islice

    import trafilatura

    from archiver.content import metadata

    def reference(scope):
        for element in islice(scope.iter(), metadata._MAX_ELEMENTS):
            for text, is_tail in ((element.text, False), (element.tail, True)):
                if text and len(text) < 80 and metadata._BYLINE_START.match(text):
                    holder = element.getparent() if is_tail else element
                    if holder is not None and not metadata._in_excluded(holder) and not (
                            is_tail and metadata._mid_sentence(element, text)):
                        yield " ".join(text.split()), metadata._text_after(element, is_tail)

    rng = random.Random(7)
    texts = ["", "By Jane Doe", " \u00a0von Hans Meier", "Autor:", "Bystander", "by " + "x" * 90, "Ann Lee", "\n  "]

    def element(depth: int) -> str:
        tag = rng.choice(["div", "p", "span", "figure", "nav", "footer", "a", "figcaption", "b"])
        inner = "".join(element(depth + 1) + rng.choice(texts) for _ in range(rng.randrange(3 if depth < 4 else 1)))
        comment = f"<!--{rng.choice(texts)}-->" if rng.random() < 0.1 else ""
        return f"<{tag}>{rng.choice(texts)}{comment}{inner}</{tag}>"

    found = 0
    for _ in range(500):
        tree = trafilatura.load_html(f"<html><body>{element(0)}{rng.choice(texts)}</body></html>")
        scope = next(tree.iter("body"))
        ours = [(text, following()) for text, following in metadata._byline_texts(scope)]
        assert ours == list(reference(scope))
        found += len(ours)
    assert found > 500

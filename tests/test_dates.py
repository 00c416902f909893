"""The publication date: each source (date <meta> names, microdata, the dateline by the headline,
the URL) and the rule that chooses among them and the page's JSON-LD, OpenGraph and trafilatura
(archiver.content.dates). Pure tests: small pages built here, and shared corpus pages read in place."""

from __future__ import annotations

import gzip
import json

import lxml.html
import pytest

from archiver.content.dates import choose_published, dateline, iso_date, loose_date, url_date
from archiver.content.extractor import extract_article
from archiver.jobs.pages import snapshot_row
from conftest import CORPUS

BODY = "".join(f"<p>Paragraph {n}: the council met on Tuesday and argued at length about trams, budgets, "
               f"snow clearing and the schedule of the new line through the old town.</p>" for n in range(6))
URL = "https://news.example.org/trams-again"


def page(head: str = "", header: str = "", before: str = "") -> bytes:
    """A page whose <h1> is its title's headline, with ``header`` after it and ``before`` above it."""
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>Trams again, and again | Example"
            f"</title>{head}</head><body><article>{before}<h1>Trams again, and again</h1>{header}{BODY}"
            f"</article></body></html>").encode()


def published(html: bytes, url: str = URL) -> tuple[str | None, str | None]:
    """(date, its source) as the extractor records them."""
    article = extract_article(html, url, "text/html; charset=utf-8")
    return article.published, dict(article.sources).get("published")


def ld(data: object) -> str:
    return f'<script type="application/ld+json">{json.dumps(data)}</script>'


# --------------------------------------------------------------------------- the sources


@pytest.mark.parametrize("attribute, name", [
    ("name", "pubdate"), ("name", "dc.date.issued"), ("name", "DC.date"), ("name", "sailthru.date"),
    ("name", "parsely-pub-date"), ("property", "article.published"), ("itemprop", "datePublished"),
    ("name", "date"),
])
def test_date_meta_names_are_read(attribute: str, name: str) -> None:
    head = f'<meta {attribute}="{name}" content="2024-05-02T09:30:00+02:00">'
    assert published(page(head)) == ("2024-05-02", "meta")


def test_a_specific_meta_name_beats_a_generic_one_and_any_format_is_read() -> None:
    head = ('<meta name="date" content="2024-05-09"><meta name="sailthru.date" '
            'content="Thu, 02 May 2024 09:30:00 +0200">')
    assert published(page(head)) == ("2024-05-02", "meta")


def test_microdata_date_published_on_an_element() -> None:
    header = '<p>By Jane Doe · <span itemprop="datePublished" content="2024-05-02">last week</span></p>'
    assert published(page(header=header))[0] == "2024-05-02"
    element = '<div itemscope><span itemprop="datePublished" content="2024-05-02"></span></div>'
    html = page().replace(b"<article>", f"<article>{element}".encode())
    assert published(html) == ("2024-05-02", "meta")


@pytest.mark.parametrize("header", [
    "<p class=meta>Von Erika Musterfrau | 2. Mai 2024, 10:15 Uhr</p>",
    "<div><span>Posted on</span> <a href=/x>May 2, 2024</a></div>",
    '<p><time datetime="2024-05-02T10:15:00+02:00">Thursday</time></p>',
    "<ul><li>Jane Doe</li><li>02.05.2024</li></ul>",
])
def test_the_dateline_after_the_headline(header: str) -> None:
    assert published(page(header=header)) == ("2024-05-02", "html")


def test_a_time_element_just_above_the_headline() -> None:
    before = '<div><span>Press release</span> <time datetime="2024-05-02 12:22">02.05.2024 12:22</time></div>'
    assert published(page(before=before)) == ("2024-05-02", "html")


def test_a_date_above_the_headline_that_is_not_a_time_element_is_not_its_dateline() -> None:
    tree = lxml.html.fromstring("<div><p>Printed on 11.02.2020</p><h1>Trams again, and again</h1>"
                                f"{BODY}</div>")
    assert dateline(list(tree.iter("h1")), ["Trams again, and again"]) is None


def test_an_update_is_not_the_publication_date() -> None:
    header = "<p>Updated 12 May 2024</p><p>First published 2 May 2024</p>"
    tree = lxml.html.fromstring(f"<div><h1>Trams again, and again</h1>{header}{BODY}</div>")
    assert dateline(list(tree.iter("h1")), []) == "2024-05-02"
    header = '<p><span>Aktualisiert:</span> <time datetime="2024-05-12">12.05.2024</time></p>'
    tree = lxml.html.fromstring(f"<div><h1>Trams again, and again</h1>{header}{BODY}</div>")
    assert dateline(list(tree.iter("h1")), []) is None


def test_the_headline_is_the_h1_of_the_title_not_the_logo() -> None:
    html = ("<div><h1><a href='/'>Example Radio</a></h1><span>Wednesday, 26.02.2020</span>"
            "<nav>Home</nav><div><span>01.05.2017</span><h1>Trams again, and again</h1>"
            f"<p>By Jane Doe, 2 May 2017</p>{BODY}</div></div>")
    tree = lxml.html.fromstring(html)
    assert dateline(list(tree.iter("h1")), ["Trams again, and again | Example Radio"]) == "2017-05-02"
    assert dateline(list(tree.iter("h1")), []) == "2017-05-02"  # the logo is only a link


def test_a_date_in_prose_is_not_a_dateline() -> None:
    header = ("<p>On 2 May 2024 the council met again, and for the third time this year it argued about the "
              "trams.</p>")
    tree = lxml.html.fromstring(f"<div><h1>Trams again, and again</h1>{header}{BODY}</div>")
    assert dateline(list(tree.iter("h1")), []) is None


def test_the_url_path() -> None:
    assert url_date("https://example.org/2024/05/02/trams") == "2024-05-02"
    assert url_date("https://example.org/news/2024-5-2-trams.html") == "2024-05-02"
    assert url_date("https://example.org/trams?from=/2024/05/02/") is None
    assert url_date("https://example.org/2024/13/02/trams") is None
    assert published(page(), "https://news.example.org/2024/05/02/trams") == ("2024-05-02", "url")


def test_values_that_are_not_dates() -> None:
    for value in ("2024-02-30", "1989-12-31", "20240502", "soon", "", None):
        assert iso_date(value) is None, value
    assert loose_date("Di., 25.01.2022 - 14:45") == "2022-01-25"
    assert loose_date("Wed, 02 Feb 2022 09:12:22 +0100") == "2022-02-02"
    assert loose_date("Gitarre & Bass 02/2022") is None  # a month is not a day
    assert loose_date("1. Februar 2022") == "2022-02-01"
    assert choose_published([("jsonld", "2024-02-30T10:00:00Z"), ("og", "not a date")]) is None


# --------------------------------------------------------------------------- choosing


def test_json_ld_date_published_beats_trafilatura_reading_an_update() -> None:
    head = ld({"@type": "Article", "headline": "Trams again, and again",
               "datePublished": "2020-07-10T14:15:42+00:00", "dateModified": "2025-01-07T09:08:22+00:00"})
    header = "<p>Last Updated: January 7, 2025</p>"
    assert published(page(head, header)) == ("2020-07-10", "jsonld")


def test_structured_sources_that_disagree_are_settled_by_the_others() -> None:
    found = [("jsonld", "2023-11-03T10:25:56+00:00"), ("og", "2023-11-06T14:25:00+00:00"),
             ("html", "2023-11-06"), ("trafilatura", "2023-11-06")]
    assert choose_published(found) == ("og", "2023-11-06")
    tie = [("og", "2017-04-12T18:33:59+02:00"), ("meta", "2020-02-19"), ("html", "2020-02-19"),
           ("trafilatura", "2017-04-12")]
    assert choose_published(tie) == ("og", "2017-04-12")


def test_a_utc_time_gives_way_to_the_day_the_page_shows() -> None:
    # 05:30 UTC on the 9th is the evening of the 8th in America, where the page says the 8th
    found = [("jsonld", "2023-11-09T05:30:59Z"), ("og", "2023-11-09T05:30:59+00:00"), ("html", "2023-11-08")]
    assert choose_published(found) == ("html", "2023-11-08")
    assert choose_published([("og", "2021-11-04T23:00Z"), ("trafilatura", "2021-11-05")]) == ("trafilatura",
                                                                                             "2021-11-05")
    # a date without a time, a day off the dateline
    assert choose_published([("meta", "2020-04-30"), ("html", "2020-04-29")]) == ("html", "2020-04-29")


def test_a_day_no_zone_can_reach_or_a_local_time_stays() -> None:
    assert choose_published([("jsonld", "2023-11-09T05:30:59Z"), ("html", "2023-11-10")]) == ("jsonld", "2023-11-09")
    assert choose_published([("jsonld", "2023-11-09T05:30:59-05:00"), ("html", "2023-11-08")]) == ("jsonld",
                                                                                                  "2023-11-09")
    assert choose_published([("jsonld", "2023-11-09T12:00:00Z"), ("html", "2023-11-07")]) == ("jsonld",
                                                                                             "2023-11-09")


def test_without_structured_data_the_dateline_then_the_url_then_trafilatura() -> None:
    assert choose_published([("html", "2022-12-12"), ("url", "2022-12-11"), ("trafilatura", "2022-06-28")]) == (
        "html", "2022-12-12")
    assert choose_published([("url", "2022-12-11"), ("trafilatura", "2022-06-28")]) == ("url", "2022-12-11")


def test_the_source_is_recorded_in_metadata_sources() -> None:
    article = extract_article(page(header="<p>2. Mai 2024</p>"), URL, "text/html; charset=utf-8")
    row = snapshot_row(1, "2024-05-04T00:00:00+00:00", article, "f" * 64, None)
    assert row["published"] == "2024-05-02" and json.loads(row["metadata_sources"])["published"] == "html"


# --------------------------------------------------------------------------- shared pages


def corpus_article(page_id: str) -> tuple[dict, object]:
    rows = (json.loads(line) for line in (CORPUS / "articles" / "manifest.jsonl").open(encoding="utf-8"))
    row = next(r for r in rows if r["id"] == page_id)
    body = gzip.decompress((CORPUS / row["html"]).read_bytes())
    return row, extract_article(body, row["url"], "text/html")


@pytest.mark.parametrize("page_id, source", [
    ("verbaende.com.2023.html", "html"),  # a <time> above the headline; htmldate takes a related item's
    ("golf.de-augusta.html", "html"),  # "1. Februar 2022, Daniel Dillenburg" under the headline
    ("twincities.com-mayor.html", "html"),  # JSON-LD in UTC, the next day; the page shows the 8th
    ("neues-deutschland.de.mietenstreik.html", "html"),  # <meta name=date> a day later than shown
    ("citylimits.org-Nycha.html", "jsonld"),
])
def test_shared_pages(page_id: str, source: str) -> None:
    row, article = corpus_article(page_id)
    assert (article.published, dict(article.sources)["published"]) == (row["date"], source)


def test_the_date_search_is_skipped_only_where_it_cannot_change_the_date() -> None:
    """Every combination of sources on a few days, zones and forms: wherever page_search_matters
    says trafilatura's date cannot matter, adding any date of its own changes nothing."""
    from itertools import product

    from archiver.content.dates import page_search_matters

    values = (None, "2023-11-09T05:30:00Z", "2023-11-09T23:30:00+02:00", "2023-11-08", "2023-11-10T12:00:00")
    shown = (None, "2023-11-08", "2023-11-09")
    others = ("2023-11-07", "2023-11-08", "2023-11-09", "2023-11-10")
    skipped = 0
    for jsonld, og, meta, html, url in product(values, values[:3], values[::2], shown, shown):
        found = [(source, value) for source, value in
                 (("jsonld", jsonld), ("og", og), ("meta", meta), ("html", html), ("url", url)) if value]
        if page_search_matters(found):
            continue
        skipped += 1
        for other in others:
            assert choose_published([*found, ("trafilatura", other)]) == choose_published(found), (found, other)
    assert skipped > 100  # the common case: structured data that agrees, or a dateline
    assert page_search_matters([])
    assert page_search_matters([("jsonld", "2023-11-09T05:30:00Z")])  # a UTC time, nothing shown: it may shift
    assert not page_search_matters([("jsonld", "2023-11-09T05:30:00Z"), ("html", "2023-11-08")])
    assert page_search_matters([("jsonld", "2023-11-09"), ("og", "2023-11-10")])  # its vote may decide
    assert not page_search_matters([("url", "2023-11-09")])

"""What a reader sees first, in a real browser (Debian's headless chromium) at 1280x1000: the front
page, a search, the changes and a diff; and no script from an archived page runs there."""

from __future__ import annotations

from typing import Iterator

import pytest

from test_browser import SCREENSHOTS, Watched, browser, playwright_api  # noqa: F401 (fixture)
from test_serve import Archive, ArchiveServer

pytestmark = pytest.mark.browser

WIDTH, HEIGHT = 1280, 1000


@pytest.fixture
def reader(browser: object) -> Iterator[Watched]:  # noqa: F811 (the fixture imported above)
    """A tab of the size the issue names, recording dialogs, page errors and CSP violations."""
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})  # type: ignore[attr-defined]
    page = context.new_page()
    page.set_default_timeout(20_000)
    watched = Watched(page)
    page.on("dialog", lambda dialog: (watched.dialogs.append(dialog.message), dialog.dismiss()))
    page.on("console", lambda message: "Content Security Policy" in message.text
            and watched.csp_violations.append(message.text))
    page.on("pageerror", lambda exc: watched.errors.append(str(exc)))
    yield watched
    context.close()


def above_the_fold(locator: object) -> bool:
    """Whether the element is visible and lies wholly within the first screen, without scrolling."""
    box = locator.bounding_box()  # type: ignore[attr-defined]
    return bool(box) and locator.is_visible() and box["x"] >= 0 and box["y"] >= 0 \
        and box["x"] + box["width"] <= WIDTH and box["y"] + box["height"] <= HEIGHT  # type: ignore[attr-defined]


def first_screen(tab: Watched, name: str) -> None:
    """Save what the first screen shows (not the whole page): the fold is the point."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab.page.screenshot(path=str(SCREENSHOTS / name))  # type: ignore[attr-defined]


def assert_clean(tab: Watched) -> None:
    assert tab.dialogs == [] and tab.csp_violations == [] and tab.errors == []


def test_front_page_shows_search_latest_articles_and_changes_above_the_fold(
        reader: Watched, server: ArchiveServer) -> None:
    page = reader.page
    reader.visit(server.base + "/")
    first_screen(reader, "5-front-page.png")
    assert above_the_fold(page.locator("input#front-search"))  # type: ignore[attr-defined]
    latest = page.locator(".front-latest")  # type: ignore[attr-defined]
    assert above_the_fold(latest.get_by_role("heading", name="Latest articles"))
    assert above_the_fold(latest.get_by_role("link", name="Council rejects budget"))
    changes = page.locator(".front-changes")  # type: ignore[attr-defined]
    assert above_the_fold(changes.get_by_role("heading", name="Recent changes"))
    assert changes.locator("li").count() == 6
    first = changes.locator("li").first
    assert above_the_fold(first.locator(".kinds")) and above_the_fold(first.get_by_role("link"))
    assert first.locator(".kind").all_inner_texts() == ["headline"]  # the hostile headline, newest
    assert reader.javascript_links() == 0
    assert_clean(reader)


def test_a_search_shows_its_first_result_above_the_fold(reader: Watched, server: ArchiveServer) -> None:
    page = reader.page
    reader.visit(server.base + "/")
    page.fill("input#front-search", "Yonhap")  # type: ignore[attr-defined]
    with page.expect_navigation(wait_until="networkidle"):  # type: ignore[attr-defined]
        page.press("input#front-search", "Enter")  # type: ignore[attr-defined]
    assert "/archive/snapshots?_search=Yonhap" in page.url  # type: ignore[attr-defined]
    first_screen(reader, "6-search-from-the-front-page.png")
    first = page.locator("table.rows-and-columns tbody tr").first  # type: ignore[attr-defined]
    title = first.locator("td.col-title a")
    assert title.inner_text() == "Kim Jong Un Reportedly Due to Visit Moscow in May"
    assert above_the_fold(title) and above_the_fold(first.locator("td.col-author"))
    details = page.locator("details.column-descriptions")  # type: ignore[attr-defined]
    assert details.count() == 1 and not details.get_attribute("open")
    assert not page.locator("details.column-descriptions dd").first.is_visible()  # type: ignore[attr-defined]
    details.locator("summary").click()  # a reader can still unfold them
    assert page.locator("details.column-descriptions dd").first.is_visible()  # type: ignore[attr-defined]
    assert_clean(reader)


def test_a_search_on_the_snapshots_page_shows_its_first_result_above_the_fold(
        reader: Watched, server: ArchiveServer) -> None:
    page = reader.page
    reader.visit(server.base + "/archive/snapshots")
    page.fill("input[name=_search]", "budget")  # type: ignore[attr-defined]
    with page.expect_navigation(wait_until="networkidle"):  # type: ignore[attr-defined]
        page.press("input[name=_search]", "Enter")  # type: ignore[attr-defined]
    first_screen(reader, "7-search-on-the-snapshots-page.png")
    first = page.locator("table.rows-and-columns tbody tr").first  # type: ignore[attr-defined]
    assert first.locator("td.col-title").inner_text() == "Council rejects budget"
    assert above_the_fold(first.locator("td.col-id a"))  # the row starts on the first screen
    assert above_the_fold(first.locator("td.col-page_id a"))  # with the page's headline
    assert_clean(reader)


def test_the_changes_pages_list_them_and_the_diff_names_the_kinds(
        reader: Watched, server: ArchiveServer, archive: Archive) -> None:
    page = reader.page
    reader.visit(server.base + "/archive/changes")
    first_screen(reader, "8-changes-table.png")
    kinds = page.locator("table.rows-and-columns td.col-kinds")  # type: ignore[attr-defined]
    assert kinds.all_inner_texts() == ["headline", "restored", "removed", "body, correction",
                                       "headline, revert", "headline", "headline, body"]
    assert above_the_fold(kinds.first)

    reader.visit(server.base + "/archive/recent_changes")
    first_screen(reader, "9-recent-changes.png")
    kinds = page.locator("table.rows-and-columns td.col-kinds")  # type: ignore[attr-defined]
    assert kinds.all_inner_texts() == ["headline", "restored", "removed", "body, correction", "headline",
                                       "headline, body"]  # not the revert: it is boring
    row = page.locator("table.rows-and-columns tbody tr", has_text="body, correction")  # type: ignore[attr-defined]
    assert above_the_fold(row.locator("td.col-kinds")) and above_the_fold(row.locator("td.col-summary a"))
    with page.expect_navigation(wait_until="networkidle"):  # type: ignore[attr-defined]
        row.locator("td.col-summary a").click()
    assert page.url.endswith(f"/-/diff/{archive.page_ids['tram']}/3/4")  # type: ignore[attr-defined]
    first_screen(reader, "10-diff-with-kinds.png")
    named = page.locator("p.change-kinds .kind")  # type: ignore[attr-defined]
    assert named.all_inner_texts() == ["body", "correction"]
    assert above_the_fold(named.first) and above_the_fold(named.last)
    assert page.locator(".diff-text ins", has_text="Correction:").is_visible()  # type: ignore[attr-defined]
    assert_clean(reader)


def test_the_front_page_leads_to_a_change(reader: Watched, server: ArchiveServer, archive: Archive) -> None:
    page = reader.page
    reader.visit(server.base + "/")
    with page.expect_navigation(wait_until="networkidle"):  # type: ignore[attr-defined]
        page.locator(".front-changes li", has_text="removed").get_by_role("link").click()  # type: ignore[attr-defined]
    assert "/-/change/" in page.url  # type: ignore[attr-defined]
    first_screen(reader, "11-removed.png")
    assert page.locator("p.change-kinds .kind").all_inner_texts() == ["removed"]  # type: ignore[attr-defined]
    assert reader.javascript_links() == 0
    assert_clean(reader)


def test_the_database_page_lists_the_reader_tables_first(reader: Watched, server: ArchiveServer) -> None:
    page = reader.page
    reader.visit(server.base + "/archive")
    first_screen(reader, "12-database.png")
    tables = page.locator(".db-table h3 a").all_inner_texts()  # type: ignore[attr-defined]
    assert tables[:4] == ["snapshots", "changes", "pages", "feeds"]
    assert "_sqlite_migrations" not in tables and "notifications" not in tables
    assert above_the_fold(page.locator(".db-table h3 a", has_text="snapshots"))  # type: ignore[attr-defined]
    assert_clean(reader)

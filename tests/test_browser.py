"""archiver serve in a real browser (Debian's headless chromium, driven by Playwright):
search, read, compare versions, and no script from an archived page ever runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest

from conftest import REPO
from test_serve import QUERIES, TABLES, Archive, ArchiveServer, snapshot_ids

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
SCREENSHOTS = REPO / "artifacts" / "screenshots"


@dataclass
class Watched:
    """A browser tab that records every dialog, page error and CSP violation."""

    page: object
    dialogs: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def visit(self, url: str) -> None:
        self.page.goto(url, wait_until="networkidle")  # type: ignore[attr-defined]

    def javascript_links(self) -> int:
        return int(self.page.eval_on_selector_all(  # type: ignore[attr-defined]
            "a[href]", "links => links.filter(a => a.protocol.toLowerCase() === 'javascript:').length"))


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run tests/browser-deps (as root)")
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def tab(browser: object) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    page.set_default_timeout(20_000)
    watched = Watched(page)

    def on_dialog(dialog: object) -> None:
        watched.dialogs.append(f"{page.url}: {dialog.message}")  # type: ignore[attr-defined]
        dialog.dismiss()  # type: ignore[attr-defined]

    def on_console(message: object) -> None:
        if "Content Security Policy" in message.text:  # type: ignore[attr-defined]
            watched.csp_violations.append(f"{page.url}: {message.text}")  # type: ignore[attr-defined]

    page.on("dialog", on_dialog)
    page.on("console", on_console)
    page.on("pageerror", lambda exc: watched.errors.append(f"{page.url}: {exc}"))
    yield watched
    context.close()


def screenshot(tab: Watched, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab.page.screenshot(path=str(SCREENSHOTS / name), full_page=True)  # type: ignore[attr-defined]


def test_search_read_and_compare(tab: Watched, server: ArchiveServer, archive: Archive) -> None:
    page = tab.page
    tab.visit(server.base + "/archive/snapshots")
    page.fill("input[name=_search]", "Yonhap")  # type: ignore[attr-defined]
    with page.expect_navigation(wait_until="networkidle"):  # type: ignore[attr-defined]
        page.press("input[name=_search]", "Enter")  # type: ignore[attr-defined]
    results = page.locator("table.rows-and-columns tbody tr")  # type: ignore[attr-defined]
    assert results.count() == 1
    screenshot(tab, "1-search-yonhap.png")

    with page.expect_navigation(wait_until="networkidle"):  # type: ignore[attr-defined]
        results.locator("td.col-title").get_by_role(
            "link", name="Kim Jong Un Reportedly Due to Visit Moscow in May").click()
    assert "/-/article/" in page.url  # type: ignore[attr-defined]
    assert page.locator("article .byline").inner_text() == "By Richard Ensor"  # type: ignore[attr-defined]
    original = page.locator("article .original-url a")  # type: ignore[attr-defined]
    assert original.get_attribute("href") == (
        "https://www.themoscowtimes.com/2015/01/13/kim-jong-un-reportedly-due-to-visit-moscow-in-may-a42825")
    assert original.is_visible()
    screenshot(tab, "2-article.png")

    tab.visit(f"{server.base}/-/article/{snapshot_ids(archive, 'budget')[-1]}")
    with page.expect_navigation(wait_until="networkidle"):  # type: ignore[attr-defined]
        page.get_by_role("link", name="changes from version 1").click()  # type: ignore[attr-defined]
    inserted = page.locator(".diff-text ins").all_inner_texts()  # type: ignore[attr-defined]
    deleted = page.locator(".diff-text del").all_inner_texts()  # type: ignore[attr-defined]
    assert "rejected" in inserted and "approved" in deleted
    assert page.locator("h1 ins").inner_text() == "rejects"  # type: ignore[attr-defined]
    assert page.locator(".diff-text ins", has_text="rejected").is_visible()  # type: ignore[attr-defined]
    screenshot(tab, "3-diff.png")
    assert tab.dialogs == [] and tab.csp_violations == [] and tab.errors == []


def test_the_watcher_sees_a_script_that_runs(tab: Watched) -> None:
    tab.page.set_content("<p>control</p><script>alert(1)</script>")  # type: ignore[attr-defined]
    assert tab.dialogs, "a script on a page without our headers should have opened a dialog"


def test_the_csp_alone_would_stop_an_injected_script(tab: Watched, server: ArchiveServer) -> None:
    policy = server.get("/").headers["content-security-policy"]
    probe = server.base + "/-/csp-probe"  # answered by the browser itself, with the server's policy
    tab.page.route(probe, lambda route: route.fulfill(  # type: ignore[attr-defined]
        body="<p>probe</p><script>alert(1)</script><img src=x onerror=alert(2)><svg onload=alert(3)>",
        headers={"content-type": "text/html", "content-security-policy": policy}))
    tab.visit(probe)
    assert tab.dialogs == []
    assert tab.csp_violations, "the policy should have refused the inline scripts"


def test_no_script_from_an_archived_page_runs(tab: Watched, server: ArchiveServer, archive: Archive) -> None:
    hostile = snapshot_ids(archive, "hostile")
    paths = [f"/archive/{table}" for table in TABLES]
    paths += [f"/archive/{query}?url=javascript:alert(1)" for query in QUERIES]
    paths += ["/archive/snapshots?_search=Hostile", "/archive/feeds/4", "/archive/entries/4"]
    paths += [f"/archive/snapshots/{i}" for i in hostile] + [f"/-/article/{i}" for i in hostile]
    paths += [f"/-/diff/{archive.page_ids['hostile']}/1/{len(hostile)}"]
    for path in paths:
        tab.visit(server.base + path)
        assert tab.javascript_links() == 0, path
    screenshot(tab, "4-hostile-diff.png")
    assert tab.dialogs == []
    assert tab.csp_violations == []  # escaping stops the payloads; the CSP never had to
    assert tab.errors == []

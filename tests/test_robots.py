"""robots.txt for article pages (DESIGN.md "Politeness", SECURITY.md test plan item 37)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from archiver.net.fetcher import Fetcher
from archiver.net.robots import MAX_CRAWL_DELAY, RobotsPolicy
from archiver.settings import load_config
from conftest import Response, Site, db_rows, run_cli
from test_fetch import LOREM, article_page


class FakeTime:
    """A monotonic clock and a sleep that only moves it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def robots(tmp_path: Path) -> Iterator[tuple[RobotsPolicy, FakeTime]]:
    config = load_config(environ={"ARCHIVER_ALLOW_NETWORKS": "127.0.0.1/32", "ARCHIVER_PER_HOST_DELAY": "0",
                                  "ARCHIVER_DEADLINE": "2", "ARCHIVER_DB": str(tmp_path / "a.db")})
    clock = FakeTime()
    with Fetcher(config) as fetcher:
        yield RobotsPolicy(fetcher, clock=clock, sleep=clock.sleep), clock


def robots_txt(site: Site, text: str, **kwargs: object) -> None:
    site.route("/robots.txt", text, content_type="text/plain", **kwargs)


def test_rules_allow_and_override(site: Site, robots: tuple[RobotsPolicy, FakeTime]) -> None:
    policy, _ = robots
    robots_txt(site, "User-agent: *\nDisallow: /private\nDisallow: /a\nAllow: /a/open\n")
    refused = policy.refusal(site.url("/private/story"))
    assert refused is not None and refused.error == "robots_disallowed"
    assert "robots.txt disallows" in refused.reason and refused.requested_url == site.url("/private/story")
    assert policy.refusal(site.url("/public/story")) is None
    assert policy.refusal(site.url("/a/open/1")) is None
    assert policy.refusal(site.url("/a/closed")) is not None
    assert site.hits("/robots.txt") == 1  # cached


def test_our_group_wins_over_the_star_group(site: Site, robots: tuple[RobotsPolicy, FakeTime]) -> None:
    policy, _ = robots
    robots_txt(site, "User-agent: archiver\nDisallow: /mine\n\nUser-agent: *\nDisallow: /\n")
    assert policy.refusal(site.url("/mine/1")) is not None
    assert policy.refusal(site.url("/elsewhere")) is None


@pytest.mark.parametrize("status", [404, 403, 410])
def test_4xx_allows_everything(site: Site, robots: tuple[RobotsPolicy, FakeTime], status: int) -> None:
    policy, _ = robots
    robots_txt(site, "User-agent: *\nDisallow: /\n", status=status)
    assert policy.refusal(site.url("/story")) is None


@pytest.mark.parametrize("status", [500, 503, 429])
def test_5xx_disallows_everything_until_it_recovers(site: Site, robots: tuple[RobotsPolicy, FakeTime],
                                                   status: int) -> None:
    """An HTML error page is not "no rules" (Protego alone would allow all)."""
    policy, clock = robots
    site.route("/robots.txt", "<html><body>Internal error</body></html>", status=status)
    refused = policy.refusal(site.url("/story"))
    assert refused is not None and refused.error == "robots_disallowed"
    assert f"HTTP {status}" in refused.reason
    clock.now += 60
    assert policy.refusal(site.url("/story")) is not None
    assert site.hits("/robots.txt") == 1
    robots_txt(site, "User-agent: *\nDisallow: /private\n")
    clock.now += 3600  # an unavailable robots.txt is asked again well within the day
    assert policy.refusal(site.url("/story")) is None
    assert site.hits("/robots.txt") == 2


def test_unreachable_robots_refuses_with_the_network_error(site: Site, robots: tuple[RobotsPolicy, FakeTime]) -> None:
    policy, _ = robots
    site.routes["/robots.txt"] = Response(200, b"User-agent: *\nAllow: /\n", delay=3)  # past the 2 s deadline
    refused = policy.refusal(site.url("/story"))
    assert refused is not None and refused.error in ("deadline", "timeout")
    assert "robots.txt unreachable, page not requested" in refused.reason


def test_cached_for_a_day(site: Site, robots: tuple[RobotsPolicy, FakeTime]) -> None:
    policy, clock = robots
    robots_txt(site, "User-agent: *\nDisallow: /private\n")
    policy.refusal(site.url("/a"))
    clock.now += 24 * 3600 - 1
    policy.refusal(site.url("/b"))
    assert site.hits("/robots.txt") == 1
    clock.now += 2
    policy.refusal(site.url("/c"))
    assert site.hits("/robots.txt") == 2


def test_redirects_followed(site: Site, robots: tuple[RobotsPolicy, FakeTime]) -> None:
    policy, _ = robots
    for hop in range(5):
        site.route("/robots.txt" if hop == 0 else f"/hop{hop}", "", status=301,
                   headers={"Location": f"/hop{hop + 1}"})
    site.route("/hop5", "User-agent: *\nDisallow: /private\n", content_type="text/plain")
    assert policy.refusal(site.url("/private/1")) is not None
    assert policy.refusal(site.url("/public/1")) is None


def test_only_the_first_500_kib_are_parsed(site: Site, robots: tuple[RobotsPolicy, FakeTime]) -> None:
    policy, _ = robots
    filler = "".join(f"# comment line {n:08d} padding padding padding\n" for n in range(200_000))  # ~10 MB
    robots_txt(site, "User-agent: *\nDisallow: /early\n" + filler + "Disallow: /late\n")
    assert policy.refusal(site.url("/early/1")) is not None
    assert policy.refusal(site.url("/late/1")) is None


def test_crawl_delay_is_capped_and_spaces_requests(site: Site, robots: tuple[RobotsPolicy, FakeTime]) -> None:
    policy, clock = robots
    robots_txt(site, "User-agent: *\nCrawl-delay: 86400\n")
    assert policy.refusal(site.url("/1")) is None
    assert policy.refusal(site.url("/2")) is None
    assert policy.refusal(site.url("/3")) is None
    assert clock.slept == [MAX_CRAWL_DELAY, MAX_CRAWL_DELAY]


def test_archiver_fetch_records_the_refusal(site: Site, tmp_path: Path) -> None:
    """End to end: the refused page is never requested, and its capture says why."""
    robots_txt(site, "User-agent: *\nDisallow: /private\n")
    private = site.route("/private/story", article_page("Private", LOREM))
    public = site.route("/story", article_page("Public", LOREM))
    result = run_cli("fetch", private, public)
    assert result.code == 1
    assert "robots_disallowed" in next(line for line in result.out.splitlines() if private in line)
    assert site.hits("/private/story") == 0 and site.hits("/story") == 1
    assert db_rows(tmp_path / "archive.db", "SELECT error FROM captures WHERE requested_url = ?",
                   (private,)) == [("robots_disallowed",)]
    ignoring = run_cli("fetch", private, env={"ARCHIVER_OBEY_ROBOTS": "false"})
    assert ignoring.code == 0 and site.hits("/private/story") == 1, ignoring


def test_redirect_targets_are_checked_too(site: Site, tmp_path: Path) -> None:
    """A page whose own URL is allowed but which redirects into a disallowed path: the target is
    never requested, and the capture keeps the hop and the reason."""
    robots_txt(site, "User-agent: *\nDisallow: /private\n")
    site.route("/private/story", article_page("Private", LOREM))
    start = site.route("/go", "", status=302, headers={"Location": "/private/story"})
    result = run_cli("fetch", start)
    assert result.code == 1 and "robots_disallowed" in result.out, result
    assert site.hits("/go") == 1 and site.hits("/private/story") == 0
    rows = db_rows(tmp_path / "archive.db", "SELECT error, final_url, redirects FROM captures")
    assert len(rows) == 1 and rows[0][0] == "robots_disallowed"
    assert rows[0][1] == start and "/private/story" in rows[0][2]


def test_a_redirect_to_another_host_asks_that_host(site: Site, tmp_path: Path) -> None:
    """A redirector's robots.txt allows everything; the publisher it sends to disallows us: the
    publisher's page is not requested. An allowed target on that host is archived."""
    other = Site(host="127.0.0.2")
    try:
        robots_txt(other, "User-agent: archiver\nDisallow: /closed\n")
        other.route("/closed/story", article_page("Closed", LOREM))
        other.route("/open/story", article_page("Open", LOREM))
        closed = site.route("/r1", "", status=301, headers={"Location": other.url("/closed/story")})
        opened = site.route("/r2", "", status=301, headers={"Location": other.url("/open/story")})
        result = run_cli("fetch", closed, opened, env={"ARCHIVER_ALLOW_NETWORKS": "127.0.0.0/24"})
        assert result.code == 1, result
        lines = result.out.splitlines()
        assert "robots_disallowed" in next(line for line in lines if closed in line)
        assert "new snapshot" in next(line for line in lines if opened in line)
        assert other.hits("/closed/story") == 0 and other.hits("/open/story") == 1
        assert other.hits("/robots.txt") == 1
    finally:
        other.close()

"""Build a full-size archive for the scale benchmarks, through the project's own store functions.

    python bench/build_big_archive.py big.db                 # 100,000 feeds: the full size
    python bench/build_big_archive.py small.db --scale 0.01  # 1,000 feeds, same shape

At scale 1 the archive holds 100,000 feeds on 10,000 sites, 2,000,000 entries, 1,000,000 pages,
about 1,000,000 snapshots and 3,000,000 captures, shaped as a real archive is after months:
- every site has its own HTML template (navigation, a cookie banner, a newsletter box, "most
  read" links, a footer, about 12 kB) around articles written from a vocabulary of a few
  thousand words, so bodies repeat what real sites repeat and are not random bytes;
- each page is in two of its site's feeds (two entries), was fetched once (a capture, a body and
  a snapshot), re-checked once unchanged (a capture with the same body), and one page in ten
  was edited later (a third capture, a new body, a second snapshot);
- each feed was fetched once with its document and answered 304 to eight later polls.

Rows are written by ``archiver.store.db``'s functions (``ensure_page``, ``save_body``,
``save_capture``, ``insert_snapshot``, ``insert_row``, ``update_row``) and by
``archiver.jobs.subscriptions.subscribe`` in transactions of one site each; bodies are
compressed as the page save path compresses them (against the page's previous body, else
against another page of the site). Snapshot text is written from the same words instead of
being extracted: extracting a million pages would take hours and measure the extractor, not
the archive. Nothing is due when the build ends: every feed and page has its next check in the
future, as in an archive the daemon keeps up to date.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).resolve().parents[1])]

from archiver.jobs.pages import content_fingerprint  # noqa: E402
from archiver.net.fetcher import FetchResult  # noqa: E402
from archiver.store.db import (body_reference, ensure_page, insert_row, insert_snapshot, iso,  # noqa: E402
                               open_db, save_body, save_capture, transaction, update_row)

FEEDS_PER_SITE = 10
PAGES_PER_SITE = 100
ENTRIES_PER_PAGE = 2
FEED_POLLS_304 = 8
EDITED_SHARE = 10  # one page in ten has a second version
START = datetime(2026, 6, 1, tzinfo=timezone.utc)
WORDS = ("the of and to in a is that for it as was with be by on not he this are or his from at which but have "
         "an they you were her she there been one all we their has would when if so no will more can who said "
         "council minister election market report city police court government budget energy health school "
         "water river bridge village museum festival company bank workers union strike vote party leader "
         "crisis talks agreement border army ministry official statement inquiry evidence witness trial "
         "judge verdict appeal prison climate flood storm harvest farmers prices inflation growth exports "
         "museum gallery concert theatre novel author painter season league match coach players stadium "
         "hospital doctors patients vaccine research study university students teachers exam railway "
         "station airport flight tram road traffic accident fire rescue volunteers charity mayor district "
         "residents neighbours protest march square park library church mosque temple harbour ship").split()


@dataclass
class Site:
    """One site: its host, its template and its writing habits."""

    number: int
    rng: random.Random = field(repr=False)

    @property
    def host(self) -> str:
        return f"news{self.number:05d}.example"

    def template(self) -> tuple[str, str]:
        """The HTML before and after a site's article: the same on every page of the site."""
        rng = random.Random(self.number)
        nav = "".join(f'<li><a href="/section/{w}">{w.title()}</a></li>' for w in rng.sample(WORDS, 24))
        most_read = "".join(f'<li><a href="/{rng.randint(1, 10**6)}">{_sentence(rng, 9)}</a></li>'
                            for _ in range(10))
        footer = "".join(f"<p>{_sentence(rng, 25)}</p>" for _ in range(6))
        head = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{{title}} | News {self.number}'
                f'</title><link rel="stylesheet" href="/static/site.{self.number}.css"><script src="/static/app.js">'
                f'</script></head><body><header><div class="cookie-banner">We use cookies to improve your '
                f'experience. <button>Accept</button></div><nav><ul>{nav}</ul></nav></header><main>')
        tail = (f'</main><aside><h2>Most read</h2><ol>{most_read}</ol><div class="newsletter">Sign up for '
                f'our free weekly newsletter<input type="email"><button>Subscribe</button></div></aside>'
                f'<footer>{footer}<p>Copyright 2026 News {self.number}</p></footer></body></html>')
        return head, tail


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def article(rng: random.Random) -> tuple[str, list[str]]:
    """A title and paragraphs, from the vocabulary."""
    title = _sentence(rng, rng.randint(6, 12)).rstrip(".")
    return title, [_sentence(rng, rng.randint(25, 60)) for _ in range(rng.randint(6, 14))]


def page_html(template: tuple[str, str], title: str, paragraphs: list[str], stamp: str) -> bytes:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    head, tail = template
    return (head.replace("{title}", title) + f'<article><h1>{title}</h1><time datetime="{stamp}">{stamp}'
            f"</time>{body}</article>" + tail).encode()


def feed_xml(host: str, items: list[tuple[str, str, str]]) -> bytes:
    entries = "".join(f"<item><title>{t}</title><link>{u}</link><guid>{u}</guid><pubDate>{d}</pubDate></item>"
                      for t, u, d in items)
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{host}</title>'
            f"<link>https://{host}/</link>{entries}</channel></rss>").encode()


def exchange(url: str, at: datetime, status: int, body: bytes | None, content_type: str) -> FetchResult:
    """A FetchResult as the fetcher records one."""
    headers = {"content-type": content_type, "etag": f'"{hashlib.md5(body or b"").hexdigest()[:16]}"'}
    return FetchResult(requested_url=url, final_url=url, status=status, headers=headers, redirects=(),
                       started_at=iso(at), elapsed_ms=40 + at.second, body=body,
                       request_headers={"User-Agent": "archiver/0.1.0 (+bench)", "Accept": "*/*"})


def build_site(db: Any, site: Site, feed_ids: list[int]) -> dict[str, int]:
    """Every page, entry, capture, body and snapshot of one site, in one transaction."""
    rng, template, counts = site.rng, site.template(), {"captures": 0, "snapshots": 0, "entries": 0}
    items: dict[int, list[tuple[str, str, str]]] = {feed_id: [] for feed_id in feed_ids}
    with transaction(db):
        for number in range(PAGES_PER_SITE):
            url = f"https://{site.host}/{2026}/{rng.randint(1, 12):02d}/story-{site.number}-{number}"
            seen = START + timedelta(minutes=rng.randint(0, 180 * 24 * 60))
            title, paragraphs = article(rng)
            page_id = ensure_page(db, url, iso(seen))
            versions = [(seen, title, paragraphs)]
            if rng.randrange(EDITED_SHARE) == 0:
                versions.append((seen + timedelta(hours=rng.randint(1, 48)), title + " (updated)",
                                 paragraphs + [_sentence(rng, 30)]))
            last_at = _save_versions(db, page_id, url, template, versions, counts)
            update_row(db, "pages", page_id, {
                "last_checked_at": iso(last_at), "last_status": 200, "last_changed_at": iso(versions[-1][0]),
                "next_check_at": iso(last_at + timedelta(days=rng.randint(30, 365)))})
            for feed_id in rng.sample(feed_ids, ENTRIES_PER_PAGE):
                items[feed_id].append((title, url, iso(seen)))
        for feed_id, entries in items.items():
            counts["captures"] += _save_feed(db, site, feed_id, entries)
            counts["entries"] += len(entries)
    return counts


def _save_versions(db: Any, page_id: int, url: str, template: tuple[str, str],
                   versions: list[tuple[datetime, str, list[str]]], counts: dict[str, int]) -> datetime:
    """Fetch, unchanged re-check, and any later version, as captures, bodies and snapshots."""
    at = versions[0][0]
    for number, (at, title, paragraphs) in enumerate(versions):
        body = page_html(template, title, paragraphs, iso(at))
        for recheck in (0, 1) if number == 0 else (0,):
            moment = at + timedelta(hours=3 * recheck)
            fetched = exchange(url, moment, 200, body, "text/html; charset=utf-8")
            sha = save_body(db, fetched, body_reference(db, page_id, url))
            capture_id = save_capture(db, fetched, "page", page_id=page_id, body_sha256=sha,
                                      outcome="unchanged" if recheck else "new_snapshot")
            update_row(db, "pages", page_id, {"last_body_sha256": sha, "etag": fetched.headers["etag"]})
            counts["captures"] += 1
            if not recheck:
                text = "\n".join(paragraphs)
                insert_snapshot(db, page_id, {
                    "capture_id": capture_id, "captured_at": fetched.started_at,
                    "content_sha256": content_fingerprint(title, text), "title": title,
                    "sitename": url.split("/")[2], "hostname": url.split("/")[2], "language": "en",
                    "published": iso(versions[0][0])[:10], "text": text, "canonical_url": url,
                    "categories": "[]", "tags": "[]", "extractor": "trafilatura 2.3.1 (bench)",
                    "metadata_sources": json.dumps({"published": "page"})}, changed_at=fetched.started_at)
                counts["snapshots"] += 1
    return at + timedelta(hours=3)


def _save_feed(db: Any, site: Site, feed_id: int, items: list[tuple[str, str, str]]) -> int:
    """The feed's first fetch (its entries) and eight 304s since; returns the captures written."""
    url = f"https://{site.host}/feeds/{feed_id}.xml"
    at = START + timedelta(days=180)
    fetched = exchange(url, at, 200, feed_xml(site.host, items), "application/rss+xml")
    sha = save_body(db, fetched)
    capture_id = save_capture(db, fetched, "feed", outcome="parsed", feed_id=feed_id, body_sha256=sha)
    for title, link, published in items:
        insert_row(db, "entries", {
            "feed_id": feed_id, "guid": link, "page_id": db.execute(
                "SELECT page_id FROM page_urls WHERE url = ?", [link]).fetchone()[0],
            "link": link, "title": title, "published": published, "published_raw": published,
            "first_seen_at": iso(at), "capture_id": capture_id, "categories": "[]"})
    for poll in range(1, FEED_POLLS_304 + 1):
        save_capture(db, exchange(url, at + timedelta(hours=poll), 304, None, "application/rss+xml"),
                     "feed", outcome="not_modified", feed_id=feed_id)
    update_row(db, "feeds", feed_id, {
        "title": site.host, "site_url": f"https://{site.host}/", "etag": fetched.headers["etag"],
        "last_checked_at": iso(at + timedelta(hours=FEED_POLLS_304)), "last_status": 304,
        "last_body_sha256": sha, "entry_count": len(items), "last_new_entry_at": iso(at),
        "next_check_at": iso(at + timedelta(days=3650))})
    return 1 + FEED_POLLS_304


def build(path: Path, feeds: int) -> dict[str, Any]:
    from archiver.jobs.subscriptions import subscribe

    db = open_db(path)
    db.execute("PRAGMA cache_size = -200000")  # 200 MB of page cache while building
    sites = max(1, feeds // FEEDS_PER_SITE)
    started, cpu = time.monotonic(), time.process_time()
    totals = {"captures": 0, "snapshots": 0, "entries": 0}
    for number in range(sites):
        site = Site(number, random.Random(number))
        feed_ids = []
        for feed in range(FEEDS_PER_SITE):
            url = f"https://{site.host}/feeds/{number * FEEDS_PER_SITE + feed + 1}.xml"
            subscribe(db, url, "bench", START)
            feed_ids.append(db.execute("SELECT id FROM feeds WHERE url = ?", [url]).fetchone()[0])
        for key, value in build_site(db, site, feed_ids).items():
            totals[key] += value
        if number % 500 == 499:
            rate = (number + 1) / (time.monotonic() - started)
            print(f"  {number + 1:,} of {sites:,} sites, {rate:.1f} sites/s, "
                  f"about {(sites - number - 1) / rate / 60:.0f} min left", file=sys.stderr, flush=True)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.execute("PRAGMA optimize")
    return {"sites": sites, **{t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                               for t in ("feeds", "entries", "pages", "snapshots", "captures", "bodies")},
            "seconds": time.monotonic() - started, "cpu_seconds": time.process_time() - cpu,
            "bytes": path.stat().st_size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path, help="the archive to create (must not exist)")
    parser.add_argument("--scale", type=float, default=1.0, help="1 = 100,000 feeds; 0.01 = 1,000")
    args = parser.parse_args()
    if args.path.exists():
        raise SystemExit(f"{args.path} exists: the build starts from nothing")
    report = build(args.path, max(FEEDS_PER_SITE, int(100_000 * args.scale)))
    print(json.dumps(report, indent=2))
    print(f"built in {report['seconds'] / 60:.1f} min ({report['cpu_seconds'] / 60:.1f} min CPU), "
          f"{report['bytes'] / 1e9:.2f} GB")


if __name__ == "__main__":
    main()

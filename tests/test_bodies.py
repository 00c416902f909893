"""Issue 13, body storage: a body that repeats most of another's bytes is compressed against it,
names it, and reads back byte for byte, as do bodies stored by earlier versions."""

from __future__ import annotations

import gzip
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zstandard

from archiver.jobs.pages import PageJob
from archiver.store.db import MAX_CHAIN, compress_body, load_body, open_db, save_body
from conftest import CORPUS, Clock, Site, db_rows

PAGE = gzip.decompress(next((CORPUS / "articles" / "scrapinghub-aeb" / "html").glob("*.html.gz")).read_bytes())


def _with_stamp(page: bytes, n: int) -> bytes:
    """The page as a re-check finds it: a new timestamp, ad slot and nonce, the rest the same."""
    stamp = f'<!-- generated 2026-12-06T{n:02d}:00:00Z --><div id="ad-slot-{n * 7919 % 1000}"></div>' \
            f'<script nonce="n{n * 104729:x}"></script>'.encode()
    return page.replace(b"</body>", stamp + b"</body>", 1) if b"</body>" in page else page + stamp


def _fetch(session: Any, url: str) -> None:
    outcomes = list(session.run([PageJob(session, url)]))
    assert outcomes and not outcomes[0].failed, outcomes


def _read_afresh(path: Path | str, hashes: list[str]) -> list[bytes | None]:
    """The bodies as another thread reads them through its own connection: the writer's cache
    of recent bodies is per thread, so every body is decompressed from the archive."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: [load_body(open_db(path), h) for h in hashes]).result()


def _bodies(db: Path) -> list[tuple[Any, ...]]:
    return db_rows(db, "SELECT b.sha256, b.encoding, b.dict_sha256, b.chain, length(b.data), b.size "
                       "FROM captures c JOIN bodies b ON b.sha256 = c.body_sha256 ORDER BY c.id")


def test_rechecks_are_compressed_against_the_previous_body(
        site: Site, clocked_session: tuple[Any, Clock]) -> None:
    session, clock = clocked_session
    served = [_with_stamp(PAGE, n) for n in range(MAX_CHAIN + 3)]
    url = site.url("/story")
    for body in served:
        site.route("/story", body)
        _fetch(session, url)
        clock.advance(3600)
    rows = _bodies(Path(session.config.db))
    assert [r[1] for r in rows] == ["zstd"] + ["zstd-dict"] * MAX_CHAIN + ["zstd", "zstd-dict"]
    assert [r[3] for r in rows] == [0, *range(1, MAX_CHAIN + 1), 0, 1]
    for previous, row in zip(rows, rows[1:]):
        if row[1] == "zstd-dict":
            assert row[2] == previous[0]  # each names the body it was compressed against
    assert _read_afresh(session.config.db, [r[0] for r in rows]) == served
    plain = len(compress_body(served[1])[1])
    assert max(r[4] for r in rows if r[1] == "zstd-dict") * 10 < plain


def test_a_new_page_is_compressed_against_its_site(site: Site, clocked_session: tuple[Any, Clock]) -> None:
    session, _ = clocked_session
    first, second = _with_stamp(PAGE, 1), _with_stamp(PAGE.replace(b"<title>", b"<title>Another: "), 2)
    _fetch(session, site.route("/a", first))
    _fetch(session, site.route("/b", second))
    rows = _bodies(Path(session.config.db))
    assert [(r[1], r[2]) for r in rows] == [("zstd", None), ("zstd-dict", rows[0][0])]
    assert _read_afresh(session.config.db, [rows[1][0]]) == [second]


@dataclass(frozen=True)
class Fetched:
    """What save_body reads of a FetchResult."""

    body: bytes
    body_sha256: str
    media_type: str = "text/html"


def test_bodies_of_earlier_versions_still_load_and_serve_as_references(tmp_path: Path) -> None:
    """Bodies written before references existed (zstd, and gzip before that; no dict_sha256,
    no chain) read as before, and a new body compressed against one of them reads back too."""
    db = open_db(tmp_path / "archive.db")
    old = _with_stamp(PAGE, 1)
    for sha, encoding, data in (("a" * 64, "zstd", zstandard.ZstdCompressor().compress(old)),
                                ("b" * 64, "gzip", gzip.compress(old))):
        db.execute("INSERT INTO bodies (sha256, size, media_type, encoding, data) VALUES (?, ?, ?, ?, ?)",
                   [sha, len(old), "text/html", encoding, data])
    assert _read_afresh(tmp_path / "archive.db", ["a" * 64, "b" * 64]) == [old, old]
    new = Fetched(_with_stamp(PAGE, 2), "c" * 64)
    assert save_body(db, new, reference="b" * 64) == "c" * 64
    assert db.execute("SELECT encoding, dict_sha256, chain FROM bodies WHERE sha256 = ?",
                      ["c" * 64]).fetchall() == [("zstd-dict", "b" * 64, 1)]
    assert _read_afresh(tmp_path / "archive.db", ["c" * 64]) == [new.body]

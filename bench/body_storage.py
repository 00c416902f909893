"""How much smaller bodies get when each is compressed against the body it repeats.

    python bench/body_storage.py                 # every corpus page, 8 re-checks each
    python bench/body_storage.py --rechecks 4 --pages 100

Every page of ../shared/corpus/articles is stored as a real archive would see it: first fetched
(a new page of its site), then re-checked ``--rechecks`` times, each time with a small change (a
timestamp, an ad slot, a nonce, and every third time a new paragraph). Two archives take the same
bodies through ``archiver.store.db.save_body`` in the same run: the baseline passes no reference,
as every body was stored before (one zstd frame per body); the other passes the reference the
page save path chooses (``body_reference``: the page's last body, else another page of its site).
It prints the stored bytes of both and their ratio, overall and for first fetches and re-checks
apart, the CPU a body costs to store and to read back, and checks every body reads back intact.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1])]

from archiver.store.db import (body_reference, ensure_page, load_body, open_db, save_body,  # noqa: E402
                               transaction, update_row)

SHARED = Path(__file__).resolve().parents[2] / "shared"
CORPUS = SHARED / "corpus" / "articles"
MOSCOW = SHARED / "fixtures" / "moscowtimes"


@dataclass(frozen=True)
class Body:
    body: bytes
    media_type: str = "text/html"

    @property
    def body_sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


def corpus_pages(limit: int | None) -> list[tuple[str, bytes]]:
    pages = []
    for line in (CORPUS / "manifest.jsonl").read_text().splitlines():
        item = json.loads(line)
        raw = (CORPUS.parent / item["html"]).read_bytes()
        url = item.get("url") or f"http://fakehost/{item['source']}/{item['id']}"
        pages.append((url, gzip.decompress(raw) if item.get("html_gzip") else raw))
    return pages[:limit]


def one_site() -> list[tuple[str, bytes]]:
    """The Moscow Times pages: three articles in one site's template."""
    return [(f"https://www.themoscowtimes.com/{path.stem}", path.read_bytes())
            for path in sorted(MOSCOW.glob("*.html"))]


def recheck(page: bytes, n: int) -> bytes:
    """The page as its n-th re-check finds it: small changes in an otherwise identical page."""
    extra = f'<!-- rendered 2026-12-06T{n % 24:02d}:{n * 7 % 60:02d}:00Z --><div id="ad-{n * 7919 % 10007}">' \
            f'</div><script nonce="{hashlib.sha1(bytes([n])).hexdigest()[:16]}"></script>'
    if n % 3 == 0:
        extra += f"<p>Update {n}: this story has been updated with new information.</p>"
    marker = b"</body>" if b"</body>" in page else b""
    return page.replace(marker, extra.encode() + marker, 1) if marker else page + extra.encode()


def store(path: Path, pages: list[tuple[str, bytes]], rechecks: int, references: bool) -> dict[str, float]:
    db = open_db(path)
    sizes = {"first": 0, "rechecks": 0}
    stored: list[tuple[str, bytes]] = []
    started = time.process_time()
    for url, page in pages:
        with transaction(db):
            page_id = ensure_page(db, url, "2026-12-06T00:00:00+00:00")
        for n in range(rechecks + 1):
            body = Body(page if n == 0 else recheck(page, n))
            with transaction(db):
                reference = body_reference(db, page_id, url) if references else None
                sha = save_body(db, body, reference)
                update_row(db, "pages", page_id, {"last_body_sha256": sha})
            stored.append((sha, body.body))
    store_cpu = time.process_time() - started
    for (sha, _), n in zip(stored, [n for _ in pages for n in range(rechecks + 1)]):
        size = db.execute("SELECT length(data) FROM bodies WHERE sha256 = ?", [sha]).fetchone()[0]
        sizes["first" if n == 0 else "rechecks"] += size
    started = time.process_time()
    fresh = open_db(path)
    intact = all(load_body(fresh, sha) == body for sha, body in reversed(stored))
    read_cpu = time.process_time() - started
    if not intact:
        raise SystemExit("a body did not read back byte for byte")
    return {**sizes, "total": sizes["first"] + sizes["rechecks"], "bodies": len(stored),
            "raw": sum(len(b) for _, b in stored), "store_ms": 1000 * store_cpu / len(stored),
            "read_ms": 1000 * read_cpu / len(stored)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rechecks", type=int, default=8)
    parser.add_argument("--pages", type=int, default=None)
    args = parser.parse_args()
    for label, pages in (("corpus pages", corpus_pages(args.pages)), ("pages of one site", one_site())):
        with tempfile.TemporaryDirectory() as tmp:
            base = store(Path(tmp) / "baseline.db", pages, args.rechecks, references=False)
            new = store(Path(tmp) / "references.db", pages, args.rechecks, references=True)
        print(f"\n{len(pages)} {label} x {args.rechecks + 1} captures = {base['bodies']} bodies, "
              f"{base['raw'] / 1e6:.1f} MB as served")
        report(base, new)


def report(base: dict[str, float], new: dict[str, float]) -> None:
    print(f"{'':18}{'per-body zstd':>16}{'with references':>18}{'ratio':>8}")
    for part in ("total", "first", "rechecks"):
        print(f"{part:18}{base[part] / 1e3:>13,.0f} kB{new[part] / 1e3:>15,.0f} kB"
              f"{base[part] / max(new[part], 1):>7.1f}x")
    for part, label in (("store_ms", "CPU to store, ms/body"), ("read_ms", "CPU to read, ms/body")):
        print(f"{label:30}{base[part]:>8.2f}{new[part]:>14.2f}")


if __name__ == "__main__":
    main()

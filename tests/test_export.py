"""Issue 11, item 4: `archiver export jsonl` and `archiver export markdown`, the articles out in
the shapes `archiver show --json` and `archiver show` print, from an archive made by real fetches."""

from __future__ import annotations

import json
import os
import unicodedata
from pathlib import Path

from archiver.content.render import snapshot_filename
from conftest import Site, assert_clean_error, db_rows, run_cli
from test_fetch import LOREM, article_page

CHANGED = LOREM[:2] + ["The vote was postponed indefinitely after the mayor withdrew her support "
                       "for all three designs, citing the cost of the consultation."]


def three_pages_four_versions(site: Site) -> list[str]:
    """Three archived pages; the first changed once, so it has two versions."""
    urls = [site.route(f"/news/{name}", article_page(f"The {name} story", LOREM + [f"Only {name} says this."]))
            for name in ("crossing", "budget", "harbour")]
    assert run_cli("fetch", *urls).code == 0
    site.route("/news/crossing", article_page("The crossing story", CHANGED))
    assert "new snapshot" in run_cli("fetch", urls[0]).out
    return urls


def shown(url: str, *args: str) -> str:
    result = run_cli("show", url, *args)
    assert result.code == 0, result
    return result.out


def test_jsonl_is_show_json_one_line_each(site: Site, tmp_path: Path) -> None:
    urls = three_pages_four_versions(site)
    every = run_cli("export", "jsonl")
    assert every.code == 0, every
    lines = every.out.splitlines()
    assert len(lines) == 4
    expected = [json.loads(shown(url, "--json", "--version", str(v)))
                for url, v in ((urls[0], 1), (urls[0], 2), (urls[1], 1), (urls[2], 1))]
    assert sorted(map(json.loads, lines), key=lambda d: d["id"]) == sorted(expected, key=lambda d: d["id"])

    latest = run_cli("export", "jsonl", "--latest")
    assert sorted(map(json.loads, latest.out.splitlines()), key=lambda d: d["id"]) == \
        sorted((json.loads(shown(url, "--json")) for url in urls), key=lambda d: d["id"])

    out = tmp_path / "articles.jsonl"
    to_file = run_cli("export", "jsonl", "-o", str(out))
    assert to_file.code == 0 and to_file.out == ""
    assert "4 snapshots written to" in to_file.err
    assert out.read_text(encoding="utf-8") == every.out
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".articles")] == []  # no temp file left


def test_markdown_files_are_show_named_by_site_and_path(site: Site, tmp_path: Path) -> None:
    urls = three_pages_four_versions(site)
    out = tmp_path / "md"
    result = run_cli("export", "markdown", str(out))
    assert result.code == 0, result
    assert result.out == f"4 files written under {out}\n"
    site_dir = f"127.0.0.1_{site.port}"
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert len(files) == 4 and all(f.startswith(site_dir + "/") for f in files)
    for url, version in ((urls[0], 1), (urls[0], 2), (urls[1], 1), (urls[2], 1)):
        name = snapshot_filename(url, version)
        assert name.startswith(f"{site_dir}/news-") and name.endswith(f".v{version}.md")
        assert (out / name).read_text(encoding="utf-8") == shown(url, "--version", str(version))

    latest = run_cli("export", "markdown", str(tmp_path / "latest"), "--latest", "--json")
    assert json.loads(latest.out)["files"] == 3
    for url in urls:
        assert (tmp_path / "latest" / snapshot_filename(url)).read_text(encoding="utf-8") == shown(url)

    again = run_cli("export", "markdown", str(out))  # a second export replaces the same files
    assert again.code == 0 and len([p for p in out.rglob("*") if p.is_file()]) == 4


HOSTILE_PATHS = [
    "/a/%2e%2e/%2e%2e/%2e%2e/escaped-by-dots",
    "/..%2f..%2f..%2fescaped-by-slashes",
    "/news/../../../../escaped-plainly",
    "/line%0abreak%0d%09tab%00nul",
    "/%E2%80%AEfdp.exe",
    "/.hidden",
    "/" + "long-" * 120,
    "/p?next=../../../../escaped-by-query&x=%2f%2e%2e",
    "/C:%5cWindows%5cescaped-windows",
]


def archive_hostile_pages(site: Site) -> list[str]:
    """Archive a page at each hostile path: whatever path the server is asked for (the client
    may normalise what the archive keeps as the page's URL) serves an article."""
    for n, path in enumerate(HOSTILE_PATHS):
        url = site.url(path)
        run_cli("fetch", url)  # 404: learn the path as the server receives it
        site.route(site.requests[-1].path, article_page(f"Hostile page {n}", LOREM + [f"Page {n} is hostile."]))
        fetched = run_cli("fetch", url)
        assert "new snapshot" in fetched.out, (path, fetched)
    return [row[0] for row in db_rows("archive.db", "SELECT url FROM pages p WHERE snapshot_count > 0")]


def test_hostile_urls_cannot_escape_the_directory(site: Site, tmp_path: Path) -> None:
    pages = archive_hostile_pages(site)
    assert len(pages) == len(HOSTILE_PATHS)
    assert any("/../" in url for url in pages) and any("%2e%2e" in url for url in pages)
    around = tmp_path / "around"
    out = around / "md"
    before = set(tmp_path.rglob("*"))
    for args in ((), ("--latest",)):
        result = run_cli("export", "markdown", str(out), *args)
        assert result.code == 0, result
    written = [p for p in out.rglob("*") if p.is_file()]
    assert len(written) == 2 * len(pages)  # no two pages share a file
    assert set(tmp_path.rglob("*")) - before - set(out.rglob("*")) == {around, out}  # nothing beside DIR
    for path in written:
        relative = path.relative_to(out)
        assert len(relative.parts) == 2 and path.resolve().is_relative_to(out.resolve())
        for part in relative.parts:
            assert part not in (".", "..") and not part.startswith(".")
            assert not any(unicodedata.category(c).startswith("C") for c in part), part
            assert len(part.encode("utf-8")) <= 255


def test_filenames_are_safe_for_any_url() -> None:
    """URLs the fetcher would never keep, as an archive imported from elsewhere might hold."""
    for url in ["http://x/../../../etc/passwd", "/etc/passwd", "file:///etc/passwd", "", "..",
                "http://../..", "http://[::1]:8080/x", "http://x/\x00\n\x1b[31m", "http://x/a/..",
                "http://x:bad/p", "http://x/" + "é" * 400, "http://x/%2F..%2F..%2Froot",
                "http://x/\u202egpj.exe", "http://x/?" + "q" * 600]:
        for version in (None, 7):
            name = snapshot_filename(url, version)
            parts = name.split("/")
            assert len(parts) == 2 and not os.path.isabs(name), (url, name)
            for part in parts:
                assert part and part not in (".", "..") and not part.startswith("."), (url, name)
                assert ".." not in part and "\\" not in part, (url, name)
                assert not any(unicodedata.category(c).startswith("C") for c in part), (url, name)
                assert len(part.encode("utf-8")) <= 200, (url, name)
            assert name.endswith(".v7.md" if version else ".md")
    assert snapshot_filename("http://x/a?b") != snapshot_filename("http://x/a-b")


def test_export_errors_are_one_line(tmp_path: Path) -> None:
    assert_clean_error(run_cli("export", "jsonl"), "no archive")
    assert not (tmp_path / "archive.db").exists()
    (tmp_path / "file").write_text("x")
    db = tmp_path / "real.db"
    run_cli("watch", "http://127.0.0.1:9/x", "--db", str(db))
    assert_clean_error(run_cli("export", "markdown", str(tmp_path / "file"), "--db", str(db)), "file")
    assert_clean_error(run_cli("export", "markdown", str(tmp_path / "file" / "sub"), "--db", str(db)),
                       "cannot write")
    assert_clean_error(run_cli("export", "jsonl", "-o", str(tmp_path / "file" / "x"), "--db", str(db)),
                       "cannot write")

"""Issue 2: archive a page end to end with `archiver fetch` and read it back with `archiver show`."""

from __future__ import annotations

import gzip
import json
import re
import socket
import subprocess
import sys
from pathlib import Path

from archiver.jobs.pages import content_fingerprint
from archiver.store.db import load_body, open_db
from conftest import MOSCOW, Site, assert_clean_error, db_rows, moscow_site, run_cli

ARTICLE_PATH = "/2015/01/13/kim-jong-un-reportedly-due-to-visit-moscow-in-may-a42825"
CANONICAL = "https://www.themoscowtimes.com" + ARTICLE_PATH


def expected_paragraphs() -> list[str]:
    """The body paragraphs of expected.md (between the date line and 'Original url:')."""
    lines = [l.strip() for l in (MOSCOW / "expected.md").read_text(encoding="utf-8").splitlines()]
    body = lines[lines.index("January 13, 2015") + 1: lines.index("Original url:")]
    return [l.replace("\\$", "$") for l in body if l]


def count(db: Path, table: str) -> int:
    return db_rows(db, f"SELECT count(*) FROM {table}")[0][0]


def article_page(title: str, paragraphs: list[str]) -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (f"<html><head><title>{title}</title></head><body><nav>Home | World | Sport</nav>"
            f"<article><h1>{title}</h1>{body}</article><footer>Copyright</footer></body></html>")


LOREM = [
    "The committee met on Tuesday to discuss the future of the river crossing, a project that "
    "has been debated for more than a decade by residents and officials alike.",
    "Engineers presented three designs, each with a different cost and a different impact on the "
    "old quarter, and the members asked for more time to study the environmental reports.",
    "A final vote is expected next month, after a public consultation that will run for six weeks "
    "and include meetings in every district of the city.",
]


def test_moscow_times_article_round_trip(site: Site, tmp_path: Path) -> None:
    """Done-when 1: fetch with utm_ parameters, show gives title, byline, date, paragraphs, URL."""
    urls = moscow_site(site)
    fetched = run_cli("fetch", urls["article"] + "?utm_source=rss&utm_medium=feed")
    assert fetched.code == 0, fetched
    assert "new snapshot" in fetched.out

    shown = run_cli("show", urls["article"] + "?utm_campaign=x#comments")
    assert shown.code == 0, shown
    text = shown.out
    assert text.startswith("# Kim Jong Un Reportedly Due to Visit Moscow in May\n")
    assert "Richard Ensor" in text
    assert "January 13, 2015" in text
    position = 0
    for paragraph in expected_paragraphs():
        found = text.find(paragraph, position)
        assert found >= 0, f"missing or out of order: {paragraph[:60]}"
        position = found + len(paragraph)
    assert f"<{CANONICAL}>" in text
    page_html = (MOSCOW / "article.html").read_text(encoding="utf-8")
    for clutter in ("cookie", "Subscribe", "Share", "Related", "All rights reserved"):
        if clutter in page_html:
            assert clutter not in text, clutter


def test_archive_is_one_file_once_the_command_is_done(site: Site, tmp_path: Path) -> None:
    """The command leaves without the interpreter's teardown, but closes the database first: the
    write-ahead log is folded into archive.db, so a copy of that one file holds everything."""
    urls = moscow_site(site)
    assert run_cli("fetch", urls["article"]).code == 0
    assert run_cli("show", urls["article"]).code == 0
    assert sorted(p.name for p in tmp_path.glob("archive.db*")) == ["archive.db"]
    copy = tmp_path / "elsewhere" / "copy.db"
    copy.parent.mkdir()
    copy.write_bytes((tmp_path / "archive.db").read_bytes())
    assert db_rows(copy, "SELECT count(*) FROM snapshots")[0][0] == 1


def test_output_into_a_closed_pipe_is_not_an_error(site: Site, tmp_path: Path) -> None:
    """`archiver show URL | head -c 10` of an article longer than a pipe holds: the reader leaves
    early, the command's writes fail, and it ends without a traceback."""
    paragraphs = [f"{LOREM[n % 3]} (Part {n}.)" for n in range(1500)]  # about 250 KB of text
    url = site.route("/long", article_page("A very long report", paragraphs))
    assert run_cli("fetch", url).code == 0
    shown = subprocess.run(f"{sys.executable} -m archiver show {url} | head -c 10",
                           shell=True, capture_output=True, text=True, timeout=60)
    assert shown.stdout == "# A very l"
    assert "Traceback" not in shown.stderr and "Exception" not in shown.stderr, shown.stderr
    assert len(run_cli("show", url).out) > 200_000  # more than the 64 KiB a pipe buffers
    # A reader gone before anything is written.
    config = subprocess.run(f"{sys.executable} -m archiver config | true",
                            shell=True, capture_output=True, text=True, timeout=60)
    assert config.stderr == "", config.stderr


def test_show_json_has_provenance(site: Site) -> None:
    urls = moscow_site(site)
    assert run_cli("fetch", urls["article"]).code == 0
    shown = run_cli("show", "--json", urls["article"])
    assert shown.code == 0, shown
    data = json.loads(shown.out)
    assert data["capture"]["status"] == 200
    assert data["capture"]["final_url"] == urls["article"]
    assert re.fullmatch(r"[0-9a-f]{64}", data["capture"]["body_sha256"])
    assert data["capture"]["redirects"] == []
    assert data["extractor"].startswith("trafilatura ")
    assert data["canonical_url"] == CANONICAL


def test_unchanged_refetch_then_change(site: Site, tmp_path: Path) -> None:
    """Done-when 3: unchanged twice -> 1 page, 2 captures, 1 body, 1 snapshot; a change -> 2."""
    db = tmp_path / "archive.db"
    url = site.route("/news/crossing", article_page("River crossing", LOREM))
    assert run_cli("fetch", url).code == 0
    second = run_cli("fetch", url)
    assert second.code == 0 and "unchanged" in second.out
    assert [count(db, t) for t in ("pages", "captures", "bodies", "snapshots")] == [1, 2, 1, 1]
    stored = load_body(open_db(db), db_rows(db, "SELECT body_sha256 FROM captures LIMIT 1")[0][0])
    assert stored == article_page("River crossing", LOREM).encode()  # the evidence, byte for byte
    assert db_rows(db, "SELECT encoding FROM bodies") == [("zstd",)]

    site.route("/news/crossing", article_page("River crossing", LOREM[:2] + [
        "The vote was postponed indefinitely after the mayor withdrew her support for all three "
        "designs, citing the cost of the consultation and the reports."]))
    third = run_cli("fetch", url)
    assert third.code == 0 and "new snapshot" in third.out
    assert count(db, "snapshots") == 2
    old = run_cli("show", url, "--version", "1")
    assert "A final vote is expected next month" in old.out
    new = run_cli("show", url)
    assert "postponed indefinitely" in new.out and "A final vote" not in new.out
    missing = run_cli("show", url, "--version", "3")
    assert_clean_error(missing, "has no version 3: it has 2 versions")


def test_gzip_bodies_of_earlier_versions_still_load(tmp_path: Path) -> None:
    """Bodies were gzip-compressed before zstd: an archive keeps them readable."""
    db = open_db(tmp_path / "archive.db")
    body = "<p>Stored by an earlier version</p>".encode()
    db.execute("INSERT INTO bodies (sha256, size, media_type, encoding, data) VALUES (?, ?, ?, ?, ?)",
               ["0" * 64, len(body), "text/html", "gzip", gzip.compress(body)])
    assert load_body(db, "0" * 64) == body
    assert load_body(db, "1" * 64) is None


def test_url_variants_are_one_page(site: Site, tmp_path: Path) -> None:
    """Done-when 4: tracking parameters, a fragment, reordered tracking noise: one page."""
    url = site.route("/story", article_page("One story", LOREM))
    variants = [url + "?utm_source=a&utm_medium=b", url + "#top",
                url + "?fbclid=1&utm_medium=b&gclid=2&utm_source=a"]
    result = run_cli("fetch", *variants)
    assert result.code == 0, result
    db = tmp_path / "archive.db"
    assert count(db, "pages") == 1
    assert count(db, "snapshots") == 1
    assert db_rows(db, "SELECT url FROM pages") == [(url,)]


def test_failures_are_kept_and_others_archived(site: Site, tmp_path: Path) -> None:
    """Done-when 5: 404, 500, refused, timeout, non-HTML each leave a capture; the rest archived."""
    good = site.route("/good", article_page("Good page", LOREM))
    missing = site.route("/missing", "gone", status=404)
    broken = site.route("/broken", "oops", status=500)
    slow = site.route("/slow", article_page("Slow", LOREM), delay=5)
    pdf = site.route("/paper.pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n",
                     content_type="application/pdf")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{s.getsockname()[1]}/nothing"
    result = run_cli("fetch", good, missing, broken, slow, pdf, refused,
                     env={"ARCHIVER_DEADLINE": "2"})
    assert result.code == 1
    lines = result.out.splitlines()
    def line_for(url: str) -> str:
        return next(l for l in lines if url in l)
    assert line_for(good).startswith("new snapshot")
    assert "404" in line_for(missing) and line_for(missing).startswith("failed")
    assert "500" in line_for(broken)
    assert "deadline" in line_for(slow) or "timeout" in line_for(slow)
    assert "not_html" in line_for(pdf)
    assert "refused" in line_for(refused)
    db = tmp_path / "archive.db"
    rows = dict(db_rows(db, "SELECT requested_url, coalesce(error, outcome) FROM captures"))
    assert rows[missing] == "http_404" and rows[broken] == "http_500"
    assert rows[slow] in ("deadline", "timeout")
    assert rows[refused] == "refused"
    assert rows[pdf] == "not_html"
    assert db_rows(db, "SELECT error_detail IS NULL, status FROM captures WHERE requested_url = ?",
                   (pdf,)) == [(1, 200)]
    assert count(db, "snapshots") == 1
    # a page the archive knows but holds no version of: `show` says why, in one line
    assert_clean_error(run_cli("show", missing), "has no archived version yet", "failed: http_404")


def test_bad_input_is_a_clean_error(site: Site, tmp_path: Path) -> None:
    """Done-when 6: malformed, file:, ftp:, javascript: URLs, an unusable --db, a broken config."""
    for url, needle in [("http://[::1", "malformed"), ("file:///etc/passwd", "file:"),
                        ("ftp://example.com/x", "ftp:"), ("javascript:alert(1)", "javascript:"),
                        ("not a url", "only http")]:
        result = run_cli("fetch", url)
        assert_clean_error(result, needle)
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = run_cli("fetch", "--db", str(blocker / "sub" / "archive.db"), site.url("/x"))
    assert_clean_error(result, "cannot open database")
    bad_config = tmp_path / "bad.toml"
    bad_config.write_text("deadline = [unclosed\n")
    result = run_cli("fetch", "--config", str(bad_config), site.url("/x"))
    assert_clean_error(result, "not valid TOML")
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("no_such_setting = 1\n")
    assert_clean_error(run_cli("config", "--config", str(unknown)), "no_such_setting")
    assert_clean_error(run_cli("show", site.url("/never-fetched")), "not in the archive")


def test_reading_commands_create_no_archive(tmp_path: Path) -> None:
    """`show`, `sources` and `export-opml` with a mistyped --db say there is no archive there,
    and leave no file behind."""
    missing = tmp_path / "typo" / "archive.db"
    result = run_cli("show", "--db", str(missing), "https://example.com/a")
    assert_clean_error(result, "not in the archive", f"no archive at {missing}")
    for command in ("sources", "export-opml"):
        assert_clean_error(run_cli(command, "--db", str(missing)), f"no archive at {missing}")
    assert not missing.parent.exists()


def test_config_shows_sources(tmp_path: Path) -> None:
    config = tmp_path / "archiver.toml"
    config.write_text('deadline = 12.5\ncontact_url = "https://example.org/contact"\n')
    result = run_cli("config", "--config", str(config), "--json",
                     env={"ARCHIVER_MAX_REDIRECTS": "3"})
    assert result.code == 0, result
    data = json.loads(result.out)
    assert data["deadline"] == {"value": 12.5, "source": str(config)}
    assert data["max_redirects"] == {"value": 3, "source": "ARCHIVER_MAX_REDIRECTS"}
    assert data["per_host_connections"]["source"] == "default"
    flagged = run_cli("config", "--db", "x.db", "--json")
    assert json.loads(flagged.out)["db"] == {"value": "x.db", "source": "flag"}


def test_redirects_recorded_and_user_agent(site: Site, tmp_path: Path) -> None:
    final = site.route("/final", article_page("Moved story", LOREM))
    site.route("/old", "", status=301, headers={"Location": "/final"})
    result = run_cli("fetch", site.url("/old"))
    assert result.code == 0, result
    db = tmp_path / "archive.db"
    redirects, final_url = db_rows(db, "SELECT redirects, final_url FROM captures")[0]
    assert json.loads(redirects) == [{"url": site.url("/old"), "status": 301, "location": final}]
    assert final_url == final
    assert run_cli("show", final).code == 0  # found by the URL it redirected to
    agent = site.requests[0].headers["user-agent"]
    assert agent.startswith("archiver/") and "+http" in agent


def test_content_fingerprint_is_stable() -> None:
    """Archived snapshots keep their content_sha256 for good, so its normalisation never changes:
    NFC, and every run of Unicode whitespace (tabs, no-break and ideographic spaces, the
    separators U+001C-U+001F) one space, none at either end."""
    pinned = "50e9808562b2ee9d4f835edaf619e9fe9db677d3a1b146f1c3c546929f4f6f32"
    messy = content_fingerprint(" Cafe\u0301 \u00a0title\t", "Line one\u2003 two\n\n\u3000three\x1c four  ")
    assert messy == pinned
    assert content_fingerprint("Caf\u00e9 title", "Line one two three four") == pinned
    assert content_fingerprint("Caf\u00e9 title", "Line one two three  four.") != pinned

"""Issue 11 items 1 and 2: `archiver export warc` and `archiver import warc`.

One archive is built once for the module, through the real fetcher against a loopback server:
an article that changed (two versions), an unchanged re-check of it, a page re-checked with its
ETag (a 304), a page reached through a redirect, a page served gzip-encoded, and a refused URL
(10.0.0.1, outside ``allow_networks``: refused before any packet). It is exported with the real
CLI, and the WARC is checked with warcio's own ``warcio check`` and ``warcio index``, read
record by record, replayed in pywb, and imported back into an empty archive.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
from warcio.archiveiterator import ArchiveIterator

from archiver.jobs.pages import PageJob, Previous
from archiver.jobs.session import Session
from archiver.settings import load_config
from conftest import CORPUS, REPO, Response, Site, assert_clean_error, db_rows, moscow_site, run_cli
from test_security_ssrf import PARAGRAPHS

BIN = Path(sys.executable).parent
PYWB = Path(os.environ.get("ARCHIVER_PYWB_VENV", REPO / ".venv-pywb")) / "bin"
SAMPLES = CORPUS / "warc"

CORRECTION = ("Correction: an earlier version of this article gave the wrong year for the closure "
              "of the shipyard, which shut in 1998 and not in 1989 as first reported here.")


def article(title: str, extra: list[str] | None = None) -> str:
    body = "".join(f"<p>{p}</p>" for p in PARAGRAPHS + (extra or []))
    return (f"<html><head><title>{title}</title></head><body><nav>Home | Port | City</nav>"
            f"<article><h1>{title}</h1>{body}</article><footer>Contact</footer></body></html>")


@dataclass
class Evidence:
    db: Path
    warc: Path
    urls: dict[str, str]
    workdir: Path


def _session(db: Path) -> Session:
    config = load_config(environ={"ARCHIVER_ALLOW_NETWORKS": "127.0.0.1/32", "ARCHIVER_PER_HOST_DELAY": "0",
                                  "ARCHIVER_WORKERS": "1", "ARCHIVER_DB": str(db)})
    return Session(config)


def _etag_handler(request: Any) -> Response:
    if request.headers.get("if-none-match") == '"v1"':
        return Response(304, b"", {"ETag": '"v1"'})
    return Response(200, article("Tide tables for the winter").encode(),
                    {"Content-Type": "text/html; charset=utf-8", "ETag": '"v1"'})


def build_archive(site: Site, db: Path) -> dict[str, str]:
    urls = {
        "article": site.route("/news/port-report", article("Port traffic grows")),
        "tides": site.handle("/tides", _etag_handler),
        "old": site.route("/old-address", status=301, headers={"Location": "/new-address"}),
        "new": site.route("/new-address", article("Ferry timetable changes")),
        "gzipped": site.route("/gzipped", gzip.compress(article("Market day moves").encode()),
                              headers={"Content-Encoding": "gzip"}),
        "refused": "http://10.0.0.1:9/internal-report",
    }
    with _session(db) as session:
        def run(*jobs: PageJob) -> None:
            list(session.run(jobs))

        run(PageJob(session, urls["article"]), PageJob(session, urls["tides"]),
            PageJob(session, urls["old"]), PageJob(session, urls["gzipped"]),
            PageJob(session, urls["refused"]))
        site.route("/news/port-report", article("Port traffic grows", [CORRECTION]))
        _next_second()  # replay tools tell captures apart by the second
        run(PageJob(session, urls["article"]))
        _next_second()
        run(PageJob(session, urls["article"]))  # the unchanged re-check
        run(PageJob(session, urls["tides"], previous=Previous(etag='"v1"')))
    return urls


def _next_second() -> None:
    start = int(time.time())
    while int(time.time()) == start:
        time.sleep(0.05)


@pytest.fixture(scope="module")
def evidence(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Evidence]:
    workdir = tmp_path_factory.mktemp("evidence")
    site = Site()
    try:
        db = workdir / "archive.db"
        urls = build_archive(site, db)
        warc = workdir / "evidence.warc.gz"
        exported = run_cli("export", "warc", "-o", str(warc), "--db", str(db))
        assert exported.code == 0, exported
        assert "Traceback" not in exported.err
        yield Evidence(db, warc, urls, workdir)
    finally:
        site.close()


def records(path: Path) -> list[dict[str, Any]]:
    """Every record of a WARC: its WARC headers, HTTP status and headers, and payload."""
    found = []
    with open(path, "rb") as stream:
        for record in ArchiveIterator(stream):
            http = record.http_headers
            found.append({
                "type": record.rec_type, "warc": dict(record.rec_headers.headers),
                "status": http.get_statuscode() if http is not None and record.rec_type != "request" else None,
                "http": {k.lower(): v for k, v in http.headers} if http is not None else {},
                "line": (http.protocol + " " + http.statusline) if http is not None else None,
                "payload": record.content_stream().read(),
            })
    return found


def of(found: list[dict[str, Any]], kind: str, uri: str) -> list[dict[str, Any]]:
    return [r for r in found if r["type"] == kind and r["warc"].get("WARC-Target-URI") == uri]


# -- export: what the file holds -----------------------------------------------------------------

def test_warcio_check_verifies_every_digest(evidence: Evidence) -> None:
    """Done means: `warcio check` passes, with every record's digest verified (a revisit carries
    no payload to verify, which warcio says as "not checked")."""
    checked = subprocess.run([str(BIN / "warcio"), "check", "-v", str(evidence.warc)],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    verdicts = [line.strip() for line in checked.stdout.splitlines() if line.strip().startswith("digest")]
    kinds = [line.split()[-1] for line in checked.stdout.splitlines() if "WARC-Record-ID" in line]
    assert len(verdicts) == len(kinds) > 10
    for kind, verdict in zip(kinds, verdicts):
        expected = "digest present but not checked (revisit)" if kind == "revisit" else "digest pass"
        assert verdict == expected, (kind, verdict)


def test_warcio_index_lists_the_records_in_capture_order(evidence: Evidence) -> None:
    """Done means: `warcio index` reads the whole file; records follow the captures' order."""
    indexed = subprocess.run([str(BIN / "warcio"), "index", "-f", "warc-type,warc-target-uri,offset",
                              str(evidence.warc)], capture_output=True, text=True, timeout=60)
    assert indexed.returncode == 0, indexed.stderr
    rows = [json.loads(line) for line in indexed.stdout.splitlines()]
    assert rows[0]["warc-type"] == "warcinfo"
    url = evidence.urls["article"]
    article = [r["warc-type"] for r in rows if r.get("warc-target-uri", "").endswith(url)]
    assert article == ["request", "response", "conversion", "request", "response", "conversion",
                       "request", "revisit"]
    offsets = [int(r["offset"]) for r in rows]
    assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)


def test_warcinfo_names_archiver_and_the_selection(evidence: Evidence) -> None:
    first = records(evidence.warc)[0]
    assert first["type"] == "warcinfo" and first["warc"]["WARC-Type"] == "warcinfo"
    info = first["payload"].decode()
    assert "software: archiver/0.1.0 (warcio/" in info
    assert 'archiver-selection: "everything"' in info
    assert records(evidence.warc)[1]["warc"]["WARC-Date"]  # every record is dated


def test_versions_conversions_and_the_unchanged_recheck(evidence: Evidence) -> None:
    """Two versions: two responses with their bodies, each followed by a conversion record that
    refers to it and holds the snapshot; the unchanged re-check is an identical-payload revisit
    of the second response."""
    found = records(evidence.warc)
    url = evidence.urls["article"]
    responses, conversions = of(found, "response", url), of(found, "conversion", "urn:archiver:article:" + url)
    assert len(responses) == 2 and len(conversions) == 2
    assert CORRECTION.encode() not in responses[0]["payload"] and CORRECTION.encode() in responses[1]["payload"]
    snapshots = db_rows(evidence.db, "SELECT s.title, s.text, s.extractor, s.captured_at, s.version, s.metadata_sources FROM snapshots s "
                                     "JOIN pages p ON p.id = s.page_id WHERE p.url = ? ORDER BY version", (url,))
    for response, conversion, snapshot in zip(responses, conversions, snapshots):
        assert conversion["warc"]["WARC-Refers-To"] == response["warc"]["WARC-Record-ID"]
        assert conversion["warc"]["Content-Type"] == "application/json"
        data = json.loads(conversion["payload"])
        assert (data["title"], data["text"], data["extractor"], data["version"]) == (
            snapshot[0], snapshot[1], snapshot[2], snapshot[4])
        assert data["metadata_sources"] == json.loads(snapshot[5]) and data["page_url"] == url
        assert response["warc"]["WARC-Date"].startswith(snapshot[3][:19])
    [revisit] = of(found, "revisit", url)
    assert revisit["warc"]["WARC-Profile"] == "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"
    assert revisit["warc"]["WARC-Refers-To"] == responses[1]["warc"]["WARC-Record-ID"]
    assert revisit["warc"]["WARC-Refers-To-Target-URI"] == url
    assert revisit["warc"]["WARC-Refers-To-Date"] == responses[1]["warc"]["WARC-Date"]
    assert revisit["warc"]["WARC-Payload-Digest"] == responses[1]["warc"]["WARC-Payload-Digest"]
    assert revisit["status"] == "200" and revisit["payload"] == b""


def test_responses_say_where_they_came_from(evidence: Evidence) -> None:
    """WARC-IP-Address is the address the fetcher connected to (stored on the capture), the
    payload digest is the stored body's sha256, and the request record holds what was sent."""
    found = records(evidence.warc)
    assert set(r[0] for r in db_rows(evidence.db, "SELECT ip_address FROM captures WHERE status IS NOT NULL")) \
        == {"127.0.0.1"}
    bodies = {r[0] for r in db_rows(evidence.db, "SELECT body_sha256 FROM captures WHERE body_sha256 IS NOT NULL")}
    for response in [r for r in found if r["type"] == "response" and r["status"] == "200"]:
        assert response["warc"]["WARC-IP-Address"] == "127.0.0.1"
        digest = response["warc"]["WARC-Payload-Digest"].removeprefix("sha256:")
        assert base64.b32decode(digest).hex() in bodies
        assert int(response["http"]["content-length"]) == len(response["payload"])
    [request] = of(found, "request", evidence.urls["gzipped"])
    assert request["line"].startswith("GET /gzipped HTTP/1.1")
    assert request["http"]["user-agent"].startswith("archiver/0.1.0")
    assert request["http"]["accept-encoding"] == "gzip, deflate, br"
    assert request["http"]["host"] == evidence.urls["gzipped"].split("/")[2]
    assert "WARC-Archiver-Reconstructed" not in request["warc"]
    assert request["warc"]["WARC-Concurrent-To"] == of(found, "response", evidence.urls["gzipped"])[0]["warc"]["WARC-Record-ID"]


def test_decoded_bodies_have_headers_that_match(evidence: Evidence) -> None:
    """The body is stored decoded: the exported response has no Content-Encoding, a fitted
    Content-Length, and the server's values under X-Archiver-Original-*."""
    [response] = of(records(evidence.warc), "response", evidence.urls["gzipped"])
    http = response["http"]
    assert "content-encoding" not in http and "transfer-encoding" not in http
    assert http["x-archiver-original-content-encoding"] == "gzip"
    assert int(http["x-archiver-original-content-length"]) < len(response["payload"]) == int(http["content-length"])
    assert b"Market day moves" in response["payload"]


def test_not_modified_is_a_server_not_modified_revisit(evidence: Evidence) -> None:
    found = records(evidence.warc)
    url = evidence.urls["tides"]
    [response], [revisit] = of(found, "response", url), of(found, "revisit", url)
    assert revisit["status"] == "304"
    assert revisit["warc"]["WARC-Profile"] == "http://netpreserve.org/warc/1.1/revisit/server-not-modified"
    assert revisit["warc"]["WARC-Refers-To"] == response["warc"]["WARC-Record-ID"]
    requests = of(found, "request", url)
    assert requests[-1]["http"]["if-none-match"] == '"v1"' and "if-none-match" not in requests[0]["http"]


def test_redirect_hop_is_its_own_response(evidence: Evidence) -> None:
    found = records(evidence.warc)
    [hop] = of(found, "response", evidence.urls["old"])
    assert hop["status"] == "301" and hop["http"]["location"] == evidence.urls["new"]
    assert "status and Location" in hop["warc"]["WARC-Archiver-Reconstructed"]
    assert len(of(found, "request", evidence.urls["old"])) == 1
    [final] = of(found, "response", evidence.urls["new"])
    assert final["status"] == "200" and b"Ferry timetable changes" in final["payload"]
    assert found.index(hop) < found.index(final)


def test_refused_url_is_a_metadata_record_never_a_response(evidence: Evidence) -> None:
    found = records(evidence.warc)
    url = evidence.urls["refused"]
    assert [r["type"] for r in found if r["warc"].get("WARC-Target-URI") == url] == ["metadata"]
    [meta] = of(found, "metadata", url)
    fields = meta["payload"].decode()
    assert "error: blocked_address" in fields and "10.0.0.1" in fields and "private" in fields
    assert meta["warc"]["Content-Type"] == "application/warc-fields"


def test_pywb_replays_the_article(evidence: Evidence, tmp_path: Path) -> None:
    """Done means: with `wb-manager add` and `wayback` on 127.0.0.1, the replayed page shows
    the article's text; each version at its own time, and the revisit resolved to its body.
    pywb lives in its own virtualenv (`make .venv-pywb`), apart from the project's."""
    assert (PYWB / "wayback").exists(), f"pywb is not installed at {PYWB}: run `make .venv-pywb`"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    for step in (["wb-manager", "init", "evidence"], ["wb-manager", "add", "evidence", str(evidence.warc)]):
        done = subprocess.run([str(PYWB / step[0]), *step[1:]], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    port = _free_port()
    server = subprocess.Popen([str(PYWB / "wayback"), "-b", "127.0.0.1", "-p", str(port)], cwd=tmp_path,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}/evidence"
        _wait_for(f"{base}/")
        found, url = records(evidence.warc), evidence.urls["article"]
        first, second = of(found, "response", url)
        [revisit] = of(found, "revisit", url)
        old = _get(f"{base}/{_stamp(first['warc']['WARC-Date'])}mp_/{url}")
        assert PARAGRAPHS[1] in old and CORRECTION not in old
        for record in (second, revisit):
            new = _get(f"{base}/{_stamp(record['warc']['WARC-Date'])}mp_/{url}")
            assert PARAGRAPHS[1] in new and CORRECTION in new
        moved = _get(f"{base}/{_stamp(first['warc']['WARC-Date'])}mp_/{evidence.urls['old']}")
        assert "Ferry timetable changes" in moved
    finally:
        server.terminate()
        server.wait(timeout=10)


def _stamp(warc_date: str) -> str:
    return "".join(ch for ch in warc_date if ch.isdigit())[:14]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (loopback only)
        return response.read().decode("utf-8", "replace")


def _wait_for(url: str, seconds: float = 60) -> None:
    """Until the server answers (it takes a few seconds to start), failing after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            _get(url)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


# -- export: the command ------------------------------------------------------------------------

def test_export_to_standard_output_and_selections(evidence: Evidence, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "archiver", "export", "warc", "-o", "-", "--db", str(evidence.db),
                           "--url", evidence.urls["gzipped"]], capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert gzip.decompress(done.stdout).startswith(b"WARC/1.1\r\nWARC-Type: warcinfo")
    assert b"1 captures" in done.stderr
    out = tmp_path / "one.warc.gz"
    out.write_bytes(done.stdout)
    uris = {r["warc"].get("WARC-Target-URI") for r in records(out)} - {None}
    assert uris == {evidence.urls["gzipped"], "urn:archiver:article:" + evidence.urls["gzipped"]}
    later = run_cli("export", "warc", "-o", str(tmp_path / "none.warc.gz"), "--db", str(evidence.db),
                    "--since", "2999-01-01", "--json")
    assert later.code == 0, later
    assert json.loads(later.out)["records"] == {"warcinfo": 1}


def test_export_of_a_feed_holds_it_and_its_entries_pages(site: Site, tmp_path: Path) -> None:
    urls = moscow_site(site)
    assert run_cli("add", urls["feed"]).code == 0
    assert run_cli("poll", "--all").code == 0
    other = site.route("/other", article("Not in the feed"))
    assert run_cli("fetch", other).code == 0
    out = tmp_path / "feed.warc.gz"
    done = run_cli("export", "warc", "-o", str(out), "--feed", urls["feed"])
    assert done.code == 0, done
    found = records(out)
    responses = {r["warc"]["WARC-Target-URI"].split("?")[0] for r in found if r["type"] == "response"}
    assert responses == {urls["feed"], urls["article"], urls["tram-line"], urls["winter-festival"]}
    assert len([r for r in found if r["type"] == "conversion"]) == 3
    assert 'archiver-selection: {"feed": ["' in found[0]["payload"].decode()


def test_export_errors_are_one_line(evidence: Evidence, tmp_path: Path) -> None:
    missing = tmp_path / "nothing-here.db"
    assert_clean_error(run_cli("export", "warc", "-o", str(tmp_path / "x.warc.gz"), "--db", str(missing)),
                       "no archive")
    assert not missing.exists() and not (tmp_path / "x.warc.gz").exists()
    existing = tmp_path / "taken.warc.gz"
    existing.write_bytes(b"keep me")
    assert_clean_error(run_cli("export", "warc", "-o", str(existing), "--db", str(evidence.db)), "exists", "--force")
    assert existing.read_bytes() == b"keep me"
    assert run_cli("export", "warc", "-o", str(existing), "--force", "--db", str(evidence.db)).code == 0
    assert gzip.decompress(existing.read_bytes()).startswith(b"WARC/1.1")
    assert_clean_error(run_cli("export", "warc", "--url", "https://elsewhere.example/", "--db", str(evidence.db)),
                       "not in the archive")
    assert_clean_error(run_cli("export", "warc", "--since", "last tuesday", "--db", str(evidence.db)), "--since")


def test_request_headers_of_older_captures_are_rebuilt_and_marked(evidence: Evidence, tmp_path: Path) -> None:
    """Captures made before the sent headers were stored have only the validators: the request
    record is rebuilt from the fetcher's defaults and says so."""
    old = tmp_path / "old.db"
    shutil.copy(evidence.db, old)
    conn = sqlite3.connect(old)
    conn.execute("UPDATE captures SET request_headers = '{\"If-None-Match\": \"\\\"v1\\\"\"}' "
                 "WHERE requested_url = ?", (evidence.urls["tides"],))
    conn.commit()
    conn.close()
    out = tmp_path / "old.warc.gz"
    assert run_cli("export", "warc", "-o", str(out), "--db", str(old)).code == 0
    requests = of(records(out), "request", evidence.urls["tides"])
    assert len(requests) == 2
    for request in requests:
        assert "fetcher's defaults" in request["warc"]["WARC-Archiver-Reconstructed"]
        assert request["http"]["user-agent"].startswith("archiver/") and request["http"]["if-none-match"] == '"v1"'


# -- import -------------------------------------------------------------------------------------

def snapshots_of(db: Path) -> list[tuple[Any, ...]]:
    return db_rows(db, "SELECT p.url, s.version, s.title, s.text, s.captured_at FROM snapshots s "
                       "JOIN pages p ON p.id = s.page_id ORDER BY p.url, s.version")


def test_export_then_import_gives_the_same_snapshots(evidence: Evidence, tmp_path: Path) -> None:
    """Done means: the same pages, versions, titles, texts and captured times; captures keep the
    record's date, the file, record ID and offset; importing again adds nothing."""
    fresh = tmp_path / "fresh.db"
    imported = run_cli("import", "warc", str(evidence.warc), "--db", str(fresh))
    assert imported.code == 0, imported
    assert snapshots_of(fresh) == snapshots_of(evidence.db)
    assert len(snapshots_of(fresh)) == 5
    rows = db_rows(fresh, "SELECT imported_from, warc_record_id, warc_offset, started_at, outcome FROM captures "
                          "ORDER BY id")
    offsets = {r["warc"]["WARC-Record-ID"]: r for r in records(evidence.warc)}
    assert {r[4] for r in rows} == {"new_snapshot", "unchanged", "not_modified"}
    original_times = {r[0] for r in db_rows(evidence.db, "SELECT started_at FROM captures")}
    for source, record_id, offset, started_at, _ in rows:
        assert source.startswith("evidence.warc.gz sha256:") and record_id in offsets and offset > 0
        assert started_at in original_times
    again = run_cli("import", str(evidence.warc), "--db", str(fresh))  # .warc.gz: read as WARC
    assert again.code == 0, again
    assert "0 captures" in again.out and "already imported" in again.out
    assert db_rows(fresh, "SELECT count(*) FROM captures")[0][0] == len(rows)
    assert snapshots_of(fresh) == snapshots_of(evidence.db)


def test_imported_history_records_changes_and_notifies_nobody(evidence: Evidence, tmp_path: Path) -> None:
    """A changed article in an imported WARC is a change in the archive, but it is history:
    with a notify target configured, no notification is queued for it."""
    fresh = tmp_path / "fresh.db"
    env = {"ARCHIVER_NOTIFY": "json://127.0.0.1:9/hook"}
    assert run_cli("import", "warc", str(evidence.warc), "--db", str(fresh), env=env).code == 0
    kinds = [json.loads(r[0]) for r in db_rows(fresh, "SELECT kinds FROM changes WHERE boring = 0")]
    assert kinds and all(kinds)
    assert db_rows(fresh, "SELECT count(*) FROM notifications") == [(0,)]


def test_reexport_of_an_import_keeps_the_server_headers(evidence: Evidence, tmp_path: Path) -> None:
    """X-Archiver-Original-* go back to their own names on import, so the imported capture holds
    what the server sent, as a fetched one does."""
    fresh = tmp_path / "fresh.db"
    assert run_cli("import", "warc", str(evidence.warc), "--db", str(fresh)).code == 0
    [headers] = db_rows(fresh, "SELECT headers FROM captures WHERE final_url = ?", (evidence.urls["gzipped"],))
    assert json.loads(headers[0])["content-encoding"] == "gzip"
    out = tmp_path / "again.warc.gz"
    assert run_cli("export", "warc", "-o", str(out), "--db", str(fresh)).code == 0
    [response] = of(records(out), "response", evidence.urls["gzipped"])
    assert response["http"]["x-archiver-original-content-encoding"] == "gzip"
    assert "content-encoding" not in response["http"]
    assert "WARC-Archiver-Imported-From" in response["warc"]


def manifest() -> list[dict[str, Any]]:
    return json.loads((SAMPLES / "manifest.json").read_text())


def test_shared_samples_import_without_a_traceback(tmp_path: Path) -> None:
    """Done means: the six shared samples import; the one with a corrupt record reports its
    offset and exits non-zero, the others exit 0."""
    for entry in manifest():
        path = CORPUS / entry["file"]
        done = run_cli("import", "warc", str(path), "--db", str(tmp_path / "samples.db"))
        assert "Traceback" not in done.out + done.err, (path, done.err)
        if "trunc" in path.name:
            assert_clean_error(done, "offset 1197")
        else:
            assert done.code == 0, (path, done)
    titles = {r[0]: r[1] for r in db_rows(tmp_path / "samples.db", "SELECT p.url, s.title FROM snapshots s "
                                                                      "JOIN pages p ON p.id = s.page_id")}
    assert titles == {"http://example.com/": "Example Domain",
                      "http://www.iana.org/": "Internet Assigned Numbers Authority"}
    # the revisit in warcio's example resolves to the response before it: an unchanged capture
    assert db_rows(tmp_path / "samples.db", "SELECT count(*) FROM captures WHERE final_url = "
                                            "'http://example.com/' AND outcome = 'unchanged'")[0][0] == 2


def test_truncated_copy_keeps_what_came_before(evidence: Evidence, tmp_path: Path) -> None:
    """Done means: a copy cut in the middle of a record reports that record's offset, keeps the
    records before it, and exits non-zero."""
    found = records(evidence.warc)
    indexed = subprocess.run([str(BIN / "warcio"), "index", "-f", "warc-type,offset,length", str(evidence.warc)],
                             capture_output=True, text=True, timeout=60)
    rows = [json.loads(line) for line in indexed.stdout.splitlines()]
    cut_at = next(r for r in rows[len(rows) // 2:] if r["warc-type"] == "response")
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(evidence.warc.read_bytes()[:int(cut_at["offset"]) + int(cut_at["length"]) // 2])
    done = run_cli("import", "warc", str(cut), "--db", str(tmp_path / "cut.db"))
    assert_clean_error(done, f"offset {cut_at['offset']}")
    assert len(found) == len(rows)
    pages_before = {int(row["offset"]) for record, row in zip(found, rows)
                    if row["warc-type"] in ("response", "revisit") and record["status"] != "301"
                    and int(row["offset"]) < int(cut_at["offset"])}
    kept = {r[0] for r in db_rows(tmp_path / "cut.db", "SELECT warc_offset FROM captures")}
    assert kept == pages_before and len(kept) >= 2


def test_every_cut_of_a_sample_is_reported_never_a_traceback(tmp_path: Path) -> None:
    """A file cut at any byte: no exception, and a problem is reported unless the cut falls
    exactly between two records."""
    from archiver.interfaces.warc_import import WarcImport

    for name in ("warcio--example.warc.gz", "warcio--example.warc"):
        data = (SAMPLES / name).read_bytes()
        with open(SAMPLES / name, "rb") as stream:
            iterator = ArchiveIterator(stream)
            boundaries = set()
            for _ in iterator:
                boundaries.add(iterator.offset)
        boundaries.add(len(data))
        with _session(tmp_path / f"{name}.db") as session:
            importer = WarcImport(session)
            for size in range(1, len(data), 5):
                path = tmp_path / f"cut-{size}-{name}"
                path.write_bytes(data[:size])
                tally = importer.run(path)
                # an uncompressed record ends with two CRLFs that its length does not count
                slack = 0 if name.endswith(".gz") else 4
                between = any(b - slack <= size <= b for b in boundaries)
                assert bool(tally.problems) == (not between), (name, size, tally)
                path.unlink()


def test_a_corrupt_record_in_the_middle_is_skipped_and_the_rest_imported(evidence: Evidence,
                                                                          tmp_path: Path) -> None:
    """Bytes garbled inside one gzip member: that record is reported at its offset, and the
    records after it are still imported."""
    found = records(evidence.warc)
    indexed = subprocess.run([str(BIN / "warcio"), "index", "-f", "warc-type,warc-target-uri,offset,length",
                              str(evidence.warc)], capture_output=True, text=True, timeout=60)
    rows = [json.loads(line) for line in indexed.stdout.splitlines()]
    target = next(r for r in rows if r["warc-type"] == "response"
                  and r["warc-target-uri"] == evidence.urls["article"])
    data = bytearray(evidence.warc.read_bytes())
    start, length = int(target["offset"]), int(target["length"])
    data[start + length // 2: start + length // 2 + 40] = b"\x00" * 40
    broken = tmp_path / "broken.warc.gz"
    broken.write_bytes(bytes(data))
    done = run_cli("import", "warc", str(broken), "--db", str(tmp_path / "broken.db"))
    assert_clean_error(done, f"offset {start}")
    titles = {r[0] for r in db_rows(tmp_path / "broken.db", "SELECT title FROM snapshots")}
    assert {"Ferry timetable changes", "Market day moves", "Port traffic grows"} <= titles
    assert len(found) > 0
    later = db_rows(tmp_path / "broken.db", "SELECT count(*) FROM captures WHERE warc_offset > ?", (start,))
    assert later[0][0] >= 4


def test_arc_files_import_once(tmp_path: Path) -> None:
    """ARC (the format before WARC): read through warcio's conversion, with a record ID made of
    the file's hash and the offset, so a second import adds nothing."""
    page = article("Lighthouse keeper retires").encode()
    http = b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n" + page
    version = b"1 0 archiver-test\nURL IP-address Archive-date Content-type Archive-length\n"
    header = b"filedesc://old.arc 0.0.0.0 20140101000000 text/plain %d\n" % len(version)
    record = b"http://lighthouse.example/story 192.0.2.7 20140102030405 text/html %d\n" % len(http) + http + b"\n"
    arc = tmp_path / "old.arc"
    arc.write_bytes(header + version + b"\n" + record)
    first = run_cli("import", "warc", str(arc))
    assert first.code == 0, first
    rows = db_rows(tmp_path / "archive.db", "SELECT started_at, ip_address, warc_record_id FROM captures")
    assert rows == [("2014-01-02T03:04:05.000+00:00", "192.0.2.7", rows[0][2])] and rows[0][2].startswith("<urn:uuid:")
    assert "Lighthouse keeper retires" in run_cli("show", "http://lighthouse.example/story").out
    again = run_cli("import", str(arc))  # named .arc: no need to say `warc`
    assert again.code == 0 and "already imported" in again.out
    assert len(db_rows(tmp_path / "archive.db", "SELECT id FROM captures")) == 1


def test_import_formats_and_errors(tmp_path: Path) -> None:
    opml = tmp_path / "subs.opml"
    opml.write_text('<?xml version="1.0"?><opml version="2.0"><head/><body>'
                    '<outline text="a" xmlUrl="https://a.example/feed"/></body></opml>')
    assert "1 feeds added" in run_cli("import", "opml", str(opml)).out
    assert "0 feeds added, 1 already subscribed" in run_cli("import", str(opml)).out
    assert_clean_error(run_cli("import", "warc", str(tmp_path / "missing.warc.gz")), "no such file")
    assert_clean_error(run_cli("import", "warc"), "WARC file")
    not_warc = tmp_path / "notes.warc"
    not_warc.write_text("these are my notes, not a WARC file\n")
    assert_clean_error(run_cli("import", "warc", str(not_warc)), "offset 0")
    assert_clean_error(run_cli("import", str(not_warc)), "offset 0")  # read as WARC by its name
    assert_clean_error(run_cli("import", str(opml), str(not_warc)), "two imports")

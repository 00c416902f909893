"""WARC out: the archive's evidence as one WARC 1.1 file (ISO 28500), written with warcio.

The file opens with a ``warcinfo`` record (archiver, its version, the selection), then holds,
for each capture of the selection in capture order::

    each redirect hop      request + response      status and Location: all a hop record keeps
    the exchange           request + response      a body not yet in this file
                           request + revisit       identical-payload-digest: a body already in it
                           request + revisit       server-not-modified: a 304
                           metadata                refused or failed (why), never a made-up response
    each snapshot          conversion              the article as JSON, WARC-Refers-To the exchange,
                                                   WARC-Target-URI urn:archiver:article:URL

Bodies are stored decoded, so a response's headers are made to match the bytes written: no
Content-Encoding or Transfer-Encoding, the Content-Length of the stored body, and the values the
server sent kept as ``X-Archiver-Original-*``. Digests are sha256. Request records of captures
made before the sent headers were stored are rebuilt from the fetcher's defaults and say so in
``WARC-Archiver-Reconstructed``. The captures are read in batches and each body is held only
while its record is written; what must be remembered across the file (the first record of each
body, the last response of each URL) lives in temporary tables, so memory stays flat.
"""

from __future__ import annotations

import base64
from importlib import metadata
import io
import json
import logging
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, BinaryIO, Iterator, Mapping
from urllib.parse import urlsplit

from warcio.statusandheaders import StatusAndHeaders
from warcio.utils import Digester
from warcio.warcwriter import WARCWriter

from archiver import __version__
from archiver.content.render import snapshot_json
from archiver.store.db import load_body, parse_iso

log = logging.getLogger(__name__)

NOT_MODIFIED_PROFILE = "http://netpreserve.org/warc/1.1/revisit/server-not-modified"
RECONSTRUCTED = "WARC-Archiver-Reconstructed"
# A conversion record is named after the page it came from, in a namespace of its own (as
# Browsertrix names its text records urn:text:URL): under the page's own URL, replay tools
# would serve the JSON in place of the page.
ARTICLE_URN = "urn:archiver:article:"
_BATCH = 200
_DECODED = ("content-encoding", "transfer-encoding")  # what a stored (decoded) body no longer has


@dataclass(frozen=True)
class Selection:
    """Which captures an export holds: since a time, of some pages, of some feeds (and their
    entries' pages). Empty means everything."""

    since: str | None = None
    page_ids: tuple[int, ...] = ()
    feed_ids: tuple[int, ...] = ()
    described: Mapping[str, Any] = field(default_factory=dict)  # as the user gave it

    def where(self) -> tuple[str, list[Any]]:
        clauses, params = [], []
        if self.since:
            clauses.append("started_at >= ?")
            params.append(self.since)
        scope = []
        if self.page_ids:
            scope.append(f"page_id IN ({', '.join('?' * len(self.page_ids))})")
            params.extend(self.page_ids)
        if self.feed_ids:
            marks = ", ".join("?" * len(self.feed_ids))
            scope.append(f"feed_id IN ({marks}) OR page_id IN "
                         f"(SELECT page_id FROM entries WHERE feed_id IN ({marks}))")
            params.extend([*self.feed_ids, *self.feed_ids])
        if scope:
            clauses.append("(" + " OR ".join(scope) + ")")
        return " AND ".join(clauses) or "1", params


@dataclass
class ExportTally:
    """What an export wrote: captures, and records by WARC-Type."""

    captures: int = 0
    records: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(self.records.items()))
        return f"{self.captures} captures, {sum(self.records.values())} records ({kinds})"


class _Writer(WARCWriter):
    """warcio's writer, gzip per record, WARC/1.1, sha256 block digests."""

    @staticmethod
    def _create_digester() -> Digester:
        return Digester("sha256")


def warc_date(started_at: str) -> str:
    """A capture's time as a WARC-Date, to the millisecond (as the fetcher records it)."""
    moment = parse_iso(started_at)
    assert moment is not None
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def payload_digest(body_sha256: str) -> str:
    """The WARC form of a stored body's sha256 (base32, as warcio writes digests)."""
    return "sha256:" + base64.b32encode(bytes.fromhex(body_sha256)).decode("ascii")


def fitted_headers(stored: Mapping[str, str], length: int | None) -> list[tuple[str, str]]:
    """Response headers that describe the stored, decoded body of ``length`` bytes (None: a
    response that has no body, such as a 304). What was changed is kept as X-Archiver-Original-*."""
    kept, originals = [], []
    for name, value in stored.items():
        lower = name.lower()
        if lower in _DECODED or (lower == "content-length" and length is not None):
            if lower != "content-length" or value.strip() != str(length):
                originals.append((f"X-Archiver-Original-{lower.title()}", value))
            continue
        kept.append((name, value))
    if length is not None:
        kept.append(("Content-Length", str(length)))
    return kept + originals


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def _failed_without_response(capture: Mapping[str, Any]) -> bool:
    """No response to write: refused, timed out, too large, ... (an error status is a response)."""
    error = capture["error"]
    return capture["status"] is None or bool(error) and not error.startswith("http_")


class WarcExport:
    """Write the selected captures of ``db`` to ``out`` as a WARC file; ``run`` does it."""

    def __init__(self, db: Any, out: BinaryIO, selection: Selection,
                 default_request_headers: Mapping[str, str]):
        self.db = db
        self.selection = selection
        self.defaults = dict(default_request_headers)
        self.writer = _Writer(out, gzip=True, warc_version="1.1")
        self.tally = ExportTally()

    def run(self) -> ExportTally:
        self._prepare()
        try:
            self._write(self.writer.create_warcinfo_record(None, self._info()))
            for capture in self._captures():
                self._export_capture(capture)
                self.tally.captures += 1
        finally:
            self.db.execute("DROP TABLE IF EXISTS temp.warc_payloads")
            self.db.execute("DROP TABLE IF EXISTS temp.warc_responses")
        return self.tally

    def _prepare(self) -> None:
        """Temporary tables: the first response record of each body, the last of each URL."""
        for name, key in (("warc_payloads", "sha256 TEXT PRIMARY KEY, uri TEXT"),
                          ("warc_responses", "uri TEXT PRIMARY KEY")):
            self.db.execute(f"DROP TABLE IF EXISTS temp.{name}")
            self.db.execute(f"CREATE TEMP TABLE {name} ({key}, record_id TEXT, date TEXT)")

    def _info(self) -> dict[str, str]:
        selection = {k: v for k, v in self.selection.described.items() if v}
        return {
            "software": f"archiver/{__version__} (warcio/{metadata.version('warcio')})",
            "format": "WARC File Format 1.1",
            "conformsTo": "http://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
            "description": "archiver export: each capture as request and response (or revisit, or a "
                           "metadata record saying why it failed), each snapshot as a conversion record",
            "archiver-selection": json.dumps(selection or "everything", sort_keys=True),
            "archiver-bodies": "stored decoded: Content-Encoding and Transfer-Encoding removed, "
                               "Content-Length fitted, originals in X-Archiver-Original-* headers",
            "archiver-request-headers": f"as sent, except where the request record has {RECONSTRUCTED}; "
                                        "captures imported from other WARC files have no request record",
        }

    def _captures(self) -> Iterator[dict[str, Any]]:
        """The selected captures in id order, read a batch at a time, up to the newest at the start."""
        where, params = self.selection.where()
        top = self.db.execute("SELECT coalesce(max(id), 0) FROM captures").fetchone()[0]
        last = 0
        while True:
            cursor = self.db.execute(f"SELECT * FROM captures WHERE id > ? AND id <= ? AND {where} "
                                     f"ORDER BY id LIMIT {_BATCH}", [last, top, *params])
            names = [d[0] for d in cursor.description]
            rows = [dict(zip(names, values)) for values in cursor.fetchall()]
            if not rows:
                return
            yield from rows
            last = rows[-1]["id"]

    def _export_capture(self, capture: dict[str, Any]) -> None:
        date = warc_date(capture["started_at"])
        for hop in json.loads(capture["redirects"] or "[]"):
            self._write_hop(capture, hop, date)
        if _failed_without_response(capture):
            self._write(self._failure_record(capture, date))
            return
        record_id = self._write_exchange(capture, date)
        for snapshot in self._snapshots(capture["id"]):
            self._write(self._conversion_record(capture, snapshot, record_id, date))

    def _write(self, record: Any) -> str:
        self.writer.write_record(record)
        self.tally.records[record.rec_type] += 1
        return str(record.rec_headers.get_header("WARC-Record-ID"))

    # -- the exchange ---------------------------------------------------------------------

    def _write_exchange(self, capture: Mapping[str, Any], date: str) -> str:
        """Request and response (or revisit) records of a capture that got a response; returns
        the response's record ID."""
        uri = capture["final_url"]
        response_id = _record_id()
        warc = {"WARC-Record-ID": response_id, "WARC-Date": date}
        if capture.get("ip_address"):
            warc["WARC-IP-Address"] = capture["ip_address"]
        if capture.get("imported_from"):
            warc["WARC-Archiver-Imported-From"] = (f"{capture['imported_from']} record "
                                                   f"{capture['warc_record_id']} at {capture['warc_offset']}")
        if not capture.get("imported_from") or capture["request_headers"] not in (None, "", "{}"):
            self._write(self._request_record(capture, uri, date, response_id))
        self._write(self._response_record(capture, uri, warc))
        return response_id

    def _response_record(self, capture: Mapping[str, Any], uri: str, warc: dict[str, str]) -> Any:
        status, stored = capture["status"], json.loads(capture["headers"] or "{}")
        if status == 304:
            return self._not_modified_record(capture, uri, warc, stored)
        sha = capture["body_sha256"]
        body = (load_body(self.db, sha) or b"") if sha else b""
        http = StatusAndHeaders(_status_line(status), fitted_headers(stored, len(body)), protocol="HTTP/1.1")
        first = self._first_payload(sha) if sha else None
        if first is not None:
            record = self.writer.create_revisit_record(uri, payload_digest(sha), first[1], first[2],
                                                       http_headers=http, warc_headers_dict=warc)
            record.rec_headers.add_header("WARC-Refers-To", first[0])
            return record
        if sha:
            warc["WARC-Payload-Digest"] = payload_digest(sha)
            self.db.execute("INSERT INTO temp.warc_payloads (sha256, uri, record_id, date) VALUES (?, ?, ?, ?)",
                            [sha, uri, warc["WARC-Record-ID"], warc["WARC-Date"]])
        self.db.execute("INSERT INTO temp.warc_responses (uri, record_id, date) VALUES (?, ?, ?) ON CONFLICT (uri) "
                        "DO UPDATE SET record_id = excluded.record_id, date = excluded.date",
                        [uri, warc["WARC-Record-ID"], warc["WARC-Date"]])
        return self.writer.create_warc_record(uri, "response", payload=io.BytesIO(body), length=len(body),
                                              http_headers=http, warc_headers_dict=warc)

    def _not_modified_record(self, capture: Mapping[str, Any], uri: str, warc: dict[str, str],
                             stored: Mapping[str, str]) -> Any:
        """A 304 as a server-not-modified revisit, referring to the URL's last response in this
        file when there is one."""
        warc["WARC-Profile"] = NOT_MODIFIED_PROFILE
        earlier = self.db.execute("SELECT record_id, uri, date FROM temp.warc_responses WHERE uri = ?",
                                  [uri]).fetchone()
        if earlier is not None:
            warc.update({"WARC-Refers-To": earlier[0], "WARC-Refers-To-Target-URI": earlier[1],
                         "WARC-Refers-To-Date": earlier[2]})
        http = StatusAndHeaders(_status_line(304), fitted_headers(stored, None), protocol="HTTP/1.1")
        return self.writer.create_warc_record(uri, "revisit", http_headers=http, warc_headers_dict=warc)

    def _first_payload(self, sha: str) -> tuple[str, str, str] | None:
        """(record ID, URI, date) of the response that already holds this body in the file."""
        row = self.db.execute("SELECT record_id, uri, date FROM temp.warc_payloads WHERE sha256 = ?",
                              [sha]).fetchone()
        return None if row is None else (row[0], row[1], row[2])

    def _request_record(self, capture: Mapping[str, Any], uri: str, date: str,
                        concurrent_to: str) -> Any:
        headers, rebuilt = self._request_headers(capture, uri)
        parts = urlsplit(uri)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        http = StatusAndHeaders(f"GET {target} HTTP/1.1", headers, is_http_request=True)
        warc = {"WARC-Date": date, "WARC-Concurrent-To": concurrent_to}
        if rebuilt:
            warc[RECONSTRUCTED] = ("request headers not recorded at capture time: the fetcher's "
                                   "defaults at export time, with the validators that were recorded")
        return self.writer.create_warc_record(uri, "request", http_headers=http, warc_headers_dict=warc)

    def _request_headers(self, capture: Mapping[str, Any], uri: str) -> tuple[list[tuple[str, str]], bool]:
        """The headers sent to ``uri`` (every hop gets the same, but for Host), and whether they
        had to be rebuilt because the capture predates their recording."""
        stored = json.loads(capture["request_headers"] or "{}")
        host = urlsplit(uri).netloc
        if any(name.lower() == "user-agent" for name in stored):
            return [("Host", host) if k.lower() == "host" else (k, v) for k, v in stored.items()], False
        return [("Host", host), *self.defaults.items(), *stored.items()], True

    # -- hops, failures, snapshots ----------------------------------------------------------

    def _write_hop(self, capture: Mapping[str, Any], hop: Mapping[str, Any], date: str) -> None:
        """A redirect hop: its request, and a response that holds all the capture kept of it."""
        uri, response_id = str(hop.get("url")), _record_id()
        self._write(self._request_record(capture, uri, date, response_id))
        headers = [("Location", str(hop.get("location", ""))), ("Content-Length", "0")]
        http = StatusAndHeaders(_status_line(int(hop.get("status") or 302)), headers, protocol="HTTP/1.1")
        warc = {"WARC-Record-ID": response_id, "WARC-Date": date,
                RECONSTRUCTED: "redirect hop: only its status and Location were recorded; its body was not read"}
        self._write(self.writer.create_warc_record(uri, "response", http_headers=http, warc_headers_dict=warc))

    def _failure_record(self, capture: Mapping[str, Any], date: str) -> Any:
        """A metadata record saying why an exchange brought no response worth replaying."""
        hops = json.loads(capture["redirects"] or "[]")
        uri = hops[-1].get("location") if hops else capture["final_url"]
        fields = {
            "archiver-outcome": "failed", "error": capture["error"], "error-detail": capture["error_detail"],
            "requested-url": capture["requested_url"], "status": capture["status"],
            "response-headers": capture["headers"] if capture["status"] is not None else None,
            "elapsed-ms": capture["elapsed_ms"], "ip-address": capture.get("ip_address"),
        }
        text = "".join(f"{k}: {_one_line(v)}\r\n" for k, v in fields.items() if v is not None)
        data = text.encode("utf-8")
        return self.writer.create_warc_record(str(uri or capture["requested_url"]), "metadata",
                                              payload=io.BytesIO(data), length=len(data),
                                              warc_content_type="application/warc-fields",
                                              warc_headers_dict={"WARC-Date": date})

    def _snapshots(self, capture_id: int) -> list[dict[str, Any]]:
        cursor = self.db.execute("SELECT s.*, p.url AS page_url FROM snapshots s JOIN pages p "
                                 "ON p.id = s.page_id WHERE s.capture_id = ? ORDER BY s.id", [capture_id])
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, values)) for values in cursor.fetchall()]

    def _conversion_record(self, capture: Mapping[str, Any], snapshot: dict[str, Any],
                           refers_to: str, date: str) -> Any:
        article = snapshot_json({k: v for k, v in snapshot.items() if k != "page_url"}, None,
                                snapshot["page_url"])
        data = json.dumps(article, ensure_ascii=False, sort_keys=True).encode("utf-8")
        return self.writer.create_warc_record(ARTICLE_URN + capture["final_url"], "conversion", payload=io.BytesIO(data),
                                              length=len(data), warc_content_type="application/json",
                                              warc_headers_dict={"WARC-Date": date, "WARC-Refers-To": refers_to})


def _record_id() -> str:
    return f"<urn:uuid:{uuid.uuid4()}>"


def _one_line(value: Any) -> str:
    return " ".join(str(value).split())


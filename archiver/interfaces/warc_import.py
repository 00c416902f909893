"""WARC in: the pages held in WARC and ARC files (gzip or not) of any tool, read with warcio.

Each ``response`` or ``resource`` record of an HTML page (status 2xx) becomes an exchange, and
each ``revisit`` the exchange it stands for: a 304 (server-not-modified), or the body of the
record it refers to (found by WARC-Refers-To, then payload digest, then target URI and date).
The exchange goes through the page job of ``archiver fetch`` with the fetch left out: the same
canonical URLs, extraction in the worker pool, deduplication and one transaction per capture;
like a re-check, a 304 or the very body of the page's last capture is recorded as unchanged
without extracting it again. Redirect responses recorded just before a page's response become
that capture's redirect chain, so the page is the one the first URL led to.
The capture keeps the record's WARC-Date as its time, and the file (name and sha256), the
record's ID and offset as its provenance. A record already imported (same record ID: an ARC
record, which has none, gets one made of the file's hash and its offset) is skipped, so
importing a file twice adds nothing.

A record that is cut short (fewer bytes than its Content-Length) or whose digest does not match
is reported with its offset and skipped; reading goes on with the next record the file holds.
Bodies are decoded by the fetcher's bounded decoders, never past ``max_body_bytes``.

Reading runs a little ahead of saving: an exchange that will need extracting has its extraction
started in the worker pool as soon as it is read, so that the workers extract while this process
reads and saves the records before it. Saving waits for the extraction and is unchanged (a page's
versions in the order of the file). What is read ahead is bounded (two extractions per worker,
``_AHEAD_RECORDS`` and ``_AHEAD_BYTES``), so memory does not grow with the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import uuid
import zlib
from collections import Counter, deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator
from urllib.parse import urljoin

from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import ChunkedDataReader
from warcio.recordloader import ArcWarcRecord
from warcio.timeutils import iso_date_to_datetime

from archiver.content.article import extract_in_worker
from archiver.content.urls import BadURL, canonical_url
from archiver.jobs.pages import PageJob, PageOutcome, Previous
from archiver.net.fetcher import (REDIRECT_STATUSES, FetchError, FetchResult, Origin, content_encoding,
                                  decode_body, kept_headers)
from archiver.jobs.workers import WorkerPool
from archiver.store.db import find_page_id, load_body

log = logging.getLogger(__name__)

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
NOT_MODIFIED = "server-not-modified"
_ORIGINAL = "x-archiver-original-"  # headers an archiver export fitted to the decoded body
_MAX_HOPS = 10_000  # redirect responses waiting for the page they lead to
_MAX_CHAIN = 20
_HOP_WINDOW = timedelta(minutes=1)  # a hop belongs to a response recorded at most this much later
_CHUNK = 64 * 1024
_BATCH_BYTES = 32 * 1024 * 1024
_AHEAD_RECORDS = 256  # exchanges read but not yet queued for saving
_AHEAD_BYTES = 16 * 1024 * 1024  # and their bodies
_KEPT_PROBLEMS = 100  # a file of bad records is reported as it is read, not kept in memory


class CorruptRecord(Exception):
    """A record cut short or failing its digest; the message says how."""


@dataclass
class ImportTally:
    """What importing one file did."""

    path: str
    records: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)  # new_snapshot, unchanged, failed
    skipped: Counter[str] = field(default_factory=Counter)  # why a record is not a page
    problems: list[str] = field(default_factory=list)  # "offset N: why", the first _KEPT_PROBLEMS bad records
    bad_records: int = 0

    def summary(self) -> str:
        o = self.outcomes
        skipped = ", ".join(f"{n} {why}" for why, n in sorted(self.skipped.items())) or "none"
        return (f"{self.path}: {self.records} records, {sum(o.values())} captures "
                f"({o['new_snapshot']} new snapshots, {o['unchanged']} unchanged, {o['failed']} failed); "
                f"skipped: {skipped}; {self.bad_records} bad records")


class _Records(ArchiveIterator):
    """warcio's reader, noting a gzip member that ends before its compressed stream does (a
    file cut inside a record's gzip trailer, after its content)."""

    cut_short: int | None = None

    def read_to_end(self, record: Any = None) -> None:
        finishing = self.record is not None and not self.member_info
        super().read_to_end(record)
        decompressor = getattr(self.reader, "decompressor", None)
        if finishing and self.member_info and decompressor is not None and not decompressor.eof:
            self.cut_short = self.member_info[0]


class _Extraction:
    """The worker pool as the page job of one exchange sees it: the extraction the job asks for
    was started when its record was read; any other call goes to the pool as usual. An
    extraction the job turns out not to need (the very body of the page's last capture) is left
    to finish unread: cancelling a running task would cost its worker."""

    def __init__(self, pool: WorkerPool, args: tuple[Any, ...]):
        self._pool = pool
        self._args = args
        self._future: Future[Any] | None = pool.submit(extract_in_worker, *args)

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        future = self._future
        if future is not None and fn is extract_in_worker and args == self._args and not kwargs:
            self._future = None
            return self._pool.result(future)
        return self._pool.call(fn, *args, **kwargs)


@dataclass
class _Ahead:
    """An exchange read from the file and not yet queued for saving."""

    fetched: FetchResult
    urls: set[str]  # its canonical requested and final URLs
    number: int  # in the order read
    extraction: _Extraction | None = None


class _AtRecordTime:
    """The session as a page job sees it, with the clock at the record's WARC-Date: the page's
    checks and changes are dated by the evidence, not by the import. ``pool`` is the extraction
    already started for the exchange, if any."""

    def __init__(self, session: Any, moment: datetime, pool: _Extraction | None = None):
        self._session = session
        self._moment = moment
        self.pool = pool if pool is not None else session.pool

    def now(self) -> datetime:
        return self._moment

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


class WarcImport:
    """Import WARC/ARC files into the session's archive, one ``run(path)`` per file."""

    def __init__(self, session: Any, on_outcome: Callable[[PageOutcome], None] | None = None,
                 on_problem: Callable[[str, str], None] | None = None):
        """``on_problem(path, "offset N: why")`` is called for each bad record as it is found."""
        self.session = session
        self.db = session.db
        self.max_bytes = session.config.max_body_bytes
        self.batch_size = max(4, 4 * (session.config.workers or 2))
        self.on_outcome = on_outcome
        self.on_problem = on_problem
        self._last_bad: int | None = None
        self._pending: list[PageJob] = []
        self._pending_bytes = 0
        self._ahead: deque[_Ahead] = deque()
        self._ahead_bytes = 0
        self._read = 0
        self._newest_ahead: dict[str, tuple[int, str]] = {}  # URL: its newest body read ahead (number, sha256)
        self._extracting_ahead = 0
        self._ahead_extractions = 2 * session.pool.size  # one running and one waiting per worker
        self.tally = ImportTally("")
        self._hops: dict[str, tuple[dict[str, Any], datetime]] = {}  # redirect target: (hop, when)
        self.db.execute("CREATE TEMP TABLE IF NOT EXISTS warc_seen (record_id TEXT PRIMARY KEY, "
                        "digest TEXT, uri TEXT, date TEXT, sha256 TEXT)")
        self.db.execute("CREATE INDEX IF NOT EXISTS temp.warc_seen_digest ON warc_seen (digest)")
        self.db.execute("CREATE INDEX IF NOT EXISTS temp.warc_seen_uri ON warc_seen (uri, date)")

    def run(self, path: Path) -> ImportTally:
        """Import one file (OSError when it cannot be read at all)."""
        self.tally = tally = ImportTally(str(path))
        self._hops.clear()
        self._last_bad = None
        source = f"{path.name} sha256:{_file_sha256(path)}"
        with open(path, "rb") as stream:
            kind = _file_kind(stream)
            if kind is None:
                self._problem(0, "not a WARC or ARC file")
                return tally
            for offset, record in self._records(stream):
                tally.records += 1
                try:
                    self._take(record, source, offset, arc=kind == "arc")
                except CorruptRecord as exc:
                    self._problem(offset, str(exc))
                self._queue_ahead(everything=False)
        self._queue_ahead(everything=True)
        self._flush()
        return tally

    def _problem(self, offset: int, why: str) -> None:
        """Report a bad record once (warcio may stumble on it again when it moves past it)."""
        if offset == self._last_bad:
            return
        self._last_bad = offset
        tally, line = self.tally, f"offset {offset}: {why}"
        tally.bad_records += 1
        if len(tally.problems) < _KEPT_PROBLEMS:
            tally.problems.append(line)
        if self.on_problem is not None:
            self.on_problem(tally.path, line)

    # -- reading the file --------------------------------------------------------------------

    def _records(self, stream: BinaryIO) -> Iterator[tuple[int, ArcWarcRecord]]:
        """Every record with its offset. Where warcio cannot go on, the failure is reported at
        the offset of the record it was reading, and reading starts again at the next record."""
        stream.seek(0)
        gzipped = stream.read(2) == b"\x1f\x8b"
        start: int | None = 0
        while start is not None:
            stream.seek(start)
            records = _Records(stream, arc2warc=True, check_digests=True)
            try:
                for record in self._quietly(records):
                    yield records.offset, record
            except Exception as exc:  # warcio parsing untrusted bytes: whatever it raises is about this record
                self._problem(records.offset, _one_line(exc) or type(exc).__name__)
                start = _next_record_start(stream, records.offset, gzipped)
                continue
            if records.offset < stream.seek(0, io.SEEK_END):
                self._problem(records.offset, "the file ends inside a record")
            return

    def _quietly(self, records: "_Records") -> Iterator[ArcWarcRecord]:
        while True:
            with _warnings_logged(self.tally.path):
                record = next(records, None)
            if records.cut_short is not None:
                self._problem(records.cut_short, "its gzip member is cut short (the file ends inside it)")
                records.cut_short = None
            if record is None:
                return
            yield record

    def _take(self, record: ArcWarcRecord, source: str, offset: int, arc: bool) -> None:
        """Read one record to its end and queue the exchange it holds, if it is a page's."""
        try:
            raw, too_large = _read_block(record, self.max_bytes)
        except CorruptRecord:
            raise
        except Exception as exc:  # warcio reading untrusted bytes: whatever it raises is about this record
            raise CorruptRecord(f"unreadable {record.rec_type} record: {_one_line(exc) or type(exc).__name__}") from None
        headers, tally = record.rec_headers, self.tally
        if record.rec_type not in ("response", "resource", "revisit"):
            tally.skipped[f"{record.rec_type} records"] += 1
            return
        record_id = headers.get_header("WARC-Record-ID")
        if arc or not record_id:  # ARC records have no ID of their own: one made of file and offset
            record_id = f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{source}#{offset}')}>"
        if self.db.execute("SELECT 1 FROM captures WHERE warc_record_id = ?", [record_id]).fetchone():
            tally.skipped["already imported"] += 1
            return
        if self._remember_hop(record):
            tally.skipped["redirect hops (kept with the page they lead to)"] += 1
            return
        why_not = self._why_not_a_page(record)
        if why_not:
            tally.skipped[why_not] += 1
            return
        fetched = self._exchange(record, raw, too_large, Origin(source, record_id, offset))
        if fetched is not None:
            self._read_ahead(fetched)

    def _remember_hop(self, record: ArcWarcRecord) -> bool:
        """Keep a redirect response for the page it leads to; True if the record is one."""
        status, http = _status(record), record.http_headers
        location = http.get_header("location") if http is not None and record.rec_type == "response" else None
        if status not in REDIRECT_STATUSES or not location:
            return False
        uri = str(record.rec_headers.get_header("WARC-Target-URI"))
        try:
            target = canonical_url(urljoin(uri, location.strip()))
            canonical_url(uri)
        except (BadURL, ValueError):
            return False
        if len(self._hops) >= _MAX_HOPS:
            self._hops.pop(next(iter(self._hops)))
        moment = datetime.fromisoformat(_iso(record.rec_headers.get_header("WARC-Date")))
        self._hops[target] = ({"url": uri, "status": status, "location": urljoin(uri, location.strip())}, moment)
        return True

    def _redirects_to(self, uri: str, moment: datetime) -> tuple[dict[str, Any], ...]:
        """The redirect hops recorded just before that lead to ``uri``, first hop first."""
        chain: list[dict[str, Any]] = []
        target = canonical_url(uri)
        while target in self._hops and len(chain) <= _MAX_CHAIN:
            hop, when = self._hops[target]
            if not timedelta(0) <= moment - when <= _HOP_WINDOW:
                break
            del self._hops[target]
            chain.insert(0, hop)
            target = canonical_url(hop["url"])
        return tuple(chain)

    def _why_not_a_page(self, record: ArcWarcRecord) -> str | None:
        uri = record.rec_headers.get_header("WARC-Target-URI") or ""
        try:
            canonical_url(uri)
        except BadURL:
            return "not http(s) URLs"
        status = _status(record)
        if status is not None and not (200 <= status < 300 or status == 304):
            return f"status {status}"
        media = _media_type(_content_type(record))
        if media and media not in HTML_TYPES:
            return "not HTML"
        return None

    # -- turning a record into an exchange -----------------------------------------------------

    def _exchange(self, record: ArcWarcRecord, raw: bytes, too_large: bool,
                  origin: Origin) -> FetchResult | None:
        """The exchange a record holds, as the fetcher would have returned it (None: a revisit
        whose original is nowhere to be found)."""
        headers = record.rec_headers
        uri = str(headers.get_header("WARC-Target-URI"))
        http = record.http_headers if record.rec_type != "resource" else None
        content_type = _content_type(record)
        pairs = list(http.headers) if http is not None else [("Content-Type", content_type)] if content_type else []
        status = _status(record) or 200
        started_at = _iso(headers.get_header("WARC-Date"))
        hops = self._redirects_to(uri, datetime.fromisoformat(started_at))
        fields = {"requested_url": hops[0]["url"] if hops else uri, "final_url": uri, "status": status,
                  "headers": _restored(kept_headers(pairs)), "redirects": hops,
                  "started_at": started_at, "elapsed_ms": None,
                  "ip_address": headers.get_header("WARC-IP-Address"), "origin": origin}
        if record.rec_type == "revisit":
            if status == 304 or NOT_MODIFIED in (headers.get_header("WARC-Profile") or ""):
                return FetchResult(**{**fields, "status": 304})
            body = self._revisited_body(record)
            if body is None:
                self.tally.skipped["revisits of records not imported"] += 1
                return None
            return FetchResult(**fields, body=body)
        if too_large:
            return FetchResult(**fields, error="too_large", error_detail=f"record body larger than {self.max_bytes} bytes")
        try:
            body = _decoded(raw, pairs, self.max_bytes)
        except FetchError as exc:
            return FetchResult(**fields, error=exc.kind, error_detail=str(exc))
        result = FetchResult(**fields, body=body)
        self._remember(record, uri, result)
        return result

    def _remember(self, record: ArcWarcRecord, uri: str, result: FetchResult) -> None:
        """Note where this body can be found again, for revisits later in the file."""
        if result.body_sha256 is None:
            return
        headers = record.rec_headers
        self.db.execute("INSERT INTO temp.warc_seen (record_id, digest, uri, date, sha256) VALUES (?, ?, ?, ?, ?) "
                        "ON CONFLICT (record_id) DO UPDATE SET digest = excluded.digest, uri = excluded.uri, "
                        "date = excluded.date, sha256 = excluded.sha256",
                        [result.origin.record_id if result.origin else None,
                         headers.get_header("WARC-Payload-Digest"), uri, headers.get_header("WARC-Date"),
                         result.body_sha256])

    def _revisited_body(self, record: ArcWarcRecord) -> bytes | None:
        """The body of the record a revisit stands for, from this import or an earlier one."""
        headers = record.rec_headers
        refers_to = headers.get_header("WARC-Refers-To")
        digest = headers.get_header("WARC-Payload-Digest")
        lookups = [("SELECT sha256 FROM temp.warc_seen WHERE record_id = ?", [refers_to]),
                   ("SELECT body_sha256 FROM captures WHERE warc_record_id = ?", [refers_to]),
                   ("SELECT sha256 FROM temp.warc_seen WHERE digest = ?", [digest]),
                   ("SELECT sha256 FROM temp.warc_seen WHERE uri = ? AND date = ?",
                    [headers.get_header("WARC-Refers-To-Target-URI"), headers.get_header("WARC-Refers-To-Date")])]
        for sql, params in lookups:
            if any(p is None for p in params):
                continue
            row = self.db.execute(sql, params).fetchone()
            if row is not None and row[0]:
                body = self._body_waiting(row[0]) or load_body(self.db, row[0])
                if body is None:  # its original is still on its way to be saved
                    self._queue_ahead(everything=True)
                    self._flush()
                    body = load_body(self.db, row[0])
                return body
        return None

    def _body_waiting(self, sha256: str) -> bytes | None:
        """A body read from this file that is not saved yet, found by its sha256."""
        waiting = [job.fetched for job in self._pending if job.fetched] + [a.fetched for a in self._ahead]
        return next((f.body for f in reversed(waiting) if f.body_sha256 == sha256), None)

    # -- reading ahead -------------------------------------------------------------------------

    def _read_ahead(self, fetched: FetchResult) -> None:
        """Hold an exchange until its turn to be saved, its extraction started if it needs one."""
        self._read += 1
        urls = {canonical_url(fetched.requested_url), canonical_url(fetched.final_url)}
        ahead = _Ahead(fetched, urls, self._read)
        if fetched.ok and fetched.body and fetched.body_sha256:
            if fetched.body_sha256 != self._last_body_of(urls):
                limit = self.session.config.max_extract_bytes
                ahead.extraction = _Extraction(self.session.pool, (fetched.body[:limit], fetched.final_url,
                                                                   fetched.content_type, limit))
                self._extracting_ahead += 1
            self._newest_ahead.update(dict.fromkeys(urls, (ahead.number, fetched.body_sha256)))
        self._ahead.append(ahead)
        self._ahead_bytes += len(fetched.body or b"")

    def _last_body_of(self, urls: set[str]) -> str | None:
        """The sha256 of the body the page job will compare this page's next one with: the newest
        read before it, else the page's last good capture. The same body is not extracted."""
        newest = [self._newest_ahead[url] for url in urls if url in self._newest_ahead]
        if newest:
            return max(newest)[1]
        for job in reversed(self._pending):
            earlier = job.fetched
            if earlier is not None and earlier.ok and earlier.body and urls & {
                    job.canonical, canonical_url(earlier.final_url)}:
                return earlier.body_sha256
        return self._previous(urls).body_sha256

    def _queue_ahead(self, everything: bool) -> None:
        """Queue for saving, oldest first, what is read ahead beyond the bounds (or everything)."""
        while self._ahead and (everything or len(self._ahead) > _AHEAD_RECORDS or self._ahead_bytes > _AHEAD_BYTES
                               or self._extracting_ahead > self._ahead_extractions):
            ahead = self._ahead.popleft()
            self._ahead_bytes -= len(ahead.fetched.body or b"")
            self._extracting_ahead -= ahead.extraction is not None
            for url in ahead.urls:
                if self._newest_ahead.get(url, (0,))[0] == ahead.number:
                    del self._newest_ahead[url]
            self._queue(ahead.fetched, ahead.extraction)

    # -- saving, as a fetch saves --------------------------------------------------------------

    def _queue(self, fetched: FetchResult, extraction: _Extraction | None) -> None:
        urls = {canonical_url(fetched.requested_url), canonical_url(fetched.final_url)}
        if any(urls & {job.canonical, canonical_url(job.fetched.final_url)} for job in self._pending
               if job.fetched is not None):
            self._flush()  # versions of one page are saved in the order of the file
        moment = datetime.fromisoformat(fetched.started_at)
        self._pending.append(PageJob(_AtRecordTime(self.session, moment, extraction), fetched.requested_url,
                                     previous=self._previous(urls), fetched=fetched))
        self._pending_bytes += len(fetched.body or b"")
        if len(self._pending) >= self.batch_size or self._pending_bytes >= _BATCH_BYTES:
            self._flush()

    def _previous(self, urls: set[str]) -> Previous:
        """What the page's last good capture left, as a re-check is given it: a 304, or the very
        body of that capture, is recorded as unchanged without extracting it again."""
        page_id = find_page_id(self.db, *sorted(urls))
        row = self.db.execute("SELECT etag, last_modified, last_body_sha256 FROM pages WHERE id = ?",
                              [page_id]).fetchone() if page_id is not None else None
        return Previous(*row) if row is not None else Previous()

    def _flush(self) -> None:
        """Extract and save what is queued (extraction overlapping, one writer, as a fetch)."""
        jobs, self._pending, self._pending_bytes = self._pending, [], 0
        for outcome in self.session.run(jobs):
            self.tally.outcomes[outcome.result] += 1
            if self.on_outcome is not None:
                self.on_outcome(outcome)


# -- helpers -----------------------------------------------------------------------------------

def _read_block(record: ArcWarcRecord, limit: int) -> tuple[bytes, bool]:
    """The rest of a record's block (after its HTTP headers), kept up to ``limit`` bytes and read
    to the end either way; (bytes, whether there were more). CorruptRecord when the block ends
    before its Content-Length or its digest does not match."""
    length = record.rec_headers.get_header("Content-Length") or ""
    if not record.rec_type or not length.strip().isdigit():
        raise CorruptRecord("record headers cut short (no WARC-Type, or no Content-Length)")
    kept, size, stream = [], 0, record.raw_stream
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:
            break
        if size <= limit:
            kept.append(chunk)
        size += len(chunk)
    missing = getattr(stream, "limit", 0)
    if missing:
        raise CorruptRecord(f"{record.rec_type} record cut short: {missing} bytes missing")
    checker = getattr(record, "digest_checker", None)
    if checker is not None and checker.passed is False:
        raise CorruptRecord(f"{record.rec_type} record fails its digest ({'; '.join(checker.problems)})")
    return b"".join(kept)[:limit + 1], size > limit


def _decoded(raw: bytes, pairs: list[tuple[str, str]], limit: int) -> bytes:
    """An HTTP payload as the fetcher stores it: de-chunked, one Content-Encoding layer decoded."""
    names = {k.lower(): v for k, v in pairs}
    chunks: Iterator[bytes] = iter([raw])
    if "chunked" in names.get("transfer-encoding", "").lower():
        reader = ChunkedDataReader(io.BytesIO(raw))
        chunks = iter(lambda: reader.read(_CHUNK), b"")
    return decode_body(chunks, content_encoding(names.get("content-encoding", "")), limit)


def _restored(headers: dict[str, str]) -> dict[str, str]:
    """Headers as the server sent them: an archiver export's X-Archiver-Original-* put back."""
    restored = {k: v for k, v in headers.items() if not k.startswith(_ORIGINAL)}
    for name, value in headers.items():
        if name.startswith(_ORIGINAL):
            restored[name.removeprefix(_ORIGINAL)] = value
    return restored


def _status(record: ArcWarcRecord) -> int | None:
    if record.rec_type == "resource" or record.http_headers is None:
        return None
    try:
        return int(record.http_headers.get_statuscode())
    except (TypeError, ValueError):
        return None


def _content_type(record: ArcWarcRecord) -> str | None:
    if record.rec_type != "resource" and record.http_headers is not None:
        return record.http_headers.get_header("content-type")
    return record.rec_headers.get_header("Content-Type")


def _media_type(content_type: str | None) -> str | None:
    return content_type.split(";", 1)[0].strip().lower() or None if content_type else None


def _iso(warc_date: str | None) -> str:
    """A WARC-Date as the archive's time text, to the millisecond."""
    moment = iso_date_to_datetime(warc_date or "", tz_aware=True)
    return moment.isoformat(timespec="milliseconds")


def _file_kind(stream: BinaryIO) -> str | None:
    """"warc" or "arc" by how the file (once gunzipped) begins; None for anything else."""
    head = stream.read(4096)
    if head.startswith(b"\x1f\x8b"):
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 64)
        except zlib.error:
            return None
    head = head.lstrip()
    if head.startswith(b"WARC/"):
        return "warc"
    return "arc" if head.startswith(b"filedesc://") else None


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _next_record_start(stream: BinaryIO, after: int, gzipped: bool) -> int | None:
    """Where the next record may begin after the one at ``after``: a gzip member's magic, or a
    WARC version line. None at the end of the file."""
    marker = b"\x1f\x8b\x08" if gzipped else b"WARC/1."
    position = after + 1
    stream.seek(position)
    tail = b""
    while True:
        chunk = stream.read(1024 * 1024)
        if not chunk:
            return None
        data = tail + chunk
        found = data.find(marker)
        if found >= 0:
            return position - len(tail) + found
        tail = data[-(len(marker) - 1):]
        position += len(chunk)


@contextlib.contextmanager
def _warnings_logged(path: str) -> Iterator[None]:
    """warcio writes its warnings (a record not followed by blank lines) to stderr: they go to
    the log instead, as one line."""
    buffer = io.StringIO()
    with contextlib.redirect_stderr(buffer):
        yield
    if buffer.getvalue().strip():
        log.warning("%s: %s", path, _one_line(buffer.getvalue()))


def _one_line(value: Any) -> str:
    return " ".join(str(value).split())

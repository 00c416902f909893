"""The archive in one SQLite file: schema, transactions, and every read and write of rows.

Two layers (see DESIGN.md): captures (immutable evidence, one per HTTP exchange, bodies stored
once per sha256, zstd-compressed) and snapshots (one per distinct version of a page). Each unit
of work is one ``BEGIN IMMEDIATE`` transaction, retried when another process holds the lock.
"""

from __future__ import annotations

import atexit
import gc
import gzip
import json
import logging
import random
import sqlite3
import threading
import time
import weakref
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Mapping

import sqlite_utils
import zstandard
from sqlite_utils import Migrations

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000
migrations = Migrations("archiver")


class StoreError(Exception):
    """The database cannot be opened or used; the message says which file and why."""


def utcnow() -> str:
    """Now, as aware-UTC ISO 8601 text (the one time format in the archive)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def parse_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def open_db(path: str | Path, *, readonly: bool = False, migrate: bool = True) -> sqlite_utils.Database:
    """Open (creating if needed) the archive at ``path``, in WAL mode, with foreign keys on."""
    path = Path(path)
    try:
        if not readonly:
            path.parent.mkdir(parents=True, exist_ok=True)
        uri = f"file:{path}?mode=ro" if readonly else str(path)
        conn = sqlite3.connect(uri, uri=readonly, timeout=BUSY_TIMEOUT_MS / 1000,
                               isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        # No sqlite-utils plugins: none has any business in the archive's connection, and
        # finding them means reading the metadata of every installed package (10-30 ms).
        db = sqlite_utils.Database(conn, execute_plugins=False)
        if not readonly:
            _retry_busy(lambda: conn.execute("PRAGMA journal_mode = WAL"))
            conn.execute("PRAGMA synchronous = NORMAL")
            if migrate and migrations.pending(db):
                _apply_migrations(db)
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(f"cannot open database {path}: {exc}") from None
    _open_databases.add(db)
    return db


# Every database opened and not yet garbage, closed at exit: the command line leaves without the
# interpreter's teardown (archiver.entry), and closing is what folds the write-ahead log back
# into the file and removes it, leaving one file a user can copy.
_open_databases: "weakref.WeakSet[sqlite_utils.Database]" = weakref.WeakSet()


@atexit.register
def close_databases() -> None:
    # First, always: a cursor left in a reference cycle (a half-read query) keeps its connection
    # open after the Database itself is gone from the set, and with it the write-ahead log.
    gc.collect()
    for db in list(_open_databases):
        try:
            db.conn.close()
        except sqlite3.Error as exc:
            log.warning("closing the database at exit: %s", exc)


def _apply_migrations(db: sqlite_utils.Database) -> None:
    """Apply what is pending while holding the write lock from the first look to the last write:
    processes opening a new archive at the same moment take turns, and each finds done what the
    ones before it did (sqlite-utils runs each migration in a savepoint of this transaction)."""
    with transaction(db):
        migrations.apply(db)


def _retry_busy(action: Any, attempts: int = 20) -> Any:
    for attempt in range(attempts):
        try:
            return action()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.05 + random.random() * 0.2)
    return None


@contextmanager
def transaction(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """One unit of work: ``BEGIN IMMEDIATE`` (retried while another writer holds the lock), commit or roll back.
    Inside a unit already open on ``db`` it joins that one (the cluster's writer records a
    result's idempotency key in the very transaction that saves the result)."""
    if db.conn.in_transaction:
        yield db
        return
    _retry_busy(lambda: db.conn.execute("BEGIN IMMEDIATE"))
    try:
        yield db
    except BaseException:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise
    else:
        try:
            _retry_busy(lambda: db.conn.execute("COMMIT"))
        except sqlite3.Error as exc:  # disk full, I/O error: nothing of this unit is kept
            if db.conn.in_transaction:
                db.conn.execute("ROLLBACK")
            raise StoreError(f"cannot write to the archive: {exc}") from None


# -- schema ------------------------------------------------------------------------------------

@migrations()
def m001_archive(db: sqlite_utils.Database) -> None:
    db.table("bodies").create({"sha256": str, "size": int, "media_type": str, "charset": str,
                         "encoding": str, "data": bytes}, pk="sha256")
    db.table("feeds").create({
        "id": int, "url": str, "title": str, "site_url": str, "etag": str, "last_modified": str,
        "next_check_at": str, "last_checked_at": str, "last_status": int, "error_count": int,
        "last_error": str, "state": str, "added_at": str, "source": str, "ttl_seconds": int,
        "last_body_sha256": str, "redirect_target": str, "redirect_seen": int,
        "last_new_entry_at": str, "entry_count": int,
    }, pk="id", not_null={"url", "state"}, defaults={"state": "active", "error_count": 0,
                                                     "redirect_seen": 0, "entry_count": 0})
    db.table("feeds").create_index(["url"], unique=True)
    db.table("feeds").create_index(["next_check_at"])
    db.table("pages").create({
        "id": int, "url": str, "title": str, "first_seen_at": str, "next_check_at": str,
        "last_checked_at": str, "last_status": int, "error_count": int, "last_error": str,
        "snapshot_count": int, "state": str, "watch_every": float, "last_changed_at": str,
    }, pk="id", not_null={"url", "state"}, defaults={"state": "active", "error_count": 0,
                                                     "snapshot_count": 0})
    db.table("pages").create_index(["url"], unique=True)
    db.table("pages").create_index(["next_check_at"])
    db.table("page_urls").create({"url": str, "page_id": int, "first_seen_at": str}, pk="url",
                           foreign_keys=[("page_id", "pages", "id")])
    db.table("captures").create({
        "id": int, "kind": str, "requested_url": str, "final_url": str, "status": int,
        "headers": str, "request_headers": str, "redirects": str, "started_at": str,
        "elapsed_ms": int, "size": int, "body_sha256": str, "error": str, "error_detail": str,
        "outcome": str, "feed_id": int, "page_id": int,
    }, pk="id", foreign_keys=[("body_sha256", "bodies", "sha256"), ("feed_id", "feeds", "id"),
                              ("page_id", "pages", "id")])
    db.table("captures").create_index(["page_id"])
    db.table("captures").create_index(["feed_id"])
    db.table("captures").create_index(["started_at"])
    db.table("entries").create({
        "id": int, "feed_id": int, "guid": str, "page_id": int, "link": str, "title": str,
        "author": str, "published": str, "published_raw": str, "updated": str, "summary": str,
        "categories": str, "first_seen_at": str, "capture_id": int,
    }, pk="id", not_null={"feed_id", "guid"}, foreign_keys=[
        ("feed_id", "feeds", "id"), ("page_id", "pages", "id"), ("capture_id", "captures", "id")])
    db.table("entries").create_index(["feed_id", "guid"], unique=True)
    db.table("entries").create_index(["page_id"])
    db.table("snapshots").create({
        "id": int, "page_id": int, "version": int, "capture_id": int, "entry_id": int,
        "captured_at": str, "content_sha256": str, "title": str, "author": str,
        "published": str, "sitename": str, "hostname": str, "language": str,
        "description": str, "categories": str, "tags": str, "canonical_url": str, "text": str,
        "extractor": str, "metadata_sources": str,
    }, pk="id", not_null={"page_id", "capture_id", "content_sha256"}, foreign_keys=[
        ("page_id", "pages", "id"), ("capture_id", "captures", "id"), ("entry_id", "entries", "id")])
    db.table("snapshots").create_index(["page_id", "version"], unique=True)
    db.table("snapshots").create_index(["content_sha256"])
    db.table("snapshots").enable_fts(["title", "text"], create_triggers=True, tokenize="porter")


# -- rows ------------------------------------------------------------------------------------------
# The hot paths (every capture, every poll) use these instead of sqlite-utils' table methods, which
# read the table's layout again on every call; names come from our own code, never from input.

def insert_row(db: sqlite_utils.Database, table: str, row: Mapping[str, Any]) -> int:
    """INSERT one row; return its rowid."""
    columns = ", ".join(f"[{c}]" for c in row)
    marks = ", ".join("?" * len(row))
    cursor = db.conn.execute(f"INSERT INTO [{table}] ({columns}) VALUES ({marks})", list(row.values()))
    return int(cursor.lastrowid or 0)


def update_row(db: sqlite_utils.Database, table: str, row_id: int, changes: Mapping[str, Any]) -> None:
    """UPDATE the columns in ``changes`` of one row, by id."""
    if changes:
        assignments = ", ".join(f"[{c}] = ?" for c in changes)
        db.conn.execute(f"UPDATE [{table}] SET {assignments} WHERE id = ?", [*changes.values(), row_id])


def get_row(db: sqlite_utils.Database, table: str, row_id: int) -> dict[str, Any]:
    """One row, by id, as a dict (KeyError when there is none)."""
    row = _first(db, f"SELECT * FROM [{table}] WHERE id = ?", [row_id])
    if row is None:
        raise KeyError(f"no row {row_id} in {table}")
    return row


def _first(db: sqlite_utils.Database, sql: str, params: list[Any]) -> dict[str, Any] | None:
    cursor = db.conn.execute(sql, params)
    values = cursor.fetchone()
    return None if values is None else dict(zip((d[0] for d in cursor.description), values))


# -- bodies and captures -------------------------------------------------------------------------

# zstd at level 3 compresses HTML as tightly as gzip at level 6 in an eighth of the CPU time, and
# the writer compresses every new body. Bodies stored as gzip by earlier versions stay readable.
#
# A body that repeats most of another's bytes (a page re-checked after a small change, a new page
# in its site's template) is compressed against that other body, used as zstd's raw-content
# dictionary: encoding "zstd-dict", with the other body's sha256 in ``dict_sha256``. Bodies are
# never deleted or rewritten, so what a body names stays there; ``chain`` counts the bodies
# behind it, and a body whose reference is already MAX_CHAIN deep starts a new chain, so reading
# any body decompresses at most MAX_CHAIN + 1 of them.
_ZSTD_LEVEL = 3
MAX_CHAIN = 8
_CACHED_BYTES = 8_000_000  # per thread: a few recent bodies, never a few large ones
_local = threading.local()


def compress_body(body: bytes, reference: bytes | None = None) -> tuple[str, bytes]:
    """(encoding, data) for the ``bodies`` table: plain zstd, or zstd against ``reference``."""
    if reference is None:
        compressor = getattr(_local, "zstd", None)
        if compressor is None:
            compressor = _local.zstd = zstandard.ZstdCompressor(level=_ZSTD_LEVEL)
        return "zstd", compressor.compress(body)
    dictionary = zstandard.ZstdCompressionDict(reference, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
    return "zstd-dict", zstandard.ZstdCompressor(level=_ZSTD_LEVEL, dict_data=dictionary).compress(body)


def decompress_body(encoding: str | None, data: bytes, reference: bytes | None = None) -> bytes:
    if encoding == "zstd-dict":
        if reference is None:
            raise StoreError("a zstd-dict body needs the body it was compressed against")
        dictionary = zstandard.ZstdCompressionDict(reference, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
        return zstandard.ZstdDecompressor(dict_data=dictionary).decompress(data)
    if encoding == "zstd":
        return zstandard.ZstdDecompressor().decompress(data)
    if encoding == "gzip":
        return gzip.decompress(data)
    return data


def save_body(db: sqlite_utils.Database, result: Any, reference: str | None = None) -> str | None:
    """Store the body of a ``FetchResult`` once per sha256 (compressed, against the body
    ``reference`` names when there is one); return its hash (None when there is no body)."""
    digest, body = result.body_sha256, result.body
    if digest is None:
        return None
    if db.execute("SELECT 1 FROM bodies WHERE sha256 = ?", [digest]).fetchone() is None:
        chain, reference_body = _usable_reference(db, reference, digest)
        encoding, data = compress_body(body, reference_body)
        insert_row(db, "bodies", {"sha256": digest, "size": len(body), "media_type": result.media_type,
                                  "encoding": encoding, "data": data,
                                  "dict_sha256": reference if reference_body is not None else None,
                                  "chain": chain})
        _remember(digest, body)
    return digest


def _usable_reference(db: sqlite_utils.Database, reference: str | None,
                      digest: str) -> tuple[int, bytes | None]:
    """(chain, bytes) of the reference a new body may be compressed against; (0, None) when
    there is none, or when its chain is already as long as it may be."""
    if not reference or reference == digest:
        return 0, None
    row = db.execute("SELECT coalesce(chain, 0) FROM bodies WHERE sha256 = ?", [reference]).fetchone()
    if row is None or row[0] >= MAX_CHAIN:
        return 0, None
    return row[0] + 1, load_body(db, reference)


def load_body(db: sqlite_utils.Database, sha256: str) -> bytes | None:
    """A stored body, decompressed (through the bodies it was compressed against); None if absent."""
    row = db.execute("SELECT encoding, dict_sha256 FROM bodies WHERE sha256 = ?", [sha256]).fetchone()
    if row is None:
        return None
    cached = (getattr(_local, "bodies", None) or {}).get(sha256)
    if cached is not None:
        return cached
    encoding, dict_sha = row
    data = db.execute("SELECT data FROM bodies WHERE sha256 = ?", [sha256]).fetchone()[0]
    reference = load_body(db, dict_sha) if encoding == "zstd-dict" and dict_sha else None
    body = decompress_body(encoding, data, reference)
    _remember(sha256, body)
    return body


def _remember(sha256: str, body: bytes) -> None:
    """Keep the last few bodies read or written: the next re-check of a page, or the next body
    of a chain, is compressed or read against one of them."""
    if len(body) > _CACHED_BYTES // 4:
        return
    cache = getattr(_local, "bodies", None)
    if cache is None:
        cache = _local.bodies = {}
    cache[sha256] = body
    held = sum(len(kept) for kept in cache.values())
    while held > _CACHED_BYTES:
        held -= len(cache.pop(next(iter(cache))))


def body_reference(db: sqlite_utils.Database, page_id: int, url: str) -> str | None:
    """The body a page's new body is best compressed against: its own last one, else the last
    body of another page of the same site (``url`` is the page's canonical URL)."""
    row = db.execute("SELECT last_body_sha256 FROM pages WHERE id = ?", [page_id]).fetchone()
    if row is not None and row[0]:
        return str(row[0])
    scheme, _, rest = url.partition("://")
    site = f"{scheme}://{rest.split('/', 1)[0]}/"
    # Any page of the site will do (they share its template); the unique url index finds one
    # without scanning the site's pages.
    row = db.execute("SELECT last_body_sha256 FROM pages WHERE url >= ? AND url < ? "
                     "AND last_body_sha256 IS NOT NULL LIMIT 1", [site, site[:-1] + "0"]).fetchone()
    return str(row[0]) if row is not None else None


def save_capture(db: sqlite_utils.Database, result: Any, kind: str, *, outcome: str | None = None,
                 feed_id: int | None = None, page_id: int | None = None,
                 body_sha256: str | None = None) -> int:
    """Record one HTTP exchange (a ``FetchResult``), failed or not. Returns the capture id."""
    row = {
        "kind": kind, "requested_url": result.requested_url, "final_url": result.final_url,
        "status": result.status, "headers": json.dumps(dict(result.headers)),
        "request_headers": json.dumps(dict(result.request_headers)),
        "redirects": json.dumps(list(result.redirects)), "started_at": result.started_at,
        "elapsed_ms": result.elapsed_ms, "size": None if result.body is None else len(result.body),
        "body_sha256": body_sha256, "error": result.error, "error_detail": result.error_detail,
        "outcome": outcome, "feed_id": feed_id, "page_id": page_id, "ip_address": result.ip_address,
    }
    if result.origin is not None:  # read from an archive file, not fetched
        row.update(imported_from=result.origin.file, warc_record_id=result.origin.record_id,
                   warc_offset=result.origin.offset)
    return insert_row(db, "captures", row)


# -- pages ---------------------------------------------------------------------------------------

def find_page_id(db: sqlite_utils.Database, *urls: str | None) -> int | None:
    """The page any of these (canonical) URLs led to, trying them in order."""
    for url in dict.fromkeys(urls):  # a page's requested, final and declared URLs are mostly one
        if not url:
            continue
        row = db.execute("SELECT page_id FROM page_urls WHERE url = ?", [url]).fetchone()
        if row is None:
            row = db.execute("SELECT id FROM pages WHERE url = ?", [url]).fetchone()
        if row is not None:
            return int(row[0])
    return None


def ensure_page(db: sqlite_utils.Database, url: str, now: str, aliases: tuple[str, ...] = ()) -> int:
    """The id of the page for canonical ``url`` (created if new), with ``aliases`` pointing to it."""
    page_id = find_page_id(db, url)
    if page_id is None:
        page_id = insert_row(db, "pages", {"url": url, "first_seen_at": now, "state": "active",
                                           "snapshot_count": 0, "error_count": 0})
    add_aliases(db, page_id, (url, *aliases), now)
    return page_id


def add_aliases(db: sqlite_utils.Database, page_id: int, urls: tuple[str, ...], now: str) -> None:
    """Let each of ``urls`` lead to the page (a URL that already leads somewhere keeps its page)."""
    for url in dict.fromkeys(urls):
        if url:
            db.execute("INSERT OR IGNORE INTO page_urls (url, page_id, first_seen_at) VALUES (?, ?, ?)",
                       [url, page_id, now])


def latest_snapshot(db: sqlite_utils.Database, page_id: int) -> dict[str, Any] | None:
    return _first(db, "SELECT * FROM snapshots WHERE page_id = ? ORDER BY version DESC LIMIT 1", [page_id])


def snapshot_version(db: sqlite_utils.Database, page_id: int, version: int | None) -> dict[str, Any] | None:
    """Snapshot number ``version`` (1 = oldest) of a page, or its latest when None."""
    if version is None:
        return latest_snapshot(db, page_id)
    return _first(db, "SELECT * FROM snapshots WHERE page_id = ? AND version = ?", [page_id, version])


def iter_snapshots(db: sqlite_utils.Database, latest_only: bool = False,
                   batch: int = 500) -> Iterator[tuple[dict[str, Any], str]]:
    """Every snapshot (or each page's latest) with its page's URL, by page then version, read a
    batch at a time so that memory stays flat however large the archive."""
    where = "(s.page_id, s.version) > (?, ?)"
    if latest_only:
        where += " AND s.version = (SELECT max(version) FROM snapshots WHERE page_id = s.page_id)"
    sql = (f"SELECT s.*, p.url FROM snapshots s JOIN pages p ON p.id = s.page_id WHERE {where} "
           "ORDER BY s.page_id, s.version LIMIT ?")
    last = (0, 0)
    while True:
        cursor = db.conn.execute(sql, [*last, batch])
        names = [d[0] for d in cursor.description][:-1]
        rows = cursor.fetchall()
        for row in rows:
            yield dict(zip(names, row[:-1])), row[-1]
        if len(rows) < batch:
            return
        last = (rows[-1][names.index("page_id")], rows[-1][names.index("version")])


def insert_snapshot(db: sqlite_utils.Database, page_id: int, row: Mapping[str, Any],
                    changed_at: str | None = None) -> tuple[int, int]:
    """Append a new version to a page and bump its counters; return the snapshot's id and version.
    ``changed_at`` (default: the capture's time) restarts the page's re-check decay. Caller holds
    the transaction."""
    version = db.execute("SELECT coalesce(max(version), 0) + 1 FROM snapshots WHERE page_id = ?",
                         [page_id]).fetchone()[0]
    snapshot_id = insert_row(db, "snapshots", {**row, "page_id": page_id, "version": version})
    db.execute("UPDATE pages SET snapshot_count = snapshot_count + 1, title = ?, last_changed_at = ? "
               "WHERE id = ?", [row.get("title"), changed_at or row.get("captured_at"), page_id])
    return snapshot_id, int(version)


@migrations()
def m002_feed_history(db: sqlite_utils.Database) -> None:
    """Earlier URLs of feeds that moved (adopted permanent redirects), and per-host state."""
    db.table("feed_urls").create({"id": int, "feed_id": int, "url": str, "until": str, "reason": str},
                           pk="id", foreign_keys=[("feed_id", "feeds", "id")])
    db.table("feed_urls").create_index(["feed_id"])


@migrations()
def m003_daemon(db: sqlite_utils.Database) -> None:
    """One row per `archiver run`: who runs it, and its heartbeat (for `archiver status`)."""
    db.table("daemon").create({
        "id": int, "pid": int, "host": str, "started_at": str, "tick_seconds": float,
        "last_tick_at": str, "last_tick_summary": str, "ticks": int, "stopped_at": str,
    }, pk="id", defaults={"ticks": 0})


@migrations()
def m004_page_validators(db: sqlite_utils.Database) -> None:
    """What a re-check of a page needs to ask "changed?" cheaply: the last good capture's
    validators and body hash."""
    for column in ("etag", "last_modified", "last_body_sha256"):
        db.table("pages").add_column(column, str)


@migrations()
def m005_capture_provenance(db: sqlite_utils.Database) -> None:
    """Where each capture's evidence came from: the address the fetcher connected to, or, for a
    capture read from a WARC file, that file, the record's ID and its offset in the file."""
    captures = db.table("captures")
    captures.add_column("ip_address", str)
    captures.add_column("imported_from", str)
    captures.add_column("warc_record_id", str)
    captures.add_column("warc_offset", int)
    captures.create_index(["warc_record_id"])
    # an export writes each capture's snapshots after it: found by capture, not by a scan
    db.table("snapshots").create_index(["capture_id"])


@migrations()
def m006_reextraction(db: sqlite_utils.Database) -> None:
    """``snapshots.reextracted_from``: the snapshot a re-extraction of the same capture replaced
    (``archiver reextract``); NULL for snapshots made by a fetch."""
    # A plain ALTER TABLE: the snapshots table keeps its full-text triggers untouched.
    db.execute("ALTER TABLE snapshots ADD COLUMN reextracted_from INTEGER REFERENCES snapshots(id)")


@migrations()
def m007_changes(db: sqlite_utils.Database) -> None:
    """What changed, classified (one row per new version, removal or restoration of a page), and
    the outbox of notifications about it (one row per change and target, sent after commit)."""
    db.table("changes").create({
        "id": int, "page_id": int, "from_snapshot_id": int, "to_snapshot_id": int, "capture_id": int,
        "detected_at": str, "kinds": str, "words_added": int, "words_removed": int, "summary": str,
        "boring": int, "site": str,
    }, pk="id", not_null={"page_id", "capture_id", "detected_at", "kinds", "boring"},
        defaults={"words_added": 0, "words_removed": 0, "boring": 0},
        foreign_keys=[("page_id", "pages", "id"), ("from_snapshot_id", "snapshots", "id"),
                      ("to_snapshot_id", "snapshots", "id"), ("capture_id", "captures", "id")])
    db.table("changes").create_index(["detected_at"])
    db.table("changes").create_index(["page_id"])
    db.table("changes").create_index(["boring", "detected_at"])
    db.table("changes").create_index(["capture_id"], unique=True)  # one capture shows one change
    db.table("notifications").create({
        "id": int, "change_id": int, "target": str, "created_at": str, "attempts": int,
        "next_attempt_at": str, "last_error": str, "sent_at": str,
    }, pk="id", not_null={"change_id", "target", "created_at"}, defaults={"attempts": 0},
        foreign_keys=[("change_id", "changes", "id")])
    db.table("notifications").create_index(["change_id", "target"], unique=True)
    db.table("notifications").create_index(["sent_at", "next_attempt_at"])


@migrations()
def m008_maintenance(db: sqlite_utils.Database) -> None:
    """One row per full maintenance pass (`archiver maintain`, the daemon's weekly job): when,
    how long, and the file's size and free pages then."""
    db.table("maintenance").create({
        "id": int, "ran_at": str, "seconds": float, "file_bytes": int, "free_pages": int,
        "page_size": int, "checkpoint_busy": int, "summary": str,
    }, pk="id")


@migrations()
def m009_body_references(db: sqlite_utils.Database) -> None:
    """Bodies compressed against another body: which one (``dict_sha256``), and how many bodies
    stand behind it (``chain``). Existing bodies keep their encoding and stay as they are."""
    db.table("bodies").add_column("dict_sha256", str)
    db.table("bodies").add_column("chain", int)


@migrations()
def m010_site_boilerplate(db: sqlite_utils.Database) -> None:
    """The per-host boilerplate model (archiver.content.boilerplate): ``site_blocks``, the lines a
    host repeats across its pages, how often and whether they are dropped; ``site_hosts``, how many
    recent pages of each host were learned from; ``site_pages``, the pages counted."""
    db.table("site_blocks").create({
        "host": str, "block_hash": str, "sample": str, "pages_seen": int, "first_seen_at": str,
        "last_seen_at": str, "dropped": int, "reason": str,
    }, pk=("host", "block_hash"), not_null={"host", "block_hash"}, defaults={"pages_seen": 0, "dropped": 0})
    db.table("site_hosts").create({"host": str, "pages_learned": int, "updated_at": str}, pk="host",
                                  defaults={"pages_learned": 0})
    # which pages were counted, so that no page counts twice (a re-check, a re-extraction)
    db.table("site_pages").create({"page_id": int, "host": str, "learned_at": str}, pk="page_id",
                                  foreign_keys=[("page_id", "pages", "id")])


@migrations()
def m011_cluster_leases(db: sqlite_utils.Database) -> None:
    """Distributed mode (``broker_url``): ``lease_until`` on feeds and pages marks a row handed
    to the workers (not due again until then), and ``cluster_results`` holds the idempotency key
    of every result saved, so that a redelivered result is saved once."""
    for table in ("feeds", "pages"):
        db.table(table).add_column("lease_until", str)
    db.table("cluster_results").create({"key": str, "saved_at": str}, pk="key")
    db.table("cluster_results").create_index(["saved_at"])  # old keys are dropped every hour


@migrations()
def m012_scale_indexes(db: sqlite_utils.Database) -> None:
    """Indexes for what `archiver serve` shows by default at a million rows: the snapshots table
    newest first and its facets (site, language, host), the pages table's facets (state, status),
    the feeds table by last check, and the recent failures. Without them each of those pages read
    the whole table."""
    for table, column in (("snapshots", "captured_at"), ("snapshots", "sitename"),
                          ("snapshots", "language"), ("snapshots", "hostname"),
                          ("pages", "state"), ("pages", "last_status"), ("feeds", "last_checked_at")):
        db.table(table).create_index([column], if_not_exists=True)
    # Only the failed captures, newest first: the canned query recent_failures (metadata.json) has
    # this WHERE clause word for word, which is what lets SQLite use the index. Without it the
    # query walked every capture when few had failed (3,000,000 at full size).
    db.execute("CREATE INDEX IF NOT EXISTS idx_captures_failures ON captures(started_at) "
               "WHERE error IS NOT NULL OR status IS NULL OR status >= 400 "
               "OR (kind = 'page' AND outcome NOT IN ('new_snapshot', 'unchanged', 'feed'))")


# The facets `archiver serve` shows on a table's page by default (metadata.json), whose counts over
# the whole table are kept in facet_counts as rows are written, by the triggers below.
COUNTED_FACETS: dict[str, tuple[str, ...]] = {"snapshots": ("sitename", "language", "hostname"),
                                              "pages": ("state", "last_status")}


@migrations()
def m013_facet_counts(db: sqlite_utils.Database) -> None:
    """``facet_counts``: how many rows of a table have each value of a counted facet column (see
    COUNTED_FACETS), kept exact by triggers on every insert, delete and update. The snapshots
    page showed its three default facets by counting the whole index of each column, 200 ms at
    a million snapshots; with these counts an unfiltered page reads a few hundred rows instead.
    A filtered page or a search still counts its own rows (archiver/interfaces/counted_facets.py).
    ``value`` has no declared type so that each value keeps the type the table gave it."""
    db.execute("CREATE TABLE facet_counts (tbl TEXT NOT NULL, col TEXT NOT NULL, value, "
               "count INTEGER NOT NULL, PRIMARY KEY (tbl, col, value)) WITHOUT ROWID")
    _count_facets(db, "snapshots")


@migrations()
def m014_page_facet_counts(db: sqlite_utils.Database) -> None:
    """The pages page's default facets (``state``, ``last_status``) counted as well: 60 to 90 ms
    each at a million pages, which put that page near 200 ms on a busy machine."""
    _count_facets(db, "pages")


def facet_trigger(table: str, event: str) -> str:
    """The trigger that keeps ``table``'s facet counts on ``event`` (ai, ad, au): there once the
    migration counting the table has run."""
    return f"{table}_facets_{event}"


def _count_facets(db: sqlite_utils.Database, table: str) -> None:
    """Count ``table``'s counted facet columns into facet_counts, and keep them counted. A row
    updated without changing any of them (a page checked again) leaves the counts alone."""
    columns = COUNTED_FACETS[table]
    for column in columns:
        db.execute(f"INSERT INTO facet_counts (tbl, col, value, count) SELECT ?, ?, [{column}], "
                   f"count(*) FROM [{table}] WHERE [{column}] IS NOT NULL GROUP BY [{column}]",
                   [table, column])
    old, new = (_facet_count_change(table, columns, "old", "-1"),
                _facet_count_change(table, columns, "new", "1"))
    changed = " OR ".join(f"old.[{c}] IS NOT new.[{c}]" for c in columns)
    db.execute(f"CREATE TRIGGER [{facet_trigger(table, 'ai')}] AFTER INSERT ON [{table}] BEGIN\n"
               f"{new}\nEND")
    db.execute(f"CREATE TRIGGER [{facet_trigger(table, 'ad')}] AFTER DELETE ON [{table}] BEGIN\n"
               f"{old}\nEND")
    db.execute(f"CREATE TRIGGER [{facet_trigger(table, 'au')}] AFTER UPDATE OF "
               f"{', '.join(f'[{c}]' for c in columns)} ON [{table}] WHEN {changed} BEGIN\n"
               f"{old}\n{new}\nEND")


def _facet_count_change(table: str, columns: tuple[str, ...], row: str, step: str) -> str:
    """Trigger statements adding ``step`` to the count of each column's value in ``row`` (new, old)."""
    return "\n".join(
        f"  INSERT INTO facet_counts (tbl, col, value, count) SELECT '{table}', '{column}', "
        f"{row}.[{column}], {step} WHERE {row}.[{column}] IS NOT NULL "
        f"ON CONFLICT DO UPDATE SET count = count + {step};" for column in columns)


@migrations()
def m015_troubled_feeds_index(db: sqlite_utils.Database) -> None:
    """The feeds in trouble, for the front page (TROUBLED_FEEDS_SQL in
    archiver/interfaces/datasette_plugin.py, whose WHERE clause this is word for word, which is
    what lets SQLite use it): it read all 100,000 feeds at full size, 36 to 80 ms of the page."""
    db.execute("CREATE INDEX IF NOT EXISTS idx_feeds_trouble ON feeds(last_checked_at) "
               "WHERE state IN ('backoff', 'gone') OR error_count > 0")


@migrations()
def m016_unhealthy_feeds_index(db: sqlite_utils.Database) -> None:
    """The feeds whose health is not 'ok', for the canned query feed_health (metadata.json, whose
    WHERE clause this is word for word): it read all 100,000 feeds at full size, 40 to 80 ms."""
    db.execute("CREATE INDEX IF NOT EXISTS idx_feeds_unhealthy ON feeds(last_checked_at) "
               "WHERE state != 'active' OR last_status IN (401, 403) OR error_count > 0")

"""SECURITY.md §4 section F: durability and concurrency of the store (items 44-46, 48-51 as they
apply to `archiver fetch` and ``archiver.store.db``, and 47 with the daemon's checkpoint).

The invariants checked after every crash and every run (``assert_consistent``):
``PRAGMA integrity_check`` is ``ok``, foreign keys hold, no page has two snapshots with the same
content hash, versions are 1..n without gaps, each page's ``snapshot_count`` is its number of
snapshots, and every snapshot's capture belongs to the same page and holds a stored body.
"""

from __future__ import annotations

import ast
import multiprocessing
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from conftest import REPO, Site, db_rows, run_cli

from archiver.store.db import migrations, open_db, transaction

TOPICS = ["harbour", "railway", "library", "museum", "council", "bridge", "market", "school",
          "hospital", "airport", "stadium", "theatre", "park", "river", "forest", "orchard"]


def article(n: int) -> str:
    """Article number ``n``: distinct title and text, long enough to be extracted."""
    topic = TOPICS[n % len(TOPICS)]
    paragraphs = [
        f"Story {n}: the {topic} committee met on day {n} to discuss a plan that residents have "
        f"debated for {n + 3} years, with engineers presenting {n % 5 + 2} competing designs.",
        f"Officials said the {topic} project number {n} would cost less than expected, and that "
        f"work could begin within {n % 11 + 1} months if the regional government agreed.",
        f"Opponents of plan {n} asked for a public consultation before any money is spent, and a "
        f"vote on the {topic} proposal is expected at the next session of the council.",
    ]
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (f"<html><head><title>The {topic} plan, part {n}</title></head><body><article>"
            f"<h1>The {topic} plan, part {n}</h1>{body}</article></body></html>")


@pytest.fixture
def publisher() -> Iterator[Site]:
    server = Site("127.0.0.1")
    yield server
    server.close()


def assert_consistent(db: Path) -> None:
    """The invariants of the archive (see the module docstring)."""
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        queries = {
            "duplicate content per page": "SELECT page_id, content_sha256 FROM snapshots "
                                          "GROUP BY page_id, content_sha256 HAVING count(*) > 1",
            "version gaps": "SELECT page_id FROM snapshots GROUP BY page_id "
                            "HAVING max(version) != count(*) OR min(version) != 1",
            "snapshot_count drift": "SELECT p.id FROM pages p WHERE p.snapshot_count != "
                                    "(SELECT count(*) FROM snapshots s WHERE s.page_id = p.id)",
            "snapshot of another page's capture": "SELECT s.id FROM snapshots s JOIN captures c "
                                                  "ON c.id = s.capture_id WHERE c.page_id != s.page_id",
            "snapshot without a body": "SELECT s.id FROM snapshots s JOIN captures c ON c.id = "
                                       "s.capture_id LEFT JOIN bodies b ON b.sha256 = c.body_sha256 "
                                       "WHERE b.sha256 IS NULL",
            "capture of a missing body": "SELECT c.id FROM captures c LEFT JOIN bodies b ON "
                                         "b.sha256 = c.body_sha256 WHERE c.body_sha256 IS NOT NULL "
                                         "AND b.sha256 IS NULL",
        }
        for what, sql in queries.items():
            assert conn.execute(sql).fetchall() == [], what
    finally:
        conn.close()


def counts(db: Path) -> dict[str, int]:
    return {t: db_rows(db, f"SELECT count(*) FROM {t}")[0][0]
            for t in ("pages", "captures", "bodies", "snapshots", "page_urls")}


# -- F.44 kill -9 during ingestion ------------------------------------------------------------------

def test_kill_9_during_fetch_then_rerun(publisher: Site, tmp_path: Path) -> None:
    """SECURITY.md F.44 (and issue 2, done-when 7): `archiver fetch` of 100 pages is killed with SIGKILL (the whole process
    group: the CLI and its extraction workers) at random moments while it archives, 6 times.
    After every kill the archive passes ``integrity_check`` and every invariant; a final run
    completes and exits 0, and every page then has exactly one snapshot: nothing lost, nothing
    duplicated."""
    # 40 ms a page, as from a nearby server: the run lasts long enough to be interrupted
    urls = [publisher.route(f"/story/{n}", article(n), delay=0.04) for n in range(100)]
    listing = tmp_path / "urls.txt"
    listing.write_text("\n".join(urls) + "\n")
    db = tmp_path / "archive.db"
    rng = random.Random(44)
    killed_while_running = 0
    for _ in range(6):
        before = counts(db)["snapshots"] if db.exists() else 0
        proc = subprocess.Popen([sys.executable, "-m", "archiver", "fetch", "-i", str(listing)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        time.sleep(rng.uniform(0.8, 2.0))
        killed_while_running += proc.poll() is None
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the group this test started, by its id
        except ProcessLookupError:
            pass  # the run had already ended, workers and all
        proc.wait()
        if db.exists():
            assert_consistent(db)
            assert counts(db)["snapshots"] >= before
    assert killed_while_running >= 4
    assert counts(db)["snapshots"] < 100  # the kills did interrupt the archiving
    final = run_cli("fetch", "-i", str(listing))
    assert final.code == 0, final
    assert_consistent(db)
    per_page = db_rows(db, "SELECT p.url, count(s.id) FROM pages p LEFT JOIN snapshots s "
                           "ON s.page_id = p.id GROUP BY p.id")
    assert sorted(per_page) == sorted((url, 1) for url in urls)
    lines = final.out.splitlines()
    assert len(lines) == 100 and all(l.startswith(("new snapshot", "unchanged")) for l in lines)


# -- F.45 a writer while a reader holds a read transaction ----------------------------------------------

def test_writer_not_blocked_by_long_reader(publisher: Site, tmp_path: Path) -> None:
    """SECURITY.md F.45: a read-only reader (``mode=ro``, as Datasette opens it) holds
    ``BEGIN; SELECT ...`` for up to 10 s. Meanwhile a commit through ``archiver.store.db`` takes
    under 1 s, and a whole `archiver fetch` run commits and exits while the reader still holds
    its transaction (WAL mode). The reader keeps its consistent view until it ends."""
    first = publisher.route("/first", article(1))
    assert run_cli("fetch", first).code == 0
    db = tmp_path / "archive.db"
    assert db_rows(db, "PRAGMA journal_mode") == [("wal",)]

    reader = sqlite3.connect(f"file:{db}?mode=ro", uri=True, isolation_level=None)
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM snapshots").fetchone() == (1,)
    held_since = time.monotonic()
    try:
        writer = open_db(db)
        started = time.monotonic()
        with transaction(writer):
            writer.execute("UPDATE pages SET last_error = 'probe' WHERE url = ?", [first])
        assert time.monotonic() - started < 1.0
        writer.conn.close()

        second = publisher.route("/second", article(2))
        done = threading.Event()
        outcome: dict[str, Any] = {}

        def fetch() -> None:
            outcome["result"] = run_cli("fetch", second)
            outcome["seconds"] = time.monotonic() - held_since
            done.set()

        threading.Thread(target=fetch, daemon=True).start()
        assert done.wait(10), "the writer did not finish while the reader held its transaction"
        assert outcome["result"].code == 0, outcome["result"]
        # still inside the same read transaction: the reader's view has not moved
        assert reader.execute("SELECT count(*) FROM snapshots").fetchone() == (1,)
        assert reader.in_transaction
    finally:
        reader.execute("COMMIT")
        reader.close()
    assert db_rows(db, "SELECT count(*) FROM snapshots") == [(2,)]
    assert_consistent(db)


# -- F.46 two processes writing at the same time ---------------------------------------------------------

INCREMENTER = textwrap.dedent("""
    import sys
    from archiver.store.db import migrations, open_db, transaction
    db = open_db(sys.argv[1])
    rows = int(sys.argv[3])
    if rows:
        with transaction(db):
            db["bulk"].insert_all(({"who": sys.argv[2], "n": i} for i in range(rows)), batch_size=100)
    for _ in range(1000):
        with transaction(db):
            value = db.execute("SELECT value FROM counter WHERE id = 1").fetchone()[0]
            db.execute("UPDATE counter SET value = ? WHERE id = 1", [value + 1])
""")


def test_concurrent_read_modify_write(tmp_path: Path) -> None:
    """SECURITY.md F.46: two processes each run 1,000 read-modify-write increments of one row
    through ``archiver.store.db.transaction`` (``BEGIN IMMEDIATE`` with retry), one of them also
    inserting 10k rows in one transaction: no lost update (the counter ends at 2000), no
    unhandled ``SQLITE_BUSY``, both exit 0, and the bulk insert is all there."""
    db_path = tmp_path / "archive.db"
    db = open_db(db_path)
    db.execute("CREATE TABLE counter (id INTEGER PRIMARY KEY, value INTEGER NOT NULL)")
    db.execute("CREATE TABLE bulk (who TEXT, n INTEGER)")
    db.execute("INSERT INTO counter VALUES (1, 0)")
    db.conn.close()
    procs = [subprocess.Popen([sys.executable, "-c", INCREMENTER, str(db_path), who, rows],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for who, rows in (("a", "10000"), ("b", "0"))]
    results = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    assert db_rows(db_path, "SELECT value FROM counter") == [(2000,)]
    assert db_rows(db_path, "SELECT count(*) FROM bulk") == [(10_000,)]
    assert_consistent(db_path)


def _open_fresh(path: str, barrier: Any, results: Any) -> None:
    barrier.wait()
    try:
        open_db(path).conn.close()
        results.put("ok")
    except Exception as exc:  # reported to the test, which shows it
        results.put(f"{type(exc).__name__}: {exc}")


def test_many_processes_open_a_new_archive_at_once(tmp_path: Path) -> None:
    """Commands started at the same moment on a new archive (a compose file starting the daemon
    and the browser, cron and a user) each create the schema or find it made, never fail on a
    table another one just created."""
    context = multiprocessing.get_context("fork")  # already imported: they start together
    for trial in range(4):
        path, count = str(tmp_path / f"archive-{trial}.db"), 12
        barrier, results = context.Barrier(count), context.Queue()
        procs = [context.Process(target=_open_fresh, args=(path, barrier, results)) for _ in range(count)]
        for proc in procs:
            proc.start()
        outcomes = [results.get(timeout=120) for _ in procs]
        for proc in procs:
            proc.join(timeout=60)
        assert outcomes == ["ok"] * count, outcomes
        assert_consistent(Path(path))
        assert db_rows(path, "SELECT count(*) FROM _sqlite_migrations")[0][0] == len(migrations._migrations)


# -- F.48 disk full -------------------------------------------------------------------------------------

def test_disk_full_then_recovery(publisher: Site, tmp_path: Path) -> None:
    """SECURITY.md F.48: `archiver fetch` with the file-size limit (RLIMIT_FSIZE) too small for
    the archive fails cleanly (non-zero exit, no traceback, no crash by signal), the database is
    not corrupted, and once space is back the same fetch completes."""
    import resource

    # Each page carries 390 KB of random digits, which compress to no less than 160 KB: the five
    # pages fetched under the limit cannot fit in the archive's files, however few commits write
    # them (the limit is per file: the write-ahead log can grow to it too).
    def padding(n: int) -> str:
        digits = random.Random(n)
        return "".join(str(digits.getrandbits(64)) for _ in range(20_000))

    urls = [publisher.route(f"/full/{n}", article(n) + "<!--" + padding(n) + "-->") for n in range(6)]
    first = run_cli("fetch", urls[0])
    assert first.code == 0, first
    db = tmp_path / "archive.db"
    size = db.stat().st_size

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (size + 64 * 1024, size + 64 * 1024))

    proc = subprocess.run([sys.executable, "-m", "archiver", "fetch", *urls[1:]],
                          capture_output=True, text=True, timeout=30, preexec_fn=limit)
    assert proc.returncode > 0, proc  # an exit status, not a signal
    assert "Traceback" not in proc.stderr, proc.stderr
    assert_consistent(db)
    again = run_cli("fetch", *urls)
    assert again.code == 0, again
    assert_consistent(db)
    assert db_rows(db, "SELECT count(*) FROM snapshots") == [(6,)]


# -- F.50 sqlite-utils semantics as regression tests -----------------------------------------------------

def test_foreign_keys_enforced(tmp_path: Path) -> None:
    """SECURITY.md F.50: every connection ``open_db`` makes enforces foreign keys: a snapshot
    or capture pointing at a missing page, capture or body raises IntegrityError."""
    db = open_db(tmp_path / "archive.db")
    assert db.execute("PRAGMA foreign_keys").fetchone() == (1,)
    orphans = [
        ("INSERT INTO snapshots (page_id, version, capture_id, content_sha256) VALUES (999, 1, 999, 'x')"),
        ("INSERT INTO captures (kind, requested_url, page_id) VALUES ('page', 'http://x/', 999)"),
        ("INSERT INTO captures (kind, requested_url, body_sha256) VALUES ('page', 'http://x/', 'nope')"),
        ("INSERT INTO page_urls (url, page_id, first_seen_at) VALUES ('http://x/', 999, '2020')"),
    ]
    for sql in orphans:
        with pytest.raises(sqlite3.IntegrityError):
            with transaction(db):
                db.execute(sql)
    reopened = open_db(tmp_path / "archive.db", readonly=True)
    assert reopened.execute("PRAGMA foreign_keys").fetchone() == (1,)


def test_unknown_column_raises(tmp_path: Path) -> None:
    """SECURITY.md F.50: schema changes are explicit: inserting an unknown key raises instead
    of silently adding a column."""
    db = open_db(tmp_path / "archive.db")
    with pytest.raises(sqlite3.OperationalError):
        with transaction(db):
            db["pages"].insert({"url": "http://x/", "state": "active", "surprise": 1})


def test_provenance_never_overwritten(publisher: Site, tmp_path: Path) -> None:
    """SECURITY.md F.50: re-fetching a page, unchanged and then changed, appends captures and
    snapshots but never rewrites an earlier one: the first capture and snapshot rows, and the
    page's ``first_seen_at``, are exactly as first stored."""
    url = publisher.route("/story", article(7))
    assert run_cli("fetch", url).code == 0
    db = tmp_path / "archive.db"

    def rows(sql: str) -> list[tuple]:
        return db_rows(db, sql)

    capture1 = rows("SELECT * FROM captures ORDER BY id LIMIT 1")
    snapshot1 = rows("SELECT * FROM snapshots ORDER BY id LIMIT 1")
    first_seen = rows("SELECT first_seen_at FROM pages")
    assert run_cli("fetch", url).code == 0
    publisher.route("/story", article(8))
    assert run_cli("fetch", url).code == 0
    assert rows("SELECT * FROM captures ORDER BY id LIMIT 1") == capture1
    assert rows("SELECT * FROM snapshots ORDER BY id LIMIT 1") == snapshot1
    assert rows("SELECT first_seen_at FROM pages") == first_seen
    assert counts(db)["snapshots"] == 2 and counts(db)["captures"] == 3
    assert_consistent(db)


def test_no_replace_in_the_store() -> None:
    """SECURITY.md F.50, §2: no ``replace=True`` (INSERT OR REPLACE nulls the columns not
    passed) and no ``INSERT OR REPLACE`` / ``REPLACE INTO`` anywhere in archiver/."""
    offenders = []
    for path in sorted((REPO / "archiver").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg == "replace" and \
                    isinstance(node.value, ast.Constant) and node.value.value is True:
                offenders.append(f"{path.name}:{node.value.lineno} replace=True")
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = " ".join(node.value.upper().split())
                if "INSERT OR REPLACE" in text or "REPLACE INTO" in text:
                    offenders.append(f"{path.name}:{node.lineno} {node.value[:40]!r}")
    assert offenders == []


def test_database_files_never_opened_as_files() -> None:
    """SECURITY.md F.49 (static half): no code copies or opens the live database files with
    plain file APIs (closing any descriptor drops SQLite's locks, howtocorrupt §2.2): no
    ``shutil``, and no ``open()`` in the store."""
    offenders = []
    for path in sorted((REPO / "archiver").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                if any(n == "shutil" or n.startswith("shutil.") for n in names):
                    offenders.append(f"{path.name}:{node.lineno} imports shutil")
            if path.name == "store.py" and isinstance(node, ast.Call) and \
                    isinstance(node.func, ast.Name) and node.func.id == "open":
                offenders.append(f"{path.name}:{node.lineno} open()")
    assert offenders == []


# -- F.51 idempotent re-runs -----------------------------------------------------------------------------

def test_idempotent_reruns(publisher: Site, tmp_path: Path) -> None:
    """SECURITY.md F.51: the same `archiver fetch` of 5 pages (one of them failing) run 3 times
    gives exact row counts: one page and one snapshot per article, one body per distinct
    response, one capture per attempt, and nothing else changes."""
    urls = [publisher.route(f"/again/{n}", article(n)) for n in range(4)]
    urls.append(publisher.route("/again/missing", "gone", status=404))
    db = tmp_path / "archive.db"
    seen = []
    for attempt in range(1, 4):
        result = run_cli("fetch", *urls)
        assert result.code == 1, result  # the 404
        seen.append(counts(db))
        assert seen[-1] == {"pages": 5, "captures": 5 * attempt, "bodies": 5, "snapshots": 4,
                            "page_urls": seen[0]["page_urls"]}, seen
        assert_consistent(db)
    assert db_rows(db, "SELECT count(*) FROM captures WHERE error = 'http_404'") == [(3,)]


def test_wal_stays_bounded_under_overlapping_readers(tmp_path: Path) -> None:
    """SECURITY.md F.47: readers that keep overlapping read transactions (as Datasette does)
    while the archive is written: the daemon's periodic checkpoint keeps the -wal file bounded."""
    from archiver.jobs.daemon import Daemon
    from archiver.jobs.session import Session
    from archiver.settings import load_config

    db_path = tmp_path / "wal.db"
    config = load_config(environ={"ARCHIVER_DB": str(db_path), "ARCHIVER_WORKERS": "1"})
    done = threading.Event()

    def reader(offset: float) -> None:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        time.sleep(offset)
        while not done.is_set():  # two of these overlap, so some reader is almost always open
            conn.execute("BEGIN")
            conn.execute("SELECT count(*) FROM captures").fetchone()
            time.sleep(0.05)
            conn.execute("COMMIT")
        conn.close()

    with Session(config) as session:
        daemon = Daemon(session)
        readers = [threading.Thread(target=reader, args=(o,)) for o in (0.0, 0.025)]
        for thread in readers:
            thread.start()
        blob = "x" * 4000
        sizes = []
        try:
            for batch in range(60):
                with transaction(session.db):
                    for _ in range(50):
                        session.db.execute("INSERT INTO captures (kind, requested_url, final_url, headers) "
                                           "VALUES ('page', 'http://a/', 'http://a/', ?)", [blob])
                if batch % 10 == 9:
                    daemon.checkpoint()
                    sizes.append(os.path.getsize(f"{db_path}-wal"))
        finally:
            done.set()
            for thread in readers:
                thread.join()
    # 60 x 50 rows of 4 KB is about 12 MB written; the log never holds more than a slice of it
    assert max(sizes) < 6_000_000, sizes
    assert db_rows(db_path, "PRAGMA integrity_check") == [("ok",)]

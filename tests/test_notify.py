"""Issue 12: notifications through Apprise, from the outbox, to a real HTTP receiver on loopback."""

from __future__ import annotations

import base64
import http.server
import json
import socket
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from archiver.jobs.daemon import Daemon
from archiver.jobs.notify import Sender
from archiver.jobs.subscriptions import watch
from conftest import Site, assert_clean_error, db_rows, run_cli
from test_changes import EXPECTED, SEQUENCE, bridge_page, serve_step
from test_daemon import daemons, wait_until  # noqa: F401  (daemons is a fixture)

TOLD = [kinds for kinds, boring in EXPECTED if not boring]  # what must be notified, in order


class Receiver:
    """A webhook endpoint: a real HTTP server on 127.0.0.1 that records every POST. It can be
    down (nothing listens on its port), up, or hanging (it takes requests and never answers)."""

    def __init__(self, port: int = 0):
        self.posts: list[dict[str, Any]] = []  # answered with 200
        self.arrived = threading.Event()       # a request came in (answered or not)
        self.hanging = False
        self._release = threading.Event()
        self.port = port or _free_port()
        self.server: http.server.ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/hook"

    def start(self) -> "Receiver":
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.arrived.set()
                if receiver.hanging:
                    receiver._release.wait(30)
                    return
                receiver.posts.append({"path": self.path, "json": json.loads(body),
                                       "authorization": self.headers.get("Authorization")})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._release.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def titles(self) -> list[str]:
        return [p["json"]["title"] for p in self.posts]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.stop()


def told_kinds(receiver: Receiver) -> list[tuple[str, ...]]:
    return [tuple(title.split(": ", 1)[0].split(", ")) for title in receiver.titles()]


def outbox(db: Path | str) -> list[tuple]:
    return db_rows(db, "SELECT c.kinds, n.target, n.attempts, n.sent_at IS NOT NULL, n.last_error "
                       "FROM notifications n JOIN changes c ON c.id = n.change_id ORDER BY n.id")


def test_one_post_per_change_worth_telling(site: Site, receiver: Receiver, tmp_path: Path) -> None:
    receiver.start()
    env = {"ARCHIVER_NOTIFY": receiver.url}
    for name, page, _ in SEQUENCE:
        url = serve_step(site, page)
        assert run_cli("fetch", url, env=env).code == (1 if page is None else 0), name
    assert told_kinds(receiver) == TOLD
    assert {p["path"] for p in receiver.posts} == {"/hook"}
    first = receiver.posts[0]["json"]
    assert first["title"] == "headline: Bridge vote delayed again"
    assert first["message"].splitlines()[:2] == [
        'headline: "Bridge vote delayed" -> "Bridge vote delayed again"', url]
    rows = outbox(tmp_path / "archive.db")
    assert len(rows) == len(TOLD) and all(r[2:4] == (1, 1) for r in rows), rows
    assert {r[1] for r in rows} == {f"json://127.0.0.1:{receiver.port}/hook"}

    shown = run_cli("notify", env=env)
    assert shown.code == 0 and f"json://127.0.0.1:{receiver.port}/hook: 5 sent, 0 pending" in shown.out, shown


def test_notify_kinds_filter_and_secrets_are_not_stored(site: Site, receiver: Receiver, tmp_path: Path) -> None:
    receiver.start()
    target = f"json://archiver:s3cr3t-pass@127.0.0.1:{receiver.port}/hook"
    env = {"ARCHIVER_NOTIFY": target, "ARCHIVER_NOTIFY_KINDS": "removed,correction"}
    for _, page, _ in SEQUENCE:
        run_cli("fetch", serve_step(site, page), env=env)
    assert told_kinds(receiver) == [("body", "correction"), ("removed",)]
    assert receiver.posts[0]["authorization"] == "Basic " + base64.b64encode(b"archiver:s3cr3t-pass").decode()
    db = tmp_path / "archive.db"
    tables = [r[0] for r in db_rows(db, "SELECT name FROM sqlite_master WHERE type = 'table'")]
    for table in tables:  # SECURITY.md 55: a full-database search for the secret finds nothing
        columns = [r[1] for r in db_rows(db, f"PRAGMA table_info([{table}])")]
        for column in columns:
            assert db_rows(db, f"SELECT count(*) FROM [{table}] WHERE CAST([{column}] AS TEXT) LIKE '%s3cr3t%'") \
                == [(0,)], (table, column)
    assert {r[1] for r in outbox(db)} == {f"json://archiver:****@127.0.0.1:{receiver.port}/hook"}
    bad = run_cli("fetch", site.url("/bridge"), env={"ARCHIVER_NOTIFY_KINDS": "headlines"})
    assert_clean_error(bad, "notify_kinds", "headlines")


def test_receiver_down_archiving_goes_on_and_notifications_arrive_later(site: Site, receiver: Receiver,
                                                                        clocked_session) -> None:
    """The receiver is down through the whole sequence (the daemon's re-checks, its sender on its
    own thread): every version is archived on time and the notifications wait in the outbox,
    tried with growing waits. Once the receiver is up, each arrives once."""
    session, clock = clocked_session
    session.config = session.config.replace(notify=[receiver.url])
    daemon = Daemon(session)
    daemon.sender = Sender(session.config, clock).start()
    db = session.config.db
    watch(session.db, serve_step(site, SEQUENCE[0][1]), 900, clock.now)
    try:
        for name, page, _ in SEQUENCE:
            serve_step(site, page)
            started = time.monotonic()
            assert daemon.tick(budget=60).counts["pages"] == 1, name
            assert time.monotonic() - started < 5, name  # a dead endpoint does not slow archiving
            clock.advance(900)
        wait_until(lambda: all(r[2] >= 1 for r in outbox(db)) and len(outbox(db)) == len(TOLD), 20,
                   "an attempt at every notification")
        first_attempts = db_rows(db, "SELECT next_attempt_at, created_at FROM notifications")
        assert all(after > created for after, created in first_attempts)  # tried again later
        assert not any(r[3] for r in outbox(db)) and all(r[4] for r in outbox(db))  # unsent, with why
        assert receiver.posts == []

        receiver.start()
        clock.advance(3600)
        daemon.sender.wake()
        wait_until(lambda: len(receiver.posts) >= len(TOLD), 20, "the notifications after the receiver is up")
        wait_until(lambda: all(r[3] for r in outbox(db)), 10, "every notification marked sent")
    finally:
        daemon.sender.stop()
    assert told_kinds(receiver) == TOLD  # each once, in order


def test_kill_9_between_commit_and_delivery_loses_nothing(site: Site, receiver: Receiver, tmp_path: Path,
                                                          daemons) -> None:  # noqa: F811
    """The daemon commits a change and its outbox row, starts the POST, and is killed before the
    receiver answers. The next daemon delivers it: at least once, never lost."""
    db = tmp_path / "archive.db"
    env = {"ARCHIVER_NOTIFY": receiver.url}
    url = site.route("/bridge", bridge_page())
    assert run_cli("watch", url, "--every", "1s").code == 0
    receiver.hanging = True
    receiver.start()
    daemon = daemons(env=env)
    wait_until(lambda: db_rows(db, "SELECT snapshot_count FROM pages")[0][0] == 1, 30, "the first version")
    site.route("/bridge", bridge_page(title="Bridge vote delayed again"))
    assert receiver.arrived.wait(30), daemon.log
    # while the sender waits on the receiver, archiving goes on
    site.route("/bridge", bridge_page(title="Bridge vote delayed again", correction=True))
    wait_until(lambda: len(outbox(db)) == 2, 30, "the next version archived while a send hangs")
    daemon.kill9()
    rows = outbox(db)
    assert [r[3] for r in rows] == [0, 0], rows  # committed, not yet sent

    receiver.hanging = False
    daemon = daemons(env=env)
    wait_until(lambda: all(r[3] for r in outbox(db)), 30, "the notifications sent after the restart")
    assert daemon.terminate()[0] == 0
    assert told_kinds(receiver) == [("headline",), ("body", "correction")]  # at least once: here once each
    assert "Traceback" not in daemon.log


def test_fetch_and_poll_deliver_before_they_exit_in_bounded_time(site: Site, receiver: Receiver,
                                                                 tmp_path: Path) -> None:
    """`archiver poll` sends what is due before it exits; with a receiver that never answers,
    `archiver fetch` gives up on it within Apprise's timeouts, and the row waits for a retry."""
    receiver.start()
    env = {"ARCHIVER_NOTIFY": receiver.url}
    url = site.route("/bridge", bridge_page())
    assert run_cli("watch", url, "--every", "1s").code == 0
    assert run_cli("poll", "--all", env=env).code == 0
    site.route("/bridge", bridge_page(title="Bridge vote delayed again"))
    polled = run_cli("poll", "--all", env=env)
    assert polled.code == 0 and "1 new snapshots" in polled.out, polled
    assert told_kinds(receiver) == [("headline",)]

    receiver.hanging = True
    site.route("/bridge", bridge_page(title="Bridge vote delayed again", correction=True))
    started = time.monotonic()
    fetched = run_cli("fetch", url, env=env)
    took = time.monotonic() - started
    assert fetched.code == 0 and "new snapshot" in fetched.out, fetched
    assert took < 15, took  # Apprise's 4 s read timeout, well inside the 10 s delivery budget
    rows = outbox(tmp_path / "archive.db")
    assert [r[2:4] for r in rows] == [(1, 1), (1, 0)] and rows[1][4], rows  # tried once, waits, says why


def test_notify_test(receiver: Receiver) -> None:
    down = run_cli("notify", "--test", env={"ARCHIVER_NOTIFY": receiver.url})
    assert down.code == 1 and down.out.startswith(f"failed  json://127.0.0.1:{receiver.port}/hook: "), down
    receiver.start()
    up = run_cli("notify", "--test", env={"ARCHIVER_NOTIFY": receiver.url})
    assert up.code == 0 and up.out == f"ok      json://127.0.0.1:{receiver.port}/hook\n", up
    assert receiver.titles() == ["archiver: test notification"]
    as_json = run_cli("notify", "--test", "--json", env={"ARCHIVER_NOTIFY": receiver.url})
    assert json.loads(as_json.out) == [{"target": f"json://127.0.0.1:{receiver.port}/hook", "ok": True,
                                        "error": None}]
    assert_clean_error(run_cli("notify", "--test"), "no notification targets")
    assert_clean_error(run_cli("notify", "--test", env={"ARCHIVER_NOTIFY": "nosuchservice://x"}),
                       "not a usable Apprise URL")

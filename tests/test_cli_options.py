"""Issue 11: --db, --config and --log-level before the command's name, as people type them for
git or docker (`archiver --db other.db show URL`), for every command, groups' commands included."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from archiver.interfaces.cli import cli, every_command
from archiver.entry import _command_name
from conftest import Site, assert_clean_error, db_rows, run_cli
from test_daemon import wait_until
from test_fetch import LOREM, article_page


@pytest.fixture
def other(site: Site, tmp_path: Path) -> tuple[Path, str]:
    """An archive at a path no default points to, holding one page, made with --db before `fetch`."""
    db = tmp_path / "elsewhere" / "other.db"
    url = site.route("/news/elsewhere", article_page("The story elsewhere", LOREM))
    fetched = run_cli("--db", str(db), "fetch", url)
    assert fetched.code == 0, fetched
    assert not (tmp_path / "archive.db").exists()  # ARCHIVER_DB's file was not touched
    return db, url


def test_help_lists_the_common_options() -> None:
    shown = run_cli("--help")
    assert shown.code == 0
    for option in ("--db FILE", "--config FILE", "--log-level"):
        assert option in shown.out


def test_reading_commands_take_db_before_the_name(other: tuple[Path, str], tmp_path: Path) -> None:
    db, url = other
    shown = run_cli("--db", str(db), "show", url)
    assert shown.code == 0 and shown.out.startswith("# The story elsewhere\n"), shown
    assert json.loads(run_cli("--db", str(db), "show", "--json", url).out)["title"] == "The story elsewhere"
    exported = run_cli("--db", str(db), "export", "jsonl", "--latest")
    assert [json.loads(line)["page_url"] for line in exported.out.splitlines()] == [url]
    assert run_cli("--db", str(db), "reextract").out == "1 pages checked, 0 snapshots changed\n"
    assert run_cli("--db", str(db), "backup", str(tmp_path / "copy.db")).code == 0
    assert db_rows(tmp_path / "copy.db", "SELECT count(*) FROM snapshots") == [(1,)]
    before, after = run_cli("--db", str(db), "status"), run_cli("status", "--db", str(db))
    assert (before.code, before.out) == (after.code, after.out) and before.code == 1
    assert_clean_error(run_cli("--db", str(tmp_path / "missing.db"), "show", url), "missing.db")


def test_the_option_after_the_name_wins(other: tuple[Path, str], tmp_path: Path) -> None:
    db, url = other
    assert_clean_error(run_cli("--db", str(db), "show", url, "--db", str(tmp_path / "nowhere.db")),
                       "nowhere.db")
    shown = run_cli("--db", str(tmp_path / "nowhere.db"), "show", url, "--db", str(db))
    assert shown.code == 0, shown
    quiet = run_cli("--log-level", "DEBUG", "--db", str(db), "reextract", "--log-level", "WARNING")
    assert "DEBUG" not in quiet.err


def test_config_and_log_level_before_the_name(site: Site, tmp_path: Path) -> None:
    settings = tmp_path / "mine.toml"
    settings.write_text("tick = 42.0\n")
    shown = json.loads(run_cli("--config", str(settings), "config", "--json").out)
    assert shown["tick"] == {"value": 42.0, "source": str(settings)}
    assert_clean_error(run_cli("--config", str(tmp_path / "absent.toml"), "poll"), "config file not found")
    assert_clean_error(run_cli("--log-level", "LOUD", "sources"), "log_level")

    url = site.route("/news/loud", article_page("A loud story", LOREM))
    loud = run_cli("--log-level", "DEBUG", "fetch", url)
    assert loud.code == 0, loud
    assert " DEBUG " in loud.err
    assert " DEBUG " not in run_cli("fetch", url).err


def test_run_and_serve_take_db_before_the_name(tmp_path: Path) -> None:
    db = tmp_path / "daemon.db"
    daemon = subprocess.Popen([sys.executable, "-m", "archiver", "--db", str(db), "--log-level", "DEBUG",
                               "run", "--tick", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        wait_until(lambda: db.exists() and _ticks(db) >= 1, 60, "the daemon's first tick in --db's file")
        assert run_cli("--db", str(db), "status").code == 0
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=30)
    serve = subprocess.Popen([sys.executable, "-m", "archiver", "--db", str(db), "serve", "--port", "0"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert serve.stderr.readline().startswith(f"Serving {db} at http://127.0.0.1:0/")
    finally:
        serve.terminate()
        serve.wait(timeout=30)


def _ticks(db: Path) -> int:
    rows = db_rows(db, "SELECT name FROM sqlite_master WHERE name = 'daemon'")
    return db_rows(db, "SELECT coalesce(max(ticks), 0) FROM daemon")[0][0] if rows else 0


def test_every_command_accepts_the_options_before_its_name() -> None:
    """Each command, and each command of a group, reads them: `--help` after them still works."""
    names = [name for name, _ in every_command()]
    assert ["export", "jsonl"] in names and ["run"] in names
    for name in names:
        result = CliRunner().invoke(cli, ["--db", "x.db", "--config", "none.toml", "--log-level", "DEBUG",
                                          *name, "--help"])
        assert result.exit_code == 0 and "--db" in result.output, (name, result.output)


def test_the_command_name_is_found_after_the_options() -> None:
    assert _command_name(["--db", "fetch", "show", "URL"]) == "show"  # a file named "fetch"
    assert _command_name(["--log-level", "DEBUG", "--config", "c.toml", "fetch", "URL"]) == "fetch"
    assert _command_name(["--db=x.db", "run"]) == "run"
    assert _command_name(["--help"]) is None

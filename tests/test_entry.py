"""The ``archiver`` command's process: its threads share two malloc arenas, not one each, and it
loads its modules with the garbage collector paused."""

from __future__ import annotations

import gc
import os
import platform
import subprocess
import sys
import textwrap

import pytest

from archiver import entry

# In a fresh process: optionally limit the arenas as `archiver` does, let 32 threads allocate at
# once, and count the heaps glibc's malloc_info reports (one per arena).
COUNT_ARENAS = textwrap.dedent("""
    import ctypes, re, sys, threading
    from archiver.entry import limit_malloc_arenas
    if sys.argv[1] == "limit":
        print("applied" if limit_malloc_arenas() else "skipped")
    start = threading.Barrier(32)
    def allocate():
        start.wait()
        kept = [bytes(50_000) for _ in range(50)]
        del kept
    threads = [threading.Thread(target=allocate) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    libc = ctypes.CDLL(None)
    libc.tmpfile.restype = ctypes.c_void_p
    libc.fread.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_void_p]
    report = ctypes.c_void_p(libc.tmpfile())
    libc.malloc_info(0, report)
    libc.rewind(report)
    text = ctypes.create_string_buffer(1 << 20)
    size = libc.fread(text, 1, len(text) - 1, report)
    print(len(re.findall(r'<heap nr="[0-9]+">', text.raw[:size].decode())))
""")

glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc arenas are glibc's")


def _arenas(*args: str, env: dict[str, str] | None = None) -> list[str]:
    environ = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    done = subprocess.run([sys.executable, "-c", COUNT_ARENAS, *args], capture_output=True, text=True,
                          timeout=60, env={**environ, **(env or {})})
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


@glibc_only
def test_the_threads_of_a_command_share_two_arenas() -> None:
    assert _arenas("limit") == ["applied", str(entry.MALLOC_ARENAS)]
    assert int(_arenas("as-is")[0]) > entry.MALLOC_ARENAS  # what the limit prevents: one per thread


@glibc_only
def test_malloc_arena_max_in_the_environment_is_left_to_glibc() -> None:
    applied, arenas = _arenas("limit", env={"MALLOC_ARENA_MAX": "4"})
    assert applied == "skipped" and 2 < int(arenas) <= 4


def test_the_command_limits_them_before_anything_else(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(entry, "limit_malloc_arenas", lambda: calls.append("arenas"))
    monkeypatch.setattr(sys, "argv", ["archiver", "--version"])
    monkeypatch.setattr(entry, "_leave", lambda code: sys.exit(code))  # not the process's real exit
    with pytest.raises(SystemExit) as leaving:
        entry.main()
    assert leaving.value.code == 0 and calls == ["arenas"]


def test_loading_pauses_the_collector_and_freezes_what_it_made() -> None:
    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    try:
        with entry.loading():
            assert not gc.isenabled()
            made = [[n] for n in range(1000)]
        assert gc.isenabled() and gc.get_freeze_count() >= frozen + len(made)
    finally:
        gc.unfreeze()


def test_loading_that_fails_turns_the_collector_back_on_and_freezes_nothing() -> None:
    frozen = gc.get_freeze_count()
    with pytest.raises(ImportError):
        with entry.loading():
            raise ImportError("no such module")
    assert gc.isenabled() and gc.get_freeze_count() == frozen


def test_the_fork_server_is_started_before_the_rest_of_the_program_loads() -> None:
    """What archiver.entry imports to start the fork server (the start-up's critical path: the
    server then loads the extractor) leaves the settings, the click commands and the fetcher for
    after it has started."""
    probe = ("import sys, archiver.entry; from archiver.jobs.workers import start_fork_server; "
             "print(sorted(m for m in sys.modules if m.startswith(('archiver.', 'click', 'httpx', 'tomllib'))))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert "archiver.jobs.workers" in loaded
    for later in ("archiver.settings", "archiver.interfaces", "archiver.net", "click", "httpx", "tomllib"):
        assert f"'{later}" not in loaded, later


_QUICK_CLOSE_PROBE = """
import sys
import archiver.entry as entry, archiver.interfaces.cli as cli, archiver.jobs.workers as workers
cli.cli = lambda **kwargs: None  # the command itself is not run
entry._leave = lambda code: None
sys.argv = ["archiver", sys.argv[1]]
entry.main()
print(workers._QUICK_CLOSE)
"""


@pytest.mark.parametrize("command, quick", [("fetch", True), ("poll", True), ("reextract", True), ("import", True),
                                            ("run", False), ("worker", False)])
def test_only_commands_that_exit_when_done_have_their_pools_close_quickly(command: str, quick: bool) -> None:
    done = subprocess.run([sys.executable, "-c", _QUICK_CLOSE_PROBE, command], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == str(quick)

"""The ``archiver`` command. Commands that extract start the worker pool's fork server before
anything else, so that it loads the extractor on one core while this process loads the rest of
the program on the other: the first page is archived about a quarter of a second sooner. Their
worker pools then start their workers as they are made, while the first pages are fetched
(another 20-30 ms). Once the command is done, the process leaves without the interpreter's
teardown (see ``_leave``)."""

from __future__ import annotations

import atexit
import gc
import os
import sys
from contextlib import contextmanager
from typing import Iterator

# The commands that build a Session and will use its worker pool. Not `poll`: often run from cron,
# it mostly finds feeds unchanged (304) and parses nothing, so its workers (and their fork server)
# start at the first feed or page that needs them, if any.
_EXTRACTING = frozenset({"fetch", "run", "add", "reextract"})
# Every command that may extract a page or parse a feed: they stop at start, with one line, when
# the installed trafilatura is not the release the extractor is checked against (see
# archiver.content.engine). Reading the archive (show, search, serve, export...) never needs it.
_NEEDS_EXTRACTOR = _EXTRACTING | {"poll", "watch", "import", "worker"}
# The commands that run until stopped: their worker pools close once, so they are not made to
# close quickly (archiver.jobs.workers.close_quickly), which costs an idle pool some CPU.
_LONG_RUNNING = frozenset({"run", "worker"})
# The options the top-level group takes before a command's name, each followed by its value.
_GROUP_OPTIONS = frozenset({"--db", "--config", "--log-level"})


def _command_name(args: list[str]) -> str | None:
    """The command's name in ``archiver [--db PATH ...] COMMAND ...``."""
    skip_value = False
    for arg in args:
        if skip_value:
            skip_value = False
        elif arg in _GROUP_OPTIONS:
            skip_value = True
        elif not arg.startswith("-"):
            return arg
    return None


# glibc's mallopt parameter for the number of malloc arenas (malloc.h: M_ARENA_MAX).
_M_ARENA_MAX = -8
MALLOC_ARENAS = 2


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Have glibc's malloc share ``arenas`` arenas among all threads, unless the environment sets
    MALLOC_ARENA_MAX itself. By default each thread that allocates while another does gets an
    arena of its own, up to eight per core, each keeping the memory its thread freed: `archiver
    fetch` with its 32 fetch threads peaked 25-30 MB higher (main process 103-107 MB against 78 MB
    with two arenas, bench/fetch_throughput.py on 624 pages, at the same speed). Whether it
    applied; it does nothing where the C library has no mallopt (musl)."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        import ctypes

        return bool(ctypes.CDLL(None).mallopt(_M_ARENA_MAX, arenas))
    except (OSError, AttributeError):
        return False


@contextmanager
def loading() -> Iterator[None]:
    """Load modules and warm up with the garbage collector paused, then freeze what was made.

    What imports and warm-ups make lives until the process exits: the collections that its
    allocations set off find next to nothing to free (the worker pool's fork server ran 240 of
    them while it loaded the extractor and warmed it up, freed 600 objects, and spent 45 ms of its
    0.44 s on them; this process, 12 ms of its 0.14 s of imports). Frozen, what was made is not
    scanned again either, nor, in a forked process, touched and so copied."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
        gc.freeze()
    finally:
        if collecting:
            gc.enable()


def main() -> None:
    limit_malloc_arenas()  # before any thread starts
    args = sys.argv[1:]
    command, helping = _command_name(args), bool({"--help", "-h"} & set(args))
    with loading():
        if command in _NEEDS_EXTRACTOR and not helping:
            from archiver.content.engine import installed_trafilatura, trafilatura_mismatch

            mismatch = trafilatura_mismatch(installed_trafilatura())
            if mismatch is not None:
                print(f"Error: {mismatch}", file=sys.stderr)
                sys.exit(2)
        if command in _EXTRACTING and not helping:
            from archiver.jobs.workers import start_fork_server

            start_fork_server()
        if command in _NEEDS_EXTRACTOR - _LONG_RUNNING and not helping:
            from archiver.jobs.workers import close_quickly

            close_quickly()
        from archiver.interfaces.cli import cli
    try:
        cli(prog_name="archiver")
    except SystemExit as exc:
        _leave(exc.code)
    _leave(0)


def _leave(code: object) -> None:
    """Exit once the command is done, without the interpreter's teardown.

    Everything the command opened is closed by then (a Session closes its database, client and
    workers) and the exit handlers still run (logging, multiprocessing's clean-up); what is skipped
    is freeing every object and module one by one, a tenth of a second after a large run."""
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)  # CPython's, not a public API
    if run_exit_handlers is None:
        sys.exit(code)  # the ordinary way out, teardown included
    run_exit_handlers()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`archiver ... | head`): nothing to keep
            pass
    os._exit(code)

"""The ``archiver`` command. Commands that extract start the worker pool's fork server before
anything else, so that it loads the extractor on one core while this process loads the rest of
the program on the other: the first page is archived about a quarter of a second sooner."""

from __future__ import annotations

import sys

# The commands that build a Session, and so a worker pool.
_EXTRACTING = frozenset({"fetch", "poll", "run", "add"})


def main() -> None:
    args = sys.argv[1:]
    if args and args[0] in _EXTRACTING and not {"--help", "-h"} & set(args):
        from archiver.workers import start_fork_server

        start_fork_server()
    from archiver.cli import cli

    cli(prog_name="archiver")

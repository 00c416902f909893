"""`archiver worker`: fetch and extract for a cluster (distributed mode, ``broker_url`` set)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from typing import Any

import click

from archiver.interfaces.cli_common import common_options
from archiver.settings import Config


@click.command(name="worker")
@click.option("--processes", type=click.IntRange(min=1), default=1, show_default=True,
              help="worker processes to run on this machine")
@click.option("--threads", type=click.IntRange(min=1), default=8, show_default=True,
              help="jobs each process works on at once (they mostly wait on the network)")
@common_options
def worker_command(config: Config, processes: int, threads: int) -> None:
    """Fetch and extract for the daemon of a cluster, on this machine, until stopped.

    Takes page and feed jobs from the queue at `broker_url` (Redis), fetches them through the
    same guarded client as `archiver fetch` (address checks, size and time limits, robots.txt,
    per-host politeness shared by every worker), extracts articles and parses feeds in worker
    processes, and sends the results back to the daemon, which writes the archive. A worker
    never opens the archive file: start as many as you like, on any machine that reaches Redis.
    SIGTERM or Ctrl-C stops it; a job it had taken is sent to another worker.

    \b
    Example:
        ARCHIVER_BROKER_URL=redis://archive-host:6379/0 archiver worker --processes 2
    """
    if not config.broker_url:
        raise click.UsageError("set broker_url (or ARCHIVER_BROKER_URL) to the cluster's Redis")
    if processes > 1:
        sys.exit(_supervise(config, processes, threads))
    from archiver.jobs.cluster import serve_worker

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    serve_worker(config, threads, stop)


def _supervise(config: Config, processes: int, threads: int) -> int:
    """Run ``processes`` single-process workers as children; pass SIGTERM and Ctrl-C on."""
    args = [sys.executable, "-m", "archiver", "--log-level", config.log_level]
    if config.path is not None:
        args += ["--config", str(config.path)]
    args += ["worker", "--processes", "1", "--threads", str(threads)]
    children = [subprocess.Popen(args) for _ in range(processes)]

    def forward(signum: int, _frame: Any) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, forward)
    codes = [child.wait() for child in children]
    return max(codes, key=abs)

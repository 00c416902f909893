"""`archiver run` and `archiver status`: the daemon and its health check on the command line
(the daemon itself is archiver.jobs.daemon)."""

from __future__ import annotations

import logging
import os
import signal
import sys
from datetime import datetime, timezone

import click

from archiver.interfaces.cli_common import common_options
from archiver.jobs.daemon import Daemon, read_status
from archiver.settings import Config
from archiver.store.db import StoreError, open_db

log = logging.getLogger("archiver.jobs.daemon")  # the daemon's log lines, whichever module writes them


@click.command()
@click.option("--tick", "set_tick", type=float, default=None,
              help="seconds between two ticks [setting tick; default 60]")
@click.option("--batch", "set_tick_batch", type=int, default=None,
              help="most feeds and pages taken in one tick [setting tick_batch; default 200]")
@common_options
def run_command(config: Config) -> None:
    """Run the daemon: poll feeds and re-check pages whenever they are due, forever.

    Every --tick seconds it takes what is due (most overdue first), fetches politely and saves
    what changed, logging one summary line per tick. SIGTERM or Ctrl-C stops it cleanly within a
    few seconds; `archiver status` tells whether it is alive. With broker_url set, the tick sends
    the due work to `archiver worker` processes and this daemon saves what they send back.

    \b
    Example:
        archiver run --tick 30 --log-level INFO
    """
    from archiver.jobs.session import Session
    from archiver.jobs.subscriptions import sync_config_feeds

    if config.tick <= 0 or config.tick_batch <= 0:
        raise click.BadParameter("--tick and --batch must be positive")
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("apscheduler").setLevel(logging.WARNING)  # it logs every job run at INFO
    with Session(config, writer=True) as session:
        added = sync_config_feeds(session.db, config.feeds, session.now())
        if added:
            log.info("subscribed to %s feeds listed in the config", len(added))
        daemon = Daemon(session)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, daemon.request_stop)
        abandoned = daemon.serve()
    if abandoned:
        # The abandoned requests' threads would keep the interpreter alive until their deadline;
        # everything they could have written is safely not written, so leave now.
        logging.shutdown()
        sys.stdout.flush()
        os._exit(0)


@click.command()
@common_options
def status_command(config: Config) -> None:
    """Say whether a daemon is running on this archive and when it last ticked.

    Exits 0 when it is alive and its last tick is recent (within 3 ticks and a minute), 1
    otherwise: use it as a container health check. With broker_url set it also shows the
    cluster: jobs queued, workers seen in the last minute, the oldest job in flight.

    \b
    Example:
        archiver status || echo "the archive is not being kept up to date"
    """
    try:
        db = open_db(config.db, readonly=True)
    except StoreError as exc:
        raise click.ClickException(f"{exc} (has a daemon ever run on it?)") from None
    status = read_status(db, datetime.now(timezone.utc))
    for line in status.lines():
        click.echo(line)
    if config.broker_url:
        from archiver.jobs.cluster import status_lines  # imports Dramatiq: only in distributed mode

        for line in status_lines(config, db, datetime.now(timezone.utc)):
            click.echo(line)
    if not status.healthy:
        sys.exit(1)

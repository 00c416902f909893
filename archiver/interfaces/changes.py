"""`archiver changes` (what changed, classified) and `archiver notify` (who is told of it)."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta, timezone
from typing import Any

import click

from archiver.content.changes import KINDS
from archiver.interfaces.cli_common import common_options, existing_archive_path
from archiver.jobs.changes import rebuild_changes
from archiver.jobs.notify import send_tests
from archiver.settings import Config, parse_duration
from archiver.store.changes import list_changes, outbox_summary
from archiver.store.db import iso, open_db, parse_iso

LISTED_FIELDS = ("id", "detected_at", "kinds", "boring", "summary", "words_added", "words_removed",
                 "title", "page_url", "site", "page_id", "from_snapshot_id", "to_snapshot_id", "capture_id")


def since_moment(text: str, now: datetime) -> str:
    """``--since``: a duration back from now (``1d``, ``6h``) or an ISO date or time."""
    try:
        return iso(now - timedelta(seconds=parse_duration(text)))
    except ValueError:
        pass
    try:
        return iso(parse_iso(text.strip()) or now)
    except ValueError:
        raise click.BadParameter(f"{text!r} is neither a duration (1d, 6h, 30m) nor a date "
                                 "(2026-12-01)", param_hint="--since") from None


def change_line(change: dict[str, Any]) -> str:
    """One change for a person: when, the kinds, the page's title and URL, the summary."""
    kinds = ",".join(change["kinds"]) + (" (boring)" if change["boring"] else "")
    title = " ".join((change["title"] or "untitled").split())
    return f"{change['detected_at']}  {kinds}  {title} <{change['page_url']}>  {change['summary']}"


@click.command(name="changes")
@click.option("--since", default=None, help="only changes detected in this last while (1d, 6h) or since a date")
@click.option("--kind", "kinds", multiple=True, type=click.Choice(KINDS),
              help="only changes of this kind (repeat for several)")
@click.option("--all", "everything", is_flag=True, help="include boring changes (reverts, punctuation, "
              "date lines)")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="at most this many changes")
@click.option("--json", "as_json", is_flag=True, help="print the changes as JSON")
@click.option("--rebuild", is_flag=True, help="recompute the changes table from the archived versions "
              "and captures (for archives made before it existed), then exit")
@common_options
def changes_command(config: Config, since: str | None, kinds: tuple[str, ...], everything: bool,
                    limit: int | None, as_json: bool, rebuild: bool) -> None:
    """List what changed in the archived pages, newest first, one line each.

    Each line gives when the change was detected, its kinds (headline, byline, date, body,
    correction, shrunk, removed, restored, redirected, revert), the page's title and URL and a
    one-line summary. Boring changes (reverts, punctuation or a "last updated" line) are left out
    unless --all.

    \b
    Example:
        archiver changes --since 1d
        archiver changes --kind headline --kind correction --json
        archiver changes --rebuild
    """
    db = open_db(existing_archive_path(config.db))
    if rebuild:
        counts = rebuild_changes(db)
        click.echo(f"{counts['changes']} changes in {counts['pages']} pages: {counts['added']} added, "
                   f"{counts['updated']} kept, {counts['deleted']} deleted")
        return
    moment = since_moment(since, datetime.now(timezone.utc)) if since else None
    rows = list_changes(db, moment, kinds, everything, limit)
    if as_json:
        click.echo(json.dumps([{k: row[k] for k in LISTED_FIELDS} for row in rows], indent=2, ensure_ascii=False))
        return
    for row in rows:
        click.echo(change_line(row))
    if not rows and _versions_without_changes(db):
        click.echo("no changes recorded, though pages have several versions: "
                   "`archiver changes --rebuild` computes them for an archive made before changes were kept",
                   err=True)


def _versions_without_changes(db: Any) -> bool:
    return db.execute("SELECT EXISTS (SELECT 1 FROM snapshots WHERE version > 1) "
                      "AND NOT EXISTS (SELECT 1 FROM changes)").fetchone()[0] == 1


@click.command(name="notify")
@click.option("--test", "test", is_flag=True, help="send one test message to every target and report")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
@common_options
def notify_command(config: Config, test: bool, as_json: bool) -> None:
    """Show the notification targets and their outbox, or send each a test message.

    Targets are the Apprise URLs of the `notify` setting, shown with their secrets masked. With
    --test, exits 1 if any target could not be reached.

    \b
    Example:
        archiver notify --test
        ARCHIVER_NOTIFY=json://127.0.0.1:8080/hook archiver notify --test
    """
    if not config.notify:
        raise click.ClickException("no notification targets: set `notify` (a list of Apprise URLs) "
                                   "in the config file or ARCHIVER_NOTIFY")
    if test:
        results = send_tests(config)
        if as_json:
            click.echo(json.dumps([{"target": t, "ok": e is None, "error": e} for t, e in results], indent=2))
        else:
            for target, error in results:
                click.echo(f"ok      {target}" if error is None else f"failed  {target}: {error}")
        if any(error is not None for _, error in results):
            sys.exit(1)
        return
    rows = outbox_summary(open_db(existing_archive_path(config.db)))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(f"{row['target']}: {row['sent']} sent, {row['pending']} pending"
                   + (f" (last error: {row['last_error']})" if row["last_error"] else ""))
    if not rows:
        click.echo("nothing notified yet")

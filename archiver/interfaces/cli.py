"""The command line: one subcommand per job. Library errors become one-line errors here."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Iterable

import click

from archiver import __version__
from archiver.interfaces.changes import changes_command, notify_command
from archiver.interfaces.cli_common import common_options, existing_archive, group_options, progress
from archiver.interfaces.health_commands import maintain_command, stats_command
from archiver.interfaces.daemon_commands import run_command, status_command
from archiver.content.opml import OpmlError, export_opml, parse_opml
from archiver.jobs.pages import PageJob, PageOutcome
from archiver.jobs.notify import deliver_before_exit
from archiver.jobs.polling import FeedJob, FeedOutcome, poll_once
from archiver.content.render import snapshot_json, snapshot_markdown
from archiver.interfaces.cli_backup import backup_command
from archiver.interfaces.cli_cluster import worker_command
from archiver.interfaces.cli_export import jsonl_command, markdown_command
from archiver.interfaces.cli_reextract import reextract_command
from archiver.interfaces.cli_warc import export_warc_command, import_warc
from archiver.interfaces.serve import serve_command
from archiver.jobs.session import Session, utc_now
from archiver.settings import SETTINGS, Config, parse_duration
from archiver.store.db import find_page_id, open_db, snapshot_version
from archiver.jobs.subscriptions import (NothingToSubscribe, find_feeds, list_sources, remove, subscribe,
                                    sync_config_feeds, watch)
from archiver.content.urls import BadURL, canonical_url, redact_url


@click.group()
@click.version_option(__version__, prog_name="archiver")
@group_options
def cli() -> None:
    """Keep a faithful, searchable archive of the web pages and feeds you follow.

    --db, --config and --log-level may come before the command's name or after it.

    \b
    Example:
        archiver fetch https://example.com/some/article
        archiver --db other.db show https://example.com/some/article
    """


def _read_urls(urls: Iterable[str], input_file: Any) -> list[str]:
    found = list(urls)
    if input_file is not None:
        for line in input_file:
            line = line.strip()
            if line and not line.startswith("#"):
                found.append(line)
    return found


def _check_urls(urls: list[str]) -> None:
    bad = []
    for url in urls:
        try:
            canonical_url(url)
        except BadURL as exc:
            bad.append(f"{redact_url(url)}: {exc}")
    if bad:  # bad input: say what is wrong and archive nothing
        for line in bad:
            click.echo(f"Error: {line}", err=True)
        sys.exit(2)


def _outcome_line(outcome: PageOutcome | FeedOutcome) -> str:
    if isinstance(outcome, FeedOutcome):
        if outcome.failed:
            return f"failed        {outcome.url}: {outcome.detail}"
        return f"feed          {outcome.url}  ({outcome.new_entries} new entries; {outcome.detail or outcome.result})"
    if outcome.result == "new_snapshot":
        return f"new snapshot  {outcome.url}  (version {outcome.version}: {outcome.title or 'untitled'})"
    if outcome.result == "unchanged":
        return f"unchanged     {outcome.url}"
    if outcome.result == "feed":
        return f"feed          {outcome.url}  ({outcome.detail})"
    return f"failed        {outcome.url}: {outcome.detail}"


@cli.command()
@click.argument("urls", nargs=-1)
@click.option("-i", "--input", "input_file", type=click.File("r"), default=None,
              help="read more URLs from FILE, one per line (- for standard input)")
@click.option("--json", "as_json", is_flag=True, help="print the outcomes as JSON")
@click.option("--distributed", is_flag=True,
              help="have the cluster's workers fetch (needs broker_url; the default when it is set)")
@common_options
def fetch(config: Config, urls: tuple[str, ...], input_file: Any, as_json: bool, distributed: bool) -> None:
    """Archive these pages now, printing one line per URL.

    Exits 0 when every URL was archived (new snapshot or unchanged), 1 when any failed. With
    broker_url set, the cluster's `archiver worker` processes fetch and this command saves.

    \b
    Example:
        archiver fetch https://example.com/a https://example.com/b
        archiver fetch -i urls.txt
    """
    if distributed and not config.broker_url:
        raise click.UsageError("--distributed needs broker_url (or ARCHIVER_BROKER_URL) set")
    targets = list(dict.fromkeys(_read_urls(urls, input_file)))
    if not targets:
        raise click.UsageError("give at least one URL (or -i FILE)")
    _check_urls(targets)
    outcomes = _run_fetch(config, targets, as_json)
    deliver_before_exit(config)
    if as_json:
        click.echo(json.dumps([o.__dict__ for o in outcomes], indent=2, default=str))
    if any(o.failed for o in outcomes):
        sys.exit(1)


def _run_fetch(config: Config, targets: list[str], quiet: bool) -> list[PageOutcome | FeedOutcome]:
    outcomes: list[PageOutcome | FeedOutcome] = []
    with Session(config) as session:
        stream = session.run(PageJob(session, url, on_feed=FeedJob(session, canonical_url(url)))
                             for url in targets)
        bar_length = len(targets)
        show_bar = not quiet and sys.stdout.isatty() and len(targets) >= 10
        with progress(len(targets), "archiving", show_bar) as bar:
            for outcome in stream:
                outcomes.append(outcome)
                if not quiet:
                    click.echo(_outcome_line(outcome))
                if len(outcomes) > bar_length:  # a feed's entries join the run
                    bar_length = len(outcomes)
                bar.update(1)
    return outcomes


@cli.command()
@click.argument("url")
@click.option("--version", "version", type=click.IntRange(min=1), default=None,
              help="show version N of the page (1 = oldest) instead of the latest")
@click.option("--json", "as_json", is_flag=True, help="print the snapshot and its capture as JSON")
@common_options
def show(config: Config, url: str, version: int | None, as_json: bool) -> None:
    """Print the archived article at URL as Markdown (or JSON).

    URL may be any address that led to the page: with tracking parameters, a fragment, or the
    address it redirected to.

    \b
    Example:
        archiver show https://example.com/a --version 1
    """
    db = existing_archive(config, f"not in the archive: {url} ")
    page_id = find_page_id(db, canonical_url(url))
    if page_id is None:
        raise click.ClickException(f"not in the archive: {url}")
    page_url = db.table("pages").get(page_id)["url"]
    snapshot = snapshot_version(db, page_id, version)
    if snapshot is None:
        count = db.table("pages").get(page_id)["snapshot_count"]
        which = f"version {version}" if version else "a snapshot"
        raise click.ClickException(f"{url} has no {which} (it has {count} version(s))")
    if as_json:
        capture = db.table("captures").get(snapshot["capture_id"])
        click.echo(json.dumps(snapshot_json(snapshot, capture, page_url), indent=2, ensure_ascii=False))
    else:
        click.echo(snapshot_markdown(snapshot, page_url), nl=False)


@cli.command(name="config")
@click.option("--json", "as_json", is_flag=True, help="print the settings as JSON")
@common_options
def config_command(config: Config, as_json: bool) -> None:
    """Print the effective settings and where each came from.

    \b
    Example:
        ARCHIVER_DEADLINE=10 archiver config
    """
    if as_json:
        click.echo(json.dumps({s.name: {"value": config.values[s.name], "source": config.sources[s.name]}
                               for s in SETTINGS}, indent=2))
        return
    click.echo(f"# config file: {config.path or '(none)'}")
    for setting in SETTINGS:
        click.echo(f"{setting.name} = {json.dumps(config.values[setting.name])}"
                   f"    # {config.sources[setting.name]}: {setting.help}")


@cli.command()
@click.argument("urls", nargs=-1, required=True)
@common_options
def add(config: Config, urls: tuple[str, ...]) -> None:
    """Subscribe to feeds: a feed URL, or a page that links to its feeds.

    \b
    Example:
        archiver add https://www.themoscowtimes.com/rss/news
    """
    _check_urls(list(urls))
    failed = False
    with Session(config) as session:
        for url in urls:
            try:
                found = find_feeds(session, url)
            except NothingToSubscribe as exc:
                click.echo(f"Error: {exc}", err=True)
                failed = True
                continue
            for feed_url in found:
                done = subscribe(session.db, feed_url, "cli", session.now())
                via = "" if feed_url == url else f" (linked from {url})"
                word = "subscribed" if done.created else "already subscribed"
                click.echo(f"{word}  {done.url}{via}")
    if failed:
        sys.exit(1)


@cli.command(name="watch")
@click.argument("urls", nargs=-1, required=True)
@click.option("--every", default=None, help="how often to re-check, e.g. 30m, 1h, 1d [default 1h]")
@common_options
def watch_command(config: Config, urls: tuple[str, ...], every: str | None) -> None:
    """Re-check these pages on their own schedule and keep every version.

    \b
    Example:
        archiver watch https://example.com/terms --every 1d
    """
    _check_urls(list(urls))
    try:
        seconds = parse_duration(every or config.watch_every)
    except ValueError:
        raise click.BadParameter(f"not a duration: {every!r} (try 30m, 1h, 1d)", param_hint="--every")
    db = open_db(config.db)
    for url in urls:
        watch(db, url, seconds, utc_now())
        click.echo(f"watching  {canonical_url(url)}  every {every or config.watch_every} (first check on the next poll)")


@cli.command(name="remove")
@click.argument("urls", nargs=-1, required=True)
@common_options
def remove_command(config: Config, urls: tuple[str, ...]) -> None:
    """Stop following feeds or watched pages; what was archived stays.

    \b
    Example:
        archiver remove https://example.com/feed.xml
    """
    _check_urls(list(urls))
    db = open_db(config.db)
    missing = False
    for url in urls:
        kind = remove(db, url)
        if kind is None:
            click.echo(f"Error: not followed: {url}", err=True)
            missing = True
        else:
            click.echo(f"removed {kind}  {canonical_url(url)}")
    if missing:
        sys.exit(1)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="print the sources as JSON")
@common_options
def sources(config: Config, as_json: bool) -> None:
    """List feeds and watched pages with their state, checks, errors and counts.

    \b
    Example:
        archiver sources
    """
    rows = list_sources(existing_archive(config))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no feeds or watched pages yet: try `archiver add URL` or `archiver watch URL`")
    for row in rows:
        health = row["state"] + (f", {row['error_count']} errors: {row['last_error']}" if row["error_count"] else "")
        click.echo(f"{row['kind']:4}  {row['url']}\n      {health}; last check {row['last_checked_at'] or 'never'}"
                   f" (status {row['last_status'] or '-'}), next {row['next_check_at'] or 'not scheduled'};"
                   f" {row['items'] or 0} {'entries' if row['kind'] == 'feed' else 'versions'}")


@cli.command(name="import")
@click.argument("args", nargs=-1, required=True, metavar="[opml|warc] FILE...")
@click.option("--workers", type=click.IntRange(min=1), default=None, metavar="N",
              help="warc: extraction worker processes [default 1, which keeps an import under 200 MB; "
                   "each further one adds about 75 MB, and speed where cores are free]")
@common_options
def import_command(config: Config, args: tuple[str, ...], workers: int | None) -> None:
    """Import subscriptions from OPML, or pages from WARC/ARC files.

    `archiver import opml FILE` subscribes to every feed in an OPML file (nested outlines too;
    duplicates ignored); `archiver import FILE.opml` does the same. `archiver import warc FILE...`
    archives every HTML page a WARC or ARC file (gzip or not, from any tool) holds, as a fetch
    would, dated by the records; importing a file again adds nothing. A bad record is reported
    with its offset and skipped, the rest is imported, and the exit status is 1. It extracts in
    one worker process (not the `workers` setting) unless `--workers N` says otherwise.

    \b
    Example:
        archiver import subscriptions.opml
        archiver import warc crawl-2024.warc.gz old-site.arc.gz
        archiver import warc --workers 4 big-crawl.warc.gz
    """
    fmt, files = (args[0], args[1:]) if args[0] in ("opml", "warc") else ("opml", args)
    if not files:
        raise click.UsageError(f"give the {fmt.upper()} file(s) to import")
    if fmt == "warc":
        import_warc(config, [Path(f) for f in files], workers or 1)
        return
    if workers is not None:
        raise click.UsageError("--workers is for `archiver import warc`: an OPML import extracts nothing")
    if len(files) > 1:
        raise click.UsageError("give one OPML file")
    _import_opml(config, files[0])


def _import_opml(config: Config, name: str) -> None:
    try:
        with click.open_file(name, "rb") as opml_file:
            found = parse_opml(opml_file.read(), source=name)
    except OSError as exc:
        raise click.BadParameter(f"{name!r}: {exc.strerror or exc}", param_hint="FILE") from None
    except OpmlError as exc:
        raise click.ClickException(str(exc)) from None
    db = open_db(config.db)
    added = skipped = 0
    for feed in found:
        try:
            done = subscribe(db, feed.url, "opml", utc_now(), feed.title)
        except BadURL as exc:
            click.echo(f"skipped   {feed.url}: {exc}", err=True)
            continue
        added += done.created
        skipped += not done.created
        if done.created:
            click.echo(f"added     {done.url}")
    click.echo(f"{added} feeds added, {skipped} already subscribed")


@cli.command(name="export-opml")
@common_options
def export_opml_command(config: Config) -> None:
    """Print the subscribed feeds as OPML.

    \b
    Example:
        archiver export-opml > subscriptions.opml
    """
    db = existing_archive(config)
    rows = db.execute("SELECT url, title FROM feeds WHERE state != 'paused' ORDER BY id").fetchall()
    click.echo(export_opml([(r[0], r[1]) for r in rows]), nl=False)


@cli.command()
@click.option("--all", "everything", is_flag=True, help="poll every feed and page, due or not")
@common_options
def poll(config: Config, everything: bool) -> None:
    """One pass over every feed and page that is due, then exit (for cron).

    Prints one summary line. Exits 0 when the pass ran, even if some feeds failed: their
    errors are on their rows (see `archiver sources`).

    \b
    Example:
        archiver poll --all
    """
    with Session(config) as session:
        sync_config_feeds(session.db, config.feeds, session.now())
        tally = poll_once(session, everything)
    click.echo(tally.summary())
    deliver_before_exit(config)


cli.add_command(run_command, "run")
cli.add_command(worker_command, "worker")
cli.add_command(status_command, "status")
cli.add_command(serve_command, "serve")
cli.add_command(changes_command, "changes")
cli.add_command(notify_command, "notify")
cli.add_command(maintain_command, "maintain")
cli.add_command(stats_command, "stats")
cli.add_command(reextract_command, "reextract")


@cli.group()
def export() -> None:
    """Write the archive's evidence and articles out.

    \b
    Example:
        archiver export warc -o evidence.warc.gz
        archiver export jsonl --latest -o articles.jsonl
        archiver export markdown articles/
    """


export.add_command(export_warc_command, "warc")
export.add_command(jsonl_command, "jsonl")
export.add_command(markdown_command, "markdown")
cli.add_command(backup_command, "backup")

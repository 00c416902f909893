"""The commands that follow and fetch: fetch, add, watch, remove, import and poll."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Iterable

import click

from archiver.content.urls import BadURL, canonical_url, redact_url
from archiver.interfaces.cli_common import common_options, progress
from archiver.jobs.notify import deliver_before_exit
from archiver.jobs.pages import PageJob, PageOutcome
from archiver.jobs.polling import FeedJob, FeedOutcome, poll_once
from archiver.jobs.session import Session, utc_now
from archiver.jobs.subscriptions import (NothingToSubscribe, find_feeds, remove, subscribe, sync_config_feeds,
                                         watch)
from archiver.settings import Config, parse_duration
from archiver.store.db import open_db


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


@click.command()
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


@click.command()
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


@click.command(name="watch")
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


@click.command(name="remove")
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


@click.command(name="import")
@click.argument("args", nargs=-1, required=True, metavar="[opml|warc] FILE...")
@click.option("--workers", type=click.IntRange(min=1), default=None, metavar="N",
              help="warc: extraction worker processes [default 1, which keeps an import under 200 MB; "
                   "each further one adds about 75 MB, and speed where cores are free]")
@common_options
def import_command(config: Config, args: tuple[str, ...], workers: int | None) -> None:
    """Import subscriptions from OPML, or pages from WARC/ARC files.

    `archiver import opml FILE` subscribes to every feed in an OPML file (nested outlines too;
    duplicates ignored). `archiver import warc FILE...` archives every HTML page a WARC or ARC
    file (gzip or not, from any tool) holds, as a fetch would, dated by the records; importing a
    file again adds nothing. A bad record is reported with its offset and skipped, the rest is
    imported, and the exit status is 1. It extracts in one worker process (not the `workers`
    setting) unless `--workers N` says otherwise. Without `opml` or `warc`, files named
    .warc, .arc, .warc.gz or .arc.gz are WARC/ARC files, any other an OPML file.

    \b
    Example:
        archiver import subscriptions.opml
        archiver import warc crawl-2024.warc.gz old-site.arc.gz
        archiver import --workers 4 big-crawl.warc.gz
    """
    fmt, files = (args[0], args[1:]) if args[0] in ("opml", "warc") else (_format_by_name(args), args)
    if not files:
        raise click.UsageError(f"give the {fmt.upper()} file(s) to import")
    if fmt == "warc":
        from archiver.interfaces.cli_warc import import_warc

        import_warc(config, [Path(f) for f in files], workers or 1)
        return
    if workers is not None:
        raise click.UsageError("--workers is for `archiver import warc`: an OPML import extracts nothing")
    if len(files) > 1:
        raise click.UsageError("give one OPML file")
    _import_opml(config, files[0])


_WARC_NAMES = (".warc", ".arc", ".warc.gz", ".arc.gz")


def _format_by_name(files: tuple[str, ...]) -> str:
    """"warc" when every file is named as a WARC or ARC file is, else "opml"; both is an error."""
    named_warc = [f.lower().endswith(_WARC_NAMES) for f in files]
    if all(named_warc):
        return "warc"
    if any(named_warc):
        raise click.UsageError("give WARC/ARC files and an OPML file in two imports "
                               "(`archiver import warc FILE...`, `archiver import opml FILE`)")
    return "opml"


def _import_opml(config: Config, name: str) -> None:
    from archiver.content.opml import OpmlError, parse_opml

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


@click.command()
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

"""`archiver export warc` and `archiver import warc`: the evidence out and in as WARC files.

warcio is imported by ``warc_export`` and ``warc_import`` only, and those only when one of
these commands runs."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from archiver.content.urls import canonical_url
from archiver.interfaces.cli_common import common_options, existing_archive_path, replacing
from archiver.jobs.session import Session, utc_now
from archiver.net.fetcher import default_headers
from archiver.settings import Config, parse_since
from archiver.store.db import find_page_id, iso, open_db


@click.command(name="warc")
@click.option("-o", "--output", default=None, metavar="FILE",
              help="the WARC file to write (.warc.gz; - for standard output) [default archiver-TIME.warc.gz]")
@click.option("--since", default=None, metavar="WHEN",
              help="only captures since WHEN: an ISO date or time, or an age (7d, 12h)")
@click.option("--url", "urls", multiple=True, metavar="URL", help="only the captures of this page (repeatable)")
@click.option("--feed", "feeds", multiple=True, metavar="URL",
              help="only this feed's captures and those of its entries' pages (repeatable)")
@click.option("--force", is_flag=True, help="replace FILE if it exists (once the new one is complete)")
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
@common_options
def export_warc_command(config: Config, output: str | None, since: str | None, urls: tuple[str, ...],
                        feeds: tuple[str, ...], force: bool, as_json: bool) -> None:
    """Write the archive's captures and snapshots as a WARC 1.1 file, to hand evidence on.

    Each capture becomes a request and a response record (a revisit for a body already in the
    file or a 304; a metadata record saying why for a refused or failed exchange), each snapshot
    a conversion record holding the extracted article as JSON. Replay it in pywb or
    ReplayWeb.page; `archiver import warc` reads it back.

    \b
    Example:
        archiver export warc -o evidence.warc.gz --since 2024-01-01
        archiver export warc -o - --url https://example.com/a | gzip -t
    """
    from archiver.interfaces.warc_export import WarcExport

    db = open_db(existing_archive_path(config.db))
    selection = _selection(db, since, urls, feeds)
    target = output or f"archiver-{utc_now().strftime('%Y%m%dT%H%M%SZ')}.warc.gz"
    if target == "-":
        tally = WarcExport(db, sys.stdout.buffer, selection, default_headers(config)).run()
    else:
        with replacing(Path(target), overwrite=force) as temp, temp.open("wb") as out:
            tally = WarcExport(db, out, selection, default_headers(config)).run()
    summary = {"file": target, "captures": tally.captures, "records": dict(tally.records)}
    line = json.dumps(summary, indent=2) if as_json else f"{target}: {tally.summary()}"
    click.echo(line, err=target == "-")


def _selection(db: Any, since: str | None, urls: tuple[str, ...], feeds: tuple[str, ...]) -> Any:
    from archiver.interfaces.warc_export import Selection

    page_ids = []
    for url in urls:
        page_id = find_page_id(db, canonical_url(url))
        if page_id is None:
            raise click.ClickException(f"not in the archive: {url}")
        page_ids.append(page_id)
    feed_ids = []
    for url in feeds:
        row = db.execute("SELECT id FROM feeds WHERE url IN (?, ?)", [url, canonical_url(url)]).fetchone()
        if row is None:
            raise click.ClickException(f"not a feed in the archive: {url}")
        feed_ids.append(row[0])
    try:
        moment = iso(parse_since(since, utc_now())) if since else None
    except ValueError:
        raise click.BadParameter(f"not a time: {since!r} (try 2024-05-01, 2024-05-01T12:00:00Z or 7d)",
                                 param_hint="--since") from None
    described = {"since": moment, "url": list(urls), "feed": list(feeds)}
    return Selection(moment, tuple(page_ids), tuple(feed_ids), described)


def import_warc(config: Config, files: list[Path], workers: int = 1) -> None:
    """`archiver import warc FILE...`: one summary line per file, each bad record on standard
    error with its offset; exit 1 when there was one (or an unreadable file).

    ``workers`` extraction processes, not the ``workers`` setting: each holds what the extractor
    builds as it meets pages (dateparser's tables for all its languages alone are some 45 MB),
    about 75 MB once warm, and one keeps up with what this process reads and saves on two cores;
    the setting's one-per-core would put the import past 200 MB on most machines."""
    from archiver.interfaces.warc_import import WarcImport

    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise click.BadParameter(f"no such file: {', '.join(missing)}", param_hint="FILE")
    failed = False
    # Changes found in imported history are recorded like any other, but they are history: they
    # notify nobody (the notify targets are for what happens from now on).
    with Session(config.replace(notify=[], workers=workers)) as session:
        importer = WarcImport(session, on_problem=lambda path, line: click.echo(
            f"Error: {path}: {line} (skipped)", err=True))
        for path in files:
            try:
                tally = importer.run(path)
            except OSError as exc:
                click.echo(f"Error: {path}: {exc.strerror or exc}", err=True)
                failed = True
                continue
            failed = failed or tally.bad_records > 0
            click.echo(tally.summary())
    if failed:
        sys.exit(1)

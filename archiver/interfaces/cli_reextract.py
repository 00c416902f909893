"""`archiver reextract`: today's extractor over the stored bodies (see archiver.jobs.reextract)."""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import asdict
from typing import Any

import click

from archiver.content.urls import canonical_url
from archiver.interfaces.cli_common import common_options, existing_archive_path, progress
from archiver.jobs.reextract import Reextracted, count_targets, reextract, select_targets
from archiver.jobs.session import utc_now
from archiver.jobs.workers import WorkerPool
from archiver.settings import Config, parse_since
from archiver.store.db import find_page_id, iso, open_db


@click.command(name="reextract")
@click.option("--since", default=None, metavar="WHEN",
              help="only pages whose latest version was captured at or after WHEN: a date or "
                   "time (2024-05-01, 2024-05-01T12:00:00Z) or an age (7d, 12h)")
@click.option("--url", "urls", multiple=True, metavar="URL",
              help="only this page (any URL that led to it); repeat for more")
@click.option("--dry-run", is_flag=True, help="extract and compare, but write nothing")
@click.option("--json", "as_json", is_flag=True, help="print the counts and the changed pages as JSON")
@common_options
def reextract_command(config: Config, since: str | None, urls: tuple[str, ...], dry_run: bool,
                      as_json: bool) -> None:
    """Run today's extractor over the stored bodies, with no network.

    For each page, the capture behind its latest version is extracted again; where the
    title or text differs, a new version is added (older ones stay) that records the extractor
    and the snapshot it replaces (`reextracted_from`). A second run writes nothing; a killed run
    keeps what it finished. Exits 1 when a page could not be extracted or a --url is not archived.

    \b
    Example:
        archiver reextract --dry-run
        archiver reextract --since 30d --url https://example.com/a
    """
    path = existing_archive_path(config.db)
    db = open_db(path, migrate=not dry_run)  # a dry run leaves the file as it is, schema included
    moment = _since(since)
    page_ids, missing = _page_ids(db, urls)
    counts: Counter[str] = Counter()
    notable: list[Reextracted] = []
    if page_ids or not urls:
        _run(config, db, moment, page_ids or None, dry_run, as_json, counts, notable)
    _report(counts, notable, missing, dry_run, as_json)
    if missing or counts["failed"]:
        sys.exit(1)


def _since(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return iso(parse_since(text, utc_now()))
    except ValueError:
        raise click.BadParameter(f"not a time: {text!r} (try 2024-05-01, 2024-05-01T12:00:00Z or 7d)",
                                 param_hint="--since") from None


def _page_ids(db: Any, urls: tuple[str, ...]) -> tuple[list[int], list[str]]:
    """The pages the --url options name, and the URLs that name none."""
    found, missing = [], []
    for url in urls:
        page_id = find_page_id(db, canonical_url(url))
        if page_id is None:
            click.echo(f"Error: not in the archive: {url}", err=True)
            missing.append(url)
        else:
            found.append(page_id)
    return found, missing


def _run(config: Config, db: Any, since: str | None, page_ids: list[int] | None, dry_run: bool,
         quiet: bool, counts: Counter[str], notable: list[Reextracted]) -> None:
    """Re-extract the selection, counting outcomes and printing a line per changed or failed
    page as it comes (kept in ``notable`` for --json; unchanged pages are only counted)."""
    total = count_targets(db, since, page_ids)
    with WorkerPool(config) as pool, \
            progress(total, "re-extracting", not quiet and sys.stdout.isatty() and total >= 10) as bar:
        for outcome in reextract(db, pool, select_targets(db, since, page_ids),
                                 config.max_extract_bytes, dry_run):
            counts[outcome.result] += 1
            if quiet and outcome.result != "same":
                notable.append(outcome)
            elif not quiet:
                _echo(outcome, dry_run)
            bar.update(1)


def _echo(outcome: Reextracted, dry_run: bool) -> None:
    if outcome.result == "changed":
        click.echo(f"would change  {outcome.page_url}" if dry_run else
                   f"changed       {outcome.page_url}  (version {outcome.version} replaces snapshot "
                   f"{outcome.replaced})")
    elif outcome.result == "failed":
        click.echo(f"failed        {outcome.page_url}: {outcome.detail}", err=True)
    elif outcome.result == "superseded":
        click.echo(f"skipped       {outcome.page_url}: {outcome.detail}")


def _report(counts: Counter[str], notable: list[Reextracted], missing: list[str], dry_run: bool,
            as_json: bool) -> None:
    checked = sum(counts.values())
    if as_json:
        click.echo(json.dumps({
            "checked": checked, "changed": counts["changed"], "failed": counts["failed"],
            "superseded": counts["superseded"], "dry_run": dry_run, "not_archived": missing,
            "pages": [asdict(o) for o in notable],
        }, indent=2))
        return
    verb = "would change (dry run: nothing written)" if dry_run else "changed"
    line = f"{checked} pages checked, {counts['changed']} snapshots {verb}"
    for result, words in (("failed", "failed"), ("superseded", "skipped (newer version meanwhile)")):
        if counts[result]:
            line += f", {counts[result]} {words}"
    click.echo(line)

"""The commands that read the archive without changing it: show, sources, export-opml, config.

They import no more than the store needs, so that `archiver show` starts quickly."""

from __future__ import annotations

import json
from typing import Any

import click

from archiver.content.opml import export_opml
from archiver.content.render import snapshot_json, snapshot_markdown
from archiver.content.urls import canonical_url
from archiver.interfaces.cli_common import common_options, existing_archive
from archiver.settings import SETTINGS, Config
from archiver.store.db import find_page_id, snapshot_version
from archiver.store.health import list_sources


def _no_such_version(url: str, page: dict[str, Any], version: int | None) -> str:
    """Why ``show`` has nothing to print for a page the archive knows."""
    count = page["snapshot_count"]
    if version:
        return f"{url} has no version {version}: it has {count} version{'' if count == 1 else 's'}"
    if page["last_error"]:
        return f"{url} has no archived version yet; its last check ({page['last_checked_at']}) failed: {page['last_error']}"
    return f"{url} has no archived version yet"


@click.command()
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
    page = db.table("pages").get(page_id)
    page_url = page["url"]
    snapshot = snapshot_version(db, page_id, version)
    if snapshot is None:
        raise click.ClickException(_no_such_version(url, page, version))
    if as_json:
        capture = db.table("captures").get(snapshot["capture_id"])
        click.echo(json.dumps(snapshot_json(snapshot, capture, page_url), indent=2, ensure_ascii=False))
    else:
        click.echo(snapshot_markdown(snapshot, page_url), nl=False)


@click.command(name="config")
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


@click.command()
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


@click.command(name="export-opml")
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

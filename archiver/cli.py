"""The command line: one subcommand per job. Library errors become one-line errors here."""

from __future__ import annotations

import json
import sys
from typing import Any, Callable, Iterable

import click

from archiver import __version__
from archiver.pages import PageJob, PageOutcome
from archiver.render import snapshot_json, snapshot_markdown
from archiver.session import Session
from archiver.cli_common import common_options
from archiver.settings import SETTINGS, Config
from archiver.store import find_page_id, open_db, snapshot_version
from archiver.urls import BadURL, canonical_url

@click.group()
@click.version_option(__version__, prog_name="archiver")
def cli() -> None:
    """Keep a faithful, searchable archive of the web pages and feeds you follow.

    \b
    Example:
        archiver fetch https://example.com/some/article
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
            bad.append(f"{url}: {exc}")
    if bad:  # bad input: say what is wrong and archive nothing
        for line in bad:
            click.echo(f"Error: {line}", err=True)
        sys.exit(2)


def _outcome_line(outcome: PageOutcome) -> str:
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
@common_options
def fetch(config: Config, urls: tuple[str, ...], input_file: Any, as_json: bool) -> None:
    """Archive these pages now, printing one line per URL.

    Exits 0 when every URL was archived (new snapshot or unchanged), 1 when any failed.

    \b
    Example:
        archiver fetch https://example.com/a https://example.com/b
        archiver fetch -i urls.txt
    """
    targets = list(dict.fromkeys(_read_urls(urls, input_file)))
    if not targets:
        raise click.UsageError("give at least one URL (or -i FILE)")
    _check_urls(targets)
    outcomes = _run_fetch(config, targets, as_json)
    if as_json:
        click.echo(json.dumps([o.__dict__ for o in outcomes], indent=2, default=str))
    if any(o.failed for o in outcomes):
        sys.exit(1)


def _run_fetch(config: Config, targets: list[str], quiet: bool) -> list[PageOutcome]:
    outcomes: list[PageOutcome] = []
    with Session(config) as session:
        stream = session.run(PageJob(session, url) for url in targets)
        show_bar = not quiet and sys.stdout.isatty() and len(targets) >= 10
        with click.progressbar(length=len(targets), file=sys.stderr, label="archiving") if show_bar \
                else _NoBar() as bar:
            for outcome in stream:
                outcomes.append(outcome)
                if not quiet:
                    click.echo(_outcome_line(outcome))
                bar.update(1)
    return outcomes


class _NoBar:
    def __enter__(self) -> "_NoBar":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def update(self, n: int) -> None:
        return None


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
    db = open_db(config.db)
    page_id = find_page_id(db, canonical_url(url))
    if page_id is None:
        raise click.ClickException(f"not in the archive: {url}")
    page_url = db["pages"].get(page_id)["url"]
    snapshot = snapshot_version(db, page_id, version)
    if snapshot is None:
        count = db["pages"].get(page_id)["snapshot_count"]
        which = f"version {version}" if version else "a snapshot"
        raise click.ClickException(f"{url} has no {which} (it has {count} version(s))")
    if as_json:
        capture = db["captures"].get(snapshot["capture_id"])
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


def main() -> None:
    cli()

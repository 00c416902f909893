"""`archiver export jsonl` and `archiver export markdown`: the archived articles out, in the
shapes `archiver show --json` and `archiver show` print them, streamed."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Iterator, TextIO

import click

from archiver.content.render import snapshot_filename, snapshot_json, snapshot_markdown
from archiver.interfaces.cli_common import common_options, existing_archive_path, replacing
from archiver.settings import Config
from archiver.store.db import get_row, iter_snapshots, open_db

_LATEST = click.option("--latest", is_flag=True, help="only the latest version of each page")


@click.command(name="jsonl")
@_LATEST
@click.option("-o", "--output", default="-", metavar="FILE",
              help="write to FILE (replaced once complete) instead of standard output")
@common_options
def jsonl_command(config: Config, latest: bool, output: str) -> None:
    """Write every version of every page (or the latest with --latest) as JSON Lines.

    One object per line, as `archiver show --json` prints it: the snapshot, its page's URL and
    the capture it came from.

    \b
    Example:
        archiver export jsonl --latest -o articles.jsonl
    """
    db = open_db(existing_archive_path(config.db), migrate=False)
    if output == "-":
        _write_jsonl(db, latest, sys.stdout)
        return
    with replacing(Path(output)) as temp, temp.open("w", encoding="utf-8") as stream:
        count = _write_jsonl(db, latest, stream)
    click.echo(f"{count} snapshots written to {output}", err=True)


def _write_jsonl(db: Any, latest: bool, stream: TextIO) -> int:
    count = 0
    for snapshot, page_url in iter_snapshots(db, latest):
        capture = get_row(db, "captures", snapshot["capture_id"])
        stream.write(json.dumps(snapshot_json(snapshot, capture, page_url), ensure_ascii=False) + "\n")
        count += 1
    return count


@click.command(name="markdown")
@click.argument("directory", type=click.Path(file_okay=False), metavar="DIR")
@_LATEST
@click.option("--json", "as_json", is_flag=True, help="print the count and the directory as JSON")
@common_options
def markdown_command(config: Config, directory: str, latest: bool, as_json: bool) -> None:
    """Write every version of every page (or the latest with --latest) as Markdown files in DIR.

    Each file is what `archiver show` prints, at DIR/SITE/PATH-HASH.vN.md (without .vN under
    --latest); files already there under those names are replaced.

    \b
    Example:
        archiver export markdown articles/ --latest
    """
    db = open_db(existing_archive_path(config.db), migrate=False)
    root = Path(directory)
    try:
        root.mkdir(parents=True, exist_ok=True)
        count = sum(1 for _ in _write_markdown(db, latest, root))
    except OSError as exc:
        raise click.ClickException(f"cannot write to {directory}: {exc}") from None
    if as_json:
        click.echo(json.dumps({"files": count, "directory": str(root)}))
    else:
        click.echo(f"{count} files written under {root}")


def _write_markdown(db: Any, latest: bool, root: Path) -> Iterator[Path]:
    """Write each file, yielding its path; a name that would lead out of ``root`` (through a
    link already in it) is an error, never followed."""
    top = root.resolve()
    for snapshot, page_url in iter_snapshots(db, latest):
        path = root / snapshot_filename(page_url, None if latest else snapshot["version"])
        path.parent.mkdir(exist_ok=True)
        if not path.resolve().is_relative_to(top):
            raise OSError(f"{path} leads outside the directory")
        path.write_text(snapshot_markdown(snapshot, page_url), encoding="utf-8")
        yield path

"""`archiver backup`: a consistent, checked copy of the archive, taken while it is in use."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from archiver.interfaces.cli_common import common_options, existing_archive_path, replacing
from archiver.settings import Config
from archiver.store.backup import write_backup
from archiver.store.db import open_db


@click.command(name="backup")
@click.argument("file", type=click.Path(dir_okay=False), metavar="FILE")
@click.option("--force", is_flag=True, help="replace FILE if it exists (atomically, once the copy is checked)")
@click.option("--json", "as_json", is_flag=True, help="print what was copied as JSON")
@common_options
def backup_command(config: Config, file: str, force: bool, as_json: bool) -> None:
    """Copy the archive to FILE, consistently, while the daemon and serve go on using it.

    The copy is made with SQLite's VACUUM INTO and passes PRAGMA integrity_check before it
    takes the name FILE; an existing FILE is never overwritten without --force.

    \b
    Example:
        archiver backup backups/archive-$(date +%F).db
    """
    source = existing_archive_path(config.db)
    target = Path(file)
    _check_target(source, target, force)
    db = open_db(source, migrate=False)  # the copy only reads: not even a migration
    with replacing(target, overwrite=force) as temp:
        write_backup(db, temp)
    counts = {table: _count(target, table) for table in ("pages", "snapshots", "captures")}
    size = target.stat().st_size
    if as_json:
        click.echo(json.dumps({"source": str(source), "backup": str(target), "bytes": size,
                               **counts, "integrity": "ok"}))
    else:
        click.echo(f"backed up {source} to {target}: {size:,} bytes, {counts['pages']} pages, "
                   f"{counts['snapshots']} snapshots, {counts['captures']} captures; integrity ok")


def _check_target(source: Path, target: Path, force: bool) -> None:
    if target.exists() and source.exists() and os.path.samefile(source, target):
        raise click.ClickException(f"{target} is the archive itself")
    if target.exists() and not force:
        raise click.ClickException(f"{target} exists (use --force to replace it)")
    if not target.parent.is_dir():
        raise click.ClickException(f"no such directory: {target.parent}")


def _count(path: Path, table: str) -> int:
    db = open_db(path, readonly=True)
    try:
        return int(db.execute(f"SELECT count(*) FROM [{table}]").fetchone()[0])
    finally:
        db.conn.close()

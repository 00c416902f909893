"""`archiver maintain` and `archiver stats`: keep the archive file healthy, and say how it grows."""

from __future__ import annotations

import json
from typing import Any

import click

from archiver.interfaces.cli_common import common_options, existing_archive_path
from archiver.settings import Config
from archiver.store import health
from archiver.store.db import open_db


def _existing(config: Config) -> Any:
    return open_db(existing_archive_path(config.db))


@click.command(name="maintain")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
@common_options
def maintain_command(config: Config, as_json: bool) -> None:
    """Checkpoint the write-ahead log, refresh the planner's statistics and optimise the
    full-text index; report the file's size and free pages.

    Safe while the daemon and `archiver serve` use the archive: a step that readers keep busy
    is deferred, never waited for. The daemon runs the same pass once a week.

    \b
    Example:
        archiver maintain
    """
    report = health.maintain(_existing(config))
    if as_json:
        size = report.size
        click.echo(json.dumps({
            "checkpoint_busy": report.checkpoint_busy, "checkpointed_pages": report.checkpointed_pages,
            "fts_optimized": report.fts_optimized, "seconds": round(report.seconds, 3),
            "file_bytes": size.bytes, "pages": size.pages, "free_pages": size.free_pages,
            "page_size": size.page_size, "wal_bytes": size.wal_bytes}, indent=2))
    else:
        click.echo(report.summary())


@click.command(name="stats")
@click.option("--days", type=click.IntRange(min=1), default=health.GROWTH_DAYS, show_default=True,
              help="days of growth to show")
@click.option("--json", "as_json", is_flag=True, help="print the figures as JSON")
@common_options
def stats_command(config: Config, days: int, as_json: bool) -> None:
    """Counts, size on disk by part, growth per day and the largest sites.

    \b
    Example:
        archiver stats --days 7
    """
    stats = health.archive_stats(_existing(config), days=days)
    if as_json:
        click.echo(json.dumps(stats, indent=2))
        return
    for line in stats_lines(stats):
        click.echo(line)


def stats_lines(stats: dict[str, Any]) -> list[str]:
    counts, file, bodies = stats["counts"], stats["file"], stats["bodies"]
    lines = ["  ".join(f"{n} {table}" for table, n in counts.items()),
             f"file {_mb(file['bytes'])} ({file['free_pages']} free pages), write-ahead log {_mb(file['wal_bytes'])}",
             f"bodies {_mb(bodies['stored_bytes'])} stored for {_mb(bodies['original_bytes'])} captured",
             "largest parts: " + ", ".join(f"{part} {_mb(size)}" for part, size in list(stats["space"].items())[:5]),
             f"last maintenance: {stats['last_maintenance'] or 'never (run `archiver maintain`)'}",
             "growth per day (captures, snapshots, new pages, bytes captured):"]
    lines += [f"  {g['day']}  {g['captures']:>8} {g['snapshots']:>8} {g['pages']:>8}  {_mb(g['captured_bytes'])}"
              for g in stats["growth"]] or ["  nothing in that time"]
    lines.append("largest sites (pages, versions):")
    lines += [f"  {s['host']}  {s['pages']} {s['snapshots']}" for s in stats["largest_sites"]] or ["  none yet"]
    return lines


def _mb(count: int) -> str:
    return f"{count / 1_000_000:.1f} MB"

"""The command line: one subcommand per job (library errors become one-line errors in each).

Each command is imported when it runs (or when help lists it): `archiver show` does not load the
HTTP client, the daemon or the extractor that other commands need, and starts in half the time."""

from __future__ import annotations

import click

from archiver import __version__
from archiver.interfaces.cli_common import LazyGroup, group_options

_HERE = "archiver.interfaces"
COMMANDS = {
    "add": f"{_HERE}.cli_follow:add",
    "backup": f"{_HERE}.cli_backup:backup_command",
    "changes": f"{_HERE}.changes:changes_command",
    "config": f"{_HERE}.cli_read:config_command",
    "export-opml": f"{_HERE}.cli_read:export_opml_command",
    "fetch": f"{_HERE}.cli_follow:fetch",
    "import": f"{_HERE}.cli_follow:import_command",
    "maintain": f"{_HERE}.health_commands:maintain_command",
    "notify": f"{_HERE}.changes:notify_command",
    "poll": f"{_HERE}.cli_follow:poll",
    "reextract": f"{_HERE}.cli_reextract:reextract_command",
    "remove": f"{_HERE}.cli_follow:remove_command",
    "run": f"{_HERE}.daemon_commands:run_command",
    "serve": f"{_HERE}.serve:serve_command",
    "show": f"{_HERE}.cli_read:show",
    "sources": f"{_HERE}.cli_read:sources",
    "stats": f"{_HERE}.health_commands:stats_command",
    "status": f"{_HERE}.daemon_commands:status_command",
    "watch": f"{_HERE}.cli_follow:watch_command",
    "worker": f"{_HERE}.cli_cluster:worker_command",
}
EXPORTS = {
    "jsonl": f"{_HERE}.cli_export:jsonl_command",
    "markdown": f"{_HERE}.cli_export:markdown_command",
    "warc": f"{_HERE}.cli_warc:export_warc_command",
}


@click.group(cls=LazyGroup, lazy=COMMANDS)
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


@cli.group(cls=LazyGroup, lazy=EXPORTS)
def export() -> None:
    """Write the archive's evidence and articles out.

    \b
    Example:
        archiver export warc -o evidence.warc.gz
        archiver export jsonl --latest -o articles.jsonl
        archiver export markdown articles/
    """


def every_command() -> list[tuple[list[str], click.Command]]:
    """Each command with the names that run it (``["export", "warc"]``), groups' commands included."""
    found: list[tuple[list[str], click.Command]] = []
    with click.Context(cli) as context:
        for name in cli.list_commands(context):
            command = cli.get_command(context, name)
            assert command is not None
            if isinstance(command, click.Group):
                found += [([name, sub], command.get_command(context, sub))  # type: ignore[misc]
                          for sub in command.list_commands(context)]
            else:
                found.append(([name], command))
    return found

"""`archiver serve`: Datasette over the archive, with the project's metadata, plugin and templates.

The archive is opened read-only but not ``immutable``, so rows the daemon writes while the server
runs show up on the next request. Anonymous visitors browse, search and run the canned queries;
arbitrary SQL is off (SECURITY.md, test plan item 54).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from archiver.interfaces.cli_common import common_options
from archiver.settings import Config
from archiver.store.db import StoreError, open_db

if TYPE_CHECKING:
    from datasette.app import Datasette

PACKAGE_DIR = Path(__file__).resolve().parent
METADATA_PATH = PACKAGE_DIR / "metadata.json"
TEMPLATES_DIR = PACKAGE_DIR / "templates"
DATABASE_NAME = "archive"

DATASETTE_SETTINGS: dict[str, Any] = {
    "default_allow_sql": False,   # no arbitrary SQL for anonymous visitors
    "allow_download": False,
    "suggest_facets": False,      # suggestions cost a query per column on every table page
    "default_page_size": 50,
    "sql_time_limit_ms": 3000,
    "truncate_cells_html": 400,
}


def load_metadata(path: Path = METADATA_PATH) -> dict[str, Any]:
    """Datasette metadata from ``path``; a canned query's ``sql`` may be a list of lines."""
    metadata: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    for database in metadata.get("databases", {}).values():
        for query in database.get("queries", {}).values():
            if isinstance(query.get("sql"), list):
                query["sql"] = "\n".join(query["sql"])
    return metadata


# Rows a count(*) reads in a millisecond, about: a table whose largest rowid is over this times
# the count's time limit is not counted at all (see archive_database).
COUNTED_ROWS_PER_MS = 20_000


def archive_database(datasette: Datasette, db_path: str | Path) -> Any:
    """Datasette's Database for the archive, but the database page counts only the tables it can
    count within the time limit (10 ms a table). The hidden tables (the full-text index's own) go
    uncounted: ``count(*)`` of ``snapshots_fts_data`` reads all of it, 0.25 s at 200,000
    snapshots, and Datasette's time limit cannot stop a count midway. Neither is a table whose
    largest rowid (one look at its index) says it has more rows than a count reads in that time:
    at full size pages, page_urls, captures, entries and snapshots each ran their count for 7 to
    90 ms, 80 ms of the page's 140, only to give it up."""
    from datasette.database import Database

    class ArchiveDatabase(Database):  # type: ignore[misc]
        async def table_counts(self, limit: int = 10) -> dict[str, int | None]:
            hidden = set(await self.hidden_table_names())
            counts: dict[str, int | None] = {}
            for table in await self.table_names():
                counts[table] = None if table in hidden else await self._count(table, limit)
            return counts

        async def _count(self, table: str, limit: int) -> int | None:
            from datasette.database import QueryInterrupted

            try:
                top = (await self.execute(f"select max(rowid) from [{table}]", custom_time_limit=limit)).rows[0][0]
            except sqlite3.OperationalError:  # a table WITHOUT ROWID: counted
                top = None
            if isinstance(top, int) and top > COUNTED_ROWS_PER_MS * limit:
                return None
            try:
                rows = await self.execute(f"select count(*) from [{table}]", custom_time_limit=limit)
            except (QueryInterrupted, sqlite3.DatabaseError):  # as Datasette's own count
                return None
            return int(rows.rows[0][0])

    return ArchiveDatabase(datasette, path=str(db_path), is_mutable=True)


def build_datasette(db_path: str | Path) -> Datasette:
    """A Datasette instance serving the archive at ``db_path`` read-only, as database ``archive``."""
    # Imported here so that every other command starts without loading Datasette (~0.4 s).
    from datasette.app import Datasette
    from datasette.plugins import pm

    from archiver.interfaces import datasette_plugin

    if not pm.is_registered(datasette_plugin):
        pm.register(datasette_plugin, name="archiver")
    datasette = Datasette(
        files=[],
        metadata=load_metadata(),
        settings=DATASETTE_SETTINGS,
        template_dir=str(TEMPLATES_DIR),
    )
    datasette.remove_database("_memory")  # added when no files are given; SQL over it is not wanted
    datasette.add_database(archive_database(datasette, db_path), name=DATABASE_NAME)
    return datasette


def ensure_archive(db_path: str | Path) -> None:
    """Create an empty archive (schema included) at ``db_path`` if there is none yet; raise
    StoreError if the file there is not a readable SQLite database."""
    if not Path(db_path).exists():
        open_db(db_path).conn.close()
        return
    db = open_db(db_path, readonly=True)  # never write to an existing archive: the daemon owns it
    try:
        db.execute("SELECT count(*) FROM sqlite_master")
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"cannot read database {db_path}: {exc}") from None
    finally:
        db.conn.close()


async def run_server(datasette: Datasette, host: str, port: int, log_level: str) -> None:
    """Start Datasette's plugins, then serve until interrupted."""
    import uvicorn

    await datasette.invoke_startup()
    config = uvicorn.Config(datasette.app(), host=host, port=port, log_level=log_level.lower(),
                            lifespan="on")
    await uvicorn.Server(config).serve()


@click.command(name="serve")
@click.option("--host", "set_host", default=None,
              help="address to listen on [default 127.0.0.1; 0.0.0.0 exposes the archive to "
                   "other machines]")
@click.option("--port", "set_port", type=click.IntRange(0, 65535), default=None,
              help="port to listen on [default 8001]")
@common_options
def serve_command(config: Config) -> None:
    """Browse and search the archive in Datasette, read-only.

    A front page at http://HOST:PORT/ (search, the latest articles, recent changes, feeds in
    trouble), the tables at http://HOST:PORT/archive, each article's versions and diffs, and an
    Atom feed of changes at /archive/recent_changes.atom. Arbitrary SQL is disabled; the canned
    queries stay available.

    \b
    Example:
        archiver serve --port 8001
    """
    ensure_archive(config.db)
    datasette = build_datasette(config.db)
    click.echo(f"Serving {config.db} at http://{config.host}:{config.port}/", err=True)
    asyncio.run(run_server(datasette, config.host, config.port, config.log_level))

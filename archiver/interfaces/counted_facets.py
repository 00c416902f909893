"""Facets whose counts over the whole table are read from ``facet_counts`` instead of counted.

A table's default facets are counted on every visit of its page. Datasette counts a column facet
with ``GROUP BY`` over the whole table: at a million snapshots each of the three default facets
read a million index entries, 55 to 75 ms each, one after the other. The archive keeps those
counts up to date as snapshots and pages are written (``m013_facet_counts`` and
``m014_page_facet_counts`` in archiver/store/db.py), so the unfiltered page reads them: a few
hundred rows.

metadata.json names such a facet ``{"counted": "sitename"}``. It shows and links as Datasette's
column facet does. A page narrowed by a filter, a search or a later page (whose SQL has a
``where``) gets Datasette's own count of its rows, as does a column the archive does not count,
or a table whose counting migration has not run yet (``m013``, ``m014``: `serve` opens an archive
read-only and never migrates it).
"""

from __future__ import annotations

from typing import Any

from datasette.facets import ColumnFacet
from datasette.utils import escape_sqlite, path_with_added_args, path_with_removed_args

from archiver.store.db import COUNTED_FACETS, facet_trigger


class CountedFacet(ColumnFacet):  # type: ignore[misc]
    type = "counted"

    async def facet_results(self) -> tuple[list[dict[str, Any]], list[str]]:
        results: list[dict[str, Any]] = []
        timed_out: list[str] = []
        configs = self.get_configs()
        kept = bool(configs) and await self._kept()
        for source_and_config in configs:
            column = source_and_config["config"].get("column") or source_and_config["config"]["simple"]
            shown = await self._counted(column, source_and_config["source"]) if kept else None
            if shown is None:  # filtered, or not counted: Datasette's own count of these rows
                shown, late = await self._counted_by_datasette(source_and_config)
                timed_out.extend(late)
            results.extend(shown)
        for result in results:
            result["type"] = "column"  # shown, and toggled, as Datasette's column facet
        return results, timed_out

    def _unfiltered(self) -> bool:
        """Whether this page's rows are the whole table (Datasette's SQL has no ``where``)."""
        return (not self.params and bool(self.table)
                and self.sql.rstrip().endswith(f"from {escape_sqlite(self.table)}"))

    async def _kept(self) -> bool:
        """Whether this page shows the whole table and the archive keeps that table's counts: the
        migration that counts it has run (`serve` never migrates, and may be started on an
        archive a newer version has not opened yet; one from before facet_counts has none)."""
        if not self._unfiltered() or self.table not in COUNTED_FACETS:
            return False
        return bool((await self.ds.execute(
            self.database, "select 1 from sqlite_master where type = 'trigger' and name = :name",
            {"name": facet_trigger(self.table, "ai")})).rows)

    async def _counted(self, column: str, source: str) -> list[dict[str, Any]] | None:
        if column not in COUNTED_FACETS[self.table]:
            return None
        size = self.get_facet_size()
        rows = (await self.ds.execute(
            self.database,
            "select value, count from facet_counts where tbl = :table and col = :column "
            "and count > 0 order by count desc, value limit :limit",
            {"table": self.table, "column": column, "limit": size + 1})).rows
        expanded = await self.ds.expand_foreign_keys(
            self.database, self.table, column, [row["value"] for row in rows[:size]])
        column_arg = f"{column}__exact" if column.startswith("_") else column
        return [{
            "name": column,
            "hideable": source != "metadata",
            "toggle_url": self.ds.urls.path(path_with_removed_args(self.request, {"_facet": column})),
            "results": [{
                "value": row["value"],
                "label": expanded.get((column, row["value"]), row["value"]),
                "count": row["count"],
                "toggle_url": self.ds.absolute_url(self.request, self.ds.urls.path(
                    path_with_added_args(self.request, {column_arg: row["value"]}))),
                "selected": False,  # no filter on an unfiltered page
            } for row in rows[:size]],
            "truncated": len(rows) > size,
        }]

    async def _counted_by_datasette(self, source_and_config: dict[str, Any]
                                    ) -> tuple[list[dict[str, Any]], list[str]]:
        """ColumnFacet's own results for this one facet."""
        original = self.get_configs
        self.get_configs = lambda: [source_and_config]  # type: ignore[method-assign]
        try:
            return await ColumnFacet.facet_results(self)  # type: ignore[no-any-return]
        finally:
            self.get_configs = original  # type: ignore[method-assign]

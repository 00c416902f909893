"""Lean searches of the snapshots table: one page of matches read from the full-text index,
newest first, instead of every match.

A search of ``snapshots`` that asks for no sort, count or facet of its own is shown newest first
by id, without the total count or the facets (``lean_search_query`` adds ``_sort_desc=id``,
``_nocount=1``, ``_nofacet=1``). Datasette's search SQL, ``id in (select rowid from snapshots_fts
where snapshots_fts match ...)``, still takes every match out of the index before the page keeps
the newest 50: most of the index for a common word. Such a page can only show the page size + 1
newest matches below its ``_next`` bound, so a lean search asks the index for those alone
(``lean_search_clause``); FTS5 walks its rowids newest first and stops there.

Datasette's own search is a ``filters_from_request`` hook that reads ``_search``. A lean search
reaches Datasette with ``_search`` renamed ``_lean_search``, so that hook leaves it alone and ours
(``lean_search_filter``) adds the clause. The links Datasette builds from the request (next page,
sort, other formats) carry ``_lean_search``: the wrapper maps it back to ``_search`` before it
decides, so a link that asks for a sort or a facet gets Datasette's full search, as any search
that asks does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterable
from urllib.parse import parse_qsl, unquote_plus

from datasette.filters import FilterArguments
from datasette.utils import escape_sqlite, urlsafe_components

from archiver.interfaces.serve import DATABASE_NAME as DATABASE

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]

TABLE = "snapshots"
SNAPSHOTS_PATH = re.compile(rf"^/{DATABASE}/{TABLE}(\.\w+)?$")  # the table in any format
LEAN_FORMATS = (None, ".json")  # the HTML page and its JSON
LEAN_PARAM = "_lean_search"
LEAN_SEARCH = (("_sort_desc", "id", ("_sort",)), ("_nocount", "1", ("_nocount",)),
               ("_nofacet", "1", ("_nofacet", "_facet")))  # (name, value, names that say otherwise)
# What else a lean search may carry: each changes how the page is shown, never which rows match
# (a column filter, ``_where`` or ``_search_<column>`` does, and takes Datasette's full search).
LEAN_ARGS = frozenset({"_searchmode", "_sort_desc", "_nocount", "_nofacet", "_next", "_size", "_shape",
                       "_col", "_nocol", "_labels", "_label", "_json", "_nl", "_trace", "_timelimit",
                       "_nosuggest"})
# A rowid SQLite takes as an integer (Python's int() would also take "1_000" or 20 digits).
_ROWID = re.compile(r"-?[0-9]{1,18}")


# -- the query string ------------------------------------------------------------------------------

def _name(part: bytes) -> str:
    """The name of one ``name=value`` part of a query string, decoded as Datasette decodes it."""
    return unquote_plus(part.partition(b"=")[0].decode("latin-1"))


def _renamed(part: bytes, name: str) -> bytes:
    _, equals, value = part.partition(b"=")
    return name.encode("ascii") + equals + value


def query_args(parts: list[bytes]) -> list[tuple[str, str]]:
    """The ``(name, value)`` pairs Datasette reads from these parts of a query string."""
    return parse_qsl(b"&".join(parts).decode("latin-1"), keep_blank_values=True)


def is_lean(args: Iterable[tuple[str, str]], search: str = "_search") -> bool:
    """Whether a request with these arguments (its words in ``search``) is a lean search: newest
    first by id, without count or facets, and nothing that narrows the matches further."""
    first: dict[str, str] = {}
    for name, value in args:
        first.setdefault(name, value)  # Datasette reads the first value of each name
    return (search in first and set(first) - {search} <= LEAN_ARGS and first.get("_sort_desc") == "id"
            and bool(first.get("_nocount")) and bool(first.get("_nofacet")))


def _restored(parts: list[bytes]) -> list[bytes]:
    """``_lean_search`` back to ``_search``, but dropped when ``_search`` is given too: the words a
    reader typed in the search box replace the ones the page was showing."""
    names = {_name(part) for part in parts}
    if "_search" in names:
        return [part for part in parts if _name(part) != LEAN_PARAM]
    return [_renamed(part, "_search") if _name(part) == LEAN_PARAM else part for part in parts]


def _with_defaults(parts: list[bytes]) -> list[bytes]:
    """A search's parts with the lean defaults it does not override; a blank ``_sort`` (the table
    page's form sends one) asks for no sort, so it is dropped."""
    parts = [part for part in parts if not (_name(part) in ("_sort", "_sort_desc") and not part.partition(b"=")[2])]
    given = {_name(part) for part in parts}
    added = [f"{name}={value}".encode("ascii") for name, value, overridden_by in LEAN_SEARCH
             if not any(g.startswith(other) for g in given for other in overridden_by)]
    return parts + added


def lean_search_query(path: str, query: bytes) -> bytes:
    """``query`` as Datasette should see it: a search of the snapshots page (HTML or JSON) with the
    lean defaults it does not override, and ``_search`` renamed ``_lean_search`` when it is lean;
    ``_lean_search`` from a link mapped back to ``_search`` first, for every format."""
    match = SNAPSHOTS_PATH.match(path)
    if not match or not query:
        return query
    parts = _restored(query.split(b"&"))
    names = {name for name, _ in query_args(parts)}
    if match[1] not in LEAN_FORMATS or not any(n == "_search" or n.startswith("_search_") for n in names):
        return b"&".join(parts)
    parts = _with_defaults(parts)
    if is_lean(query_args(parts)):
        parts = [_renamed(part, LEAN_PARAM) if _name(part) == "_search" else part for part in parts]
    return b"&".join(parts)


def with_lean_search(app: ASGIApp) -> ASGIApp:
    """Wrap an ASGI app so that requests for the snapshots table get ``lean_search_query``."""
    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            query = lean_search_query(scope.get("path", ""), scope.get("query_string", b""))
            if query != scope.get("query_string", b""):
                scope = {**scope, "query_string": query}
        await app(scope, receive, send)

    return wrapped


# -- the SQL ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LeanPage:
    """What a page of a lean search can show: at most ``limit`` rows (Datasette asks for the page
    size + 1, to know whether there is a next page), all below rowid ``before``. ``limit`` None:
    any match can (the page is not lean, or its size or ``_next`` is one Datasette refuses or
    reads otherwise), so every match is read, as Datasette's own search does."""

    limit: int | None
    before: int | None = None


def page_limit(size: str | None, table_size: Any, default: int, max_rows: int) -> int | None:
    """The rows Datasette's table view asks for (page size + 1), or None for a size it refuses."""
    value = size or table_size  # as Datasette: a blank _size is the table's size
    if not value:
        return default + 1
    if value == "max":
        return max_rows + 1
    try:
        rows = int(value)
    except (TypeError, ValueError):
        return None
    return rows + 1 if 0 <= rows <= max_rows else None


def next_bound(token: str | None) -> int | None:
    """The rowid every row of the page is below, from Datasette's ``_next`` for a sort by id
    descending (``<id>,<id>``: the last id shown, twice); None on the first page. ValueError when
    the token is not one Datasette made for this sort."""
    if not token:
        return None
    parts = urlsafe_components(token)
    if len(parts) != 2 or token.split(",")[0] == "$null" or not all(_ROWID.fullmatch(p) for p in parts):
        raise ValueError(f"not a _next of a sort by id: {token!r}")
    shown, tie_breaker = int(parts[0]), int(parts[1])
    # Datasette's clause: id < shown or (id = shown and id > tie_breaker)
    return shown + 1 if tie_breaker < shown else shown


def lean_page(args: Any, table_size: Any, default: int, max_rows: int) -> LeanPage:
    """The page a request's arguments (Datasette's ``request.args``) ask for."""
    pairs = [(name, value) for name in args for value in args.getlist(name)]
    if not is_lean(pairs, search=LEAN_PARAM):
        return LeanPage(None)
    try:
        before = next_bound(args.get("_next"))
    except ValueError:
        return LeanPage(None)
    return LeanPage(page_limit(args.get("_size"), table_size, default, max_rows), before)


def lean_search_clause(fts_table: str, fts_pk: str, raw: bool, page: LeanPage) -> tuple[str, dict[str, Any]]:
    """The where clause of a search (words in ``:lean_search``) and its other parameters: the
    newest ``page.limit`` matches below ``page.before``, or, without a limit, every match."""
    fts = escape_sqlite(fts_table)
    sql = f"select rowid from {fts} where {fts} match " + (":lean_search" if raw else "escape_fts(:lean_search)")
    params: dict[str, Any] = {}
    if page.limit is not None and fts_pk in ("rowid", "id"):  # snapshots.id is its rowid
        if page.before is not None:
            sql += " and rowid < :lean_before"
            params["lean_before"] = page.before
        sql += " order by rowid desc limit :lean_limit"
        params["lean_limit"] = page.limit
    return f"{escape_sqlite(fts_pk)} in ({sql})", params


async def lean_search_filter(request: Any, database: str, table: str, datasette: Any) -> FilterArguments | None:
    """The ``filters_from_request`` filter of a ``_lean_search``, as Datasette's own search filter
    (datasette/filters.py) would be for ``_search``, but reading one page from the index."""
    metadata = datasette.table_metadata(database, table)
    fts_table = request.args.get("_fts_table") or metadata.get("fts_table") \
        or await datasette.get_database(database).fts_table(table)
    if not fts_table:
        return None
    fts_pk = request.args.get("_fts_pk", metadata.get("fts_pk", "rowid"))
    raw = {"raw": True, "escaped": False}.get(request.args.get("_searchmode"), metadata.get("searchmode") == "raw")
    page = lean_page(request.args, metadata.get("size"), datasette.page_size, datasette.max_returned_rows)
    clause, params = lean_search_clause(fts_table, fts_pk, raw, page)
    search = request.args[LEAN_PARAM]
    return FilterArguments([clause], {**params, "lean_search": search}, [f'search matches "{search}"'],
                           {"search": search})

"""The archive's Datasette plugin: the front page, the article, diff and change views, the Atom
feed of changes, links into them, and security headers.

Archived text is untrusted. It reaches the browser only through Jinja's autoescaping or
``Markup.format`` (which escapes its arguments); only http(s) URLs ever become links; and every
response carries a Content-Security-Policy that admits no script but Datasette's own.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable, Mapping
from urllib.parse import urlsplit

import datasette as datasette_package
import jinja2
from datasette import hookimpl
from datasette.utils.asgi import NotFound, Response
from jinja2 import meta
from markupsafe import Markup

from archiver.content.render import human_date, paragraphs
from archiver.content.urls import canonical_url
from archiver.interfaces.atom import MEDIA_TYPE, AtomEntry, AtomFeed, atom_feed
from archiver.interfaces.counted_facets import CountedFacet
from archiver.interfaces.lean_search import TABLE as LEAN_TABLE
from archiver.interfaces.lean_search import LEAN_PARAM, ASGIApp, lean_search_filter, with_lean_search
from archiver.interfaces.serve import DATABASE_NAME as DATABASE
from archiver.store.db import utcnow

# -- security headers --------------------------------------------------------------------------

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)
# Template variables that occur inside Datasette's inline scripts, with every value they take.
_INLINE_SCRIPT_VALUES = {"datasette_allow_facet": ("true", "false")}


def inline_script_hashes(template_dirs: Iterable[Path]) -> list[str]:
    """CSP ``'sha256-…'`` sources for every inline ``<script>`` in these templates, as rendered."""
    env = jinja2.Environment(autoescape=True)
    sources: set[str] = set()
    for directory in template_dirs:
        for path in sorted(directory.glob("*.html")):
            for body in _INLINE_SCRIPT.findall(path.read_text(encoding="utf-8")):
                for rendered in _renderings(env, body):
                    digest = hashlib.sha256(rendered.encode("utf-8")).digest()
                    sources.add("'sha256-" + base64.b64encode(digest).decode("ascii") + "'")
    return sorted(sources)


def _renderings(env: jinja2.Environment, body: str) -> list[str]:
    names = meta.find_undeclared_variables(env.parse(body))
    if not names:
        return [body]
    if not names <= set(_INLINE_SCRIPT_VALUES):
        return []  # values unknown: such a script stays blocked
    keys = sorted(names)
    template = env.from_string(body)
    return [template.render(dict(zip(keys, values)))
            for values in itertools.product(*(_INLINE_SCRIPT_VALUES[k] for k in keys))]


def content_security_policy(script_hashes: Iterable[str]) -> str:
    """No scripts but Datasette's own files and inline scripts; nothing loaded from elsewhere."""
    return "; ".join([
        "default-src 'none'",
        "script-src 'self' " + " ".join(script_hashes),
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ])


def security_headers(template_dir: str | None) -> list[tuple[bytes, bytes]]:
    """The headers added to every response."""
    dirs = [Path(datasette_package.__file__).parent / "templates"]
    if template_dir:
        dirs.append(Path(template_dir))
    policy = content_security_policy(inline_script_hashes(dirs))
    return [
        (b"content-security-policy", policy.encode("ascii")),
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
    ]


def with_headers(app: ASGIApp, headers: list[tuple[bytes, bytes]]) -> ASGIApp:
    """Wrap an ASGI app so every HTTP response carries ``headers`` (replacing any of the same name)."""
    names = {name for name, _ in headers}

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                kept = [tuple(pair) for pair in message.get("headers", []) if pair[0].lower() not in names]
                message = {**message, "headers": kept + headers}
            await send(message)

        await app(scope, receive, send_with_headers)

    return wrapped


@hookimpl
def asgi_wrapper(datasette: Any) -> Callable[[ASGIApp], ASGIApp]:
    headers = security_headers(datasette.template_dir)
    return lambda app: with_headers(with_lean_search(app), headers)


@hookimpl
def filters_from_request(request: Any, database: str, table: str, datasette: Any) -> Any:
    """A lean search of the snapshots table reads one page from the index (see lean_search)."""
    if database != DATABASE or table != LEAN_TABLE or LEAN_PARAM not in request.args:
        return None

    async def lean_search() -> Any:
        return await lean_search_filter(request, database, table, datasette)

    return lean_search


@hookimpl
def register_facet_classes() -> list[type]:
    """``{"counted": column}`` facets read their counts from facet_counts (see counted_facets)."""
    return [CountedFacet]


# -- SQL function and template filter -------------------------------------------------------------

def _canonical_or_none(url: str | None) -> str | None:
    try:
        return canonical_url(url) if isinstance(url, str) and url else None
    except ValueError:  # BadURL, or a URL urllib cannot split: no page has it
        return None


@hookimpl
def prepare_connection(conn: Any, database: str) -> None:
    if database == DATABASE:
        conn.create_function("archiver_canonical_url", 1, _canonical_or_none, deterministic=True)


def web_url(value: Any) -> str | None:
    """``value`` if it is an absolute http(s) URL (the only kind ever made a link), else None."""
    if not isinstance(value, str):
        return None
    url = value.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or re.search(r"\s", url):
        return None
    return url


@hookimpl
def prepare_jinja2_environment(env: jinja2.Environment) -> None:
    env.filters["web_url"] = web_url
    env.filters["human_date"] = human_date
    env.filters["short_time"] = short_time
    env.filters["archiver_table_order"] = table_order


def short_time(value: Any) -> str:
    """``2026-12-06T02:50:08+00:00`` -> ``2026-12-06 02:50 UTC``; other values as text."""
    text = "" if value is None else str(value)
    match = re.match(r"^(\d{4}-\d\d-\d\d)T(\d\d:\d\d)(:\d\d(\.\d+)?)?(\+00:00|Z)$", text)
    return f"{match[1]} {match[2]} UTC" if match else text


# -- links from table and query cells ------------------------------------------------------------

_VERSION_RANGE = re.compile(r"^(\d+)\.\.(\d+)$")


def _fields(row: Any) -> dict[str, Any]:
    return dict(zip(row.keys(), row)) if hasattr(row, "keys") else {}


def cell_link(row: Any, value: Any, column: str, table: str | None) -> str | None:
    """The plugin page a cell links to (a path), or None to leave the cell to Datasette."""
    fields = _fields(row)
    if table == "snapshots" and column in ("id", "title", "version") and "id" in fields:
        return f"/-/article/{fields['id']}"
    if table == "pages" and column in ("title", "snapshot_count") and "id" in fields \
            and fields.get("snapshot_count") != 0:
        return f"/-/page/{fields['id']}"
    if table is None and column == "snapshot_id" and str(value).isdigit():
        return f"/-/article/{value}"
    change_id = fields.get("id") if table == "changes" else fields.get("change_id") if table is None else None
    if column == "summary" and str(change_id).isdigit():
        return f"/-/change/{change_id}"
    match = _VERSION_RANGE.match(str(value))
    if table is None and column in ("last_change", "all_changes") and match and "page_id" in fields:
        return f"/-/diff/{fields['page_id']}/{match[1]}/{match[2]}"
    return None


@hookimpl
def render_cell(row: Any, value: Any, column: str, table: str | None, database: str,
                datasette: Any) -> Markup | None:
    if database != DATABASE or value in (None, "") or isinstance(value, (dict, bytes)):
        return None
    if column == "kinds" and (table == "changes" or table is None and "change_id" in _fields(row)):
        return Markup("{}").format(", ".join(change_kinds(value)))
    path = cell_link(row, value, column, table)
    if path is None:
        return None
    return Markup('<a href="{}">{}</a>').format(datasette.urls.path(path), value)


# -- word-level diff -----------------------------------------------------------------------------

_BREAK = "\n"  # a paragraph boundary, as a token of its own


@dataclass(frozen=True)
class Segment:
    """A run of words that is unchanged (``equal``), added (``insert``) or removed (``delete``)."""

    kind: str
    text: str


def _tokens(text: str | None) -> list[str]:
    tokens: list[str] = []
    for number, paragraph in enumerate(paragraphs(text)):
        if number:
            tokens.append(_BREAK)
        tokens.extend(paragraph.split())
    return tokens


def word_diff(old: str | None, new: str | None) -> list[list[Segment]]:
    """The new text's paragraphs, as runs of equal, inserted and deleted words."""
    old_tokens, new_tokens = _tokens(old), _tokens(new)
    marked: list[tuple[str, str]] = []
    matcher = SequenceMatcher(None, old_tokens, new_tokens, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            marked.extend(("equal", t) for t in new_tokens[j1:j2])
        if op in ("delete", "replace"):
            marked.extend(("delete", t) for t in old_tokens[i1:i2])
        if op in ("insert", "replace"):
            marked.extend(("insert", t) for t in new_tokens[j1:j2])
    return _group(marked)


def _group(marked: list[tuple[str, str]]) -> list[list[Segment]]:
    result: list[list[Segment]] = [[]]
    for kind, token in marked:
        current = result[-1]
        if token == _BREAK:
            if current:
                result.append([])
        elif current and current[-1].kind == kind:
            current[-1] = Segment(kind, current[-1].text + " " + token)
        else:
            current.append(Segment(kind, token))
    return [paragraph for paragraph in result if paragraph]


def count_changes(diff: list[list[Segment]]) -> dict[str, int]:
    """Words inserted and deleted in a diff."""
    counts = {"insert": 0, "delete": 0}
    for segment in itertools.chain.from_iterable(diff):
        if segment.kind in counts:
            counts[segment.kind] += len(segment.text.split())
    return counts


# -- reading the archive -------------------------------------------------------------------------

Params = list[Any] | dict[str, Any]


async def _row(db: Any, sql: str, params: Params) -> dict[str, Any] | None:
    row = (await db.execute(sql, params)).first()
    return dict(row) if row is not None else None


async def _rows(db: Any, sql: str, params: Params) -> list[dict[str, Any]]:
    return [dict(row) for row in await db.execute(sql, params)]


async def load_versions(db: Any, page_id: int) -> list[dict[str, Any]]:
    """Every version of a page, oldest first."""
    return await _rows(db, "SELECT id, version, captured_at, title FROM snapshots "
                           "WHERE page_id = ? ORDER BY version", [page_id])


async def load_entry(db: Any, snapshot: Mapping[str, Any]) -> dict[str, Any] | None:
    """The feed entry that led to a snapshot: the one it names, else the page's first."""
    select = ("SELECT e.*, f.title AS feed_title, f.url AS feed_url FROM entries e "
              "LEFT JOIN feeds f ON f.id = e.feed_id ")
    if snapshot.get("entry_id") is not None:
        return await _row(db, select + "WHERE e.id = ?", [snapshot["entry_id"]])
    return await _row(db, select + "WHERE e.page_id = ? ORDER BY e.first_seen_at, e.id LIMIT 1",
                      [snapshot["page_id"]])


def redirect_hops(raw: str | None) -> list[dict[str, Any]]:
    """A capture's redirect chain as a list of ``{url, status, location}``."""
    try:
        hops = json.loads(raw) if raw else []
    except json.JSONDecodeError:
        return [{"url": raw}]
    if not isinstance(hops, list):
        return [{"url": str(hops)}]
    return [hop if isinstance(hop, dict) else {"url": str(hop)} for hop in hops]


async def article_context(db: Any, snapshot_id: int) -> dict[str, Any]:
    """Everything the article view shows about one snapshot."""
    snapshot = await _row(db, "SELECT * FROM snapshots WHERE id = ?", [snapshot_id])
    if snapshot is None:
        raise NotFound(f"No snapshot {snapshot_id} in the archive")
    page = await _row(db, "SELECT * FROM pages WHERE id = ?", [snapshot["page_id"]]) or {}
    capture = await _row(db, "SELECT * FROM captures WHERE id = ?", [snapshot["capture_id"]]) or {}
    return {
        "snapshot": snapshot,
        "page": page,
        "capture": capture,
        "hops": redirect_hops(capture.get("redirects")),
        "entry": await load_entry(db, snapshot),
        "versions": await load_versions(db, snapshot["page_id"]),
        "paragraphs": paragraphs(snapshot.get("text")),
        "original_url": snapshot.get("canonical_url") or page.get("url"),
    }


_COMPARED_FIELDS = ("author", "published", "sitename", "language", "description", "canonical_url")


async def diff_context(db: Any, page_id: int, old_version: int, new_version: int,
                       with_changes: bool = True) -> dict[str, Any]:
    """Everything the diff view shows about two versions of one page (with the change recorded
    between them, unless not ``with_changes``)."""
    versions = await load_versions(db, page_id)
    by_number = {v["version"]: v["id"] for v in versions}
    if old_version not in by_number or new_version not in by_number:
        raise NotFound(f"Page {page_id} has no version {old_version} or {new_version}")
    old = await _row(db, "SELECT * FROM snapshots WHERE id = ?", [by_number[old_version]]) or {}
    new = await _row(db, "SELECT * FROM snapshots WHERE id = ?", [by_number[new_version]]) or {}
    body = word_diff(old.get("text"), new.get("text"))
    title = list(itertools.chain.from_iterable(word_diff(old.get("title"), new.get("title"))))
    changes = await changes_between(db, old.get("id"), new.get("id")) if with_changes else []
    return {
        "changes": changes,
        "kinds": _kinds_of(changes),
        "page": await _row(db, "SELECT * FROM pages WHERE id = ?", [page_id]) or {},
        "old": old,
        "new": new,
        "versions": versions,
        "title_diff": title,
        "title_changed": old.get("title") != new.get("title"),
        "body_diff": body,
        "counts": count_changes(body),
        "field_changes": [(f, old.get(f), new.get(f)) for f in _COMPARED_FIELDS if old.get(f) != new.get(f)],
    }


# -- changes -------------------------------------------------------------------------------------

RECENT_CHANGES_SQL = """
select c.id, c.page_id, c.detected_at, c.kinds, c.summary, c.words_added, c.words_removed, c.site,
  c.boring, c.capture_id,
  c.from_snapshot_id, c.to_snapshot_id, f.version as from_version, t.version as to_version,
  coalesce(t.title, f.title, p.title, p.url) as title, p.url
from changes c
join pages p on p.id = c.page_id
left join snapshots f on f.id = c.from_snapshot_id
left join snapshots t on t.id = c.to_snapshot_id
{where}
order by c.detected_at desc, c.id desc
limit :limit
"""
ATOM_ENTRIES = 100
ATOM_PATH = f"/{DATABASE}/recent_changes.atom"


def change_kinds(raw: Any) -> list[str]:
    """A change's ``kinds`` (JSON list text) as a list of strings; [] if it is not one."""
    try:
        kinds = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError:
        return []
    return [str(k) for k in kinds] if isinstance(kinds, list) else []


def change_path(change: Mapping[str, Any]) -> str:
    """Where a change is shown: the diff of its two versions, or, when it has only one (a removal,
    a first version), its own page."""
    old, new = change.get("from_version"), change.get("to_version")
    if old is not None and new is not None:
        return f"/-/diff/{change['page_id']}/{old}/{new}"
    return f"/-/change/{change['id']}"


def _with_links(change: dict[str, Any]) -> dict[str, Any]:
    return {**change, "kinds": change_kinds(change.get("kinds")), "path": change_path(change)}


async def recent_changes(db: Any, limit: int) -> list[dict[str, Any]]:
    """The newest changes that are not boring, newest first; [] in an archive without changes."""
    if not await db.table_exists("changes"):
        return []
    rows = await _rows(db, RECENT_CHANGES_SQL.format(where="where c.boring = 0"), {"limit": limit})
    return [_with_links(row) for row in rows]


async def load_change(db: Any, change_id: int) -> dict[str, Any]:
    """One change, with its page's title and URL and its versions' numbers."""
    sql = RECENT_CHANGES_SQL.format(where="where c.id = :id")
    row = await _row(db, sql, {"id": change_id, "limit": 1}) if await db.table_exists("changes") else None
    if row is None:
        raise NotFound(f"No change {change_id} in the archive")
    return _with_links(row)


async def changes_between(db: Any, old_id: Any, new_id: Any) -> list[dict[str, Any]]:
    """The changes recorded from one snapshot to the other (usually one; [] for a diff across
    several versions, or in an archive without changes)."""
    if not await db.table_exists("changes"):
        return []
    rows = await _rows(db, "SELECT * FROM changes WHERE from_snapshot_id = ? AND to_snapshot_id = ? "
                           "ORDER BY id", [old_id, new_id])
    return [_with_links(row) for row in rows]


def _kinds_of(changes: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(itertools.chain.from_iterable(c["kinds"] for c in changes)))


# -- the front page ------------------------------------------------------------------------------

# The reader's tables first, then the evidence behind them, then anything else.
TABLE_ORDER = ("snapshots", "changes", "pages", "feeds", "captures", "entries", "page_urls",
               "feed_urls", "bodies")
FRONT_PAGE_ROWS = 8
# What a reader wants to see of each search result (after the id), leaving the evidence columns out.
SEARCH_COLUMNS = ("title", "author", "sitename", "published", "version", "captured_at", "page_id")

# Newest pages first by id, which the archive gives pages as it first sees them: the primary key
# keeps this to a few rows read, where sorting by first_seen_at read them all (1 s at 1M pages).
# CROSS JOIN keeps pages the outer loop: with statistics, SQLite otherwise walked every snapshot
# and sorted them (330 ms at 50,000 pages).
LATEST_ARTICLES_SQL = """
select s.id as snapshot_id, s.title, s.sitename, s.hostname, s.version, s.captured_at, p.url
from pages p
cross join snapshots s on s.page_id = p.id
  and s.version = (select max(version) from snapshots where page_id = p.id)
order by p.id desc
limit :limit
"""
# The WHERE clause is idx_feeds_trouble's (m015 in archiver/store/db.py): keep them the same.
TROUBLED_FEEDS_SQL = """
select id, coalesce(title, url) as title, url, state, last_status, error_count, last_error,
  last_checked_at
from feeds
where state in ('backoff', 'gone') or error_count > 0
order by state = 'gone' desc, error_count desc, last_checked_at desc
limit :limit
"""


def table_order(tables: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Datasette's list of tables (each with ``name`` and ``hidden``), the reader's tables first."""
    rank = {name: number for number, name in enumerate(TABLE_ORDER)}
    return sorted(tables, key=lambda t: (bool(t.get("hidden")), rank.get(t["name"], len(rank)), t["name"]))


async def _visible(datasette: Any, request: Any, action: str, name: str) -> bool:
    visible, _ = await datasette.check_visibility(request.actor, permissions=[
        (action, (DATABASE, name)), ("view-database", DATABASE), "view-instance"])
    return bool(visible)


async def visible_tables(datasette: Any, request: Any) -> list[Mapping[str, Any]]:
    """The archive's tables this visitor may see and that are not hidden, in reading order,
    with their titles and descriptions from the metadata."""
    db = datasette.get_database(DATABASE)
    hidden = set(await db.hidden_table_names())
    tables = []
    for name in await db.table_names():
        if name not in hidden and await _visible(datasette, request, "view-table", name):
            meta = datasette.metadata(database=DATABASE, table=name, fallback=False) or {}
            tables.append({"name": name, "title": meta.get("title") or name,
                           "description": meta.get("description")})
    return table_order(tables)


async def visible_queries(datasette: Any, request: Any, tables: set[str]) -> list[dict[str, Any]]:
    """The canned queries this visitor may run, but recent changes in an archive without changes."""
    queries = []
    for name, query in (await datasette.get_canned_queries(DATABASE, request.actor)).items():
        if (name != "recent_changes" or "changes" in tables) \
                and await _visible(datasette, request, "view-query", name):
            queries.append({"name": name, "title": query.get("title") or name})
    return queries


async def front_page_context(datasette: Any, request: Any) -> dict[str, Any]:
    """What the front page shows: search, the latest articles, the recent changes, feeds in trouble."""
    db = datasette.get_database(DATABASE)
    tables = await visible_tables(datasette, request)
    names = {t["name"] for t in tables}
    limit = {"limit": FRONT_PAGE_ROWS}
    return {
        "tables": tables,
        "queries": await visible_queries(datasette, request, names),
        "searchable": "snapshots" in names,
        "search_columns": SEARCH_COLUMNS,
        "latest": await _rows(db, LATEST_ARTICLES_SQL, limit) if {"pages", "snapshots"} <= names else [],
        "has_changes": "changes" in names,
        "changes_missing": not await db.table_exists("changes"),  # an archive from before them
        "changes": await recent_changes(db, FRONT_PAGE_ROWS) if "changes" in names else [],
        "troubled_feeds": await _rows(db, TROUBLED_FEEDS_SQL, limit) if "feeds" in names else [],
    }


@hookimpl
def extra_template_vars(view_name: str, datasette: Any, request: Any) -> Any:
    names = {"archiver_atom_url": datasette.urls.path(ATOM_PATH)}
    if view_name != "index" or request is None or DATABASE not in datasette.databases:
        return names

    async def front_page() -> dict[str, Any]:
        return {**names, "front": await front_page_context(datasette, request)}

    return front_page


# -- routes --------------------------------------------------------------------------------------

async def ensure_can_view(datasette: Any, request: Any, table: str) -> None:
    """Raise Forbidden unless this visitor may see ``table`` (Datasette's own permission checks)."""
    await datasette.ensure_permissions(request.actor, [
        ("view-table", (DATABASE, table)), ("view-database", DATABASE), "view-instance"])


async def article_view(datasette: Any, request: Any) -> Response:
    """``/-/article/<snapshot id>``: the snapshot as a reader wants it, with its provenance."""
    await ensure_can_view(datasette, request, "snapshots")
    db = datasette.get_database(DATABASE)
    context = await article_context(db, int(request.url_vars["snapshot_id"]))
    html = await datasette.render_template("archiver_article.html", context, request=request,
                                           view_name="archiver_article")
    return Response.html(html)


async def page_view(datasette: Any, request: Any) -> Response:
    """``/-/page/<page id>``: redirect to the page's latest version."""
    await ensure_can_view(datasette, request, "snapshots")
    db = datasette.get_database(DATABASE)
    page_id = int(request.url_vars["page_id"])
    row = await _row(db, "SELECT id FROM snapshots WHERE page_id = ? ORDER BY version DESC LIMIT 1",
                     [page_id])
    if row is None:
        raise NotFound(f"Page {page_id} has no archived version")
    return Response.redirect(datasette.urls.path(f"/-/article/{row['id']}"))


async def diff_view(datasette: Any, request: Any) -> Response:
    """``/-/diff/<page id>/<old version>/<new version>``: what changed, word by word."""
    await ensure_can_view(datasette, request, "snapshots")
    db = datasette.get_database(DATABASE)
    args = request.url_vars
    context = await diff_context(db, int(args["page_id"]), int(args["old"]), int(args["new"]),
                                 with_changes=await _visible(datasette, request, "view-table", "changes"))
    html = await datasette.render_template("archiver_diff.html", context, request=request,
                                           view_name="archiver_diff")
    return Response.html(html)


async def change_view(datasette: Any, request: Any) -> Response:
    """``/-/change/<change id>``: redirect to the diff of its two versions; a change with one
    version (a removal, a first version) is shown on a page of its own."""
    await ensure_can_view(datasette, request, "changes")
    db = datasette.get_database(DATABASE)
    change = await load_change(db, int(request.url_vars["change_id"]))
    if change["path"] != f"/-/change/{change['id']}":
        return Response.redirect(datasette.urls.path(change["path"]))
    snapshot_id = change["to_snapshot_id"] or change["from_snapshot_id"]
    context = {"change": change,
               "snapshot": await _row(db, "SELECT * FROM snapshots WHERE id = ?", [snapshot_id]) or {}}
    html = await datasette.render_template("archiver_change.html", context, request=request,
                                           view_name="archiver_change")
    return Response.html(html)


def atom_entry(change: Mapping[str, Any], absolute: Callable[[str], str]) -> AtomEntry:
    """A change as an Atom entry linking to where it is shown."""
    return AtomEntry(
        id=absolute(f"/-/change/{change['id']}"),
        title=f"{', '.join(change['kinds']) or 'changed'}: {change['title'] or change['url']}",
        link=absolute(change["path"]),
        updated=change["detected_at"],
        summary=change["summary"] or "",
        categories=tuple(change["kinds"]),
    )


async def atom_view(datasette: Any, request: Any) -> Response:
    """``/archive/recent_changes.atom``: the newest changes that are not boring, as an Atom feed."""
    await ensure_can_view(datasette, request, "changes")
    changes = await recent_changes(datasette.get_database(DATABASE), ATOM_ENTRIES)

    def absolute(path: str) -> str:
        return str(datasette.absolute_url(request, datasette.urls.path(path)))

    feed = AtomFeed(
        id=absolute(ATOM_PATH),
        title=f"{datasette.metadata('title') or 'archiver'}: recent changes",
        self_link=absolute(ATOM_PATH),
        alternate_link=str(datasette.absolute_url(request, datasette.urls.query(DATABASE, "recent_changes"))),
        updated=utcnow(),  # only for an empty feed: otherwise the newest change's time
    )
    body = atom_feed(feed, [atom_entry(change, absolute) for change in changes])
    return Response(body, content_type=MEDIA_TYPE)


@hookimpl
def register_routes() -> list[tuple[str, Callable[..., Awaitable[Response]]]]:
    return [
        (r"^/-/article/(?P<snapshot_id>\d+)$", article_view),
        (r"^/-/page/(?P<page_id>\d+)$", page_view),
        (r"^/-/diff/(?P<page_id>\d+)/(?P<old>\d+)/(?P<new>\d+)$", diff_view),
        (r"^/-/change/(?P<change_id>\d+)$", change_view),
        ("^" + re.escape(ATOM_PATH) + "$", atom_view),
    ]

"""A snapshot as a reader wants it back: Markdown in the shape of fixtures' expected.md."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date, datetime
from typing import Any, Mapping
from urllib.parse import unquote, urlsplit

# Anything but letters, digits, '_', '.' and '-' (\w is Unicode: no separators, no controls).
_NOT_FILENAME = re.compile(r"[^\w.-]+")
_DOTS = re.compile(r"\.{2,}")


def human_date(value: str | None) -> str | None:
    """``2015-01-13`` (or a full ISO time) -> ``January 13, 2015``; the raw text if unparseable."""
    if not value:
        return None
    try:
        day = datetime.fromisoformat(value).date() if "T" in value else date.fromisoformat(value[:10])
    except ValueError:
        return value
    return f"{day:%B} {day.day}, {day.year}"


def paragraphs(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def snapshot_markdown(snapshot: Mapping[str, Any], page_url: str) -> str:
    """Title, byline, date, the article's paragraphs in order, and the original URL."""
    parts = [f"# {snapshot.get('title') or page_url}"]
    if snapshot.get("author"):
        parts.append(f"By {snapshot['author']}")
    when = human_date(snapshot.get("published"))
    if when:
        parts.append(when)
    parts.extend(paragraphs(snapshot.get("text")))
    parts.append("Original url:")
    parts.append(f"<{snapshot.get('canonical_url') or page_url}>")
    return "\n\n".join(parts) + "\n"


def snapshot_json(snapshot: Mapping[str, Any], capture: Mapping[str, Any] | None,
                  page_url: str) -> dict[str, Any]:
    """The snapshot with the capture it came from, for `archiver show --json`."""
    data = dict(snapshot)
    for key in ("categories", "tags", "metadata_sources"):
        if isinstance(data.get(key), str):
            data[key] = json.loads(data[key])
    data["page_url"] = page_url
    if capture is not None:
        data["capture"] = {
            "id": capture["id"], "started_at": capture["started_at"], "status": capture["status"],
            "requested_url": capture["requested_url"], "final_url": capture["final_url"],
            "redirects": json.loads(capture["redirects"] or "[]"),
            "body_sha256": capture["body_sha256"], "elapsed_ms": capture["elapsed_ms"],
        }
    return data


def snapshot_filename(page_url: str, version: int | None = None) -> str:
    """Where `archiver export markdown` writes a page (version ``version`` if given) in its
    directory: ``SITE/SLUG-HASH[.vN].md``, SITE from the host and port, SLUG from the path and
    query. Always exactly two safe components (no '..', no leading '/' or '.', no control
    characters, short enough for any file system), whatever the URL holds. HASH, from the whole
    URL, keeps apart pages whose addresses differ only in what a file name cannot hold."""
    parts = urlsplit(page_url)
    try:
        port = parts.port
    except ValueError:
        port = None
    site = _filename_part(parts.hostname or "", 100) or "site"
    if port:
        site += f"_{port}"
    query = f"-{parts.query}" if parts.query else ""
    slug = _filename_part(unquote(parts.path) + unquote(query), 120) or "index"
    digest = hashlib.sha256(page_url.encode("utf-8")).hexdigest()[:12]
    suffix = f".v{version}" if version is not None else ""
    return f"{site}/{slug}-{digest}{suffix}.md"


def _filename_part(text: str, max_bytes: int) -> str:
    """``text`` as one safe file-name component of at most ``max_bytes`` UTF-8 bytes."""
    part = _DOTS.sub(".", _NOT_FILENAME.sub("-", text)).strip("-.")
    while len(part.encode("utf-8")) > max_bytes:
        part = part[:-1]
    return part.rstrip("-.")

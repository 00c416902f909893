"""A snapshot as a reader wants it back: Markdown in the shape of fixtures' expected.md."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any, Mapping


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

"""What crosses the job queue between the writer and the workers, as plain JSON-safe data.

A job travels as a *spec*: its kind, URL and what the worker needs to ask "changed?" (never a
Python object). Its work comes back as nested lists and dicts that name only the record types
listed in ``RECORDS`` (FetchResult, Article, ParsedFeed...), with every body zlib-compressed
and base64-encoded. Nothing is pickled: the results are derived from untrusted pages and come
from other machines, and decoding JSON can only ever build these records.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import zlib
from collections.abc import Mapping
from typing import Any

from archiver.content.article import Article
from archiver.content.feeds import FeedEntry, ParsedFeed
from archiver.content.urls import canonical_url
from archiver.jobs.pages import PageJob, PageWork, Previous
from archiver.jobs.polling import FeedJob, FeedWork
from archiver.net.fetcher import FetchResult

RECORDS: dict[str, type] = {cls.__name__: cls for cls in (FetchResult, Article, FeedEntry, ParsedFeed,
                                                          PageWork, FeedWork)}
FEED_VALIDATORS = ("id", "etag", "last_modified", "last_body_sha256")


class WireError(ValueError):
    """A message that is not what a worker or the writer sends."""


# -- records -----------------------------------------------------------------------------------

def to_wire(value: Any) -> Any:
    """``value`` (records, bytes, tuples, mappings, scalars) as JSON-safe data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        name = type(value).__name__
        if RECORDS.get(name) is not type(value):
            raise TypeError(f"{name} does not cross the queue")
        return {"$record": name,
                "fields": {f.name: to_wire(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(zlib.compress(value, 6)).decode("ascii")}
    if isinstance(value, (tuple, list)):
        return [to_wire(v) for v in value]
    if isinstance(value, Mapping):  # header names are untrusted: kept apart from our markers
        return {"$map": [[str(k), to_wire(v)] for k, v in value.items()]}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"{type(value).__name__} does not cross the queue")


def from_wire(data: Any, max_bytes: int) -> Any:
    """The value ``to_wire`` made; a body may inflate to ``max_bytes`` at most. WireError
    for anything else."""
    if isinstance(data, list):
        return tuple(from_wire(v, max_bytes) for v in data)
    if not isinstance(data, dict):
        if data is None or isinstance(data, (str, int, float, bool)):
            return data
        raise WireError(f"unexpected {type(data).__name__}")
    if "$bytes" in data:
        return _inflate(data["$bytes"], max_bytes)
    if "$map" in data:
        return {str(k): from_wire(v, max_bytes) for k, v in data["$map"]}
    cls = RECORDS.get(str(data.get("$record")))
    fields = data.get("fields")
    if cls is None or not isinstance(fields, dict):
        raise WireError("not a record that crosses the queue")
    names = {f.name for f in dataclasses.fields(cls)}
    if set(fields) - names:
        raise WireError(f"unknown fields in {cls.__name__}")
    try:
        return cls(**{k: from_wire(v, max_bytes) for k, v in fields.items()})
    except TypeError as exc:
        raise WireError(f"bad {cls.__name__}: {exc}") from None


def _inflate(text: Any, max_bytes: int) -> bytes:
    try:
        inflater = zlib.decompressobj()
        data = inflater.decompress(base64.b64decode(str(text), validate=True), max_bytes + 1)
    except (binascii.Error, zlib.error) as exc:
        raise WireError(f"bad body: {exc}") from None
    if len(data) > max_bytes or inflater.unconsumed_tail:
        raise WireError("body larger than max_body_bytes")
    return data


# -- jobs --------------------------------------------------------------------------------------

def job_spec(job: Any) -> dict[str, Any]:
    """What a worker needs to do ``job``'s work, and the writer to save it."""
    if isinstance(job, FeedJob):
        feed = {k: job.feed.get(k) for k in FEED_VALIDATORS} if job.feed else None
        return {"kind": "feed", "url": job.url, "feed": feed}
    if isinstance(job, PageJob):
        previous = dataclasses.asdict(job.previous) if job.previous else None
        return {"kind": "page", "url": job.url, "previous": previous, "on_feed": job.on_feed is not None}
    raise TypeError(f"{type(job).__name__} cannot run on a worker")


def job_from_spec(context: Any, spec: Mapping[str, Any]) -> Any:
    """The job ``job_spec`` described, over ``context`` (a worker's, or the writer's session)."""
    url = spec.get("url")
    if not isinstance(url, str):
        raise WireError("a job without a URL")
    if spec.get("kind") == "feed":
        feed = spec.get("feed")
        return FeedJob(context, url, {k: feed.get(k) for k in FEED_VALIDATORS} if isinstance(feed, dict) else None)
    if spec.get("kind") == "page":
        previous = spec.get("previous")
        on_feed = FeedJob(context, canonical_url(url)) if spec.get("on_feed") else None
        return PageJob(context, url, on_feed=on_feed,
                       previous=Previous(**{k: previous.get(k) for k in ("etag", "last_modified", "body_sha256")})
                       if isinstance(previous, dict) else None)
    raise WireError(f"unknown job kind {spec.get('kind')!r}")

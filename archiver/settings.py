"""Every setting, defined once with its default and help, and how the effective values resolve.

Precedence, highest first: command-line flags, ``ARCHIVER_*`` environment variables, the TOML
file (``--config`` / ``ARCHIVER_CONFIG``, else ``config/archiver.toml`` when it exists), built-in
defaults.
"""

from __future__ import annotations

import ipaddress
import math
import os
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Mapping

from archiver.content.changes import BORING_ONLY, KINDS

DEFAULT_CONFIG_PATH = Path("config/archiver.toml")


class ConfigError(Exception):
    """The configuration cannot be used; the message names the setting or file."""


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    kind: type = str  # str, int, float, bool or list


SETTINGS: tuple[Setting, ...] = (
    Setting("db", "data/archiver.db", "SQLite file holding the archive (env ARCHIVER_DB)"),
    Setting("contact_url", "https://github.com/archiver-project/archiver",
            "URL named in the User-Agent so site owners can reach whoever runs this archive"),
    Setting("allow_networks", [], "CIDRs of non-public addresses the fetcher may reach, e.g. "
            "[\"192.168.1.0/24\"]; everything non-public is refused otherwise", list),
    Setting("connect_timeout", 10.0, "seconds to establish a connection", float),
    Setting("read_timeout", 20.0, "seconds to wait for any single read", float),
    Setting("deadline", 30.0, "seconds a whole request may take, redirects and body included", float),
    Setting("max_body_bytes", 15_000_000, "largest body kept, counted after decompression", int),
    Setting("max_redirects", 5, "redirect hops followed before giving up", int),
    Setting("max_connections", 32, "requests in flight at once, all hosts together", int),
    Setting("per_host_connections", 2, "requests in flight at once to one host", int),
    Setting("per_host_delay", 0.5, "minimum seconds between the starts of two requests to one host", float),
    Setting("obey_robots", True, "obey robots.txt for article pages (feeds are always fetched)", bool),
    Setting("workers", 0, "extraction worker processes (0: one per core)", int),
    Setting("extract_timeout", 15.0, "seconds one extraction or feed parse may take", float),
    Setting("extract_memory_mb", 280, "address-space limit of each extraction worker, in MB "
            "(keeps a worker under 300 MB resident whatever a page does)", int),
    Setting("max_extract_bytes", 5_000_000, "largest HTML handed to the extractor", int),
    Setting("max_entries_per_feed", 500, "entries kept from one feed document, newest first", int),
    Setting("min_interval", 300, "shortest seconds between two polls of a feed", int),
    Setting("max_interval", 86400, "longest seconds between two polls of a feed", int),
    Setting("backoff_cap", 86400, "longest seconds of backoff after errors", int),
    Setting("retry_after_cap", 86400, "longest Retry-After honoured, in seconds", int),
    Setting("redirect_confirmations", 3,
            "consecutive polls that must see the same permanent redirect before a feed's URL changes", int),
    Setting("recheck_schedule", ["3h=15m", "1d=1h", "7d=3h", "30d=3d", "365d=30d"],
            "article re-checks: AGE=INTERVAL pairs keyed on the time since the page last changed; "
            "past the last age a page is no longer re-checked", list),
    Setting("watch_every", "1h", "default interval for `archiver watch`"),
    Setting("tick", 60.0, "seconds between two scheduler ticks of `archiver run`", float),
    Setting("tick_batch", 200, "most feeds and pages taken in one tick", int),
    Setting("feeds", [], "feed URLs to keep subscribed; synced into the feeds table", list),
    Setting("notify", [], "Apprise URLs to tell of each change that is not boring (email, ntfy, "
            "Slack, Matrix, Telegram, webhooks: json://, form://, ...)", list),
    Setting("notify_kinds", [k for k in KINDS if k not in BORING_ONLY],
            "kinds of change that notify (boring changes never do): " + ", ".join(KINDS), list),
    Setting("broker_url", "", "Redis URL of the job queue shared with `archiver worker` processes, e.g. "
            "\"redis://redis:6379/0\"; empty: everything runs in this one process and no Redis is needed"),
    Setting("queue", "archiver", "queue the workers take page and feed jobs from (with broker_url)"),
    Setting("results_queue", "archiver-results", "queue the workers send their results back on, "
            "read by the daemon, the archive's one writer (with broker_url)"),
    Setting("job_lease", 600.0, "seconds a feed or page handed to the workers stays leased; a job "
            "lost with its worker is sent again once its lease has expired (with broker_url)", float),
    Setting("host", "127.0.0.1", "address `archiver serve` listens on"),
    Setting("port", 8001, "port `archiver serve` listens on", int),
    Setting("log_level", "INFO", "DEBUG, INFO, WARNING or ERROR"),
)

_BY_NAME = {s.name: s for s in SETTINGS}


@dataclass(frozen=True)
class Config:
    """Effective settings, with where each value came from."""

    values: Mapping[str, Any]
    sources: Mapping[str, str] = field(default_factory=dict)
    path: Path | None = None

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    def replace(self, **changes: Any) -> "Config":
        values = {**self.values, **changes}
        sources = {**self.sources, **{k: "override" for k in changes}}
        return Config(values, sources, self.path)

    @property
    def user_agent(self) -> str:
        from archiver import __version__

        return f"archiver/{__version__} (+{self.contact_url})"

    @property
    def networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(c, strict=False) for c in self.allow_networks)


def load_config(
    path: str | Path | None = None,
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Resolve every setting: flags over environment over file over defaults."""
    environ = os.environ if environ is None else environ
    values = {s.name: s.default for s in SETTINGS}
    sources = {s.name: "default" for s in SETTINGS}
    file_path = _config_path(path, environ)
    if file_path is not None:
        for name, raw in _read_toml(file_path).items():
            values[name] = _coerce(_BY_NAME[name], raw, str(file_path))
            sources[name] = str(file_path)
    for setting in SETTINGS:
        key = "ARCHIVER_" + setting.name.upper()
        if environ.get(key, "") != "":
            values[setting.name] = _coerce(setting, environ[key], key)
            sources[setting.name] = key
    for name, raw in (flags or {}).items():
        if raw is not None:
            values[name] = _coerce(_BY_NAME[name], raw, "--" + name.replace("_", "-"))
            sources[name] = "flag"
    return Config(values, sources, file_path)


def _config_path(path: str | Path | None, environ: Mapping[str, str]) -> Path | None:
    if path is None and environ.get("ARCHIVER_CONFIG"):
        path = environ["ARCHIVER_CONFIG"]
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}")
        return p
    return DEFAULT_CONFIG_PATH if DEFAULT_CONFIG_PATH.is_file() else None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - set(_BY_NAME))
    if unknown:
        raise ConfigError(f"config file {path}: unknown setting {unknown[0]!r}")
    return data


def _coerce(setting: Setting, raw: Any, origin: str) -> Any:
    kind = setting.kind
    value: Any
    try:
        if kind is list:
            value = [p.strip() for p in raw.split(",") if p.strip()] if isinstance(raw, str) else list(raw)
            value = [str(v) for v in value]
        elif kind is bool:
            value = raw if isinstance(raw, bool) else _parse_bool(str(raw))
        elif kind is str:
            if not isinstance(raw, str):
                raise ValueError("expected text")
            value = raw
        else:
            if isinstance(raw, bool):
                raise ValueError("expected a number")
            value = kind(raw)
            if not math.isfinite(value) or value < 0:
                raise ValueError("must be a finite number, not negative")
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{origin}: bad value for {setting.name}: {raw!r} ({exc})") from None
    if setting.name == "notify_kinds":
        unknown = sorted(set(value) - set(KINDS))
        if unknown:
            raise ConfigError(f"{origin}: notify_kinds: unknown kind {unknown[0]!r} "
                              f"(one of {', '.join(KINDS)})")
    if setting.name == "allow_networks":
        for cidr in value:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ConfigError(f"{origin}: allow_networks: {cidr!r} is not a CIDR") from None
    return value


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError("expected true or false")


def parse_duration(text: str) -> float:
    """Seconds in a duration like ``90``, ``15m``, ``3h``, ``2d``; ValueError otherwise."""
    text = text.strip().lower()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    number, unit = (text[:-1], text[-1]) if text and text[-1] in units else (text, "s")
    seconds = float(number) * units[unit]
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ValueError(f"not a positive duration: {text!r}")
    return seconds


def parse_since(text: str, now: datetime) -> datetime:
    """The moment in ``--since WHEN``: an ISO 8601 date or time (UTC unless it names its zone),
    or an age such as ``7d`` or ``12h`` (that long before ``now``). ValueError otherwise."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return now - timedelta(seconds=parse_duration(text))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)

"""What every command shares: --db, --config and --log-level, and turning library errors
into one-line errors at the command boundary."""

from __future__ import annotations

import functools
import logging
import sys
from pathlib import Path
from typing import Any, Callable

import click

from archiver.settings import Config, ConfigError, load_config
from archiver.store.db import StoreError, open_db
from archiver.content.urls import BadURL

USER_ERRORS = (ConfigError, StoreError, BadURL)


def common_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--db``, ``--config`` and ``--log-level`` on every command; a Config object passed in."""
    @click.option("--db", "db_path", type=click.Path(dir_okay=False), default=None,
                  help="SQLite file of the archive [env ARCHIVER_DB; default data/archiver.db]")
    @click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
                  help="TOML settings file [env ARCHIVER_CONFIG; default config/archiver.toml]")
    @click.option("--log-level", default=None, help="DEBUG, INFO, WARNING or ERROR")
    @functools.wraps(command)
    def wrapper(db_path: str | None, config_path: str | None, log_level: str | None,
                **kwargs: Any) -> Any:
        flags = {"db": db_path, "log_level": log_level}
        flags.update({k: kwargs.pop(k) for k in list(kwargs) if k.startswith("set_")})
        flags = {k.removeprefix("set_"): v for k, v in flags.items()}
        try:
            config = load_config(config_path, flags)
            _setup_logging(config.log_level)
            return command(config, **kwargs)
        except USER_ERRORS as exc:
            raise click.ClickException(str(exc)) from None
    return wrapper


def existing_archive(config: Config, prefix: str = "") -> Any:
    """The archive at ``config.db`` for a command that only reads it; a mistyped --db is an
    error, and no file or directory is created there."""
    if not Path(config.db).exists():
        raise click.ClickException(f"{prefix}(there is no archive at {config.db})" if prefix
                                   else f"there is no archive at {config.db}")
    return open_db(config.db)


def _setup_logging(level: str) -> None:
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ConfigError(f"log_level: unknown level {level!r}")
    logging.basicConfig(level=numeric, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")



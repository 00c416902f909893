"""What every command shares: --db, --config and --log-level (after the command's name, or
before it as ``archiver --db other.db show URL``), and turning library errors into one-line
errors at the command boundary."""

from __future__ import annotations

import functools
import importlib
import logging
import os
import sys
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import click

from archiver.settings import Config, ConfigError, load_config
from archiver.store.db import StoreError, open_db
from archiver.content.urls import BadURL

USER_ERRORS = (ConfigError, StoreError, BadURL)

_OPTIONS = (
    click.option("--db", "db_path", type=click.Path(dir_okay=False), default=None,
                 help="SQLite file of the archive [env ARCHIVER_DB; default data/archiver.db]"),
    click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
                 help="TOML settings file [env ARCHIVER_CONFIG; default config/archiver.toml]"),
    click.option("--log-level", default=None, help="DEBUG, INFO, WARNING or ERROR"),
)


class LazyGroup(click.Group):
    """A group whose commands, named as ``module:attribute``, are imported when first asked for."""

    def __init__(self, *args: Any, lazy: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            module, _, attribute = self.lazy[cmd_name].partition(":")
            self.add_command(getattr(importlib.import_module(module), attribute), cmd_name)
        return super().get_command(ctx, cmd_name)


@dataclass(frozen=True)
class CommonFlags:
    """The common options as given before the command's name (None: not given there)."""

    db_path: str | None = None
    config_path: str | None = None
    log_level: str | None = None


def _with_options(function: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_OPTIONS):
        function = option(function)
    return function


def group_options(group: Callable[..., Any]) -> Callable[..., Any]:
    """The common options on the top-level group: kept in the context for every command below."""
    @_with_options
    @functools.wraps(group)
    def wrapper(db_path: str | None, config_path: str | None, log_level: str | None,
                **kwargs: Any) -> Any:
        click.get_current_context().obj = CommonFlags(db_path, config_path, log_level)
        return group(**kwargs)
    return wrapper


def _before_the_command() -> CommonFlags:
    context = click.get_current_context(silent=True)
    found = context.find_object(CommonFlags) if context is not None else None
    return found or CommonFlags()


def common_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--db``, ``--config`` and ``--log-level`` on every command; a Config object passed in.
    An option given after the command's name wins over the same option given before it."""
    @_with_options
    @functools.wraps(command)
    def wrapper(db_path: str | None, config_path: str | None, log_level: str | None,
                **kwargs: Any) -> Any:
        before = _before_the_command()
        flags = {"db": db_path or before.db_path, "log_level": log_level or before.log_level}
        flags.update({k: kwargs.pop(k) for k in list(kwargs) if k.startswith("set_")})
        flags = {k.removeprefix("set_"): v for k, v in flags.items()}
        try:
            config = load_config(config_path or before.config_path, flags)
            _setup_logging(config.log_level)
            return command(config, **kwargs)
        except USER_ERRORS as exc:
            raise click.ClickException(str(exc)) from None
    return wrapper


def existing_archive(config: Config, prefix: str = "") -> Any:
    """The archive at ``config.db`` for a command that only reads it; a mistyped --db is an
    error, and no file or directory is created there."""
    return open_db(existing_archive_path(config.db, prefix))


def _setup_logging(level: str) -> None:
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ConfigError(f"log_level: unknown level {level!r}")
    logging.basicConfig(level=numeric, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def progress(length: int, label: str, show: bool) -> Any:
    """click's progress bar on standard error when ``show``, else a stand-in that ignores updates."""
    if show:
        return click.progressbar(length=length, file=sys.stderr, label=label)
    return _NoBar()


class _NoBar:
    def __enter__(self) -> "_NoBar":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def update(self, n: int) -> None:
        return None


def existing_archive_path(path: str, prefix: str = "") -> Path:
    """``path`` for a command that only reads the archive: a mistyped --db is an error, and no
    file or directory is created there."""
    if not Path(path).exists():
        raise click.ClickException(f"{prefix}(there is no archive at {path})" if prefix
                                   else f"there is no archive at {path}")
    return Path(path)


@contextmanager
def replacing(target: Path, *, overwrite: bool = True) -> Iterator[Path]:
    """A temporary path next to ``target`` to write to; on success it becomes ``target`` in one
    rename (readers see the old file or the new one, never half of one), on failure it is
    removed. Without ``overwrite`` an existing ``target`` is an error, also one that appears
    while writing."""
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        temp.unlink(missing_ok=True)  # left by a killed run of the same process id
        yield temp
        _sync(temp)
        if overwrite:
            os.replace(temp, target)
        else:
            os.link(temp, target)  # fails, atomically, when target exists
        _sync(target.parent)
    except FileExistsError:
        raise click.ClickException(f"{target} exists (use --force to replace it)") from None
    except OSError as exc:
        raise click.ClickException(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        with suppress(OSError):  # there is none when the directory itself is unusable
            temp.unlink(missing_ok=True)


def _sync(path: Path) -> None:
    """Flush a file (or a directory's entries) to disk before it is relied on."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

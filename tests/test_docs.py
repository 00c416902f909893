"""Every command has help text with an example and is documented in the README; every setting
is in the annotated config file."""

from __future__ import annotations

import tomllib

import pytest

from archiver.interfaces.cli import every_command
from archiver.settings import SETTINGS, load_config
from conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


COMMANDS = {" ".join(names): command for names, command in every_command()}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_has_help_and_is_in_readme(name: str) -> None:
    command = COMMANDS[name]
    assert command.help and "Example:" in command.help, name
    assert f"archiver {name}" in README, name


def test_readme_starts_with_the_two_commands() -> None:
    head = README.split("\n## ", 1)[0]
    assert "make run" in head and "make test" in head


def test_config_file_lists_every_setting_with_its_default() -> None:
    path = REPO / "config" / "archiver.toml"
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    assert set(data) == {s.name for s in SETTINGS}
    config = load_config(path, environ={})
    for setting in SETTINGS:
        assert config.values[setting.name] == setting.default, setting.name

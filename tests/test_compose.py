"""docker-compose.yml and the Dockerfile, checked without a Docker engine: the file parses, the
archiver services run the one image with commands the CLI has, the daemon and the browser share
the archive volume and read the mounted config, and the daemon and the workers (distributed mode,
issue 14) reach the one Redis service."""

from __future__ import annotations

import re
import shlex
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from conftest import REPO, run_cli

yaml = pytest.importorskip("yaml")

COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"


def services() -> dict[str, dict[str, Any]]:
    document = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(document, dict) and isinstance(document.get("services"), dict)
    return document["services"]


def command(service: dict[str, Any]) -> list[str]:
    value = service["command"]
    return shlex.split(value) if isinstance(value, str) else [str(v) for v in value]


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> source (a named volume, or a host path resolved against the repo)."""
    found: dict[str, str] = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            source, target = volume.get("source", ""), volume["target"]
        else:
            source, target = volume.split(":")[:2]
        if source.startswith((".", "/")):
            source = str((REPO / source).resolve())
        found[target] = source
    return found


def inside(path: str, directory: str) -> bool:
    return PurePosixPath(directory) in PurePosixPath(path).parents


def by_command(word: str) -> dict[str, Any]:
    matching = [s for s in services().values() if word in command(s)[1:2]]
    assert len(matching) == 1, f"expected one service running `archiver {word}`"
    return matching[0]


def archiver_services() -> dict[str, dict[str, Any]]:
    """Every service but Redis: the ones built from our Dockerfile."""
    return {name: s for name, s in services().items() if "build" in s}


def test_archiver_services_from_one_image_built_from_the_root_dockerfile() -> None:
    found = archiver_services()
    assert sorted(command(s)[1] for s in found.values()) == ["run", "serve", "worker"]
    images = {s.get("image") for s in found.values()}
    assert len(images) == 1 and None not in images
    for service in found.values():
        build = service["build"]
        context = build if isinstance(build, str) else build.get("context", ".")
        dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        assert (REPO / context).resolve() == REPO
        assert (REPO / context / dockerfile).resolve() == DOCKERFILE


def test_dockerfile_installs_the_package_with_its_command() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.1[1-9]", text, re.M)
    assert re.search(r"pip install \.", text)
    assert re.search(r"^USER (?!root)\w+", text, re.M)  # not root
    for copied in re.findall(r"^COPY (.+) \S+$", text, re.M):
        for source in copied.split():
            assert (REPO / source).exists(), f"Dockerfile copies missing {source}"
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^archiver = "archiver\.entry:main"', pyproject, re.M)


def test_daemon_runs_archiver_run_with_status_as_healthcheck() -> None:
    daemon = by_command("run")
    assert command(daemon)[:2] == ["archiver", "run"]
    test = daemon["healthcheck"]["test"]
    probe = shlex.split(test) if isinstance(test, str) else [t for t in test if t not in ("CMD", "CMD-SHELL")]
    assert probe[:2] == ["archiver", "status"]


def test_browser_serves_on_all_interfaces_published_on_loopback() -> None:
    browse = by_command("serve")
    args = command(browse)
    assert args[args.index("--host") + 1] == "0.0.0.0"
    port = args[args.index("--port") + 1] if "--port" in args else "8001"
    assert browse["ports"] == [f"127.0.0.1:{port}:{port}"]


@pytest.mark.parametrize("word", ["run", "serve", "worker"])
def test_service_commands_exist_in_the_cli(word: str) -> None:
    args = command(by_command(word))
    result = run_cli(*args[1:], "--help")  # an unknown command or option fails here
    assert result.code == 0, result
    assert "Usage:" in result.out


def test_healthcheck_command_exists_in_the_cli() -> None:
    test = by_command("run")["healthcheck"]["test"]
    probe = [t for t in test if t not in ("CMD", "CMD-SHELL")]
    result = run_cli(*probe[1:], "--help")
    assert result.code == 0, result


def test_both_services_share_the_archive_volume() -> None:
    document = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    daemon, browse = by_command("run"), by_command("serve")
    db = daemon["environment"]["ARCHIVER_DB"]
    assert browse["environment"]["ARCHIVER_DB"] == db
    data_dirs = [t for t in mounts(daemon) if inside(db, t)]
    assert len(data_dirs) == 1
    volume = mounts(daemon)[data_dirs[0]]
    assert mounts(browse).get(data_dirs[0]) == volume
    assert volume in (document.get("volumes") or {})  # a named volume, kept across restarts


def test_config_is_mounted_where_archiver_config_points() -> None:
    for service in (by_command("run"), by_command("serve")):
        config_path = service["environment"]["ARCHIVER_CONFIG"]
        targets = [t for t in mounts(service) if inside(config_path, t)]
        assert len(targets) == 1, config_path
        host_dir = Path(mounts(service)[targets[0]])
        assert host_dir == (REPO / "config").resolve()
        relative = PurePosixPath(config_path).relative_to(targets[0])
        assert (host_dir / relative).is_file()


def test_dockerignore_keeps_local_state_out_of_the_image() -> None:
    ignored = (REPO / ".dockerignore").read_text(encoding="utf-8").split()
    for entry in (".venv", "*.db", "data/", "artifacts/", ".git"):
        assert entry in ignored


def test_redis_service_is_the_official_image_without_persistence() -> None:
    found = services()
    redis = found["redis"]
    assert "build" not in redis and str(redis["image"]).split(":")[0] in ("redis", "docker.io/library/redis")
    args = command(redis)
    assert args[0] == "redis-server"
    assert args[args.index("--save") + 1] == "" and args[args.index("--appendonly") + 1] == "no"
    assert "ports" not in redis  # reached by the services (and added machines) only, never published by default


def test_daemon_and_workers_reach_the_redis_service() -> None:
    """Distributed mode: the daemon and the workers share ``broker_url``, the Redis service's
    address on the compose network; the worker scales (no fixed name or published port) and never
    mounts the archive."""
    daemon, worker = by_command("run"), by_command("worker")
    url = daemon["environment"]["ARCHIVER_BROKER_URL"]
    assert url.startswith("redis://redis:6379")
    assert worker["environment"]["ARCHIVER_BROKER_URL"] == url
    for service in (daemon, worker):
        assert "redis" in service["depends_on"]
    assert "container_name" not in worker and "ports" not in worker
    db = daemon["environment"]["ARCHIVER_DB"]
    assert not [t for t in mounts(worker) if inside(db, t)]

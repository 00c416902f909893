"""The fetcher's connection pool (LinearPool in archiver/net/fetcher.py): httpcore's own rules, in linear time."""

from __future__ import annotations

import hashlib
import inspect
import threading
from pathlib import Path
from typing import Any, Iterator

import httpcore
import pytest

from conftest import Site

from archiver.net import fetcher as fetcher_module
from archiver.net.fetcher import Fetcher, LinearPool
from archiver.settings import load_config

# httpcore 1.0.9's ConnectionPool._assign_requests_to_connections, which LinearPool restates.
HTTPCORE_METHOD_SHA256 = "4e09ebf79b6273ade02b26675490d2be6afc3b002b8694f0959fef7bb93152f3"


class CountingSite(Site):
    """A Site that counts the connections it accepts, and tells when it has closed one."""

    def __init__(self) -> None:
        super().__init__()
        self.connections = 0
        self.closed = threading.Event()
        handler = self.server.RequestHandlerClass
        closed = self.closed

        class Handler(handler):  # type: ignore[misc, valid-type]
            def finish(self) -> None:
                super().finish()
                closed.set()

        self.server.RequestHandlerClass = Handler
        accept = self.server.process_request

        def counted(request: Any, client_address: Any) -> None:
            self.connections += 1
            accept(request, client_address)

        self.server.process_request = counted  # type: ignore[method-assign]


@pytest.fixture
def sites() -> Iterator[list[CountingSite]]:
    made = [CountingSite() for _ in range(4)]
    for site in made:
        site.route("/", "<p>page</p>")
        site.route("/slow", "<p>slow</p>", delay=0.2)
    yield made
    for site in made:
        site.close()


def test_httpcore_still_has_the_method_linear_pool_restates() -> None:
    source = inspect.getsource(httpcore.ConnectionPool._assign_requests_to_connections)
    assert hashlib.sha256(source.encode()).hexdigest() == HTTPCORE_METHOD_SHA256, (
        "httpcore's _assign_requests_to_connections changed: compare LinearPool in archiver/net/fetcher.py with it")


def _scenario(sites: list[CountingSite], tmp_path: Path) -> tuple[list[int], list[int | None]]:
    """Sequential fetches that reuse, fill and recycle a pool of two (the connections each site
    accepted), then four slow pages at once, two of which wait for a connection (the statuses)."""
    config = load_config(environ={"ARCHIVER_ALLOW_NETWORKS": "127.0.0.1/32", "ARCHIVER_PER_HOST_DELAY": "0",
                                  "ARCHIVER_MAX_CONNECTIONS": "2", "ARCHIVER_DB": str(tmp_path / "a.db")})
    statuses: list[int | None] = []
    with Fetcher(config) as fetcher:
        pool = fetcher._transport._pool
        for site in (sites[0], sites[0], sites[1], sites[0], sites[2], sites[0], sites[1]):
            statuses.append(fetcher.fetch(site.url("/")).status)
            assert len(pool.connections) <= 2
        accepted = [site.connections for site in sites]
        threads = [threading.Thread(target=lambda s=site: statuses.append(fetcher.fetch(s.url("/slow")).status))
                   for site in sites]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert len(pool.connections) <= 2
    return accepted, statuses


def test_the_pool_reuses_fills_and_recycles_connections_as_httpcore_does(
        sites: list[CountingSite], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ours, statuses = _scenario(sites, tmp_path)
    assert statuses == [200] * 11
    # site 0's connection serves its first three pages (the pool has room for site 1 beside
    # it); site 2 takes the place of the oldest idle one (site 0's), site 0 then takes site 1's
    # place, and site 1 site 2's
    assert ours == [2, 2, 1, 0]
    for site in sites:
        site.connections = 0
    monkeypatch.setattr(fetcher_module, "LinearPool", httpcore.ConnectionPool)
    theirs, statuses = _scenario(sites, tmp_path)
    assert statuses == [200] * 11
    assert theirs == ours


def test_the_fetcher_uses_the_linear_pool(tmp_path: Path) -> None:
    with Fetcher(load_config(environ={"ARCHIVER_DB": str(tmp_path / "a.db")})) as fetcher:
        assert type(fetcher._transport._pool) is LinearPool
        assert fetcher._transport._pool._max_connections == fetcher.config.max_connections


def test_a_connection_its_server_closed_is_not_reused(sites: list[CountingSite], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(LinearPool, "sweep_every", 3600.0)  # no sweep: the check before reuse
    site = sites[0]
    site.server.RequestHandlerClass.timeout = 0.1  # the server closes a connection idle that long
    config = load_config(environ={"ARCHIVER_ALLOW_NETWORKS": "127.0.0.1/32", "ARCHIVER_PER_HOST_DELAY": "0",
                                  "ARCHIVER_DB": str(tmp_path / "a.db")})
    with Fetcher(config) as fetcher:
        assert fetcher.fetch(site.url("/")).status == 200
        assert site.closed.wait(timeout=30)
        assert fetcher.fetch(site.url("/")).status == 200
    assert site.connections == 2


@pytest.mark.parametrize("sweep_every, kept", [(0.0, False), (3600.0, True)])
def test_dead_idle_connections_are_closed_at_a_sweep(sites: list[CountingSite], tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     sweep_every: float, kept: bool) -> None:
    """An idle connection its server closed, to a host nobody asks for again, is closed at the
    next sweep of the pool; between sweeps it waits (and is never handed out: see above)."""
    monkeypatch.setattr(LinearPool, "sweep_every", sweep_every)
    quiet, busy = sites[0], sites[1]
    quiet.server.RequestHandlerClass.timeout = 0.1
    config = load_config(environ={"ARCHIVER_ALLOW_NETWORKS": "127.0.0.1/32", "ARCHIVER_PER_HOST_DELAY": "0",
                                  "ARCHIVER_DB": str(tmp_path / "a.db")})
    with Fetcher(config) as fetcher:
        pool = fetcher._transport._pool
        assert fetcher.fetch(quiet.url("/")).status == 200
        assert quiet.closed.wait(timeout=30)
        assert fetcher.fetch(busy.url("/")).status == 200
        ports = [c._origin.port for c in pool.connections]
    assert (quiet.port in ports) is kept, ports
    assert busy.port in ports

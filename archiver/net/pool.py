"""httpcore's connection pool, with its bookkeeping in linear time.

Whenever a request starts or ends, ``httpcore.ConnectionPool._assign_requests_to_connections``
walks its connections and, for each idle one, counts the whole pool again
(``len([connection.is_idle() for connection in self._connections])``, which is only the pool's
size): with 32 connections, mostly idle while a run goes from host to host, that is a thousand
calls a request, the largest single cost of an unchanged re-poll of 300 hosts (more than a
third of its CPU under a profiler; 15% of its CPU measured without one). ``LinearPool`` does the
same thing with the size counted once a step. Everything else is httpcore's method as it is in
the versions that pyproject.toml admits; ``tests/test_pool.py`` fails when an upgrade changes
that method, so that this one is looked at again.
"""

from __future__ import annotations

import httpcore
from httpcore._sync.interfaces import ConnectionInterface


class LinearPool(httpcore.ConnectionPool):
    def _assign_requests_to_connections(self) -> list[ConnectionInterface]:
        closing_connections = []

        # Closed connections go, expired ones are closed, and idle ones beyond the keep-alive
        # limit are closed (httpcore's rule: while the pool holds more connections than that).
        for connection in list(self._connections):
            if connection.is_closed():
                self._connections.remove(connection)
            elif connection.has_expired():
                self._connections.remove(connection)
                closing_connections.append(connection)
            elif connection.is_idle() and len(self._connections) > self._max_keepalive_connections:
                self._connections.remove(connection)
                closing_connections.append(connection)

        # Queued requests go to an available connection for their origin, else a new one, else a
        # new one in place of the oldest idle connection.
        for pool_request in [request for request in self._requests if request.is_queued()]:
            origin = pool_request.request.url.origin
            available = next((connection for connection in self._connections
                              if connection.can_handle_request(origin) and connection.is_available()), None)
            if available is not None:
                pool_request.assign_to_connection(available)
                continue
            if len(self._connections) < self._max_connections:
                connection = self.create_connection(origin)
                self._connections.append(connection)
                pool_request.assign_to_connection(connection)
                continue
            idle = next((connection for connection in self._connections if connection.is_idle()), None)
            if idle is not None:
                self._connections.remove(idle)
                closing_connections.append(idle)
                connection = self.create_connection(origin)
                self._connections.append(connection)
                pool_request.assign_to_connection(connection)

        return closing_connections

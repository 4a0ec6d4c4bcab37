"""A server with the embedded worker and short deadlines, and sockets to it (rooms and alerts)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.live.conftest import Socket, greeted_sockets
from tests.services import Daphne


@pytest.fixture(scope="session")
def alert_server(server_factory: Callable[..., Daphne]) -> Daphne:
    """One process with the embedded worker and deadlines short enough to watch."""
    return server_factory(
        EMBEDDED_WORKER="1",
        WORKER_TICK_SECONDS="0.2",
        ALERT_ACK_SECONDS_EMERGENCY="2",
        ALERT_ACK_SECONDS_URGENT="3",
        UNATTENDED_GRACE_SECONDS="2",
        RATE_LIMIT_PER_SECOND="0",
        PRESENCE_HEARTBEAT_SECONDS="2",
    )


@pytest.fixture
def sockets(alert_server: Daphne) -> Iterator[Callable[..., Socket]]:
    with greeted_sockets(alert_server) as open_socket:
        yield open_socket

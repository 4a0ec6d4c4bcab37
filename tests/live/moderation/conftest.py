"""A server with the embedded worker and short deadlines, and sockets to it (rooms and alerts)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from websockets.sync.client import connect

from tests.live.conftest import Socket, session_cookie
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
    opened: list[Socket] = []

    def _open(user: Any, path: str) -> Socket:
        ws = connect(
            f"{alert_server.ws_url}{path}",
            origin=alert_server.url,
            additional_headers={"Cookie": session_cookie(user)},
            open_timeout=10,
        )
        ws.__enter__()
        sock = Socket(ws)
        opened.append(sock)
        sock.hello = sock.recv_type("hello")  # type: ignore[attr-defined]
        return sock

    yield _open
    for sock in opened:
        sock.close()

"""Real servers for the room tests: daphne (and the worker, and Redis where a test needs them)
started as separate processes against the test database, driven over real sockets."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from websockets.sync.client import ClientConnection, connect

from tests.services import Daphne, Worker, service_env, start_redis


def database_url() -> str:
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    return f"postgres://{settings['USER']}@/{settings['NAME']}?host={settings['HOST']}"


@pytest.fixture(scope="session")
def server_factory(
    django_db_setup,
    tmp_path_factory: pytest.TempPathFactory,  # noqa: ANN001
) -> Iterator[Callable[..., Daphne]]:
    """Starts daphne processes on the test database; all are stopped at the end."""
    started: list[Daphne] = []
    logs = tmp_path_factory.mktemp("logs")

    def start(**env: str) -> Daphne:
        server = Daphne(
            service_env(DATABASE_URL=database_url(), **env),
            Path(logs) / f"daphne-{len(started)}.log",
        )
        started.append(server.start())
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def server(server_factory: Callable[..., Daphne]) -> Daphne:
    """The shared server: rate limit off so tests measure behaviour, not the limiter (the flood
    test starts its own server with the limit on)."""
    return server_factory(RATE_LIMIT_PER_SECOND="0", PRESENCE_HEARTBEAT_SECONDS="2")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    redis = start_redis(str(tmp_path_factory.mktemp("redis")))
    yield redis
    redis.stop()


@pytest.fixture
def worker_factory(tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []

    def start(**env: str) -> Worker:
        worker = Worker(
            service_env(DATABASE_URL=database_url(), **env), tmp_path / f"worker-{len(started)}.log"
        )
        started.append(worker.start())
        return worker

    yield start
    for worker in started:
        worker.stop()


class Socket:
    """A room socket as a client sees it: JSON frames in and out."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    def send(self, frame: dict[str, Any] | str) -> None:
        self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    def recv(self, timeout: float = 5) -> dict[str, Any]:
        return json.loads(self.ws.recv(timeout=timeout))

    def recv_type(self, kind: str, timeout: float = 5) -> dict[str, Any]:
        """The next frame of this type; presence and typing frames in between are skipped."""
        while True:
            frame = self.recv(timeout)
            if frame["type"] == kind:
                return frame
            if frame["type"] not in ("presence", "typing"):
                raise AssertionError(f"expected {kind}, got {frame}")

    def say(self, body: str, client_id: str | None = None) -> dict[str, Any]:
        client_id = client_id or str(uuid.uuid4())
        self.send({"type": "message.send", "client_id": client_id, "body": body})
        return self.recv_type_of(("message.ack", "error", "message.held"))

    def recv_type_of(self, kinds: tuple[str, ...], timeout: float = 5) -> dict[str, Any]:
        while True:
            frame = self.recv(timeout)
            if frame["type"] in kinds:
                return frame

    def close(self) -> None:
        self.ws.close()


def session_cookie(user: Any) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


def open_socket(
    server: Daphne,
    group_id: int,
    user: Any = None,
    *,
    origin: str | None = "default",
    cookie: str | None = None,
    query: str = "",
) -> ClientConnection:
    headers = {}
    if user is not None:
        headers["Cookie"] = session_cookie(user)
    if cookie is not None:
        headers["Cookie"] = cookie
    ws = connect(
        f"{server.ws_url}/ws/rooms/{group_id}/{query}",
        origin=server.url if origin == "default" else origin,  # type: ignore[arg-type]
        additional_headers=headers,
        open_timeout=10,
    )
    ws.__enter__()  # the caller owns the connection; closing is explicit
    return ws


@pytest.fixture
def enter(server: Daphne) -> Iterator[Callable[..., Socket]]:
    """Opens a room socket for a user and reads its hello; closes them all afterwards."""
    opened: list[Socket] = []

    def _enter(user: Any, group: Any, target: Daphne | None = None) -> Socket:
        sock = Socket(open_socket(target or server, group.pk, user))
        opened.append(sock)
        hello = sock.recv()
        assert hello["type"] == "hello", hello
        sock.hello = hello  # type: ignore[attr-defined]
        return sock

    yield _enter
    for sock in opened:
        sock.close()

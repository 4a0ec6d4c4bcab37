"""Real servers for the room tests: daphne (and the worker, and Redis where a test needs them)
started as separate processes against the test database, driven over real sockets."""

from __future__ import annotations

import contextlib
import json
import secrets
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client, override_settings
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.services import Daphne, Redis, Worker, service_env, start_redis


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

    def __init__(
        self, ws: ClientConnection, server_log: Path | None = None, server_log_from: int = 0
    ) -> None:
        self.ws = ws
        self.backlog: list[dict[str, Any]] = []
        # The server's log, and where it stood before this socket opened (``server_logged``).
        self.server_log, self.server_log_from = server_log, server_log_from

    def server_logged(self) -> str:
        """What the server logged since this socket opened (ids and codes, never a message's
        words), for a failure message: a frame that went missing is told apart by it."""
        if self.server_log is None:
            return ""
        with self.server_log.open("rb") as log:
            log.seek(self.server_log_from)
            return log.read().decode(errors="replace")[-8000:]

    def send(self, frame: dict[str, Any] | str) -> None:
        self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    def recv(self, timeout: float = 5) -> dict[str, Any]:
        """The next frame: one set aside by recv_type_of first, then the socket's."""
        if self.backlog:
            return self.backlog.pop(0)
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
        """The first frame of these types. Frames of other types are set aside for later
        calls: the server does not promise an order between, say, a command's action.done and
        the events the command caused."""
        for i, frame in enumerate(self.backlog):
            if frame["type"] in kinds:
                return self.backlog.pop(i)
        while True:
            frame = json.loads(self.ws.recv(timeout=timeout))
            if frame["type"] in kinds:
                return frame
            self.backlog.append(frame)

    def recv_message(self, message_id: int, timeout: float = 5) -> dict[str, Any]:
        """The `message` of the message.new with this id; other frames before it are skipped."""
        while True:
            frame = self.recv_type_of(("message.new",), timeout)
            if frame["message"]["id"] == message_id:
                return frame["message"]

    def close(self) -> None:
        self.ws.close()

    def closed(self, timeout: float = 5) -> tuple[list[dict[str, Any]], int | None]:
        """Reads until the server closes the socket: the frames it sent first, and the code."""
        return read_until_closed(self.ws, timeout)

    def quiet(self, kinds: tuple[str, ...], timeout: float = 0.5) -> None:
        """Asserts that no frame of these types arrives within the timeout. Used only where the
        test proves an absence; a positive frame sent after it bounds the wait in practice."""
        with contextlib.suppress(TimeoutError):
            while True:
                frame = self.recv(timeout)
                assert frame["type"] not in kinds, frame


def read_until_closed(
    ws: ClientConnection, timeout: float = 5
) -> tuple[list[dict[str, Any]], int | None]:
    frames: list[dict[str, Any]] = []
    try:
        while True:
            frames.append(json.loads(ws.recv(timeout=timeout)))
    except ConnectionClosed as closed:
        return frames, closed.rcvd.code if closed.rcvd else None


def session_cookie(user: Any) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


@contextlib.contextmanager
def greeted_sockets(server: Daphne) -> Iterator[Callable[[Any, str], Socket]]:
    """Opens signed-in sockets to ``server`` (``open(user, path)``), each with its ``hello``
    read into ``.hello``; closes them all at the end."""
    opened: list[Socket] = []

    def _open(user: Any, path: str) -> Socket:
        log_from = server.log_path.stat().st_size if server.log_path.exists() else 0
        ws = connect(
            f"{server.ws_url}{path}",
            origin=server.url,
            additional_headers={"Cookie": session_cookie(user)},
            open_timeout=10,
        )
        ws.__enter__()
        sock = Socket(ws, server.log_path, log_from)
        opened.append(sock)
        sock.hello = sock.recv_type("hello")  # type: ignore[attr-defined]
        return sock

    try:
        yield _open
    finally:
        for sock in opened:
            sock.close()


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


def refusal(
    server: Daphne, group_id: int, user: Any = None, **kwargs: Any
) -> tuple[list[dict[str, Any]], int | None]:
    """Opens a socket that the server is expected to close: what it sent, and the close code."""
    ws = open_socket(server, group_id, user, **kwargs)
    try:
        return read_until_closed(ws)
    finally:
        ws.close()


def open_room(group: Any) -> None:
    """Makes a scheduled group's room open at any hour (the fixture's circle meets weekly)."""
    type(group).objects.filter(pk=group.pk).update(drop_in=True)
    group.refresh_from_db()


def http_logout(server: Daphne, cookie: str) -> int:
    """Signs out through the site itself, as the browser's "Sign out" button does: a POST with
    the session cookie and a CSRF token (a cookie and the same value in the header)."""
    csrf = secrets.token_hex(16)  # 32 characters, the unmasked form Django accepts
    request = urllib.request.Request(
        f"{server.url}/logout/",
        method="POST",
        data=b"",
        headers={"Cookie": f"{cookie}; csrftoken={csrf}", "X-CSRFToken": csrf},
    )
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as redirect:
        return int(redirect.code)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def redis_layers(redis: Redis) -> dict[str, Any]:
    return {
        "default": {
            # The same layer the servers use with REDIS_URL set (server/settings.py).
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [redis.url]},
        }
    }


@pytest.fixture(scope="session")
def redis_daphne(server_factory: Callable[..., Daphne], redis_server: Redis) -> Daphne:
    """A server on the Redis channel layer, so services run in the test process (as the REST
    API and the worker run in theirs) reach its sockets."""
    return server_factory(
        REDIS_URL=redis_server.url, RATE_LIMIT_PER_SECOND="0", PRESENCE_HEARTBEAT_SECONDS="2"
    )


@pytest.fixture
def shared_layer(redis_server: Redis) -> Iterator[None]:
    """Points this test process's channel layer at the servers' Redis."""
    with override_settings(CHANNEL_LAYERS=redis_layers(redis_server)):
        yield


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

"""A room client that behaves like the web app (frontend/static/frontend/js/room.js): it
reconnects by itself with backoff, catches up with `history` after the last id it saw, keeps
each message once (by id) in id order, and sends every message with a client_id that it reuses
when it sends again after a reconnect, until the message is acknowledged."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

CATCH_UP_PAGE = 200


def http_json(
    url: str, method: str = "GET", body: dict[str, Any] | None = None, token: str = ""
) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    request = urllib.request.Request(
        url,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers=headers,
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw, status = response.read(), response.status
    except urllib.error.HTTPError as error:
        raw, status = error.read(), error.code
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode("utf-8", "replace")


@dataclass
class Pending:
    body: str
    queued_at: float
    retry_at: float = 0.0  # after a rate_limited error: not before this monotonic time


@dataclass
class RoomClient:
    name: str
    token: str
    group_id: int
    base_url: str  # nginx, in front of the web processes
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    start_id: int | None = None  # last_message_id of the first hello: we expect all after it
    pending: dict[str, Pending] = field(default_factory=dict)
    acked: dict[str, int] = field(default_factory=dict)  # client_id -> message id
    said_at: dict[int, float] = field(
        default_factory=dict
    )  # message id -> when the member typed it
    received_at: dict[int, float] = field(default_factory=dict)  # message id -> when it arrived
    duplicates: int = 0  # frames for a message already held (dropped, as the web app does)
    connects: list[float] = field(default_factory=list)  # monotonic time of each hello
    disconnects: list[float] = field(default_factory=list)
    resyncs: list[float] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    refused: dict[str, Any] | None = None  # the error frame of a room that turned us away
    local_address: str = ""  # this socket's "host:port"
    ws: ClientConnection | None = None
    _attempt: int = 0
    _stopping: bool = False
    _live: asyncio.Event = field(default_factory=asyncio.Event)

    # ------------------------------------------------------------------ what the member sees

    @property
    def max_id(self) -> int:
        return max(self.messages, default=self.start_id or 0)

    @property
    def ids(self) -> list[int]:
        """The conversation as shown: every message once, in id order."""
        return sorted(self.messages)

    def add(self, message: dict[str, Any]) -> None:
        if message["id"] in self.messages:
            self.duplicates += 1
            return
        self.messages[message["id"]] = message
        self.received_at[message["id"]] = time.monotonic()

    # ------------------------------------------------------------------ sending

    def say(self, body: str) -> str:
        client_id = str(uuid.uuid4())
        self.pending[client_id] = Pending(body, time.monotonic())
        if self.ws is not None and self._live.is_set():
            asyncio.ensure_future(self._transmit(client_id))
        return client_id

    async def _transmit(self, client_id: str) -> None:
        pending = self.pending.get(client_id)
        ws = self.ws
        if pending is None or ws is None:
            return
        delay = pending.retry_at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
            if self.ws is not ws or client_id not in self.pending:
                return  # reconnected meanwhile: the new hello sends it again
        frame = {"type": "message.send", "client_id": client_id, "body": pending.body}
        # A closed socket leaves the message pending: it is sent again after the reconnect.
        with contextlib.suppress(ConnectionClosed):
            await ws.send(json.dumps(frame))

    # ------------------------------------------------------------------ the connection

    async def wait_live(self, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while not self._live.is_set():
            assert self.refused is None, f"{self.name} was refused: {self.refused}"
            assert time.monotonic() < deadline, f"{self.name} not live after {timeout}s"
            await asyncio.sleep(0.02)

    async def run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(OSError, ConnectionClosed, InvalidHandshake, TimeoutError):
                await self._session()
            self._live.clear()
            self.ws = None
            if self._stopping or self.refused is not None:
                return
            self.disconnects.append(time.monotonic())
            # The web app's backoff (room.js scheduleReconnect): 0.5 s doubling to 10 s, and a
            # random half of it, so that a crowd does not come back at the same instant.
            base = min(10.0, 0.5 * 2**self._attempt)
            self._attempt += 1
            await asyncio.sleep(base / 2 + random.random() * base / 2)

    async def _ticket(self) -> str:
        status, body = await asyncio.to_thread(
            http_json, f"{self.base_url}/api/ws-ticket/", "POST", None, self.token
        )
        if status != 201:
            raise OSError(f"ticket refused: {status} {body}")
        return str(body["ticket"])

    async def _session(self) -> None:
        ticket = await self._ticket()
        ws_url = self.base_url.replace("http://", "ws://", 1)
        try:
            ws = await connect(
                f"{ws_url}/ws/rooms/{self.group_id}/?ticket={ticket}",
                origin=self.base_url,  # type: ignore[arg-type]
                open_timeout=5,
                ping_interval=None,
                max_size=2**20,
            )
        except InvalidStatus as exc:
            raise OSError(f"handshake refused: {exc}") from exc
        self.ws = ws
        host, port = ws.local_address[:2]
        self.local_address = f"{host}:{port}"
        try:
            async for raw in ws:
                await self._handle(json.loads(raw))
        finally:
            await ws.close()

    async def _catch_up(self, after_id: int | None = None) -> None:
        assert self.ws is not None
        start = self.max_id if after_id is None else min(self.max_id, after_id)
        await self.ws.send(
            json.dumps({"type": "history", "after_id": start, "limit": CATCH_UP_PAGE})
        )

    async def _handle(self, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        if kind == "hello":
            reconnect = self.start_id is not None
            if not reconnect:
                self.start_id = frame["last_message_id"] or 0
            elif (frame["last_message_id"] or 0) > self.max_id:
                await self._catch_up()
            self._attempt = 0
            self.connects.append(time.monotonic())
            self._live.set()
            # Anything not acknowledged goes again with the same client_id: stored once.
            for client_id in list(self.pending):
                await self._transmit(client_id)
        elif kind == "message.new":
            self.add(frame["message"])
        elif kind == "history":
            for message in frame["messages"]:
                self.add(message)
            if frame["has_more"] and frame["messages"]:
                await self._catch_up()
        elif kind == "message.ack":
            pending = self.pending.pop(frame["client_id"], None)
            self.acked[frame["client_id"]] = frame["id"]
            if pending is not None:
                self.said_at[frame["id"]] = pending.queued_at
        elif kind == "resync":
            self.resyncs.append(time.monotonic())
            await self._catch_up(frame.get("after_id"))
        elif kind == "error":
            self.errors.append(frame)
            if not self._live.is_set():
                # Turned away before the hello (signed out, not a member, no such room): as
                # the web app, stop and say so instead of retrying.
                self.refused = frame
            client_id = frame.get("client_id")
            if frame.get("code") in ("rate_limited", "slow_mode") and client_id in self.pending:
                self.pending[client_id].retry_at = time.monotonic() + float(
                    frame.get("retry_after") or 1
                )
                asyncio.ensure_future(self._transmit(client_id))

    async def stop(self) -> None:
        self._stopping = True
        if self.ws is not None:
            await self.ws.close()


async def fetch_history(base_url: str, token: str, group_id: int) -> list[dict[str, Any]]:
    """What a member who was never there fetches: the whole record of the room, page by page.
    The tests compare it with what each client assembled from live frames and catch-ups."""
    status, body = await asyncio.to_thread(
        http_json, f"{base_url}/api/ws-ticket/", "POST", None, token
    )
    assert status == 201, body
    ws_url = base_url.replace("http://", "ws://", 1)
    url = f"{ws_url}/ws/rooms/{group_id}/?ticket={body['ticket']}"
    messages: list[dict[str, Any]] = []
    async with connect(url, origin=base_url, max_size=2**22) as ws:  # type: ignore[arg-type]
        after = 0
        while True:
            await ws.send(json.dumps({"type": "history", "after_id": after, "limit": 200}))
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if frame["type"] == "history":
                    break
            messages += frame["messages"]
            if not frame["has_more"]:
                return messages
            after = messages[-1]["id"]


async def hello_of(base_url: str, token: str, group_id: int) -> dict[str, Any]:
    """The hello frame a newcomer gets (room state, who is present, the last message id)."""
    status, body = await asyncio.to_thread(
        http_json, f"{base_url}/api/ws-ticket/", "POST", None, token
    )
    assert status == 201, body
    ws_url = base_url.replace("http://", "ws://", 1)
    url = f"{ws_url}/ws/rooms/{group_id}/?ticket={body['ticket']}"
    async with connect(url, origin=base_url) as ws:  # type: ignore[arg-type]
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
        return frame

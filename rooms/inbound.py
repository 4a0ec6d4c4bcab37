"""What one socket may ask of the server: a rate per frame type, a bounded queue of work, and
a limit on sockets per person. docs/protocol.md, "Limits".

Channels hands a consumer one client frame at a time and daphne buffers the rest without limit,
so a consumer that waited for the database on every frame let one member fill the server's
memory with frames it had not read yet. Here a frame is judged as it arrives: over its type's
rate it is refused at once (`rate_limited`, with `retry_after`), and otherwise its work joins
this socket's queue, worked in order by one task. A full queue refuses the frame
(`queue_full`). A socket that keeps sending after being refused is closed with
`frames.FLOODING`, so a flood costs the server a bounded amount of memory and time
whatever its size. Each refusal is an `error` frame that names the frame type (`action`), or
carries the `client_id` of a refused `message.send`, so nothing a member sends is dropped
without an answer.

The limits are per socket and in this process, with no round trip to Redis: each person's
sockets are capped per web process, so a person's total is bounded too. The per-person
message limit (rooms/ratelimit.py) applies to `message.send` after these."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from rooms import frames
from rooms.frames import Code
from rooms.ratelimit import seconds_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rate:
    burst: float  # frames at once
    per_second: float  # then this many a second


# Per socket, by frame type. Generous for people and the web app (it pings every 20 s, sends
# `typing` at most every 4 s, and pages history one request at a time); a script that sends
# faster is refused.
RATES: dict[str, Rate] = {
    "message.send": Rate(20, 5),  # then the per-person message limit (RATE_LIMIT_*)
    "history": Rate(20, 4),
    "alerts.page": Rate(20, 4),
    "typing": Rate(5, 1),
    "ping": Rate(10, 1),
    "hide": Rate(10, 1),
    "unhide": Rate(10, 1),
    "report": Rate(5, 0.2),
    # Members' own messages (rooms/member_messages.py).
    "message.edit": Rate(10, 1),
    "message.delete": Rate(10, 1),
    "reaction": Rate(20, 2),
    "checkin.request": Rate(3, 0.1),
    "moderation": Rate(30, 3),  # facilitators' commands, alert acknowledge and resolve
    "other": Rate(10, 1),  # unknown types and frames that are not JSON
}
# Refused frames a socket may send before it is closed: a burst, refilled at this rate.
STRIKES = Rate(100, 10)


class _Bucket:
    __slots__ = ("rate", "tokens", "at")

    def __init__(self, rate: Rate) -> None:
        self.rate, self.tokens, self.at = rate, rate.burst, time.monotonic()

    def take(self) -> float:
        """0 when a token was taken; otherwise the seconds until one will be there."""
        now = time.monotonic()
        self.tokens = min(self.rate.burst, self.tokens + (now - self.at) * self.rate.per_second)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return max(0.001, (1 - self.tokens) / self.rate.per_second)


Work = Callable[[], Awaitable[None]]


class Inbound:
    """One socket's inbound work. `reply` sends a frame to the client; `close` closes the
    socket with a code."""

    def __init__(
        self,
        *,
        reply: Callable[[dict[str, Any]], Awaitable[None]],
        close: Callable[[int], Awaitable[None]],
        commands: frozenset[str] | set[str] = frozenset(),
    ) -> None:
        self._reply, self._close = reply, close
        self._commands = commands  # frame types limited together at the "moderation" rate
        self._buckets: dict[str, _Bucket] = {}
        self._strikes = _Bucket(STRIKES)
        self._queue: asyncio.Queue[Work] = asyncio.Queue(maxsize=settings.INBOUND_QUEUE_FRAMES)
        self._task: asyncio.Task | None = None
        self.closed = False

    async def submit(
        self, kind: str, work: Work, *, client_id: str | None = None, queued: bool = True
    ) -> None:
        """Runs `work` for a frame of this type in its turn, or refuses the frame. With
        `queued` False the work runs now (it must only hand the frame on, as message.send
        hands it to the socket's sender)."""
        if self.closed:
            return
        if settings.FRAME_RATE_LIMITS:
            bucket = self._buckets.get(kind)
            if bucket is None:
                bucket = self._buckets[kind] = _Bucket(RATES[self._rate_key(kind)])
            wait = bucket.take()
            if wait:
                await self._refuse(
                    kind,
                    client_id,
                    Code.RATE_LIMITED,
                    f"You are sending {kind[:40]!r} frames quickly. Wait "
                    f"{seconds_text(wait)}, then send again.",
                    retry_after=round(wait, 2),
                )
                return
        if not queued:
            await work()
            return
        try:
            self._queue.put_nowait(work)
        except asyncio.QueueFull:
            await self._refuse(
                kind,
                client_id,
                Code.QUEUE_FULL,
                "Too many requests are waiting on this connection. Wait for their answers, "
                "then send again.",
            )
            return
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._work())

    def _rate_key(self, kind: str) -> str:
        if kind in RATES:
            return kind
        return "moderation" if kind in self._commands else "other"

    async def _refuse(
        self, kind: str, client_id: str | None, code: Code, detail: str, **extra: Any
    ) -> None:
        if self._strikes.take():
            # Still sending after this many refusals: not a person, or a client gone wrong.
            self.closed = True
            log.warning("socket closed for flooding frame_type=%s", kind[:40])
            await self._reply(
                frames.error(
                    Code.FLOODING,
                    "This connection sent too many frames too quickly and was closed. "
                    "Reload the page to reconnect.",
                )
            )
            await self._close(frames.FLOODING)
            return
        frame = frames.error(code, detail, **extra)
        if client_id is not None:
            frame["client_id"] = client_id
        else:
            frame["action"] = kind[:40]
        await self._reply(frame)

    async def _work(self) -> None:
        while True:
            work = await self._queue.get()
            try:
                await work()
            except Exception:  # the work answers its own errors; this keeps the queue going
                log.exception("inbound frame failed")

    def stop(self) -> None:
        self.closed = True
        if self._task is not None:
            self._task.cancel()


# ---------------------------------------------------------------- sockets per person

_open: dict[int, int] = {}


def socket_opened(user_id: int) -> bool:
    """Counts a socket (room or alerts) of this person in this process; False, and nothing
    counted, when they already have MAX_SOCKETS_PER_USER open."""
    if _open.get(user_id, 0) >= settings.MAX_SOCKETS_PER_USER:
        return False
    _open[user_id] = _open.get(user_id, 0) + 1
    return True


def socket_closed(user_id: int) -> None:
    left = _open.get(user_id, 0) - 1
    if left > 0:
        _open[user_id] = left
    else:
        _open.pop(user_id, None)


TOO_MANY_SOCKETS = frames.error(
    Code.TOO_MANY_SOCKETS,
    "You have too many connections open. Close a tab or another device, then reload.",
)

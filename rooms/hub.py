"""One subscription per room per web process.

Instead of every socket joining the room's channel-layer group (one queued copy of every event
per socket, each handed over and dispatched separately), the process joins once, with a channel
of its own, and hands each event to its local sockets directly. The layer then carries one copy
per process, whichever layer it is; what each socket does with an event (filters, sending)
is unchanged.

Room messages stored by this process are handed to its local sockets directly
(`deliver_local`) and published on the layer only for the other processes; an event this
process published itself carries its `origin` and is not delivered twice."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from typing import Any

from channels.layers import get_channel_layer

log = logging.getLogger(__name__)

# This web process, as presence rows and published events name it.
PROCESS_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class RoomSubscription:
    def __init__(self, group: str) -> None:
        self.group = group
        self.layer = get_channel_layer()
        self.channel = ""
        self.consumers: set[Any] = set()
        self.task: asyncio.Task | None = None

    async def start(self) -> None:
        self.channel = await self.layer.new_channel(prefix="room-hub.")
        await self.layer.group_add(self.group, self.channel)
        self.task = asyncio.get_running_loop().create_task(self.run())

    async def rejoin(self) -> None:
        await self.layer.group_add(self.group, self.channel)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
        try:
            await self.layer.group_discard(self.group, self.channel)
        except Exception as exc:  # the layer may be down; its groups expire or are gone
            log.warning("leaving %s failed: %s", self.group, type(exc).__name__)

    async def run(self) -> None:
        while True:
            try:
                event = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("room subscription %s: %s", self.group, type(exc).__name__)
                await asyncio.sleep(0.5)
                continue
            if event.get("origin") == PROCESS_ID:
                continue  # delivered here already, when it was announced
            await self.deliver(event)

    async def deliver(self, event: dict[str, Any]) -> None:
        for consumer in list(self.consumers):
            try:
                await consumer.deliver(event)
            except Exception:
                log.exception("delivering %s to a socket failed", event.get("type"))


_hubs: dict[int, dict[str, RoomSubscription]] = {}
_locks: dict[int, asyncio.Lock] = {}


def _local() -> tuple[dict[str, RoomSubscription], asyncio.Lock]:
    loop_id = id(asyncio.get_running_loop())
    return _hubs.setdefault(loop_id, {}), _locks.setdefault(loop_id, asyncio.Lock())


async def join(group: str, consumer: Any) -> None:
    subscriptions, lock = _local()
    async with lock:
        subscription = subscriptions.get(group)
        if subscription is None:
            subscription = RoomSubscription(group)
            await subscription.start()
            subscriptions[group] = subscription
        subscription.consumers.add(consumer)


async def leave(group: str, consumer: Any) -> None:
    subscriptions, lock = _local()
    async with lock:
        subscription = subscriptions.get(group)
        if subscription is None:
            return
        subscription.consumers.discard(consumer)
        if not subscription.consumers:
            del subscriptions[group]
            await subscription.stop()


async def deliver_local(group: str, event: dict[str, Any]) -> None:
    """Hands an event to this process's sockets in the room, without the layer."""
    subscriptions, _ = _local()
    subscription = subscriptions.get(group)
    if subscription is not None:
        await subscription.deliver(event)


async def rejoin_all() -> None:
    """After the layer lost its state (a Redis restart): join every room group again."""
    subscriptions, _ = _local()
    for subscription in list(subscriptions.values()):
        await subscription.rejoin()

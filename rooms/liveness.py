"""This web process staying alive to the others and to the channel layer: one task per event
loop that marks the process alive for presence (rooms.presence.heartbeat) and notices a Redis
that came back empty, after which every local socket, room and alerts alike, re-joins its
groups and is told to catch up (docs/protocol.md: `resync`, and the alerts socket's `hello`)."""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

from rooms import hub, presence, selectors

log = logging.getLogger(__name__)

LAYER_CHECK_SECONDS = 2.0
RESYNC_AGAIN_AFTER = (3.0, 5.0)  # seconds after the first resync, then after the second

_heartbeats: dict[int, asyncio.Task] = {}
# The open sockets a resync re-joins and tells to catch up (resync_on_layer_loss).
_sockets: weakref.WeakSet[Any] = weakref.WeakSet()
_epoch_clients: dict[int, Any] = {}
_seen_epoch: set[int] = set()


def ensure_heartbeat() -> None:
    """One heartbeat task per event loop keeps this process's sockets counted as present."""
    loop = asyncio.get_running_loop()
    task = _heartbeats.get(id(loop))
    if task is None or task.done():
        _heartbeats[id(loop)] = loop.create_task(_heartbeat_forever())


def resync_on_layer_loss(socket: Any) -> None:
    """Puts an open socket in the resync that follows a Redis restart. Its class provides
    Channels' `groups`, `channel_layer` and `channel_name`, and `after_layer_loss(frame)`, which
    tells its client to catch up: a room socket sends it the `resync` frame; the alerts socket
    (moderation/consumers.py) sends its queue afresh instead.

    The socket leaves when it is garbage-collected."""
    _sockets.add(socket)


async def _heartbeat_forever() -> None:
    """Every few seconds: notice a Redis that came back empty (and resync the sockets); every
    PRESENCE_HEARTBEAT_SECONDS: mark this process alive for presence."""
    last_beat = float("-inf")
    last_good_id = 0
    while True:
        if time.monotonic() - last_beat >= settings.PRESENCE_HEARTBEAT_SECONDS:
            try:
                await database_sync_to_async(presence.heartbeat)(process=hub.PROCESS_ID)
                last_beat = time.monotonic()
            except Exception:
                log.exception("presence heartbeat failed")
        try:
            if await layer_lost_state():
                # Everything after the last id known while the layer was fine may have been
                # missed; a second and third resync cover the moments the layer needs to
                # subscribe again.
                await resync_all(after_id=last_good_id)
                asyncio.get_running_loop().create_task(resync_later(last_good_id))
            elif settings.REDIS_URL:
                last_good_id = await database_sync_to_async(selectors.last_message_id)()
        except Exception as exc:  # Redis down: sockets recover when it is back
            log.warning("channel layer unreachable: %s", type(exc).__name__)
        await asyncio.sleep(min(LAYER_CHECK_SECONDS, settings.PRESENCE_HEARTBEAT_SECONDS))


async def layer_lost_state() -> bool:
    """True when Redis came back empty (restarted): its group memberships are gone."""
    if not settings.REDIS_URL:
        return False
    import redis.asyncio as aioredis

    loop_id = id(asyncio.get_running_loop())
    client = _epoch_clients.get(loop_id)
    if client is None:
        client = _epoch_clients[loop_id] = aioredis.from_url(settings.REDIS_URL)
    created = await client.set(f"haven:epoch:{hub.PROCESS_ID}", "1", nx=True, ex=7 * 86400)
    first = loop_id not in _seen_epoch
    _seen_epoch.add(loop_id)
    return bool(created) and not first


async def resync_later(after_id: int) -> None:
    for delay in RESYNC_AGAIN_AFTER:
        await asyncio.sleep(delay)
        await resync_all(after_id=after_id)


async def resync_all(*, after_id: int = 0) -> None:
    """Re-joins every local socket's groups and asks its client to catch up from the database,
    since anything published while Redis was away never arrived. `after_id` is the last message
    id known before the outage: the client catches up from there or from its own last id,
    whichever is lower."""
    log.warning("channel layer lost its state; resyncing %d sockets", len(_sockets))
    try:
        await hub.rejoin_all()
        for socket in list(_sockets):
            for name in socket.groups:
                await socket.channel_layer.group_add(name, socket.channel_name)
    except Exception as exc:
        log.warning("rejoining after the outage failed: %s", type(exc).__name__)
    frame = {"type": "resync", "after_id": after_id, "detail": "Catch up with history."}
    for socket in list(_sockets):
        try:
            await socket.after_layer_loss(frame)
        except Exception:  # one socket's failure must not keep the others uninformed
            log.exception("resyncing a socket failed")

"""Batches message sends per web process, and announces what was stored.

All database work of a process runs on one thread (database_sync_to_async), so while one batch
is being stored, the sends that arrive queue up and go to the database together next: one
thread hop, shared reads and one commit for all of them. Under light load a batch is one
message and nothing waits; under heavy load the batch grows instead of the queue.

What a batch stored is announced to its rooms by this process, not by the sockets that sent
it: a sender whose connection drops while its message is being stored (its socket's tasks are
cancelled) must not take the room's copy with it. Two invariants:
- every sender waiting on a batch gets an answer, whatever the batch call raised (a stray
  cancellation included): the database is asked what it holds, and that is acknowledged;
- every message a batch stored is announced to its room, in the order stored, once: handed to
  this process's sockets in the room directly, and published on the channel layer (one event
  per room per batch) only when there is another web process.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels.db import database_sync_to_async

from rooms import actions, events, hooks, hub, presence
from rooms.actions import SendRequest, SendResult
from rooms.refusals import SendError, not_sent

log = logging.getLogger(__name__)
MAX_BATCH = 200

_batchers: dict[int, SendBatcher] = {}


def really_cancelled() -> bool:
    """True when this task is being cancelled (its socket closed, the server stopping), as
    opposed to a CancelledError that leaked out of something it awaited."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class SendBatcher:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[SendRequest, asyncio.Future]] = asyncio.Queue()
        self.task: asyncio.Task | None = None
        self.announcements: asyncio.Queue[
            tuple[list[tuple[SendRequest, SendResult]], set[int] | None]
        ] = asyncio.Queue()
        self.announcer: asyncio.Task | None = None

    async def submit(self, request: SendRequest) -> SendResult | SendError:
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        self.queue.put_nowait((request, future))
        if self.task is None or self.task.done():
            self.task = loop.create_task(self.run())
        # The sender may be cancelled while it waits (its socket closed): the batch goes on,
        # and the room still hears about the message.
        return await future

    async def run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while not self.queue.empty() and len(batch) < MAX_BATCH:
                batch.append(self.queue.get_nowait())
            requests = [request for request, _ in batch]
            try:
                results, shared = await self._store(requests)
            except BaseException:
                for _, future in batch:
                    if not future.done():
                        future.set_result(not_sent())
                raise
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
            self._announce(list(zip(requests, results, strict=True)), shared)

    async def _store(
        self, requests: list[SendRequest]
    ) -> tuple[list[SendResult | SendError], set[int] | None]:
        """The answers, and the rooms that other processes must hear about (None: all)."""
        try:
            return await database_sync_to_async(store_batch)(requests)
        except asyncio.CancelledError:
            if really_cancelled():
                raise
            log.exception("storing a batch of %d messages was interrupted", len(requests))
        except Exception:
            log.exception("storing a batch of %d messages failed", len(requests))
        # The call may have failed after its commit (an on-commit hook raised): what the
        # database holds is answered from it, the rest is not sent.
        try:
            return await database_sync_to_async(actions.message_recover)(requests), None
        except asyncio.CancelledError:
            if really_cancelled():
                raise
            log.exception("reading back a batch of %d messages was interrupted", len(requests))
        except Exception:
            log.exception("reading back a batch of %d messages failed", len(requests))
        return [not_sent() for _ in requests], None

    def _announce(
        self, stored: list[tuple[SendRequest, SendResult | SendError]], shared: set[int] | None
    ) -> None:
        fresh = [
            (request, result)
            for request, result in stored
            if isinstance(result, SendResult) and not result.duplicate
        ]
        if not fresh:
            return
        self.announcements.put_nowait((fresh, shared))
        if self.announcer is None or self.announcer.done():
            self.announcer = asyncio.get_running_loop().create_task(self.announce_forever())

    async def announce_forever(self) -> None:
        """Announces each batch in the order stored. A publish that fails is logged by the
        publisher; clients catch up from history."""
        while True:
            fresh, shared = await self.announcements.get()
            try:
                await announce(fresh, shared)
            except asyncio.CancelledError:
                if really_cancelled():
                    raise
                log.exception("announcing a batch of %d messages was interrupted", len(fresh))
            except Exception:
                log.exception("announcing a batch of %d messages failed", len(fresh))
            for _, result in fresh:
                if result.stored is not None:
                    delivered(result.stored)


def delivered(message: Any) -> None:
    """A message's words reached its room (new, or edited): the apps that read them after
    delivery (the learned crisis stage) are told, off the send path."""
    for hook in hooks.get_hooks(hooks.MESSAGE_DELIVERED):
        try:
            hook(message)
        except Exception:
            log.exception("after delivery of message %s", message.pk)


def store_batch(
    requests: list[SendRequest],
) -> tuple[list[SendResult | SendError], set[int]]:
    """One database call: the batch stored, then (after its commit) the rooms that other web
    processes must hear about: all of the batch's rooms when there are other web processes,
    none when this is the only one."""
    results = actions.message_send_many(requests)
    group_ids = {
        r.access.group_id
        for r, result in zip(requests, results, strict=True)
        if isinstance(result, SendResult) and not result.duplicate
    }
    if group_ids and presence.other_web_processes(process=hub.PROCESS_ID):
        return results, group_ids
    return results, set()


async def announce(fresh: list[tuple[SendRequest, SendResult]], shared: set[int] | None) -> None:
    """One `room.frames` event per room for the batch: handed to this process's sockets
    directly, and published on the layer once for the other processes, if there are any."""
    by_room: dict[int, list[dict[str, Any]]] = {}
    for request, result in fresh:
        items = by_room.setdefault(request.access.group_id, [])
        if result.room_frame is not None:
            items.append({"text": result.room_frame, "author": request.access.author_id})
        if result.moderator_frame is not None:
            items.append({"text": result.moderator_frame, "moderators_only": True})
    for group_id, items in by_room.items():
        if not items:
            continue
        group = events.room_group(group_id)
        event = {"type": "room.frames", "frames": items, "origin": hub.PROCESS_ID}
        try:  # one room's failure must not keep the batch from the others
            await hub.deliver_local(group, event)
        except Exception:
            log.exception("delivering a batch to %s failed", group)
        if shared is None or group_id in shared:
            await events.publish(group, event)


def batcher() -> SendBatcher:
    loop_id = id(asyncio.get_running_loop())
    found = _batchers.get(loop_id)
    if found is None:
        found = _batchers[loop_id] = SendBatcher()
    return found

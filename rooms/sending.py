"""Batches message sends per web process.

All database work of a process runs on one thread (database_sync_to_async), so while one batch
is being stored, the sends that arrive queue up and go to the database together next: one
thread hop, shared reads and one commit for all of them. Under light load a batch is one
message and nothing waits; under heavy load the batch grows instead of the queue."""

from __future__ import annotations

import asyncio
import logging

from channels.db import database_sync_to_async

from rooms import actions
from rooms.actions import SendError, SendRequest, SendResult

log = logging.getLogger(__name__)
MAX_BATCH = 200

_batchers: dict[int, SendBatcher] = {}


class SendBatcher:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[SendRequest, asyncio.Future]] = asyncio.Queue()
        self.task: asyncio.Task | None = None

    async def submit(self, request: SendRequest) -> SendResult | SendError:
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self.queue.put_nowait((request, future))
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self.run())
        return await future

    async def run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while not self.queue.empty() and len(batch) < MAX_BATCH:
                batch.append(self.queue.get_nowait())
            try:
                results = await database_sync_to_async(actions.message_send_many)(
                    [request for request, _ in batch]
                )
            except Exception as exc:  # the senders get an error frame; nothing was stored
                log.exception("storing a batch of %d messages failed", len(batch))
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)


def batcher() -> SendBatcher:
    loop_id = id(asyncio.get_running_loop())
    found = _batchers.get(loop_id)
    if found is None:
        found = _batchers[loop_id] = SendBatcher()
    return found

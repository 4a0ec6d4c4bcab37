"""Backpressure on a socket's incoming frames under daphne.

daphne reads every frame a client sends into the connection's application queue, which has no
limit: a client that sends faster than its consumer reads (a flood of padded frames) grew the
server by gigabytes, and a socket closed for flooding went on filling it until the connection
dropped. Here the queue is bounded: when a socket has `limit` frames waiting, daphne stops
reading from it (TCP flow control then slows the sender) until its consumer has read half of
them. rooms/inbound.py then judges each frame as it comes out. docs/protocol.md, "Limits"."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)

RESUME_CHECK_SECONDS = 0.01


def install(limit: int) -> None:
    """Bounds the frames waiting per WebSocket in this daphne process (no-op elsewhere)."""
    try:
        from daphne.ws_protocol import WebSocketProtocol
    except ImportError:  # not running under daphne
        return
    if getattr(WebSocketProtocol, "inbound_limit", None) is not None:
        WebSocketProtocol.inbound_limit = limit
        return
    original = WebSocketProtocol.onMessage

    def on_message(self: Any, payload: bytes, is_binary: bool) -> None:
        original(self, payload, is_binary)
        queue = getattr(self, "application_queue", None)
        if queue is None or getattr(self, "reading_paused", False):
            return
        if queue.qsize() >= self.inbound_limit:
            self.reading_paused = True
            self.transport.pauseProducing()
            _resume_when_drained(self, queue)

    WebSocketProtocol.inbound_limit = limit
    WebSocketProtocol.onMessage = on_message


def _resume_when_drained(protocol: Any, queue: Any) -> None:
    # daphne runs Twisted on the asyncio event loop.
    loop = asyncio.get_event_loop()

    def check() -> None:
        if protocol.transport is None or not protocol.transport.connected:
            return
        if queue.qsize() <= protocol.inbound_limit // 2:
            protocol.reading_paused = False
            protocol.transport.resumeProducing()
        else:
            loop.call_later(RESUME_CHECK_SECONDS, check)

    loop.call_later(RESUME_CHECK_SECONDS, check)

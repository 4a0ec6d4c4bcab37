"""Channel-layer fan-out. Events ring the bell after the database commits; the database is the
record and clients catch up from it, so a dropped event never loses anything."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.dispatch import receiver


def room_group(group_id: int) -> str:
    return f"room.{group_id}"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


log = logging.getLogger(__name__)


def send_now(group: str, event: dict[str, Any]) -> None:
    """Announces an event on the channel layer. Never raises into the caller: what it announces
    is already stored, and a layer that is down (or a caller on a thread that runs an event loop)
    must not undo or fail the change; the sockets' own re-checks are the net."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            async_to_sync(layer.group_send)(group, event)
        else:  # sync code called from a coroutine on this thread: hand it to that loop
            loop.create_task(publish(group, event))
    except Exception:
        log.exception("announcing %s to %s failed", event.get("type"), group)


async def publish(group: str, event: dict[str, Any]) -> None:
    """send_now for async callers: one event for every socket in the group, never raising."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        await layer.group_send(group, event)
    except Exception as exc:
        # Clients catch up from history once the layer is back: a failed doorbell is logged.
        log.warning("announcing %s to %s failed: %s", event.get("type"), group, type(exc).__name__)


async def publish_room(group_id: int, frame: str, **extra: Any) -> None:
    """One already-serialized frame for every socket in the room."""
    await publish(room_group(group_id), {"type": "room.frame", "text": frame, **extra})


def on_commit(announce: Callable[[], None]) -> None:
    """Runs `announce` once the current transaction commits (at once outside one). Every
    publisher that announces a change goes through here: an announcement that fails (the layer
    down, or a read it makes) is logged and never fails the change, which is already stored, nor
    the other announcements of the same commit."""
    transaction.on_commit(announce, robust=True)


def send_on_commit(group: str, event: dict[str, Any]) -> None:
    on_commit(lambda: send_now(group, event))


def user_access_revoked_on_commit(*, user_id: int, group_id: int | None = None) -> None:
    """Closes the user's sockets (in one group, or all of them) within the layer's latency."""
    send_on_commit(user_group(user_id), {"type": "access.revoked", "group_id": group_id})


def user_access_changed_on_commit(*, user_id: int, group_id: int | None = None) -> None:
    """Asks the user's sockets (in one group, or all of them) to re-check their rights against
    the database: each closes if its rights are gone, and asks its client to reconnect if they
    changed (docs/protocol.md, Revocation)."""
    send_on_commit(user_group(user_id), {"type": "access.changed", "group_id": group_id})


def group_deleted_on_commit(*, group_id: int) -> None:
    send_on_commit(room_group(group_id), {"type": "room.deleted", "group_id": group_id})


@receiver(user_logged_out, dispatch_uid="rooms-logout")
def close_sockets_on_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """Signing out ends every live room socket of this person, on every device: on a shared
    computer nobody should stay in a support room after "Sign out". A module-level function,
    because signals hold receivers weakly: one defined inside AppConfig.ready() is collected as
    soon as ready() returns and never runs."""
    if user is not None:
        user_access_revoked_on_commit(user_id=user.pk)

"""A net under every change of who may do what: role, active flag, on-call duty, a group's
facilitators and a member's enrollment. Whatever made the change (a service, the REST API, the
Django admin, a `save()` in a shell), the person's open sockets re-check their rights after the
commit (rooms.events.user_access_changed_on_commit) and close if they are gone. The services
that take access away also send their own revocation; a second event is harmless.

`QuerySet.update()` sends no signal: such a change is caught by the check every socket makes
against the database before each command (rooms.access.access_recheck), and, for a socket
that sends nothing, by the sweep that re-checks every room and alerts socket of the process
every RIGHTS_SWEEP_SECONDS (sweep_rights_of, below)."""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db.models.signals import post_delete, post_init, post_save
from django.dispatch import receiver

from rooms import events
from rooms.models import Enrollment, GroupFacilitator

log = logging.getLogger(__name__)

USER_RIGHTS = ("role", "is_active", "on_call")
ENROLLMENT_RIGHTS = ("status", "removed_until")


def _seen(instance: Any, fields: tuple[str, ...]) -> tuple[Any, ...]:
    # __dict__, not getattr: a deferred field must not cost a query on every load.
    return tuple(instance.__dict__.get(name) for name in fields)


def _changed(instance: Any, fields: tuple[str, ...]) -> bool:
    before = instance.__dict__.get("_rights_seen")
    now = _seen(instance, fields)
    instance._rights_seen = now
    return before != now


@receiver(post_init, sender=settings.AUTH_USER_MODEL, dispatch_uid="rights-user-init")
def _user_loaded(sender: Any, instance: Any, **kwargs: Any) -> None:
    instance._rights_seen = _seen(instance, USER_RIGHTS)


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="rights-user-saved")
def _user_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    if _changed(instance, USER_RIGHTS) and not created:
        events.user_access_changed_on_commit(user_id=instance.pk)


@receiver(post_delete, sender=GroupFacilitator, dispatch_uid="rights-facilitator-removed")
def _facilitator_removed(sender: Any, instance: GroupFacilitator, **kwargs: Any) -> None:
    # Also sent for group.facilitators.remove() and clear(), and for cascades: each deletes
    # the through rows one by one while this receiver is connected.
    events.user_access_changed_on_commit(user_id=instance.user_id, group_id=instance.group_id)


@receiver(post_init, sender=Enrollment, dispatch_uid="rights-enrollment-init")
def _enrollment_loaded(sender: Any, instance: Enrollment, **kwargs: Any) -> None:
    instance._rights_seen = _seen(instance, ENROLLMENT_RIGHTS)  # type: ignore[attr-defined]


@receiver(post_save, sender=Enrollment, dispatch_uid="rights-enrollment-saved")
def _enrollment_saved(sender: Any, instance: Enrollment, created: bool, **kwargs: Any) -> None:
    if _changed(instance, ENROLLMENT_RIGHTS) and not created:
        events.user_access_changed_on_commit(user_id=instance.user_id, group_id=instance.group_id)


@receiver(post_delete, sender=Enrollment, dispatch_uid="rights-enrollment-deleted")
def _enrollment_deleted(sender: Any, instance: Enrollment, **kwargs: Any) -> None:
    events.user_access_changed_on_commit(user_id=instance.user_id, group_id=instance.group_id)


# ---------------------------------------------------------------- the sweep of open sockets

_rights_sweeps: dict[int, asyncio.Task] = {}
# Every open socket whose rights the sweep re-checks: room sockets and, through
# sweep_rights_of, the alerts sockets of the moderation app.
_swept: weakref.WeakSet[Any] = weakref.WeakSet()


def ensure_rights_sweep() -> None:
    """One sweep per event loop re-checks every socket's rights (see _sweep_rights_forever)."""
    loop = asyncio.get_running_loop()
    task = _rights_sweeps.get(id(loop))
    if task is None or task.done():
        _rights_sweeps[id(loop)] = loop.create_task(_sweep_rights_forever())


def sweep_rights_of(socket: Any) -> None:
    """Puts an open socket in this process's rights sweep. Its class provides:

    - `rights_held()`: what its rights were last checked against, immutable (None while there
      is nothing to check: not open yet, or already closing);
    - `rights_lost(held)`, a static method run off the event loop: for a list of those, the
      indexes of the ones whose rights are gone or changed, in a query or two for them all;
    - `access_changed(event)`: what the signal path calls (the receivers above), which re-reads
      the person's rights and closes the socket, with the same frames and code, if they are gone.

    The socket leaves the sweep when it is garbage-collected."""
    _swept.add(socket)
    ensure_rights_sweep()


async def _sweep_rights_forever() -> None:
    """Every RIGHTS_SWEEP_SECONDS, a query or two per kind of socket for all of this process's
    sockets: one whose person lost their rights and sends nothing would otherwise keep receiving
    the room or the alerts if the revocation event was dropped by the layer, or never sent
    (QuerySet.update)."""
    while True:
        await asyncio.sleep(settings.RIGHTS_SWEEP_SECONDS)
        by_kind: dict[Any, tuple[list[Any], list[Any]]] = {}
        for socket in list(_swept):
            held = socket.rights_held()
            if held is not None:
                sockets, helds = by_kind.setdefault(type(socket), ([], []))
                sockets.append(socket)
                helds.append(held)
        if not by_kind:
            continue
        try:
            lost = await database_sync_to_async(_rights_lost)(by_kind)
        except Exception as exc:
            log.warning("rights sweep failed: %s", type(exc).__name__)
            continue
        for socket in lost:
            try:
                await socket.access_changed({"group_id": None})
            except Exception:
                log.exception("closing a socket whose rights are gone failed")


def _rights_lost(by_kind: dict[Any, tuple[list[Any], list[Any]]]) -> list[Any]:
    """The sockets whose rights are gone or changed, each kind checking all of its own at once,
    in one thread hop for the whole sweep."""
    return [
        sockets[i]
        for kind, (sockets, held) in by_kind.items()
        for i in sorted(kind.rights_lost(held))
    ]

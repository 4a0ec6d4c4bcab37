"""A net under every change of who may do what: role, active flag, on-call duty, a group's
facilitators and a member's enrollment. Whatever made the change (a service, the REST API, the
Django admin, a `save()` in a shell), the person's open sockets re-check their rights after the
commit (rooms.events.user_access_changed_on_commit) and close if they are gone. The services
that take access away also send their own revocation; a second event is harmless.

`QuerySet.update()` sends no signal: such a change is caught by the check every socket makes
against the database before each command (rooms.actions.access_recheck), and, for a socket
that sends nothing, by the sweep that re-checks every room and alerts socket of the process
every RIGHTS_SWEEP_SECONDS (rooms.consumers.sweep_rights_of)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models.signals import post_delete, post_init, post_save
from django.dispatch import receiver

from rooms import events
from rooms.models import Enrollment, GroupFacilitator

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

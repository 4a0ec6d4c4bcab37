"""Who is in a room: each socket's presence row, each web process's heartbeat, and the sweep
that removes the sockets of a process that stopped beating."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from rooms import events, frames, hooks
from rooms.access import Access
from rooms.display import authors_for
from rooms.frames import Code
from rooms.models import (
    Attendance,
    Enrollment,
    EnrollmentStatus,
    Message,
    MessageStatus,
    ProcessHeartbeat,
    RoomConnection,
    SupportGroup,
)
from rooms.refusals import NO_LONGER_MEMBER, SendError
from rooms.room import room_state
from rooms.selectors import present_user_ids
from server.accounts.models import Role


def present_members(group_id: int) -> list[dict[str, Any]]:
    """Everyone with a live socket in the room, by alias; facilitators marked by their role."""
    authors = authors_for(group_id, present_user_ids(group_id))
    return sorted(authors.values(), key=lambda a: (a["role"] == Role.MEMBER, a["alias"].lower()))


def heartbeat(*, process: str) -> None:
    ProcessHeartbeat.objects.update_or_create(
        process=process, defaults={"last_seen": timezone.now()}
    )


def room_join(*, access: Access, channel_name: str, process: str) -> dict[str, Any]:
    """Records the socket and attendance, and returns the `hello` frame."""
    now = timezone.now()
    group = SupportGroup.objects.get(pk=access.group_id)
    state = room_state(group, now)
    with transaction.atomic():
        heartbeat(process=process)
        RoomConnection.objects.update_or_create(
            channel_name=channel_name,
            defaults={"group_id": access.group_id, "user_id": access.user_id, "process": process},
        )
        if state.session is not None:
            Attendance.objects.get_or_create(
                session=state.session, user_id=access.user_id, defaults={"first_joined_at": now}
            )
    if access.moderator:
        moderators_changed(group_id=access.group_id)
        group.refresh_from_db()
        state = room_state(group, now)
    last = (
        Message.objects.filter(group_id=access.group_id, status=MessageStatus.VISIBLE)
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )
    you = dict(access.author)
    mute = _mute_of(access)
    if mute:
        you["muted_until"], you["mute_reason"] = mute[0].isoformat(), mute[1]
    hello = {
        "type": "hello",
        "you": you,
        "room": state.as_dict(group),
        **presence(access.group_id),
        "last_message_id": last or 0,
    }
    for hook in hooks.get_hooks(hooks.HELLO_SUPPORT):
        card = hook(user_id=access.user_id, group_id=access.group_id)
        if card is not None:
            hello["support"] = card
    return hello


def _mute_of(access: Access) -> tuple[dt.datetime, str] | None:
    if access.enrollment_id is None:
        return None
    row = (
        Enrollment.objects.filter(pk=access.enrollment_id)
        .values_list("muted_until", "mute_reason", "status")
        .first()
    )
    if row is None or row[2] != EnrollmentStatus.ACTIVE:
        raise SendError(Code.FORBIDDEN, NO_LONGER_MEMBER)
    if row[0] and row[0] > timezone.now():
        return row[0], row[1]
    return None


def room_leave(*, access: Access, channel_name: str) -> None:
    now = timezone.now()
    RoomConnection.objects.filter(channel_name=channel_name).delete()
    still_here = RoomConnection.objects.filter(
        group_id=access.group_id, user_id=access.user_id
    ).exists()
    if not still_here:
        Attendance.objects.filter(
            user_id=access.user_id, session__group_id=access.group_id, last_left_at__isnull=True
        ).update(last_left_at=now)
        Attendance.objects.filter(
            user_id=access.user_id, session__group_id=access.group_id, session__ends_at__gt=now
        ).update(last_left_at=now)
        if access.moderator:
            moderators_changed(group_id=access.group_id)


def presence(group_id: int) -> dict[str, Any]:
    """Who is here, for `hello` and `presence`: as many people as fit in
    frames.PRESENCE_BUDGET_BYTES (facilitators first), and how many more are present."""
    present = present_members(group_id)
    shown = frames.fit(present, frames.PRESENCE_BUDGET_BYTES)
    return {"present": present[:shown], "others": len(present) - shown}


def presence_frame(group_id: int) -> str:
    return frames.dumps({"type": "presence", **presence(group_id)})


def connections_sweep(*, stale_after: dt.timedelta | None = None) -> int:
    """Removes sockets of processes that stopped heartbeating (a crashed web process)."""
    stale_after = stale_after or dt.timedelta(seconds=3 * settings.PRESENCE_HEARTBEAT_SECONDS)
    cutoff = timezone.now() - stale_after
    dead = ProcessHeartbeat.objects.filter(last_seen__lt=cutoff).values("process")
    rows = RoomConnection.objects.filter(process__in=dead)
    group_ids = set(rows.values_list("group_id", flat=True))
    removed, _ = rows.delete()
    ProcessHeartbeat.objects.filter(last_seen__lt=cutoff - stale_after).delete()
    for group_id in group_ids:
        # Those sockets' owners left without a goodbye: tell the room, and notice a room
        # whose last facilitator was among them.
        moderators_changed(group_id=group_id)
        events.send_now(
            events.room_group(group_id), {"type": "room.frame", "text": presence_frame(group_id)}
        )
    return removed


def other_web_processes(*, process: str) -> bool:
    """Whether another web process has had a socket open lately (its heartbeat row exists; the
    sweep deletes those of processes gone for several heartbeats). Read after a batch's commit:
    a process whose first socket opened before it is counted, and one whose first socket opens
    after it finds the batch's messages in its catch-up (`hello` reads the last id after the
    process's heartbeat row and the socket's presence row are committed). Coarser than asking
    per room, and so not fooled by presence rows swept from a process that was only slow."""
    return (
        ProcessHeartbeat.objects.exclude(process=process)
        .exclude(process__startswith="worker:")
        .exists()
    )


def moderators_changed(*, group_id: int) -> None:
    """A moderator entered or left the room: the apps that care (moderation notices a live
    session left without a facilitator) are told."""
    for hook in hooks.get_hooks(hooks.MODERATORS_CHANGED):
        hook(group_id=group_id)

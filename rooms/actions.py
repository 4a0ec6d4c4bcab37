"""Everything that changes a live room: entering and leaving, sending messages, history.

The only code that writes messages and rings the room's bell. Each write commits first; the event
is published after, pre-serialized once for all recipients. The channel layer is at-most-once:
clients recover anything they missed from `history`, so the database is the record.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from moderation.actions import hidden_authors, unattended_check
from moderation.crisis import Context, assess
from moderation.policy import held_reason
from moderation.services import alert_for_message, support_resources_frame
from rooms import events, frames, permissions
from rooms.models import (
    Attendance,
    Enrollment,
    EnrollmentStatus,
    GroupFacilitator,
    Message,
    MessageStatus,
    ProcessHeartbeat,
    RoomConnection,
    SupportGroup,
)
from rooms.permissions import is_admin
from rooms.room import RoomState, room_state
from rooms.sanitize import sanitize
from server.accounts.models import Role, User

log = logging.getLogger(__name__)

# Close codes of the room socket (docs/protocol.md).
UNAUTHENTICATED, FORBIDDEN, NOT_FOUND, CLOSED = 4401, 4403, 4404, 4409
CRISIS_WINDOW = dt.timedelta(minutes=30)


class Refusal(Exception):  # noqa: N818 — a refusal is an outcome, not a programming error
    def __init__(self, close_code: int, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.close_code, self.code, self.detail = close_code, code, detail
        self.extra = extra  # more fields for the error frame (`opens_at`)


class SendError(Exception):  # noqa: N818
    def __init__(self, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.code, self.detail, self.extra = code, detail, extra

    def frame(self, client_id: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "error", "code": self.code, "detail": self.detail}
        if client_id is not None:
            out["client_id"] = client_id
        out.update(self.extra)
        return out


def not_sent() -> SendError:
    """The answer when the server failed to store a message: nothing was stored, send again."""
    return SendError("unavailable", "That message was not sent. Please send it again.")


@dataclass
class Access:
    """Who is in the room, as the room sees them. Members are known only by their alias."""

    user_id: int
    group_id: int
    role: str
    alias: str
    author_id: str
    moderator: bool
    enrollment_id: int | None = None
    hidden_authors: set[str] = field(default_factory=set)

    @property
    def author(self) -> dict[str, Any]:
        return {"id": self.author_id, "alias": self.alias, "role": self.role}


def member_author_id(enrollment_id: int) -> str:
    return f"m{enrollment_id}"


def staff_author_id(user_id: int) -> str:
    return f"s{user_id}"


# ---------------------------------------------------------------- entering and leaving


def room_access(*, user: User, group_id: int) -> Access:
    """Decides whether this user may be in the room now. Raises Refusal with a close code."""
    if not user.is_authenticated or not user.is_active:
        raise Refusal(UNAUTHENTICATED, "unauthenticated", "Sign in to enter the room.")
    group = SupportGroup.objects.filter(pk=group_id, deleted_at__isnull=True).first()
    if group is None:
        raise Refusal(NOT_FOUND, "not_found", "There is no such group.")
    facilitates = permissions.facilitates(user, group)
    if is_admin(user) or facilitates:
        role = Role.ADMIN if is_admin(user) and not facilitates else Role.FACILITATOR
        return Access(
            user_id=user.pk,
            group_id=group.pk,
            role=role,
            alias=user.username,
            author_id=staff_author_id(user.pk),
            moderator=True,
        )
    enrollment = Enrollment.objects.filter(group=group, user=user).first()
    if enrollment is None or enrollment.status != EnrollmentStatus.ACTIVE:
        messages: dict[str | None, str] = {
            None: "You are not a member of this group. Join it from the group page first.",
            EnrollmentStatus.PENDING: "Your request to join is waiting for a facilitator.",
            EnrollmentStatus.WAITLISTED: "You are on the waitlist; you can enter once seated.",
        }
        detail = messages.get(
            str(enrollment.status) if enrollment else None, "You are not a member of this group."
        )
        raise Refusal(FORBIDDEN, "not_member", detail)
    if enrollment.removed_until and enrollment.removed_until > timezone.now():
        raise Refusal(
            FORBIDDEN,
            "removed",
            "A moderator removed you from this session. You can come back to the next one.",
        )
    if enrollment.agreement_version != group.agreement_version:
        raise Refusal(
            FORBIDDEN,
            "agreement_required",
            "The group agreement has changed. Read and accept it on the group page to enter.",
        )
    state = room_state(group)
    if not state.open:
        # `opens_at` lets a client say when in the reader's own time zone; the detail is for
        # clients that show it as it is.
        when = f" It opens at {state.opens_at:%Y-%m-%d %H:%M} UTC." if state.opens_at else ""
        raise Refusal(
            CLOSED,
            "room_closed",
            "The room is closed." + when,
            opens_at=state.opens_at.isoformat() if state.opens_at else None,
        )
    hidden = hidden_authors(user_id=user.pk, group_id=group.pk)
    return Access(
        user_id=user.pk,
        group_id=group.pk,
        role=Role.MEMBER,
        alias=enrollment.alias,
        author_id=member_author_id(enrollment.pk),
        moderator=False,
        enrollment_id=enrollment.pk,
        hidden_authors=hidden,
    )


def access_recheck(*, access: Access) -> tuple[User, bool]:
    """The socket's person as the database has them now, read before each command (one or two
    indexed queries): a socket keeps only the rights its person still holds, whatever path took
    them away and whether or not the revocation event arrived. Raises Refusal when this socket's
    access is gone; otherwise returns the fresh user, and whether the rights the socket was
    opened with changed (an admin who now facilitates the group only: still allowed, shown
    differently)."""
    user = User.objects.filter(pk=access.user_id).first()
    if user is None or not user.is_active:
        raise Refusal(FORBIDDEN, "forbidden", "This account is no longer active.")
    if access.moderator:
        if user.role == Role.ADMIN:
            return user, access.role != Role.ADMIN and not _facilitates(user.pk, access.group_id)
        if user.role == Role.FACILITATOR and _facilitates(user.pk, access.group_id):
            return user, access.role != Role.FACILITATOR
        raise Refusal(FORBIDDEN, "forbidden", "You no longer moderate this group.")
    row = (
        Enrollment.objects.filter(pk=access.enrollment_id or 0)
        .values_list("status", "removed_until")
        .first()
    )
    if row is None or row[0] != EnrollmentStatus.ACTIVE:
        raise Refusal(FORBIDDEN, "forbidden", "You are no longer a member of this group.")
    if row[1] and row[1] > timezone.now():
        raise Refusal(
            FORBIDDEN,
            "removed",
            "A moderator removed you from this session. You can come back to the next one.",
        )
    return user, False


def accesses_lost(accesses: list[Access]) -> set[int]:
    """Which of these sockets' rights are gone, as indexes into the list: two queries for all
    the sockets of a process (rooms.consumers sweeps them every few seconds, a net under a
    revocation event the layer dropped or a change that sent none)."""
    still = moderating({(a.group_id, a.user_id) for a in accesses if a.moderator})
    enrollment_ids = sorted(
        {a.enrollment_id for a in accesses if not a.moderator and a.enrollment_id}
    )
    now = timezone.now()
    seated: set[int] = set()
    for start in range(0, len(enrollment_ids), 500):  # within any database's parameter limit
        seated.update(
            Enrollment.objects.filter(
                pk__in=enrollment_ids[start : start + 500],
                status=EnrollmentStatus.ACTIVE,
                user__is_active=True,
            )
            .exclude(removed_until__gt=now)
            .values_list("pk", flat=True)
        )
    return {
        i
        for i, a in enumerate(accesses)
        if ((a.group_id, a.user_id) not in still if a.moderator else a.enrollment_id not in seated)
    }


def _facilitates(user_id: int, group_id: int) -> bool:
    return GroupFacilitator.objects.filter(group_id=group_id, user_id=user_id).exists()


def present_members(group_id: int) -> list[dict[str, Any]]:
    """Everyone with a live socket in the room, by alias; facilitators marked by their role."""
    fresh = timezone.now() - dt.timedelta(seconds=3 * settings.PRESENCE_HEARTBEAT_SECONDS)
    live = ProcessHeartbeat.objects.filter(last_seen__gte=fresh).values("process")
    user_ids = set(
        RoomConnection.objects.filter(group_id=group_id, process__in=live).values_list(
            "user_id", flat=True
        )
    )
    authors = authors_for(group_id, user_ids)
    return sorted(authors.values(), key=lambda a: (a["role"] == Role.MEMBER, a["alias"].lower()))


# The author of a message whose account was deleted, in a group that keeps their words.
FORMER_MEMBER: dict[str, Any] = {"id": "gone", "alias": "Former member", "role": Role.MEMBER}


def authors_for(group_id: int, user_ids: set[int]) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for e in Enrollment.objects.filter(group_id=group_id, user_id__in=user_ids):
        out[e.user_id] = {"id": member_author_id(e.pk), "alias": e.alias, "role": Role.MEMBER}
    # Only staff appear by name; anyone else without an enrollment (a deleted account) is
    # left out and shown as "Former member" by the caller.
    staff = User.objects.filter(
        pk__in=user_ids - out.keys(), role__in=[Role.FACILITATOR, Role.ADMIN]
    )
    facilitator_ids = set(
        GroupFacilitator.objects.filter(group_id=group_id, user_id__in=user_ids).values_list(
            "user_id", flat=True
        )
    )
    for u in staff:
        role = Role.FACILITATOR if u.pk in facilitator_ids else u.role
        out[u.pk] = {"id": staff_author_id(u.pk), "alias": u.username, "role": role}
    return out


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
        unattended_check(group_id=access.group_id)
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
        you["muted_until"] = mute[0].isoformat()
    return {
        "type": "hello",
        "you": you,
        "room": state.as_dict(group),
        **presence(access.group_id),
        "last_message_id": last or 0,
    }


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
            unattended_check(group_id=access.group_id)


def last_message_id() -> int:
    return Message.objects.order_by("-id").values_list("id", flat=True).first() or 0


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
        unattended_check(group_id=group_id)
        events.send_now(
            events.room_group(group_id), {"type": "room.frame", "text": presence_frame(group_id)}
        )
    return removed


# ---------------------------------------------------------------- messages


def message_dict(message: Message, author: dict[str, Any]) -> dict[str, Any]:
    deleted = message.status == MessageStatus.DELETED
    shown = {
        "id": message.pk,
        "author": author,
        # `body` is safe to put in HTML (rooms.sanitize, bleach); `text` is what the member
        # typed, for text rendering. Frames are UTF-8 JSON, so even the worst case of both
        # (4,000 characters that HTML escapes or links) stays under the frame size limit.
        "body": "" if deleted else sanitize(message.body),
        "text": "" if deleted else message.body,
        "created_at": message.created_at.isoformat(),
        "client_id": str(message.client_id),
        "deleted": deleted,
    }
    # Members' own messages (rooms/member_messages.py): `edited_at` only on an edited message;
    # callers add `reply_to` (the quoted message) and `reactions` (counts) where there are any.
    # Absent rather than empty: a page of history holds as many messages as before.
    if message.edited_at and not deleted:
        shown["edited_at"] = message.edited_at.isoformat()
    return shown


@dataclass
class SendResult:
    frames_to_sender: list[dict[str, Any]]
    room_frame: str | None = None
    moderator_frame: str | None = None
    duplicate: bool = False
    message_id: int | None = None
    # The message just stored (not a retry): what the learned stage reads after delivery.
    stored: Message | None = None


def _mute_of(access: Access) -> tuple[dt.datetime, str] | None:
    if access.enrollment_id is None:
        return None
    row = (
        Enrollment.objects.filter(pk=access.enrollment_id)
        .values_list("muted_until", "mute_reason", "status")
        .first()
    )
    if row is None or row[2] != EnrollmentStatus.ACTIVE:
        raise SendError("forbidden", "You are no longer a member of this group.")
    if row[0] and row[0] > timezone.now():
        return row[0], row[1]
    return None


def check_room_open(access: Access, state: RoomState) -> None:
    if access.moderator:
        return
    if not state.open:
        raise SendError("closed", "The room is closed, so messages cannot be sent.")
    if state.locked:
        raise SendError("locked", "A facilitator has made the room read-only for now.")


def _crisis_context(access: Access, now: dt.datetime) -> Context:
    recent = (
        Message.objects.filter(
            author_id=access.user_id,
            group_id=access.group_id,
            created_at__gte=now - CRISIS_WINDOW,
        )
        .exclude(rule_ids=[])
        .order_by("-id")
        .values_list("created_at", "rule_ids")[:20]
    )
    return Context(recent=[((now - at).total_seconds(), ids) for at, ids in recent])


@dataclass
class SendRequest:
    access: Access
    client_id: uuid.UUID
    body: str
    reply_to: int | None = None


# Room and member state change rarely (a facilitator locks a room, mutes someone) and every
# change also reaches the sockets as an event, which the consumers check first. The database
# re-check below therefore reads through a snapshot at most SNAPSHOT_SECONDS old, refreshed at
# once in this process when such an event passes through it.
SNAPSHOT_SECONDS = 1.0
# group id -> (taken at, group, room state,
#              {enrollment id: (muted until, reason, status, removed until, account active)})
Standing = tuple[Any, str, str, Any, bool]
_rooms: dict[int, tuple[float, SupportGroup, RoomState, dict[int, Standing]]] = {}


def forget_snapshots(*, group_id: int | None = None, everything: bool = False) -> None:
    if everything:
        _rooms.clear()
    if group_id is not None:
        _rooms.pop(group_id, None)


def _room_snapshots(
    group_ids: set[int], now: dt.datetime
) -> dict[int, tuple[SupportGroup, RoomState, dict[int, Standing]]]:
    """The group, its room state and its members' standing, read at most once a second per
    room: one query for the room's members instead of one per sender."""
    clock = time.monotonic()
    stale = {pk for pk in group_ids if pk not in _rooms or clock - _rooms[pk][0] > SNAPSHOT_SECONDS}
    if stale:
        members: dict[int, dict[int, Standing]] = {pk: {} for pk in stale}
        for pk, group_id, *standing in Enrollment.objects.filter(group_id__in=stale).values_list(
            "pk",
            "group_id",
            "muted_until",
            "mute_reason",
            "status",
            "removed_until",
            "user__is_active",
        ):
            members[group_id][pk] = tuple(standing)  # type: ignore[assignment]
        for pk, group in SupportGroup.objects.in_bulk(stale).items():
            _rooms[pk] = (clock, group, room_state(group, now), members[pk])
    return {pk: _rooms[pk][1:] for pk in group_ids if pk in _rooms}


def message_send_many(requests: list[SendRequest]) -> list[SendResult | SendError]:
    """Stores messages once per (author, client_id) and returns, for each, what to tell whom.

    A web process hands every send that arrives while the database is busy to one call, so the
    reads are shared and the inserts commit together. The checks are repeated here against the
    database (the consumer's copies may be a moment old): room open and unlocked, member active
    and not muted, slow mode."""
    now = timezone.now()
    results: list[SendResult | SendError | None] = [None] * len(requests)
    # A retry of a stored message is recognised by the unique key when inserting (see _store),
    # so the common case reads nothing here but the short-lived room and member snapshots.
    snapshots = _room_snapshots({r.access.group_id for r in requests}, now)
    groups = {pk: snapshot[0] for pk, snapshot in snapshots.items()}
    states = {pk: snapshot[1] for pk, snapshot in snapshots.items()}
    enrollments = {pk: row for snapshot in snapshots.values() for pk, row in snapshot[2].items()}
    still_moderating = _moderators_now(requests)
    pending: list[tuple[int, Message, Any, Access]] = []
    seen: dict[tuple[int, uuid.UUID], Message] = {}
    last_sent: dict[tuple[int, int], dt.datetime] = {}
    for i, req in enumerate(requests):
        access, key = req.access, (req.access.user_id, req.client_id)
        if key in seen:  # the same retry twice in one batch: answered with the first
            continue
        try:
            group = groups[access.group_id]
            check_room_open(access, states[group.pk])
            if access.moderator and (access.group_id, access.user_id) not in still_moderating:
                raise SendError("forbidden", "You no longer moderate this group.")
            _check_member(access, enrollments, now)
            _check_slow_mode(access, group, now, last_sent)
        except SendError as refusal:
            results[i] = refusal
            continue
        try:
            message, assessment = _prepare(access, group, states[group.pk], req, now)
        except Exception:
            # One message the checks cannot read must not cost the others their place.
            log.exception(
                "preparing a message failed group=%s author=%s", access.group_id, access.user_id
            )
            results[i] = not_sent()
            continue
        seen[key] = message
        pending.append((i, message, assessment, access))
    if pending:
        _store(pending, results)
    for j, req in enumerate(requests):
        # The same retry twice in one batch: the second gets the first one's ack, no broadcast.
        first = seen.get((req.access.user_id, req.client_id))
        if results[j] is None and first is not None and first.pk is not None:
            results[j] = _replay(req.access, first)
    return [r if r is not None else SendError("invalid", "Please send again.") for r in results]


def _moderators_now(requests: list[SendRequest]) -> set[tuple[int, int]]:
    """(group id, user id) of the batch's staff senders who still moderate that room, read
    fresh (staff send little, so two small queries per batch that has any): a facilitator taken
    off the group, or an admin demoted, no longer writes past a lock or a closed room."""
    return moderating(
        {(r.access.group_id, r.access.user_id) for r in requests if r.access.moderator}
    )


def moderating(staff: set[tuple[int, int]]) -> set[tuple[int, int]]:
    """Those of these (group id, user id) pairs whose user moderates that group now: an active
    admin, or an active facilitator of the group."""
    if not staff:
        return set()
    user_ids = {user_id for _, user_id in staff}
    admins = set(
        User.objects.filter(pk__in=user_ids, is_active=True, role=Role.ADMIN).values_list(
            "pk", flat=True
        )
    )
    facilitating = set(
        GroupFacilitator.objects.filter(
            user_id__in=user_ids - admins,
            group_id__in={group_id for group_id, _ in staff},
            user__is_active=True,
            user__role=Role.FACILITATOR,
        ).values_list("group_id", "user_id")
    )
    return {(g, u) for g, u in staff if u in admins or (g, u) in facilitating}


def _check_member(access: Access, enrollments: dict[int, Standing], now: dt.datetime) -> None:
    if access.enrollment_id is None:
        return
    row = enrollments.get(access.enrollment_id)
    if row is None or row[2] != EnrollmentStatus.ACTIVE or not row[4]:
        raise SendError("forbidden", "You are no longer a member of this group.")
    if row[3] and row[3] > now:
        raise SendError("forbidden", "A moderator removed you from this session.")
    until, why = row[0], row[1]
    if until and until > now and not access.moderator:
        raise SendError(
            "muted",
            f"A facilitator has muted you until {until:%H:%M} UTC" + (f": {why}" if why else "."),
            muted_until=until.isoformat(),
        )


def _check_slow_mode(
    access: Access,
    group: SupportGroup,
    now: dt.datetime,
    last_sent: dict[tuple[int, int], dt.datetime],
) -> None:
    if not group.slow_mode_seconds or access.moderator:
        return
    key = (group.pk, access.user_id)
    if key not in last_sent:
        stored = (
            Message.objects.filter(group=group, author_id=access.user_id)
            .order_by("-id")
            .values_list("created_at", flat=True)
            .first()
        )
        if stored:
            last_sent[key] = stored
    last_at = last_sent.get(key)
    if last_at and (now - last_at).total_seconds() < group.slow_mode_seconds:
        wait = group.slow_mode_seconds - (now - last_at).total_seconds()
        raise SendError(
            "slow_mode",
            f"Slow mode is on: one message every {group.slow_mode_seconds} seconds.",
            retry_after=round(wait, 1),
        )
    last_sent[key] = now


def _prepare(
    access: Access, group: SupportGroup, state: RoomState, req: SendRequest, now: dt.datetime
) -> tuple[Message, Any]:
    assessment = assess(req.body)
    if assessment.rule_ids:
        # Earlier signals can only raise a message that carries a signal itself, so the
        # member's recent history is read only then.
        assessment = assess(req.body, _crisis_context(access, now))
    # Crisis language is never held: a person reaching out must not be silenced.
    reason: str | None = None
    if assessment.level == "none" and not access.moderator:
        reason = held_reason(
            req.body, harassment=assessment.harassment, held_categories=list(group.held_categories)
        )
    message = Message(
        group=group,
        session=state.session,
        author_id=access.user_id,
        client_id=req.client_id,
        body=req.body,
        status=MessageStatus.HELD if reason else MessageStatus.VISIBLE,
        held_reason=reason or "",
        level=assessment.level,
        category=assessment.category,
        rule_ids=list(assessment.rule_ids),
    )
    if req.reply_to is not None:
        from rooms.member_messages import reply_target

        message.reply_to_id = reply_target(group_id=group.pk, reply_to=req.reply_to)
    return message, assessment


def _store(
    pending: list[tuple[int, Message, Any, Access]],
    results: list[SendResult | SendError | None],
) -> None:
    """Inserts the batch in one transaction, with its alerts. Any failure (a unique-key clash
    with another process storing one of these client_ids at the same moment, or a row the
    database refuses) falls back to one transaction per message, so that one bad row never
    fails the others: each message gets its own answer."""
    alerts: dict[int, Any] = {}
    try:
        with transaction.atomic():
            Message.objects.bulk_create([m for _, m, _, _ in pending])
            for i, message, assessment, _ in pending:
                alerts[i] = alert_for_message(message=message, assessment=assessment)
    except Exception as exc:
        if len(pending) > 1 or not isinstance(exc, IntegrityError):
            log.warning(
                "storing a batch of %d messages failed (%s); storing them one by one",
                len(pending),
                type(exc).__name__,
            )
        alerts = {}
        for i, message, assessment, access in pending:
            message.pk = None
            try:
                with transaction.atomic():
                    message.save(force_insert=True)
                    alerts[i] = alert_for_message(message=message, assessment=assessment)
            except IntegrityError:
                message.pk = None
                stored = Message.objects.filter(
                    author_id=access.user_id, client_id=message.client_id
                ).first()
                if stored is None:  # refused for another reason than the retry's unique key
                    log.exception(
                        "storing a message failed group=%s author=%s",
                        access.group_id,
                        access.user_id,
                    )
                    results[i] = not_sent()
                    continue
                try:
                    results[i] = _replay(access, stored)
                except SendError as refusal:
                    results[i] = refusal
            except Exception:
                message.pk = None
                log.exception(
                    "storing a message failed group=%s author=%s", access.group_id, access.user_id
                )
                results[i] = not_sent()
    for i, message, assessment, access in pending:
        if results[i] is not None:
            continue
        alert = alerts.get(i)
        log.info(
            "message stored id=%s group=%s author=%s level=%s held=%s alert=%s",
            message.pk,
            message.group_id,
            message.author_id,
            assessment.level,
            message.held_reason or "-",
            alert.pk if alert else "-",
        )
        results[i] = _result_for_new(message, assessment, access.author)


def _result_for_new(message: Message, assessment: Any, author: dict[str, Any]) -> SendResult:
    cid = str(message.client_id)
    if message.status == MessageStatus.HELD:
        shown = {**message_dict(message, author), "reason": message.held_reason}
        return SendResult(
            frames_to_sender=[
                {"type": "message.held", "client_id": cid, "reason": message.held_reason}
            ],
            moderator_frame=frames.dumps({"type": "held.new", "message": shown}),
            message_id=message.pk,
            stored=message,
        )
    to_sender: list[dict[str, Any]] = [{"type": "message.ack", "client_id": cid, "id": message.pk}]
    if assessment.level in ("urgent", "emergency"):
        to_sender.append(
            support_resources_frame(
                assessment.level, assessment.category, user_id=message.author_id
            )
        )
    shown = message_dict(message, author)
    if message.reply_to_id:
        from rooms.member_messages import replies_for

        quoted = replies_for([message]).get(message.reply_to_id)
        if quoted:
            shown["reply_to"] = quoted
    frame = frames.dumps({"type": "message.new", "message": shown})
    return SendResult(
        frames_to_sender=to_sender, room_frame=frame, message_id=message.pk, stored=message
    )


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


def message_recover(requests: list[SendRequest]) -> list[SendResult | SendError]:
    """The answers for a batch whose storing was interrupted (the call failed, perhaps after its
    commit): what the database holds is answered and announced as new, since nobody was told
    about it yet; what it does not hold is not sent."""
    out: list[SendResult | SendError] = []
    for req in requests:
        stored = Message.objects.filter(
            author_id=req.access.user_id, client_id=req.client_id
        ).first()
        if stored is None:
            out.append(not_sent())
        elif stored.group_id != req.access.group_id:
            out.append(SendError("invalid", "This client_id was already used in another room."))
        else:
            # The stored level and category are what the assessment decided.
            out.append(_result_for_new(stored, stored, req.access.author))
    return out


def message_replay(*, access: Access, client_id: uuid.UUID) -> SendResult | None:
    """The answer already given to this (author, client_id), if the message was stored."""
    existing = Message.objects.filter(author_id=access.user_id, client_id=client_id).first()
    return _replay(access, existing) if existing is not None else None


def _replay(access: Access, message: Message) -> SendResult:
    if message.group_id != access.group_id:
        raise SendError("invalid", "This client_id was already used in another room.")
    frames: list[dict[str, Any]]
    if message.status in (MessageStatus.HELD, MessageStatus.REJECTED):
        frames = [
            {
                "type": "message.held",
                "client_id": str(message.client_id),
                "reason": message.held_reason,
            }
        ]
    else:
        frames = [{"type": "message.ack", "client_id": str(message.client_id), "id": message.pk}]
    return SendResult(frames_to_sender=frames, duplicate=True, message_id=message.pk)


# ---------------------------------------------------------------- history


def history(*, access: Access, after_id: int | None, before_id: int | None, limit: int) -> str:
    """A page of the room's messages in id order, as the serialized `history` frame. `after_id`
    pages forward (catch-up after a reconnect), `before_id` backward (older history), neither
    gives the newest page. Deleted messages come as tombstones so a client that missed the
    deletion event still removes them. The reader's own held and rejected messages come too,
    marked with their `status`, for the reader alone: a member who reloads still sees what is
    waiting for review, and what was not shared.

    A page holds at most `limit` messages and at most frames.PAGE_BUDGET_BYTES of them, and
    always at least one when there is one: the page stops at the anchor's far side (the oldest
    of a backward page, the newest of a forward one) and `has_more` says the client should page
    on from there."""
    limit = max(1, min(limit, settings.HISTORY_MAX_PAGE))
    group = SupportGroup.objects.only("retention_days").get(pk=access.group_id)
    oldest = timezone.now() - dt.timedelta(days=group.retention_days)
    qs = Message.objects.filter(group_id=access.group_id, created_at__gte=oldest).filter(
        Q(status__in=[MessageStatus.VISIBLE, MessageStatus.DELETED])
        | Q(status__in=[MessageStatus.HELD, MessageStatus.REJECTED], author_id=access.user_id)
    )
    forward = after_id is not None
    if forward:
        qs = qs.filter(id__gt=after_id).order_by("id")
    else:
        if before_id is not None:
            qs = qs.filter(id__lt=before_id)
        qs = qs.order_by("-id")
    rows = list(qs[: limit + 1])  # from the anchor outward
    has_more = len(rows) > limit
    rows = rows[:limit]
    authors = authors_for(access.group_id, {m.author_id for m in rows})
    unknown = FORMER_MEMBER
    from rooms.member_messages import reactions_for, replies_for

    replies = replies_for(rows) if rows else {}
    reactions, mine = reactions_for([m.pk for m in rows], access.user_id)
    items: list[str] = []
    used = 0
    for m in rows:
        author = authors.get(m.author_id, unknown)
        if author["id"] in access.hidden_authors:
            continue
        shown = message_dict(m, author)
        if m.status in (MessageStatus.HELD, MessageStatus.REJECTED):
            shown |= {"status": m.status, "reason": m.held_reason}
        if m.reply_to_id and m.reply_to_id in replies:
            shown["reply_to"] = replies[m.reply_to_id]
        if m.pk in reactions:
            shown["reactions"] = reactions[m.pk]
        if m.pk in mine:
            shown["my_reactions"] = mine[m.pk]
        item = frames.dumps(shown)
        cost = frames.size(item) + 1
        if items and used + cost > frames.PAGE_BUDGET_BYTES:
            has_more = True
            break
        items.append(item)
        used += cost
    if not forward:
        items.reverse()
    return frames.join_page(
        '{"type":"history","messages":', items, f',"has_more":{"true" if has_more else "false"}}}'
    )

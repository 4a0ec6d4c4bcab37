"""Sending messages: the only code that stores a member's new message.

A web process hands the sends that arrive together to message_send_many (rooms/sending.py
batches them): the checks repeated against the database, the crisis assessment and the group's
held categories, then one transaction for the messages and their alerts. Each sender gets an
answer; the room hears about what was stored after the commit (rooms/sending.py announces it),
and the channel layer is at-most-once: clients recover anything they missed from `history`, so
the database is the record.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from moderation.crisis import Context, assess
from moderation.policy import held_reason
from moderation.services import alert_for_message, support_resources_frame
from rooms import frames
from rooms.access import Access, moderating
from rooms.display import message_dict
from rooms.frames import Code
from rooms.models import Enrollment, EnrollmentStatus, Message, MessageStatus, SupportGroup
from rooms.refusals import (
    NO_LONGER_MEMBER,
    NO_LONGER_MODERATOR,
    REMOVED,
    SendError,
    not_sent,
    speaking_refusal,
)
from rooms.room import RoomState, room_state
from rooms.selectors import replies_for, reply_target

log = logging.getLogger(__name__)

CRISIS_WINDOW = dt.timedelta(minutes=30)


@dataclass
class SendResult:
    frames_to_sender: list[dict[str, Any]]
    room_frame: str | None = None
    moderator_frame: str | None = None
    duplicate: bool = False
    message_id: int | None = None
    # The message just stored (not a retry): what the learned stage reads after delivery.
    stored: Message | None = None


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
            if access.moderator:
                if (access.group_id, access.user_id) not in still_moderating:
                    raise SendError(Code.FORBIDDEN, NO_LONGER_MODERATOR)
            else:
                _check_member(access, states[group.pk], enrollments, now)
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
    return [r if r is not None else SendError(Code.INVALID, "Please send again.") for r in results]


def _moderators_now(requests: list[SendRequest]) -> set[tuple[int, int]]:
    """(group id, user id) of the batch's staff senders who still moderate that room, read
    fresh (staff send little, so two small queries per batch that has any): a facilitator taken
    off the group, or an admin demoted, no longer writes past a lock or a closed room."""
    return moderating(
        {(r.access.group_id, r.access.user_id) for r in requests if r.access.moderator}
    )


def _check_member(
    access: Access, state: RoomState, enrollments: dict[int, Standing], now: dt.datetime
) -> None:
    """A member sender: still seated in the group, then free to write (rooms.refusals)."""
    row = enrollments.get(access.enrollment_id or 0)
    if row is None or row[2] != EnrollmentStatus.ACTIVE or not row[4]:
        raise SendError(Code.FORBIDDEN, NO_LONGER_MEMBER)
    if row[3] and row[3] > now:
        raise SendError(Code.FORBIDDEN, REMOVED)
    refusal = speaking_refusal(
        is_open=state.open, locked=state.locked, muted_until=row[0], mute_reason=row[1], now=now
    )
    if refusal is not None:
        raise refusal


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
            Code.SLOW_MODE,
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
                assessment.level,
                assessment.category,
                user_id=message.author_id,
                message_id=message.pk,
            )
        )
    shown = message_dict(message, author)
    if message.reply_to_id:
        quoted = replies_for([message]).get(message.reply_to_id)
        if quoted:
            shown["reply_to"] = quoted
    frame = frames.dumps({"type": "message.new", "message": shown})
    return SendResult(
        frames_to_sender=to_sender, room_frame=frame, message_id=message.pk, stored=message
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
            out.append(SendError(Code.INVALID, "This client_id was already used in another room."))
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
        raise SendError(Code.INVALID, "This client_id was already used in another room.")
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

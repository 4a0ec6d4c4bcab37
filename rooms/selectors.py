"""Reads. Views, sockets and the apps above rooms use these so that visibility rules live in
one place."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone

from rooms.display import FORMER_MEMBER, authors_for
from rooms.models import (
    Enrollment,
    EnrollmentStatus,
    GroupFacilitator,
    GroupKind,
    Message,
    MessageStatus,
    ProcessHeartbeat,
    Reaction,
    RoomConnection,
    Session,
    SessionStatus,
    SupportGroup,
)
from server.accounts.models import User

SNIPPET_CHARS = 140
CURRENT_STATUSES = (EnrollmentStatus.ACTIVE, EnrollmentStatus.PENDING, EnrollmentStatus.WAITLISTED)


def groups_seen(user: User) -> QuerySet[SupportGroup]:
    """The live groups this person may know exist: every group of the catalogue, and the private
    check-ins they are one of the two people in. Any other id answers as one that names no
    group."""
    # A private check-in is seen only by its two people, never in the catalogue.
    return SupportGroup.objects.filter(deleted_at__isnull=True).exclude(
        Q(kind=GroupKind.CHECKIN)
        & ~Q(pk__in=Enrollment.objects.filter(user_id=user.pk).values("group_id"))
        & ~Q(pk__in=GroupFacilitator.objects.filter(user_id=user.pk).values("group_id"))
    )


def groups_visible(
    user: User, *, facilitator_id: int | None = None, mine: bool = False
) -> QuerySet[SupportGroup]:
    """Every signed-in person sees the catalogue of live groups, with seat counts; members get
    their own enrollment prefetched as `my_enrollments`.

    `facilitator_id` keeps the groups that person facilitates; `mine` keeps the groups the user
    is enrolled in (active, pending or waitlisted) or facilitates. Both filter through subqueries
    so that the seat counts are not multiplied by extra joins."""
    qs = groups_seen(user)
    if facilitator_id is not None:
        qs = qs.filter(
            pk__in=GroupFacilitator.objects.filter(user_id=facilitator_id).values("group_id")
        )
    if mine:
        enrolled = Enrollment.objects.filter(user_id=user.pk, status__in=CURRENT_STATUSES)
        facilitated = GroupFacilitator.objects.filter(user_id=user.pk)
        qs = qs.filter(
            Q(pk__in=enrolled.values("group_id")) | Q(pk__in=facilitated.values("group_id"))
        )
    return qs.annotate(
        seats_taken=Count("enrollments", filter=Q(enrollments__status=EnrollmentStatus.ACTIVE)),
        waitlist_length=Count(
            "enrollments", filter=Q(enrollments__status=EnrollmentStatus.WAITLISTED)
        ),
    ).prefetch_related(
        Prefetch(
            "groupfacilitator_set",
            queryset=GroupFacilitator.objects.select_related("user"),
        ),
        Prefetch(
            "enrollments",
            queryset=Enrollment.objects.filter(user_id=user.pk),
            to_attr="my_enrollments",
        ),
    )


def waitlist_position(enrollment: Enrollment) -> int | None:
    if enrollment.status != EnrollmentStatus.WAITLISTED or enrollment.waitlisted_at is None:
        return None
    ahead = Enrollment.objects.filter(
        group_id=enrollment.group_id, status=EnrollmentStatus.WAITLISTED
    ).filter(
        Q(waitlisted_at__lt=enrollment.waitlisted_at)
        | Q(waitlisted_at=enrollment.waitlisted_at, id__lt=enrollment.pk)
    )
    return ahead.count() + 1


def sessions_between(
    group_ids: QuerySet | list[int], start: dt.datetime | None, end: dt.datetime | None
) -> QuerySet[Session]:
    qs = Session.objects.filter(group_id__in=group_ids, group__deleted_at__isnull=True)
    if start:
        qs = qs.filter(ends_at__gt=start)
    if end:
        qs = qs.filter(starts_at__lt=end)
    return qs.select_related("group").order_by("starts_at", "id")


def next_session(group: SupportGroup, now: dt.datetime) -> Session | None:
    return (
        Session.objects.filter(group=group, status=SessionStatus.SCHEDULED, ends_at__gt=now)
        .order_by("starts_at")
        .first()
    )


def calendar_groups_for(user: User) -> list[int]:
    enrolled = Enrollment.objects.filter(user=user, status=EnrollmentStatus.ACTIVE).values_list(
        "group_id", flat=True
    )
    facilitated = user.facilitated_groups.values_list("pk", flat=True)
    return sorted(set(enrolled) | set(facilitated))


# ---------------------------------------------------------------- who is in a room


def present_user_ids(group_id: int) -> set[int]:
    """Everyone with a live socket in the room: a presence row of a web process whose heartbeat
    is fresh (a process that died leaves rows behind until the sweep removes them)."""
    fresh = timezone.now() - dt.timedelta(seconds=3 * settings.PRESENCE_HEARTBEAT_SECONDS)
    live = ProcessHeartbeat.objects.filter(last_seen__gte=fresh).values("process")
    return set(
        RoomConnection.objects.filter(group_id=group_id, process__in=live).values_list(
            "user_id", flat=True
        )
    )


# ---------------------------------------------------------------- messages


def last_message_id() -> int:
    return Message.objects.order_by("-id").values_list("id", flat=True).first() or 0


def snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1].rstrip() + "…"


def replies_for(messages: list[Message]) -> dict[int, dict[str, Any]]:
    """The quoted message of each reply among `messages`, as it reads now: its author's alias
    and a snippet, or only "deleted" once it was deleted."""
    wanted = {m.reply_to_id for m in messages if m.reply_to_id}
    if not wanted:
        return {}
    quoted = {
        m.pk: m
        for m in Message.objects.filter(pk__in=wanted).only("pk", "author_id", "body", "status")
    }
    group_id = messages[0].group_id
    authors = authors_for(group_id, {m.author_id for m in quoted.values()})
    out = {}
    for pk in wanted:
        q = quoted.get(pk)
        if q is None or q.status not in (MessageStatus.VISIBLE, MessageStatus.DELETED):
            continue
        deleted = q.status == MessageStatus.DELETED
        author = authors.get(q.author_id, FORMER_MEMBER)
        out[pk] = {
            "id": pk,
            "alias": author["alias"],
            "author_id": author["id"],
            "snippet": "" if deleted else snippet(q.body),
            "deleted": deleted,
        }
    return out


def reactions_for(message_ids: list[int], user_id: int) -> tuple[dict, dict]:
    """Counts per message and kind, and this person's own reactions per message."""
    counts: dict[int, dict[str, int]] = {}
    mine: dict[int, list[str]] = {}
    for message_id, kind, uid in Reaction.objects.filter(message_id__in=message_ids).values_list(
        "message_id", "kind", "user_id"
    ):
        per = counts.setdefault(message_id, {})
        per[kind] = per.get(kind, 0) + 1
        if uid == user_id:
            mine.setdefault(message_id, []).append(kind)
    return counts, mine


def reply_target(*, group_id: int, reply_to: Any) -> int | None:
    """The id to store as a new message's reply_to: a message of this room that is shown; any
    other value is dropped so the reply itself is never lost."""
    if not isinstance(reply_to, int) or isinstance(reply_to, bool):
        return None
    found = Message.objects.filter(
        pk=reply_to, group_id=group_id, status=MessageStatus.VISIBLE
    ).exists()
    return reply_to if found else None

"""Writes to groups, sessions and enrollments. Views validate input and call one of these."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from rooms import events, scheduling
from rooms.aliases import alias_conflict, alias_display
from rooms.models import (
    Enrollment,
    EnrollmentStatus,
    GroupFacilitator,
    JoinPolicy,
    Session,
    SessionStatus,
    SupportGroup,
)
from rooms.room import room_state
from rooms.scheduling import facilitator_conflicts, sessions_materialize, sessions_plan
from server.accounts.models import Role, User
from server.accounts.signals import staff_action_record

SEATED = (EnrollmentStatus.ACTIVE,)
CURRENT = (EnrollmentStatus.ACTIVE, EnrollmentStatus.PENDING, EnrollmentStatus.WAITLISTED)
RECURRENCE_FIELDS = {"rrule", "start_date", "start_time", "duration_minutes", "timezone", "drop_in"}


def _set_facilitators(
    group: SupportGroup, facilitator_ids: list[int], lead_id: int | None, by: User | None = None
) -> None:
    users = list(User.objects.filter(pk__in=facilitator_ids))
    if len(users) != len(set(facilitator_ids)):
        raise ValidationError({"facilitators": "Some of these user ids do not exist."})
    not_facilitators = [u.username for u in users if u.role not in (Role.FACILITATOR, Role.ADMIN)]
    if not_facilitators:
        raise ValidationError(
            {"facilitators": f"Only facilitators can facilitate: {', '.join(not_facilitators)}."}
        )
    if lead_id is None and facilitator_ids:
        lead_id = facilitator_ids[0]
    if lead_id is not None and lead_id not in facilitator_ids:
        raise ValidationError({"lead_facilitator": "The lead must be one of the facilitators."})
    before = dict(GroupFacilitator.objects.filter(group=group).values_list("user_id", "is_lead"))
    GroupFacilitator.objects.filter(group=group).exclude(user_id__in=facilitator_ids).delete()
    for uid in facilitator_ids:
        GroupFacilitator.objects.update_or_create(
            group=group, user_id=uid, defaults={"is_lead": uid == lead_id}
        )
    names = dict(
        User.objects.filter(pk__in=set(before) | set(facilitator_ids)).values_list("pk", "username")
    )
    added = [names[u] for u in facilitator_ids if u not in before]
    removed = [names[u] for u in before if u not in facilitator_ids]
    old_lead = next((u for u, lead in before.items() if lead), None)
    if added or removed or old_lead != lead_id:
        staff_action_record(
            action="group.facilitators_changed",
            actor=by,
            group=group.pk,
            added=added,
            removed=removed,
            lead=names.get(lead_id) if lead_id is not None else None,
        )


def _validate_recurrence(group: SupportGroup) -> None:
    if group.drop_in:
        return
    parts = [bool(group.rrule), group.start_date is not None, group.start_time is not None]
    if any(parts) and not all(parts):
        raise ValidationError(
            {"recurrence": "A schedule needs rrule, dtstart and duration_minutes together."}
        )
    if group.rrule and group.start_date is not None and group.start_time is not None:
        dtstart = dt.datetime.combine(group.start_date, group.start_time)
        try:
            scheduling.recurrence_check(group.rrule, dtstart, group.timezone)
        except ValidationError as exc:
            # One field for callers of the service; the API reports the same per part.
            raise ValidationError(
                {"recurrence": [m for msgs in exc.message_dict.values() for m in msgs]}
            ) from exc


def group_create(
    *,
    fields: dict[str, Any],
    facilitator_ids: list[int] | None = None,
    lead_id: int | None = None,
    by: User | None = None,
) -> SupportGroup:
    group = SupportGroup(**fields)
    group.full_clean()
    _validate_recurrence(group)
    # Expanding the rule is the slow part: before the write transaction, never inside it.
    planned = sessions_plan(group=group)
    with transaction.atomic():
        group.save()
        staff_action_record(action="group.created", actor=by, group=group.pk, name=group.name)
        _set_facilitators(group, facilitator_ids or [], lead_id, by)
        sessions_materialize(group=group, planned=planned)
    return group


def group_update(
    *,
    group: SupportGroup,
    fields: dict[str, Any],
    facilitator_ids: list[int] | None = None,
    lead_id: int | None = None,
    by: User | None = None,
) -> SupportGroup:
    old_capacity = group.capacity
    old_agreement = group.agreement_text
    changed = sorted(name for name, value in fields.items() if getattr(group, name) != value)
    for name, value in fields.items():
        setattr(group, name, value)
    if group.agreement_text != old_agreement:
        # Members must accept the new text before they next enter the room.
        group.agreement_version += 1
    group.full_clean()
    _validate_recurrence(group)
    rule_changed = bool(RECURRENCE_FIELDS & fields.keys())
    rematerialize = rule_changed or facilitator_ids is not None
    planned = sessions_plan(group=group, rule_changed=rule_changed) if rematerialize else None
    with transaction.atomic():
        group.save()
        if changed:
            staff_action_record(
                action="group.updated",
                actor=by,
                group=group.pk,
                fields=changed,
                capacity=[old_capacity, group.capacity] if "capacity" in changed else None,
            )
        if facilitator_ids is not None:
            _set_facilitators(group, facilitator_ids, lead_id, by)
        if rematerialize:
            sessions_materialize(group=group, planned=planned)
        if group.capacity > old_capacity:
            waitlist_promote(group=group, by=by, why="capacity raised")
    return group


def group_delete(*, group: SupportGroup, by: User | None = None) -> None:
    """Archives the group: it disappears from every list and its room closes. The rows stay for
    the audit log until retention removes the messages."""
    now = timezone.now()
    with transaction.atomic():
        group.deleted_at = now
        group.save(update_fields=["deleted_at", "updated_at"])
        staff_action_record(action="group.deleted", actor=by, group=group.pk, name=group.name)
        Session.objects.filter(group=group, starts_at__gt=now).update(
            status=SessionStatus.CANCELLED
        )
    from rooms import events  # noqa: PLC0415 — rooms.events imports channels lazily

    events.group_deleted_on_commit(group_id=group.pk)


SESSION_CANCELLED_NOTICE = "The facilitators cancelled this session."


def session_cancel(*, session: Session, by: User | None = None) -> Session:
    """Cancels a session. One whose room is open now ends for everyone in it: after the commit
    the room's sockets get the new room state with a notice, so no member is left writing in a
    room that says it is live."""
    if session.ends_at <= timezone.now():
        raise ValidationError({"detail": "This session is already over."})
    with transaction.atomic():
        session = Session.objects.select_for_update().select_related("group").get(pk=session.pk)
        was_current = room_state(session.group).session == session
        session.status = SessionStatus.CANCELLED
        session.save(update_fields=["status", "updated_at"])
        staff_action_record(
            action="session.cancelled",
            actor=by,
            group=session.group_id,
            session=session.pk,
            starts_at=session.starts_at,
        )
        if was_current:
            state = room_state(session.group).as_dict(session.group)
            state["notice"] = SESSION_CANCELLED_NOTICE
            events.send_on_commit(
                events.room_group(session.group_id), {"type": "room.state", "room": state}
            )
    return session


def session_move(
    *,
    session: Session,
    starts_at: dt.datetime | None = None,
    ends_at: dt.datetime | None = None,
    by: User | None = None,
) -> Session:
    """Moves one session: a new start keeps its length unless `ends_at` comes too; `ends_at`
    alone changes only the end."""
    if starts_at is None and ends_at is None:
        raise ValidationError({"detail": "Give starts_at, ends_at or both."})
    now = timezone.now()
    if session.starts_at <= now:
        raise ValidationError({"detail": "A session that has started cannot be moved."})
    starts_at = starts_at or session.starts_at
    if starts_at <= now:
        raise ValidationError({"starts_at": "Move the session to a time in the future."})
    if not scheduling.in_range(starts_at):
        raise ValidationError({"starts_at": scheduling.RANGE_MESSAGE})
    ends_at = ends_at or starts_at + (session.ends_at - session.starts_at)
    if ends_at <= starts_at:
        raise ValidationError({"ends_at": "The session must end after it starts."})
    if ends_at - starts_at > scheduling.MAX_SESSION_LENGTH:
        raise ValidationError({"ends_at": "A session lasts at most 10 hours."})
    facilitator_ids = list(session.group.facilitators.values_list("pk", flat=True))
    conflicts = facilitator_conflicts(session.group, [(starts_at, ends_at)], facilitator_ids)
    if conflicts:
        raise ValidationError({"starts_at": conflicts[:3]})
    was = session.starts_at
    session.starts_at, session.ends_at, session.moved = starts_at, ends_at, True
    session.reminder_sent_at = session.reminder_claimed_until = None
    with transaction.atomic():
        session.save()
        staff_action_record(
            action="session.moved",
            actor=by,
            group=session.group_id,
            session=session.pk,
            starts_at=[was.isoformat(), starts_at.isoformat()],
            ends_at=ends_at,
        )
    return session


def _clean_alias(alias: str) -> str:
    alias = alias_display(alias)
    if not 2 <= len(alias) <= 40:
        raise ValidationError({"alias": "Choose an alias of 2 to 40 characters."})
    return alias


def _check_alias_free(group: SupportGroup, user: User, alias: str) -> None:
    """Call under the group's lock: no other enrollment in the group, and no facilitator or
    admin anywhere, has an alias or name that looks like this one (rooms/aliases.py)."""
    taken = list(
        Enrollment.objects.filter(group=group).exclude(user=user).values_list("alias", flat=True)
    )
    staff = list(
        User.objects.filter(role__in=[Role.FACILITATOR, Role.ADMIN]).values_list(
            "username", flat=True
        )
    )
    why = alias_conflict(alias, taken, staff)
    if why:
        raise ValidationError({"alias": why})


def enrollment_join(
    *, group: SupportGroup, user: User, alias: str, agreement_accepted: bool
) -> Enrollment:
    """Joins, requests to join, or waitlists. Joining again returns the current enrollment (and
    records acceptance of a newer agreement). Seats are counted under a lock on the group row,
    so two members racing for the last seat cannot both get it."""
    if user.role != Role.MEMBER:
        raise PermissionDenied("Facilitators and admins take part through the group's settings.")
    if not agreement_accepted:
        raise ValidationError(
            {"agreement_accepted": "Read and accept the group agreement to join."}
        )
    with transaction.atomic():
        group = SupportGroup.objects.select_for_update().get(pk=group.pk)
        if group.deleted_at:
            raise ValidationError({"detail": "This group no longer exists."})
        enrollment = Enrollment.objects.filter(group=group, user=user).first()
        if enrollment and enrollment.status in CURRENT:
            if enrollment.agreement_version != group.agreement_version:
                enrollment.agreement_version = group.agreement_version
                enrollment.save(update_fields=["agreement_version", "updated_at"])
            return enrollment
        if enrollment and enrollment.status in (EnrollmentStatus.BANNED, EnrollmentStatus.REMOVED):
            raise PermissionDenied(
                "A facilitator has removed you from this group. Contact the group's "
                "facilitators if you think this is a mistake."
            )
        alias = _clean_alias(alias)
        _check_alias_free(group, user, alias)
        enrollment = enrollment or Enrollment(group=group, user=user)
        enrollment.alias = alias
        enrollment.agreement_version = group.agreement_version
        enrollment.waitlisted_at = None
        if group.join_policy == JoinPolicy.APPROVAL:
            enrollment.status = EnrollmentStatus.PENDING
        else:
            _seat_or_waitlist(group, enrollment)
        try:
            with transaction.atomic():
                enrollment.save()
        except IntegrityError as exc:
            raise ValidationError(
                {"alias": "That alias is taken in this group; choose another."}
            ) from exc
    return enrollment


def _seat_or_waitlist(group: SupportGroup, enrollment: Enrollment) -> None:
    seated = Enrollment.objects.filter(group=group, status__in=SEATED).count()
    if seated < group.capacity:
        enrollment.status = EnrollmentStatus.ACTIVE
    else:
        enrollment.status = EnrollmentStatus.WAITLISTED
        enrollment.waitlisted_at = timezone.now()


def enrollment_approve(*, enrollment: Enrollment, by: User | None = None) -> Enrollment:
    with transaction.atomic():
        group = SupportGroup.objects.select_for_update().get(pk=enrollment.group_id)
        enrollment.refresh_from_db()
        if enrollment.status != EnrollmentStatus.PENDING:
            raise ValidationError({"detail": f"This request is {enrollment.status}, not pending."})
        _seat_or_waitlist(group, enrollment)
        enrollment.save()
        staff_action_record(
            action="enrollment.approved",
            actor=by,
            group=group.pk,
            target_user=enrollment.user_id,
            alias=enrollment.alias,
            status=enrollment.status,
        )
    return enrollment


def enrollment_decline(*, enrollment: Enrollment, by: User | None = None) -> Enrollment:
    if enrollment.status not in (EnrollmentStatus.PENDING, EnrollmentStatus.WAITLISTED):
        raise ValidationError(
            {
                "detail": "Only pending or waitlisted requests can be declined; "
                f"this is {enrollment.status}."
            }
        )
    with transaction.atomic():
        was = enrollment.status
        enrollment.status = EnrollmentStatus.DECLINED
        enrollment.save(update_fields=["status", "updated_at"])
        staff_action_record(
            action="enrollment.declined",
            actor=by,
            group=enrollment.group_id,
            target_user=enrollment.user_id,
            alias=enrollment.alias,
            was=was,
        )
    return enrollment


def enrollment_seat(*, enrollment: Enrollment, by: User | None = None) -> Enrollment:
    """Seats a waitlisted or pending member now, ahead of the waitlist's order and even when the
    group is full (a facilitator's judgement: the group then has more members than places)."""
    with transaction.atomic():
        group = SupportGroup.objects.select_for_update().get(pk=enrollment.group_id)
        enrollment.refresh_from_db()
        if enrollment.status not in (EnrollmentStatus.WAITLISTED, EnrollmentStatus.PENDING):
            raise ValidationError(
                {
                    "detail": f"Only waitlisted or pending members can be seated; this is "
                    f"{enrollment.status}."
                }
            )
        was = enrollment.status
        enrollment.status, enrollment.waitlisted_at = EnrollmentStatus.ACTIVE, None
        enrollment.save(update_fields=["status", "waitlisted_at", "updated_at"])
        seated = Enrollment.objects.filter(group=group, status__in=SEATED).count()
        staff_action_record(
            action="enrollment.seated",
            actor=by,
            group=group.pk,
            target_user=enrollment.user_id,
            alias=enrollment.alias,
            why=f"seated by hand ({was})",
            seats=[seated, group.capacity],
        )
    return enrollment


def enrollment_waitlist_move(
    *, enrollment: Enrollment, position: int, by: User | None = None
) -> Enrollment:
    """Puts a waitlisted member at `position` (1 is next to be seated). The waitlist keeps its
    times: they are handed out again in the new order."""
    with transaction.atomic():
        group = SupportGroup.objects.select_for_update().get(pk=enrollment.group_id)
        waiting = list(
            Enrollment.objects.filter(group=group, status=EnrollmentStatus.WAITLISTED).order_by(
                "waitlisted_at", "id"
            )
        )
        index = next((i for i, e in enumerate(waiting) if e.pk == enrollment.pk), None)
        if index is None:
            raise ValidationError({"detail": "This member is not on the waitlist."})
        if not 1 <= position <= len(waiting):
            raise ValidationError({"position": f"Choose a place from 1 to {len(waiting)}."})
        times = [e.waitlisted_at or timezone.now() for e in waiting]
        # Distinct times, so that the order is the times' order alone.
        for i in range(1, len(times)):
            if times[i] <= times[i - 1]:
                times[i] = times[i - 1] + dt.timedelta(microseconds=1)
        moved = waiting.pop(index)
        waiting.insert(position - 1, moved)
        for e, when in zip(waiting, times, strict=True):
            if e.waitlisted_at != when:
                e.waitlisted_at = when
                e.save(update_fields=["waitlisted_at", "updated_at"])
        staff_action_record(
            action="enrollment.waitlist_moved",
            actor=by,
            group=group.pk,
            target_user=moved.user_id,
            alias=moved.alias,
            position=[index + 1, position],
        )
    moved.refresh_from_db()
    return moved


def enrollment_end(*, enrollment: Enrollment, status: str = EnrollmentStatus.LEFT) -> Enrollment:
    """Leaving, removal or ban. A freed seat goes to the first on the waitlist."""
    with transaction.atomic():
        group = SupportGroup.objects.select_for_update().get(pk=enrollment.group_id)
        enrollment.refresh_from_db()
        was_seated = enrollment.status in SEATED
        enrollment.status = status
        enrollment.waitlisted_at = None
        enrollment.save(update_fields=["status", "waitlisted_at", "updated_at"])
        if was_seated:
            waitlist_promote(group=group)
    from rooms import events  # noqa: PLC0415

    events.user_access_revoked_on_commit(user_id=enrollment.user_id, group_id=group.pk)
    return enrollment


def waitlist_promote(
    *, group: SupportGroup, by: User | None = None, why: str = "a seat opened"
) -> list[Enrollment]:
    """Seats waitlisted members in the order they joined the waitlist. Call under the group lock."""
    promoted = []
    seated = Enrollment.objects.filter(group=group, status__in=SEATED).count()
    free = max(group.capacity - seated, 0)
    if free:
        waiting = Enrollment.objects.filter(
            group=group, status=EnrollmentStatus.WAITLISTED
        ).order_by("waitlisted_at", "id")[:free]
        for enrollment in waiting:
            enrollment.status = EnrollmentStatus.ACTIVE
            enrollment.waitlisted_at = None
            enrollment.save(update_fields=["status", "waitlisted_at", "updated_at"])
            staff_action_record(
                action="enrollment.seated",
                actor=by,
                group=group.pk,
                target_user=enrollment.user_id,
                alias=enrollment.alias,
                why=why,
                system_too=True,
            )
            promoted.append(enrollment)
    return promoted

"""Facilitator tools, reports, hiding and unattended rooms: every moderation write.

Each action checks permission (a facilitator acts only in the groups they facilitate, admins
everywhere), changes state in one transaction, writes the audit entry, and publishes its events
after commit. Members see actions as taken by "Moderator"; the audit log keeps the real actor.
The same functions serve the room socket and the REST API.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from moderation.crisis.lexicon import RANK
from moderation.models import (
    Alert,
    AlertKind,
    AlertStatus,
    CrisisCategory,
    DetectorExample,
    ExampleSource,
    HiddenAuthor,
    Report,
    ReportStatus,
    Tier,
)
from moderation.services import (
    ESCALATING_LEVELS,
    alert_for_message,
    alert_upgrade,
    audit,
    detector_example_record,
    email_raised_at_on_call,
    moderators_present,
    notify_member,
    publish_alert_on_commit,
    support_resources_frame,
)
from rooms import events, frames
from rooms.display import FORMER_MEMBER, authors_for, message_dict
from rooms.models import (
    Enrollment,
    EnrollmentStatus,
    GroupFacilitator,
    GroupKind,
    JoinPolicy,
    Message,
    MessageStatus,
    RoomOverride,
    SupportGroup,
)
from rooms.permissions import active_enrollment, can_moderate
from rooms.room import room_state
from rooms.services import enrollment_end
from server.accounts.models import Role, User

log = logging.getLogger(__name__)

MODERATOR = "Moderator"
MAX_MUTE_MINUTES = 24 * 60
FLAG_LEVELS = ("watch", "urgent", "emergency")
FLAG_CATEGORIES = tuple(c for c in CrisisCategory.values if c != CrisisCategory.NONE)


def _require_moderator(user: User, group: SupportGroup | int) -> None:
    if not can_moderate(user, group):
        raise PermissionDenied("Only this group's facilitators and admins can do that.")


def enrollment_by_key(group_id: int, key: Any) -> Enrollment:
    """Members are addressed by their room id ("m12") or enrollment id (12)."""
    raw = str(key or "")
    pk = raw[1:] if raw.startswith("m") else raw
    # ASCII digits only (int() refuses "²", which isdigit() accepts), and few enough for a
    # 64-bit id column.
    if not (pk.isascii() and pk.isdigit() and len(pk) <= 18):
        raise ValidationError({"member": "Name the member by their id, such as 'm12'."})
    enrollment = Enrollment.objects.filter(group_id=group_id, pk=int(pk)).first()
    if enrollment is None:
        raise ValidationError({"member": "That member is not in this group."})
    return enrollment


def _notify_room_state(group: SupportGroup, notice: str = "") -> None:
    group.refresh_from_db()
    state = room_state(group).as_dict(group)
    if notice:
        state["notice"] = notice
    events.send_on_commit(events.room_group(group.pk), {"type": "room.state", "room": state})


# ---------------------------------------------------------------- members


def member_mute(
    *, by: User, group: SupportGroup, member: Any, minutes: int, reason: str
) -> Enrollment:
    _require_moderator(by, group)
    if not isinstance(minutes, int) or not 1 <= minutes <= MAX_MUTE_MINUTES:
        raise ValidationError({"minutes": f"Mute for 1 to {MAX_MUTE_MINUTES} minutes."})
    if not reason.strip():
        raise ValidationError({"reason": "Give the member a reason; they will see it."})
    enrollment = enrollment_by_key(group.pk, member)
    until = timezone.now() + dt.timedelta(minutes=minutes)
    with transaction.atomic():
        enrollment.muted_until, enrollment.mute_reason = until, reason[:200]
        enrollment.save(update_fields=["muted_until", "mute_reason", "updated_at"])
        audit(
            action="member.muted",
            actor=by,
            group=group,
            target_user=enrollment.user_id,
            reason=reason,
            minutes=minutes,
        )
        events.send_on_commit(
            events.user_group(enrollment.user_id),
            {
                "type": "member.muted",
                "group_id": group.pk,
                "muted_until": until.isoformat(),
                "reason": reason[:200],
                "by": MODERATOR,
            },
        )
    return enrollment


def member_unmute(*, by: User, group: SupportGroup, member: Any) -> Enrollment:
    _require_moderator(by, group)
    enrollment = enrollment_by_key(group.pk, member)
    with transaction.atomic():
        enrollment.muted_until, enrollment.mute_reason = None, ""
        enrollment.save(update_fields=["muted_until", "mute_reason", "updated_at"])
        audit(action="member.unmuted", actor=by, group=group, target_user=enrollment.user_id)
        events.send_on_commit(
            events.user_group(enrollment.user_id),
            {
                "type": "member.muted",
                "group_id": group.pk,
                "muted_until": None,
                "reason": "",
                "by": MODERATOR,
            },
        )
    return enrollment


def member_remove(*, by: User, group: SupportGroup, member: Any, reason: str = "") -> Enrollment:
    """Removes the member from the current session: their sockets close and they cannot come
    back until it ends (or for an hour in a drop-in room). They stay in the group."""
    _require_moderator(by, group)
    enrollment = enrollment_by_key(group.pk, member)
    state = room_state(group)
    until = state.session.ends_at if state.session else timezone.now() + dt.timedelta(hours=1)
    with transaction.atomic():
        enrollment.removed_until = until
        enrollment.save(update_fields=["removed_until", "updated_at"])
        audit(
            action="member.removed",
            actor=by,
            group=group,
            target_user=enrollment.user_id,
            reason=reason,
            until=until.isoformat(),
        )
        events.user_access_revoked_on_commit(user_id=enrollment.user_id, group_id=group.pk)
    return enrollment


def member_ban(*, by: User, group: SupportGroup, member: Any, reason: str) -> Enrollment:
    _require_moderator(by, group)
    if not reason.strip():
        raise ValidationError({"reason": "Record why the member is banned."})
    enrollment = enrollment_by_key(group.pk, member)
    with transaction.atomic():
        enrollment_end(enrollment=enrollment, status=EnrollmentStatus.BANNED)
        audit(
            action="member.banned",
            actor=by,
            group=group,
            target_user=enrollment.user_id,
            reason=reason,
        )
    return enrollment


# ---------------------------------------------------------------- messages


def message_delete(*, by: User, message: Message, reason: str = "") -> Message:
    """Soft delete: the room gets message.deleted; the text stays for the audit log until the
    group's retention removes it."""
    _require_moderator(by, message.group_id)
    with transaction.atomic():
        changed = Message.objects.filter(pk=message.pk, status=MessageStatus.VISIBLE).update(
            status=MessageStatus.DELETED, deleted_at=timezone.now()
        )
        message.refresh_from_db()
        if changed:
            # The words stay for the audit log, but no longer teach the detector.
            DetectorExample.objects.filter(message=message).delete()
            audit(
                action="message.deleted",
                actor=by,
                group=message.group_id,
                target_user=message.author_id,
                message_id=message.pk,
                reason=reason,
            )
            frame = frames.dumps({"type": "message.deleted", "id": message.pk, "by": MODERATOR})
            events.send_on_commit(
                events.room_group(message.group_id), {"type": "room.frame", "text": frame}
            )
    return message


@dataclass(frozen=True)
class FacilitatorFlag:
    """Stands in for the detector's assessment when a facilitator raises an alert by hand, so
    the alert gets the same deadline, tier, escalation and support card as a detected one."""

    level: str
    category: str
    rule_ids: tuple[str, ...] = ()
    explanation: str = "Flagged by a facilitator."


def message_flag(*, by: User, message: Message, level: str, category: str, note: str = "") -> Alert:
    """A facilitator's judgement that a message needs a crisis alert the detector did not give
    (or a graver one than it gave). Raises a new alert, or raises the message's open one; keeps
    the judgement as a detector example; and sends the author the private support card when the
    message reaches urgent or emergency for the first time. Flagging again at the alert's own
    level and category changes nothing, so a retried command is harmless."""
    _require_moderator(by, message.group_id)
    errors = {}
    if level not in FLAG_LEVELS:
        errors["level"] = "Choose watch, urgent or emergency."
    if category not in FLAG_CATEGORIES:
        errors["category"] = "Choose self_harm, harm_others or abuse_danger."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        # Two facilitators flagging the same message at once: the second waits and upgrades.
        message = Message.objects.select_for_update().get(pk=message.pk)
        if message.status != MessageStatus.VISIBLE:
            raise ValidationError({"detail": "Only messages shown in the room can be flagged."})
        alerts = list(
            Alert.objects.select_for_update()
            .filter(message=message, kind=AlertKind.CRISIS)
            .order_by("-id")
        )
        current = next((a for a in alerts if a.status != AlertStatus.RESOLVED), None)
        # The member already had the card if the detector, or an earlier alert, put this
        # message at urgent or above.
        highest = max([RANK.get(message.level, 0)] + [RANK[a.level] for a in alerts])
        if current is None:
            alert = alert_for_message(
                message=message,
                assessment=FacilitatorFlag(level, category, tuple(message.rule_ids or [])),
            )
            assert alert is not None  # every flag level raises an alert
            before, source, action = "none", ExampleSource.FLAGGED, "alert.flagged"
        elif (current.level, current.category) == (level, category):
            return current
        elif RANK[level] < RANK[current.level]:
            raise ValidationError(
                {
                    "level": f"This message already has an open {current.level} alert. To lower "
                    "it, resolve that alert with an outcome instead."
                }
            )
        else:
            alert = current
            before = alert_upgrade(alert=alert, level=level, category=category)
            source, action = ExampleSource.UPGRADED, "alert.upgraded"
        audit(
            action=action,
            actor=by,
            group=message.group_id,
            target_user=message.author_id,
            message_id=message.pk,
            alert=alert,
            reason=note,
            level=level,
            category=category,
            from_level=before,
        )
        detector_example_record(
            message=message, alert=alert, level=level, category=category, source=source, by=by
        )
        if level in ESCALATING_LEVELS and highest < RANK["urgent"]:
            notify_member(
                user_id=message.author_id,
                group_id=message.group_id,
                frame=support_resources_frame(
                    level, category, user_id=message.author_id, message_id=message.pk
                ),
            )
    log.info("message flagged id=%s alert=%s %s->%s", message.pk, alert.pk, before, level)
    return alert


def held_approve(*, by: User, message: Message) -> Message:
    """Delivers a held message. It gets a new id so that clients catching up by id see it."""
    _require_moderator(by, message.group_id)
    with transaction.atomic():
        held = (
            Message.objects.select_for_update()
            .filter(pk=message.pk, status=MessageStatus.HELD)
            .first()
        )
        if held is None:
            raise ValidationError({"detail": "This message is no longer waiting for review."})
        fields = {
            f: getattr(held, f)
            for f in (
                "group_id",
                "session_id",
                "author_id",
                "client_id",
                "body",
                "level",
                "category",
                "rule_ids",
                "reviewed_at",
                "model_score",
            )
        }
        # The learned stage may have raised an alert on the held message: it follows the words.
        alert_ids = list(Alert.objects.filter(message=held).values_list("pk", flat=True))
        held.delete()
        delivered = Message.objects.create(**fields, status=MessageStatus.VISIBLE)
        Alert.objects.filter(pk__in=alert_ids).update(message=delivered)
        audit(
            action="held.approved",
            actor=by,
            group=delivered.group_id,
            target_user=delivered.author_id,
            message_id=delivered.pk,
            held_id=message.pk,
        )
        # The author may have deleted their account while the message waited (a group that keeps
        # a former member's words): it is shown as theirs, as history shows it.
        author = authors_for(delivered.group_id, {delivered.author_id}).get(
            delivered.author_id, FORMER_MEMBER
        )
        frame = frames.dumps({"type": "message.new", "message": message_dict(delivered, author)})
        events.send_on_commit(
            events.room_group(delivered.group_id),
            {"type": "room.frame", "text": frame, "author": author["id"]},
        )
        notify_member(
            user_id=delivered.author_id,
            group_id=delivered.group_id,
            frame={
                "type": "message.ack",
                "client_id": str(delivered.client_id),
                "id": delivered.pk,
            },
        )
    return delivered


def held_reject(*, by: User, message: Message, reason: str = "") -> Message:
    _require_moderator(by, message.group_id)
    with transaction.atomic():
        changed = Message.objects.filter(pk=message.pk, status=MessageStatus.HELD).update(
            status=MessageStatus.REJECTED
        )
        if not changed:
            raise ValidationError({"detail": "This message is no longer waiting for review."})
        message.refresh_from_db()
        audit(
            action="held.rejected",
            actor=by,
            group=message.group_id,
            target_user=message.author_id,
            message_id=message.pk,
            reason=reason,
        )
        notify_member(
            user_id=message.author_id,
            group_id=message.group_id,
            frame={
                "type": "message.rejected",
                "client_id": str(message.client_id),
                "reason": reason or "A moderator decided not to share this message.",
                "by": MODERATOR,
            },
        )
    return message


# ---------------------------------------------------------------- the room


def room_update(
    *,
    by: User,
    group: SupportGroup,
    slow_mode_seconds: int | None = None,
    locked: bool | None = None,
    open: str | None = None,  # noqa: A002 — "open" | "closed" | "auto", as in the protocol
) -> SupportGroup:
    _require_moderator(by, group)
    now = timezone.now()
    changes: dict[str, Any] = {}
    with transaction.atomic():
        if slow_mode_seconds is not None:
            if not isinstance(slow_mode_seconds, int) or not 0 <= slow_mode_seconds <= 3600:
                raise ValidationError({"slow_mode_seconds": "Use 0 (off) to 3600 seconds."})
            group.slow_mode_seconds = changes["slow_mode_seconds"] = slow_mode_seconds
        if locked is not None:
            group.locked = changes["locked"] = bool(locked)
            group.locked_reason = "facilitator" if locked else ""
        if open is not None:
            if open not in RoomOverride.values:
                raise ValidationError({"open": "Use 'open', 'closed' or 'auto'."})
            group.room_override = changes["open"] = open
            state = room_state(group, now)
            # An override lasts for the session at hand, then the schedule rules again.
            end = state.session.ends_at if state.session else None
            if end is None:
                nxt = (
                    group.sessions.filter(ends_at__gt=now, status="scheduled")
                    .order_by("starts_at")
                    .first()
                )
                end = nxt.ends_at if nxt else now + dt.timedelta(hours=3)
            group.override_until = None if open == RoomOverride.AUTO else end
        if not changes:
            raise ValidationError({"detail": "Nothing to change."})
        group.save()
        audit(action="room.updated", actor=by, group=group, **changes)
        _notify_room_state(group)
    return group


# ---------------------------------------------------------------- private check-in


def checkin_open(
    *, by: User, group: SupportGroup, member: Any, alert: Alert | None = None
) -> SupportGroup:
    """A one-to-one room between this facilitator and the member, with every guarantee of a
    group room. Reuses an open check-in between the same two people."""
    _require_moderator(by, group)
    enrollment = enrollment_by_key(group.pk, member)
    with transaction.atomic():
        existing = SupportGroup.objects.filter(
            kind=GroupKind.CHECKIN,
            checkin_of=group,
            deleted_at__isnull=True,
            groupfacilitator__user=by,
            enrollments__user_id=enrollment.user_id,
        ).first()
        room = existing or SupportGroup.objects.create(
            name=f"Check-in: {enrollment.alias}",
            kind=GroupKind.CHECKIN,
            checkin_of=group,
            timezone=group.timezone,
            capacity=1,
            join_policy=JoinPolicy.APPROVAL,
            drop_in=True,
            retention_days=group.retention_days,
            held_categories=[],
            agreement_version=1,
        )
        if existing is None:
            GroupFacilitator.objects.create(group=room, user=by, is_lead=True)
            Enrollment.objects.create(
                group=room,
                user_id=enrollment.user_id,
                alias=enrollment.alias,
                status=EnrollmentStatus.ACTIVE,
                agreement_version=room.agreement_version,
            )
            audit(
                action="checkin.opened",
                actor=by,
                group=group,
                target_user=enrollment.user_id,
                alert=alert,
                checkin_group=room.pk,
            )
        notify_member(
            user_id=enrollment.user_id,
            group_id=group.pk,
            frame={
                "type": "checkin.invite",
                "group_id": room.pk,
                "by": MODERATOR,
                "detail": "A facilitator would like to check in with you privately.",
            },
        )
    return room


# ---------------------------------------------------------------- reports and hiding


def report_create(*, by: User, message: Message, reason: str, note: str = "") -> Report:
    if not (active_enrollment(by, message.group_id) or can_moderate(by, message.group_id)):
        raise PermissionDenied("You can report messages only in your own groups.")
    if not reason.strip():
        raise ValidationError({"reason": "Say briefly why you are reporting this message."})
    with transaction.atomic():
        report, created = Report.objects.get_or_create(
            message=message,
            reporter=by,
            defaults={"group_id": message.group_id, "reason": reason[:40], "note": note[:2000]},
        )
        if created:
            audit(
                action="report.created",
                actor=by,
                group=message.group_id,
                message_id=message.pk,
                reason=reason,
            )
            frame = frames.dumps(
                {"type": "report.new", "report": report_dict(report, with_text=True)}
            )
            events.send_on_commit(
                events.room_group(message.group_id),
                {"type": "room.frame", "text": frame, "moderators_only": True},
            )
    return report


def report_resolve(*, by: User, report: Report, note: str = "") -> Report:
    _require_moderator(by, report.group_id)
    with transaction.atomic():
        changed = Report.objects.filter(pk=report.pk, status=ReportStatus.OPEN).update(
            status=ReportStatus.RESOLVED, resolved_at=timezone.now(), resolved_by=by
        )
        report.refresh_from_db()
        if changed:
            audit(
                action="report.resolved",
                actor=by,
                group=report.group_id,
                message_id=report.message_id,
                reason=note,
            )
            notify_member(
                user_id=report.reporter_id,
                group_id=report.group_id,
                frame={"type": "report.resolved", "report_id": report.pk},
            )
    return report


def reporter_name(report: Report) -> str:
    """Who reported, as the group's facilitators know them: a member by their alias in the
    group, staff by their username."""
    enrollment = Enrollment.objects.filter(
        group_id=report.group_id, user_id=report.reporter_id
    ).first()
    if enrollment is not None:
        return enrollment.alias
    return (
        User.objects.filter(pk=report.reporter_id).values_list("username", flat=True).first() or ""
    )


def report_dict(report: Report, *, with_text: bool = False) -> dict[str, Any]:
    """`with_text` adds the reported message's words and who reported it, for the group's
    facilitators only."""
    extra: dict[str, Any] = {}
    if with_text:
        message = report.message
        extra["message_text"] = message.body if message is not None else ""
        extra["reporter"] = reporter_name(report)
    return {
        **extra,
        "id": report.pk,
        "message_id": report.message_id,
        "group_id": report.group_id,
        "reason": report.reason,
        "note": report.note,
        "status": report.status,
        "created_at": report.created_at.isoformat(),
        "resolved_at": report.resolved_at.isoformat() if report.resolved_at else None,
    }


def author_hide(*, by: User, group_id: int, author_key: str, hidden: bool = True) -> set[str]:
    """Hides (or shows again) an author's messages in this person's own view of the room. Only
    for someone in the room: its facilitators and admins, and its active members."""
    if not (can_moderate(by, group_id) or active_enrollment(by, group_id)):
        raise PermissionDenied("You can hide authors only in groups you take part in.")
    if not (
        isinstance(author_key, str)
        and author_key[:1] in ("m", "s")
        and author_key[1:].isascii()
        and author_key[1:].isdigit()
        and len(author_key) <= 19
    ):
        raise ValidationError({"author": "Name the author by their id, such as 'm12'."})
    if hidden:
        # Only someone who can write in this room: the list comes back in every `hidden`
        # frame, so it must stay as small as the room.
        pk = int(author_key[1:])
        exists = (
            Enrollment.objects.filter(pk=pk, group_id=group_id).exists()
            if author_key[0] == "m"
            else User.objects.filter(pk=pk, role__in=[Role.FACILITATOR, Role.ADMIN]).exists()
        )
        if not exists:
            raise ValidationError({"author": "There is no such author in this group."})
        HiddenAuthor.objects.get_or_create(user=by, group_id=group_id, author_key=author_key)
    else:
        HiddenAuthor.objects.filter(user=by, group_id=group_id, author_key=author_key).delete()
    return hidden_authors(user_id=by.pk, group_id=group_id)


def hidden_authors(*, user_id: int, group_id: int) -> set[str]:
    return set(
        HiddenAuthor.objects.filter(user_id=user_id, group_id=group_id).values_list(
            "author_key", flat=True
        )
    )


# ---------------------------------------------------------------- unattended rooms


def unattended_check(*, group_id: int) -> None:
    """Call when a facilitator leaves or comes back. The last facilitator leaving a live session
    alerts co-facilitators and on-call; one coming back ends the alert and reopens the room."""
    group = SupportGroup.objects.filter(pk=group_id).first()
    if group is None or group.kind == GroupKind.CHECKIN:
        return
    state = room_state(group)
    present = moderators_present(group_id)
    open_alert = Alert.objects.filter(
        group_id=group_id,
        kind=AlertKind.UNATTENDED,
        status__in=[AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED],
    ).first()
    with transaction.atomic():
        if present:
            if open_alert is not None:
                Alert.objects.filter(pk=open_alert.pk).update(
                    status=AlertStatus.RESOLVED,
                    resolved_at=timezone.now(),
                    outcome="resolved",
                    ack_deadline=None,
                )
                audit(action="unattended.ended", actor=None, group=group, alert=open_alert)
                publish_alert_on_commit(open_alert, "alert.updated")
            if group.locked and group.locked_reason == "unattended":
                group.locked, group.locked_reason = False, ""
                group.save(update_fields=["locked", "locked_reason", "updated_at"])
                _notify_room_state(group, "A facilitator is back. The room is open again.")
            return
        if open_alert is None and state.session is not None and state.open:
            alert = Alert.objects.create(
                kind=AlertKind.UNATTENDED,
                group=group,
                level="urgent",
                category="none",
                explanation="The last facilitator left a live session.",
                tier=Tier.ON_CALL,
                ack_deadline=timezone.now()
                + dt.timedelta(seconds=settings.UNATTENDED_GRACE_SECONDS),
            )
            email_raised_at_on_call(alert, "is in a live session the last facilitator left")
            audit(action="unattended.started", actor=None, group=group, alert=alert)
            publish_alert_on_commit(alert, "alert.new")


def unattended_enforce(now: dt.datetime | None = None) -> int:
    """Makes rooms read-only once the grace period passed with no facilitator back."""
    now = now or timezone.now()
    done = 0
    for alert in Alert.objects.filter(
        kind=AlertKind.UNATTENDED,
        status__in=[AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED],
        ack_deadline__lte=now,
    ):
        with transaction.atomic():
            claimed = Alert.objects.filter(pk=alert.pk, ack_deadline=alert.ack_deadline).update(
                ack_deadline=None, tier=Tier.ON_CALL, escalated_at=now
            )
            if not claimed:
                continue
            if moderators_present(alert.group_id):
                continue
            group = SupportGroup.objects.get(pk=alert.group_id)
            group.locked, group.locked_reason = True, "unattended"
            group.save(update_fields=["locked", "locked_reason", "updated_at"])
            audit(action="unattended.locked", actor=None, group=group, alert=alert)
            _notify_room_state(
                group,
                "The facilitator had to step away, so the room is read-only for now. It will "
                "reopen when a facilitator is back. If you need help now, use Get help now.",
            )
            publish_alert_on_commit(alert, "alert.updated")
            done += 1
    return done

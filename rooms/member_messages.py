"""Members' own messages: edit (for a few minutes), delete (at any time), supportive reactions,
replies that quote, and asking a facilitator for a private check-in.

The only code that writes these changes and rings the room's bell for them; the room socket
and the REST API parse, call one of these, and reply. Edits go through the same checks as a
new message: the crisis rules at once (an alert and the private support card where they call
for one), the learned reviewer after (the edit is handed to it again), and the group's held
categories (an edit that would be held is refused, so an edit is never a way around review).
Moderators see what a message said before each edit and before its author deleted it in the
audit log.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from moderation.crisis import assess
from moderation.crisis.lexicon import RANK
from moderation.models import Alert, AlertKind, AlertStatus, Tier
from moderation.policy import held_reason
from moderation.services import (
    ESCALATING_LEVELS,
    ack_window,
    alert_for_message,
    alert_upgrade,
    audit,
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
    Reaction,
    ReactionKind,
    SupportGroup,
)
from rooms.permissions import can_moderate
from rooms.refusals import NO_LONGER_MEMBER, speaking_refusal
from rooms.room import room_state
from rooms.selectors import reactions_for, replies_for
from server.accounts.models import User

log = logging.getLogger(__name__)

AUTHOR = "author"


def _counts(message_id: int) -> dict[str, int]:
    return reactions_for([message_id], 0)[0].get(message_id, {})


# ---------------------------------------------------------------- checks


def _own_message(*, user: User, group_id: int, message_id: Any) -> Message:
    message = (
        Message.objects.select_for_update().filter(pk=message_id, group_id=group_id).first()
        if isinstance(message_id, int) and not isinstance(message_id, bool)
        else None
    )
    if message is None or message.status not in (MessageStatus.VISIBLE, MessageStatus.DELETED):
        raise ValidationError({"message_id": "No such message in this room."})
    if message.author_id != user.pk:
        raise PermissionDenied("You can only change your own messages.")
    return message


def _enrollment(user: User, group_id: int) -> Enrollment | None:
    return Enrollment.objects.filter(
        group_id=group_id, user=user, status=EnrollmentStatus.ACTIVE
    ).first()


def _may_speak(user: User, group: SupportGroup) -> None:
    """What sending needs, for an edit or a reaction: a member who may write in the room now
    (rooms.refusals.speaking_refusal; facilitators always may)."""
    if can_moderate(user, group):
        return
    enrollment = _enrollment(user, group.pk)
    if enrollment is None:
        raise PermissionDenied(NO_LONGER_MEMBER)
    state = room_state(group)
    refusal = speaking_refusal(
        is_open=state.open,
        locked=state.locked,
        muted_until=enrollment.muted_until,
        mute_reason=enrollment.mute_reason,
        now=timezone.now(),
    )
    if refusal is not None:
        raise PermissionDenied(refusal.detail)


def _author_of(message: Message) -> dict[str, Any]:
    return authors_for(message.group_id, {message.author_id}).get(message.author_id, FORMER_MEMBER)


def _ring(message: Message, frame: dict[str, Any], author_key: str) -> None:
    events.send_on_commit(
        events.room_group(message.group_id),
        {"type": "room.frame", "text": frames.dumps(frame), "author": author_key},
    )


# ---------------------------------------------------------------- actions


def message_edit(*, user: User, group_id: int, message_id: Any, body: Any) -> Message:
    """Replaces the words of one's own message within MESSAGE_EDIT_SECONDS of sending it."""
    if not isinstance(body, str) or not body.strip():
        raise ValidationError({"body": "Write something, or delete the message instead."})
    if len(body) > settings.MESSAGE_MAX_CHARS:
        raise ValidationError(
            {"body": f"Messages can be up to {settings.MESSAGE_MAX_CHARS} characters."}
        )
    group = SupportGroup.objects.get(pk=group_id)
    _may_speak(user, group)
    with transaction.atomic():
        message = _own_message(user=user, group_id=group_id, message_id=message_id)
        if message.status != MessageStatus.VISIBLE:
            raise ValidationError({"message_id": "A deleted message cannot be edited."})
        window = dt.timedelta(seconds=settings.MESSAGE_EDIT_SECONDS)
        if timezone.now() - message.created_at > window:
            minutes = max(1, settings.MESSAGE_EDIT_SECONDS // 60)
            raise ValidationError(
                {
                    "message_id": f"Messages can be edited for {minutes} minutes after sending. "
                    "You can still delete it and write a new one."
                }
            )
        if body == message.body:
            return message
        assessment = assess(body)
        if assessment.level == "none" and not _may_moderate(user, group):
            reason = held_reason(
                body, harassment=assessment.harassment, held_categories=list(group.held_categories)
            )
            if reason:
                raise ValidationError(
                    {
                        "body": "This edit would be held for a facilitator's review "
                        f"({reason.replace('_', ' ')}). Change it, or send it as a new message."
                    }
                )
        before_level = message.level
        audit(
            action="message.edited",
            actor=user,
            group=group_id,
            target_user=user.pk,
            message_id=message.pk,
            reason=message.body,
            level=assessment.level,
        )
        raised = RANK.get(assessment.level, 0) > RANK.get(before_level, 0)
        message.body = body
        message.edited_at = timezone.now()
        # The learned stage reads the new words (moderation/review.py; the worker's sweep if
        # this process cannot).
        message.reviewed_at = None
        message.model_score = None
        fields = ["body", "edited_at", "reviewed_at", "model_score"]
        if raised:
            message.level, message.category = assessment.level, assessment.category
            message.rule_ids = list(assessment.rule_ids)
            fields += ["level", "category", "rule_ids"]
        message.save(update_fields=fields)
        if raised:
            alerts = list(
                Alert.objects.select_for_update()
                .filter(message=message, kind=AlertKind.CRISIS)
                .order_by("-id")
            )
            current = next((a for a in alerts if a.status != AlertStatus.RESOLVED), None)
            # The member already had the card if the detector, a facilitator's flag or an
            # earlier alert put this message at urgent or above.
            highest = max([RANK.get(before_level, 0)] + [RANK[a.level] for a in alerts])
            if current is None:
                alert_for_message(message=message, assessment=assessment, raised_by="edit")
            elif RANK[assessment.level] > RANK[current.level]:
                alert_upgrade(
                    alert=current,
                    level=assessment.level,
                    category=assessment.category,
                    reason="edited",
                )
            # Otherwise the alert (a facilitator's flag, say) is already as grave: an edit
            # never lowers it.
            if assessment.level in ESCALATING_LEVELS and highest < RANK["urgent"]:
                notify_member(
                    user_id=user.pk,
                    group_id=group_id,
                    frame=support_resources_frame(
                        assessment.level,
                        assessment.category,
                        user_id=user.pk,
                        message_id=message.pk,
                    ),
                )
        author = _author_of(message)
        shown = message_dict(message, author)
        quoted = replies_for([message]).get(message.reply_to_id) if message.reply_to_id else None
        if quoted:
            shown["reply_to"] = quoted
        counts = _counts(message.pk)
        if counts:
            shown["reactions"] = counts
        _ring(message, {"type": "message.edited", "message": shown}, author["id"])
    log.info("message edited id=%s level=%s", message.pk, message.level)
    return message


def _may_moderate(user: User, group: SupportGroup) -> bool:
    return bool(can_moderate(user, group))


def message_delete_own(*, user: User, group_id: int, message_id: Any) -> Message:
    """Deletes one's own message, at any time. The room sees "deleted by its author"; the words
    stay in the audit log for the moderators until the group's retention removes them."""
    with transaction.atomic():
        message = _own_message(user=user, group_id=group_id, message_id=message_id)
        if message.status == MessageStatus.DELETED:
            return message
        Message.objects.filter(pk=message.pk).update(
            status=MessageStatus.DELETED, deleted_at=timezone.now()
        )
        message.refresh_from_db()
        Reaction.objects.filter(message=message).delete()
        audit(
            action="message.deleted_by_author",
            actor=user,
            group=group_id,
            target_user=user.pk,
            message_id=message.pk,
            reason=message.body,
        )
        _ring(
            message,
            {"type": "message.deleted", "id": message.pk, "by": AUTHOR},
            _author_of(message)["id"],
        )
    log.info("message deleted by its author id=%s", message.pk)
    return message


def reaction_toggle(
    *, user: User, group_id: int, message_id: Any, reaction: Any, on: Any = None
) -> dict[str, Any]:
    """Adds or takes back one supportive reaction; `on` forces the state, else it toggles.
    Returns the message's counts."""
    if reaction not in ReactionKind.values:
        raise ValidationError(
            {"reaction": f"Reactions are one of: {', '.join(ReactionKind.values)}."}
        )
    group = SupportGroup.objects.get(pk=group_id)
    _may_speak(user, group)
    with transaction.atomic():
        message = (
            Message.objects.filter(pk=message_id, group_id=group_id, status=MessageStatus.VISIBLE)
            .only("pk", "group_id")
            .first()
            if isinstance(message_id, int) and not isinstance(message_id, bool)
            else None
        )
        if message is None:
            raise ValidationError({"message_id": "No such message in this room."})
        existing = Reaction.objects.filter(message=message, user=user, kind=reaction)
        want = (not existing.exists()) if on is None else bool(on)
        if want:
            Reaction.objects.get_or_create(message=message, user=user, kind=reaction)
        else:
            existing.delete()
        counts = _counts(message.pk)
        by = authors_for(group_id, {user.pk}).get(user.pk, FORMER_MEMBER)["id"]
        frame = {
            "type": "message.reactions",
            "message_id": message.pk,
            "reactions": counts,
            "by": by,
            "reaction": reaction,
            "on": want,
        }
        _ring(message, frame, by)
    return {"message_id": message.pk, "reactions": counts, "reaction": reaction, "on": want}


def checkin_request(*, user: User, group_id: int) -> SupportGroup:
    """A member asks to talk to a facilitator privately: the same one-to-one check-in room a
    facilitator can open, with all the group's facilitators in it, and an alert to them (at
    once to on-call when none is in the room) that escalates like a crisis alert until one of
    them acknowledges it. Asking again while a request is open repeats nothing."""
    group = SupportGroup.objects.get(pk=group_id)
    if group.kind == GroupKind.CHECKIN:
        raise PermissionDenied("You are already in a private check-in.")
    enrollment = _enrollment(user, group_id)
    if enrollment is None:
        raise PermissionDenied("Only the group's members can ask for a private check-in.")
    facilitators = list(
        GroupFacilitator.objects.filter(group=group).values_list("user_id", "is_lead")
    )
    with transaction.atomic():
        room = SupportGroup.objects.filter(
            kind=GroupKind.CHECKIN,
            checkin_of=group,
            deleted_at__isnull=True,
            enrollments__user_id=user.pk,
        ).first()
        if room is None:
            room = SupportGroup.objects.create(
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
            Enrollment.objects.create(
                group=room,
                user=user,
                alias=enrollment.alias,
                status=EnrollmentStatus.ACTIVE,
                agreement_version=room.agreement_version,
            )
        have = set(GroupFacilitator.objects.filter(group=room).values_list("user_id", flat=True))
        GroupFacilitator.objects.bulk_create(
            [
                GroupFacilitator(group=room, user_id=uid, is_lead=lead)
                for uid, lead in facilitators
                if uid not in have
            ]
        )
        open_request = Alert.objects.filter(
            kind=AlertKind.CHECKIN,
            group=group,
            member=user,
            status__in=[AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED],
        ).first()
        if open_request is None:
            window = ack_window("urgent")
            tier = Tier.SESSION if moderators_present(group_id) else Tier.ON_CALL
            alert = Alert.objects.create(
                kind=AlertKind.CHECKIN,
                group=group,
                member=user,
                level="urgent",
                category="none",
                explanation="Asked to talk to a facilitator privately.",
                tier=tier,
                ack_deadline=timezone.now() + window if window else None,
                checkin=room,
            )
            email_raised_at_on_call(alert, "asked to talk privately (nobody is in the room)")
            audit(
                action="checkin.requested",
                actor=user,
                group=group,
                target_user=user.pk,
                alert=alert,
                checkin_group=room.pk,
            )
            publish_alert_on_commit(alert, "alert.new")
    log.info("check-in requested group=%s room=%s", group_id, room.pk)
    return room


def own_command(*, user: User, group_id: int, frame: dict[str, Any]) -> dict[str, Any]:
    """Runs one of the member's own frames from a room socket; returns the reply frame."""
    kind = frame["type"]
    result: dict[str, Any] = {}
    if kind == "message.edit":
        message = message_edit(
            user=user, group_id=group_id, message_id=frame.get("message_id"), body=frame.get("body")
        )
        result = {"id": message.pk}
    elif kind == "message.delete":
        result = {
            "id": message_delete_own(
                user=user, group_id=group_id, message_id=frame.get("message_id")
            ).pk
        }
    elif kind == "reaction":
        result = reaction_toggle(
            user=user,
            group_id=group_id,
            message_id=frame.get("message_id"),
            reaction=frame.get("reaction"),
            on=frame.get("on") if isinstance(frame.get("on"), bool) else None,
        )
    elif kind == "checkin.request":
        result = {"group_id": checkin_request(user=user, group_id=group_id).pk}
    else:
        raise ValidationError({"type": f"Unknown frame {kind!r}."})
    reply: dict[str, Any] = {"type": "action.done", "action": kind, **result}
    if frame.get("ref") is not None:
        reply["ref"] = frame["ref"]
    return reply


OWN_COMMANDS = {"message.edit", "message.delete", "reaction", "checkin.request"}

"""Alerts, escalation, support resources and the audit log.

The only code that writes alerts and audit entries. Alerts are written in the same transaction as
the message that raised them; their events are published after commit. Deadlines are rows, so the
worker fires them after any restart, and each escalation is claimed with a conditional update so
two workers never send it twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator, Sequence
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from moderation import resources
from moderation.crisis.lexicon import RANK
from moderation.models import (
    Alert,
    AlertEmail,
    AlertKind,
    AlertStatus,
    AuditEntry,
    DetectorExample,
    ExampleSource,
    OutboundEmail,
    Outcome,
    Report,
    Tier,
)
from rooms import events, frames
from rooms.display import member_author_id
from rooms.models import (
    Enrollment,
    GroupFacilitator,
    GroupKind,
    Message,
    MessageStatus,
    SupportGroup,
)
from rooms.permissions import can_moderate
from rooms.selectors import present_user_ids
from server.accounts.models import Role, User

log = logging.getLogger(__name__)

ALERTING_LEVELS = ("watch", "urgent", "emergency")
ESCALATING_LEVELS = ("urgent", "emergency")
# Reminders at the top tier at the alert's own deadline; after these, one per digest period.
MAX_ON_CALL_REPEATS = 5
ACK_AWAY_GRACE = dt.timedelta(seconds=30)


def alerts_group(user_id: int) -> str:
    """The channel-layer group of one facilitator's or admin's /ws/alerts/ sockets."""
    return f"alerts.{user_id}"


def ack_window(level: str) -> dt.timedelta | None:
    seconds = {
        "emergency": settings.ALERT_ACK_SECONDS_EMERGENCY,
        "urgent": settings.ALERT_ACK_SECONDS_URGENT,
    }.get(level)
    return dt.timedelta(seconds=seconds) if seconds else None


def ack_hold() -> dt.timedelta:
    """How long an acknowledgement holds before the worker looks whether whoever gave it is
    still with the member (``alerts_reclaim``), and again each time after."""
    return dt.timedelta(seconds=settings.ALERT_ACK_HOLD_SECONDS)


def ack_grace() -> dt.timedelta:
    """After finding whoever acknowledged an alert away, how long before the look that decides:
    a phone changing networks or a page moving to the check-in comes back within it."""
    return min(ack_hold(), ACK_AWAY_GRACE)


def holds_acknowledgement(user: User, alert: Alert) -> bool:
    """Whether this person's acknowledgement is held to their being with the member: those who
    can be in the room. An on-call facilitator of another group cannot enter it; they act by
    other means (a call), so theirs holds until they resolve the alert."""
    return ack_window(alert.level) is not None and can_moderate(user, alert.group_id)


# ---------------------------------------------------------------- audit


def audit(
    *,
    action: str,
    actor: User | int | None,
    group: SupportGroup | int | None = None,
    target_user: User | int | None = None,
    message_id: int | None = None,
    alert: Alert | None = None,
    reason: str = "",
    **data: Any,
) -> AuditEntry:
    def _id(obj: Any) -> int | None:
        return obj if isinstance(obj, int) or obj is None else obj.pk

    return AuditEntry.objects.create(
        action=action,
        actor_id=_id(actor),
        group_id=_id(group),
        target_user_id=_id(target_user),
        message_id_ref=message_id,
        alert=alert,
        reason=reason[:2000],
        data=data,
    )


def audit_staff_action(
    sender: Any,
    *,
    action: str,
    actor: User | None,
    group: int | None,
    target_user: int | None,
    data: dict[str, Any],
    **_: Any,
) -> None:
    """The audit log's receiver of `server.accounts.signals.staff_action`."""
    audit(action=action, actor=actor, group=group, target_user=target_user, **data)


# ---------------------------------------------------------------- who is around


def moderators_present(group_id: int) -> set[int]:
    present = present_user_ids(group_id)
    if not present:
        return set()
    facilitators = set(
        _acting_facilitators()
        .filter(group_id=group_id, user_id__in=present)
        .values_list("user_id", flat=True)
    )
    admins = set(
        User.objects.filter(pk__in=present, role=Role.ADMIN, is_active=True).values_list(
            "pk", flat=True
        )
    )
    return facilitators | admins


def tier_recipients(alert: Alert) -> set[int]:
    """Everyone who should see the alert at its tier: each tier adds people, none drops out."""
    people = moderators_present(alert.group_id)
    if alert.tier >= Tier.GROUP:
        people |= set(
            _acting_facilitators().filter(group_id=alert.group_id).values_list("user_id", flat=True)
        )
    if alert.tier >= Tier.ON_CALL:
        on_call = set(
            User.objects.filter(
                on_call=True, is_active=True, role__in=[Role.FACILITATOR, Role.ADMIN]
            ).values_list("pk", flat=True)
        )
        if not on_call:
            # Nobody is on call: the alert must still reach someone who can act, so every
            # active admin hears it (an alert that reaches nobody is the one failure this
            # ladder exists to prevent).
            log.error("nobody is on call: alert id=%s goes to every admin", alert.pk)
            on_call = set(
                User.objects.filter(is_active=True, role=Role.ADMIN).values_list("pk", flat=True)
            )
        people |= on_call
    return people


def _acting_facilitators() -> QuerySet[GroupFacilitator]:
    """Facilitator rows of people who may act on them now: active facilitators and admins."""
    return GroupFacilitator.objects.filter(
        user__is_active=True, user__role__in=[Role.FACILITATOR, Role.ADMIN]
    )


def can_handle_alert(user: User, alert: Alert) -> bool:
    if not (user.is_authenticated and user.is_active):
        return False
    if user.role == Role.ADMIN:
        return True
    if user.role != Role.FACILITATOR:
        return False
    if GroupFacilitator.objects.filter(group_id=alert.group_id, user=user).exists():
        return True
    return bool(user.on_call and user.role == Role.FACILITATOR and alert.tier >= Tier.ON_CALL)


def alerts_visible(user: User) -> QuerySet[Alert]:
    qs = Alert.objects.select_related("group", "message", "member")
    if not user.is_active:
        return qs.none()
    if user.role == Role.ADMIN:
        return qs
    if user.role != Role.FACILITATOR:
        return qs.none()
    mine = Q(group__groupfacilitator__user=user)
    if user.on_call:
        mine |= Q(tier__gte=Tier.ON_CALL)
    return qs.filter(mine).distinct()


# ---------------------------------------------------------------- frames


def alert_dict(alert: Alert) -> dict[str, Any]:
    return alert_dicts([alert])[0]


def alert_dicts(alerts: Sequence[Alert]) -> list[dict[str, Any]]:
    """Alerts as facilitators see them, with the message in context (never logged). The
    members' aliases are read in one query for the whole list."""
    wanted = {(a.group_id, a.member_id) for a in alerts if a.member_id is not None}
    members: dict[tuple[int, int], dict[str, str]] = {}
    if wanted:
        for e in Enrollment.objects.filter(
            group_id__in={g for g, _ in wanted}, user_id__in={u for _, u in wanted}
        ):
            members[(e.group_id, e.user_id)] = {"id": member_author_id(e.pk), "alias": e.alias}
    # Who acknowledged and resolved: staff, named by their usernames (alerts are staff-only).
    staff_ids = {
        pk for a in alerts for pk in (a.acknowledged_by_id, a.resolved_by_id) if pk is not None
    }
    names = dict(User.objects.filter(pk__in=staff_ids).values_list("pk", "username"))
    return [
        {
            "id": alert.pk,
            "kind": alert.kind,
            "level": alert.level,
            "category": alert.category,
            "message_id": alert.message_id,
            "message_text": alert.message.body if alert.message is not None else "",
            "group_id": alert.group_id,
            "group_name": alert.group.name,
            "member": members.get((alert.group_id, alert.member_id or 0)),
            "explanation": alert.explanation,
            "status": alert.status,
            "tier": alert.tier,
            "created_at": alert.created_at.isoformat(),
            "ack_deadline": _iso(alert.ack_deadline),
            "acknowledged_at": _iso(alert.acknowledged_at),
            "acknowledged_by": names.get(alert.acknowledged_by_id or 0),
            "resolved_at": _iso(alert.resolved_at),
            "resolved_by": names.get(alert.resolved_by_id or 0),
            "outcome": alert.outcome,
            "note": alert.note,
            # A member's request to talk privately: the check-in room opened for it.
            "checkin_group_id": alert.checkin_id,
        }
        for alert in alerts
    ]


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def alert_frame(alert: Alert, kind: str, *, escalated: bool = False, reopened: bool = False) -> str:
    frame: dict[str, Any] = {"type": kind, "alert": alert_dict(alert)}
    if escalated:
        frame["escalated"] = True
    if reopened:
        frame["reopened"] = True
    return frames.dumps(frame)


def publish_alert_on_commit(
    alert: Alert, kind: str, *, escalated: bool = False, reopened: bool = False
) -> None:
    """alert.new / alert.updated to the room's moderators and every recipient's alert sockets.
    `escalated` marks the alert.updated of an escalation: it reached a new tier (or on-call
    again), and every client rings for it as for a new alert. `reopened` (with `escalated`)
    marks an acknowledged alert open again because whoever acknowledged it left
    (``alerts_reclaim``): it rings in the room too."""

    def send() -> None:
        fresh = Alert.objects.select_related("group", "message").get(pk=alert.pk)
        frame = alert_frame(fresh, kind, escalated=escalated, reopened=reopened)
        events.send_now(
            events.room_group(fresh.group_id),
            {"type": "room.frame", "text": frame, "moderators_only": True},
        )
        for user_id in tier_recipients(fresh):
            events.send_now(alerts_group(user_id), {"type": "room.frame", "text": frame})

    events.on_commit(send)


WARM_WORDS = {
    "emergency": (
        "We're really glad you told us. You don't have to carry this alone. A facilitator has "
        "been told and will reach out to you now. If you are in danger right now, please call "
        "911 or one of the lines below."
    ),
    "urgent": (
        "Thank you for sharing something so heavy. You matter here. A facilitator has been told "
        "and will check in with you. If you want to talk to someone right now, these people are "
        "there for you, any time."
    ),
}


def notify_member(*, user_id: int, group_id: int, frame: dict[str, Any]) -> None:
    """A private frame, after commit, to this person's sockets in this room only."""
    events.send_on_commit(
        events.user_group(user_id), {"type": "room.notice", "group_id": group_id, "frame": frame}
    )


def support_resources_frame(
    level: str, category: str, *, user_id: int | None, message_id: int | None = None
) -> dict[str, Any]:
    """The private support card: the lines for the member's own country that serve this
    category, then the international ones. ``message_id`` names the message it answers, so a
    client shows the card for one message once."""
    user = User.objects.filter(pk=user_id).only("country").first() if user_id else None
    lines = [
        resources.resource_dict(r)
        for r in resources.resources_for(resources.country_for(user), category)
    ]
    shown = _card_lines(lines)
    return {
        "type": "support.resources",
        "level": level,
        "category": category,
        "message_id": message_id,
        "message": WARM_WORDS.get(level, WARM_WORDS["urgent"]),
        "resources": shown,
        # Lines left off the card to keep it within its frame; the help page lists them all.
        "more": len(lines) - len(shown),
    }


def _card_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """As many lines as fit in frames.SUPPORT_BUDGET_BYTES, in their order; when they do not all
    fit, the immediate-danger lines (911, 999) are kept first."""
    if frames.fit(lines, frames.SUPPORT_BUDGET_BYTES) == len(lines):
        return lines
    first = [x for x in lines if x["immediate_danger"]] + [
        x for x in lines if not x["immediate_danger"]
    ]
    kept = {id(x) for x in first[: max(1, frames.fit(first, frames.SUPPORT_BUDGET_BYTES))]}
    return [x for x in lines if id(x) in kept]


def open_support_card(*, user_id: int, group_id: int) -> dict[str, Any] | None:
    """The support card of this person's newest urgent or emergency alert in this group that no
    facilitator has resolved yet, for the room's `hello`: a card sent while their socket was
    away (the model reads a message a moment after it is delivered) is not lost."""
    alert = (
        Alert.objects.filter(
            kind=AlertKind.CRISIS,
            member_id=user_id,
            group_id=group_id,
            level__in=ESCALATING_LEVELS,
        )
        .exclude(status=AlertStatus.RESOLVED)
        .order_by("-created_at", "-id")
        .only("level", "category", "message_id")
        .first()
    )
    if alert is None:
        return None
    return support_resources_frame(
        alert.level, alert.category, user_id=user_id, message_id=alert.message_id
    )


def all_resources(country: str) -> list[dict[str, Any]]:
    return [resources.resource_dict(r) for r in resources.resources_for(country)]


# ---------------------------------------------------------------- raising alerts


def alert_for_message(
    *, message: Message, assessment: Any, raised_by: str | None = None
) -> Alert | None:
    """Call inside the message's transaction. Raises an alert for watch and above; urgent and
    emergency get an acknowledge deadline, and start at the on-call tier when nobody who can
    moderate is in the room. `raised_by` marks the audit entry of an alert that a later stage
    raised ("model"), not the send path."""
    if assessment.level not in ALERTING_LEVELS:
        return None
    now = timezone.now()
    window = ack_window(assessment.level)
    # Watch signs are a low-priority queue entry for all the group's facilitators; urgent and
    # emergency go first to those in the room, or straight to on-call when nobody is.
    tier = Tier.SESSION if window is not None else Tier.GROUP
    if window is not None and not moderators_present(message.group_id):
        tier = Tier.ON_CALL
    alert = Alert.objects.create(
        kind=AlertKind.CRISIS,
        group_id=message.group_id,
        message=message,
        member_id=message.author_id,
        level=assessment.level,
        category=assessment.category,
        explanation=assessment.explanation[:500],
        rule_ids=list(assessment.rule_ids),
        tier=tier,
        ack_deadline=now + window if window else None,
    )
    audit(
        action="alert.raised",
        actor=None,
        group=message.group_id,
        target_user=message.author_id,
        message_id=message.pk,
        alert=alert,
        level=alert.level,
        tier=tier,
        **({"raised_by": raised_by} if raised_by else {}),
    )
    if tier == Tier.ON_CALL:
        _email_alert(
            alert, tier_recipients(alert), "needs a facilitator now (nobody is in the room)"
        )
    publish_alert_on_commit(alert, "alert.new")
    log.info(
        "alert raised id=%s level=%s tier=%s message=%s", alert.pk, alert.level, tier, message.pk
    )
    return alert


def alert_url(alert_id: int) -> str:
    """The alert in the queue: the page scrolls to it and focuses it."""
    return f"{settings.SITE_URL}/alerts/#alert-{alert_id}"


def email_raised_at_on_call(alert: Alert, why: str) -> None:
    """Call inside the transaction that created an alert at the on-call tier (nobody who can
    moderate is in the room): everyone at that tier hears by e-mail now, as for a crisis."""
    if alert.tier >= Tier.ON_CALL:
        _email_alert(alert, tier_recipients(alert), why)


def _email_alert(
    alert: Alert, user_ids: set[int], why: str, *, again: bool = False, anew: bool = False
) -> None:
    """Call inside the transaction that moved the alert. Each person gets one e-mail about this
    alert at this tier; whoever already had it, and everyone when the alert only comes `again`
    (on-call at the top tier), gets a digest entry instead (sent later, with everything else
    waiting for them, by `alert_digests_send`). `anew` (an acknowledged alert open again) is
    news to everyone: each gets an e-mail now, whatever they had before."""
    people = list(
        User.objects.filter(pk__in=user_ids, is_active=True)
        .exclude(email="")
        .values_list("pk", "email")
    )
    if not people:
        return
    told = (
        {pk for pk, _ in people}
        if again
        else set()
        if anew
        else set(
            AlertEmail.objects.filter(
                alert=alert, tier=alert.tier, digest=False, user_id__in=[pk for pk, _ in people]
            ).values_list("user_id", flat=True)
        )
    )
    group = SupportGroup.objects.get(pk=alert.group_id)
    subject = f"[{alert.level.upper()}] A member in {group.name} {why}"
    body = (
        f"Level: {alert.level}. Category: {alert.category.replace('_', ' ')}. "
        f"Group: {group.name}.\n\n"
        f"Please open the alert and acknowledge it: {alert_url(alert.pk)}\n\n"
        "For the member's privacy their words are shown only inside the app."
    )
    for user_id, email in people:
        digest = user_id in told
        if anew:
            # Its record may stand from before the acknowledgement (one per person and tier).
            AlertEmail.objects.get_or_create(
                alert=alert, user_id=user_id, tier=alert.tier, digest=False
            )
        else:
            AlertEmail.objects.create(alert=alert, user_id=user_id, tier=alert.tier, digest=digest)
        if not digest:
            OutboundEmail.objects.create(to=email, subject=subject[:200], body=body)


def alert_digests_send(now: dt.datetime | None = None) -> int:
    """One e-mail per person with the alerts that would have e-mailed them again, once the
    oldest has waited ALERT_EMAIL_DIGEST_SECONDS. Only alerts still waiting for someone are
    listed; a person whose alerts were all acknowledged meanwhile gets nothing. Returns how many
    digests were written to the outbox."""
    now = now or timezone.now()
    due = now - dt.timedelta(seconds=settings.ALERT_EMAIL_DIGEST_SECONDS)
    written = 0
    pending = AlertEmail.objects.filter(digest=True, digested_at__isnull=True)
    for user_id in set(pending.filter(created_at__lte=due).values_list("user_id", flat=True)):
        with transaction.atomic():
            mine = pending.filter(user_id=user_id, created_at__lte=now)
            alert_ids = set(mine.values_list("alert_id", flat=True))
            claimed = mine.update(digested_at=now)
            if not claimed:
                continue  # another worker sent it
            user = User.objects.filter(pk=user_id, is_active=True).exclude(email="").first()
            waiting = list(
                Alert.objects.filter(pk__in=alert_ids, status=AlertStatus.OPEN)
                .select_related("group")
                .order_by("created_at")
            )
            if user is None or not waiting:
                continue
            lines = [
                f"- {a.level.capitalize()} in {a.group.name}, raised "
                f"{a.created_at:%H:%M} UTC, tier {a.tier}: {alert_url(a.pk)}"
                for a in waiting
            ]
            count = len(waiting)
            OutboundEmail.objects.create(
                to=user.email,
                subject=f"{count} alert{'s' if count != 1 else ''} still not acknowledged",
                body=(
                    "These alerts are still waiting for someone to acknowledge them:\n\n"
                    + "\n".join(lines)
                    + f"\n\nThe alert queue: {settings.SITE_URL}/alerts/\n\n"
                    "For the members' privacy their words are shown only inside the app."
                ),
            )
            written += 1
    return written


def alerts_escalate(now: dt.datetime | None = None) -> int:
    """Moves every overdue, unacknowledged alert to its next tier. Returns how many moved."""
    now = now or timezone.now()
    moved = 0
    due = Alert.objects.filter(
        kind__in=[AlertKind.CRISIS, AlertKind.CHECKIN],
        status=AlertStatus.OPEN,
        ack_deadline__lte=now,
    ).values_list("pk", "group_id", "tier", "ack_deadline", "escalations", "level")
    for pk, group_id, tier, deadline, escalations, level in list(due):
        with transaction.atomic():
            before = tier_recipients(Alert(pk=pk, group_id=group_id, tier=tier))
            # A tier that would tell nobody new (the group's only facilitator is the one in the
            # room who has not answered) is passed over: the next one hears now, not a
            # deadline later.
            next_tier = min(tier + 1, Tier.ON_CALL)
            while next_tier < Tier.ON_CALL and not (
                tier_recipients(Alert(pk=pk, group_id=group_id, tier=next_tier)) - before
            ):
                next_tier += 1
            repeats = escalations + 1
            window = ack_window(level) or dt.timedelta(minutes=5)
            if next_tier == tier and repeats > MAX_ON_CALL_REPEATS:
                # Still nobody, after every reminder at the top tier: it never goes quiet, but
                # from here it rings as often as the digest mails go out.
                window = max(window, dt.timedelta(seconds=settings.ALERT_EMAIL_DIGEST_SECONDS))
                log.warning("alert id=%s still not acknowledged after %d reminders", pk, repeats)
            claimed = Alert.objects.filter(
                pk=pk, status=AlertStatus.OPEN, tier=tier, ack_deadline=deadline
            ).update(
                tier=next_tier,
                escalations=repeats,
                escalated_at=now,
                ack_deadline=now + window,
                updated_at=now,
            )
            if not claimed:
                continue  # acknowledged meanwhile, or another worker took it
            alert = Alert.objects.select_related("group").get(pk=pk)
            after = tier_recipients(alert)
            # New people hear about it by e-mail; at the top tier, on-call hears again, in the
            # digest.
            if after - before:
                _email_alert(alert, after - before, "has not been acknowledged")
            else:
                _email_alert(alert, after, "has not been acknowledged", again=True)
            audit(
                action="alert.escalated",
                actor=None,
                group=alert.group_id,
                alert=alert,
                from_tier=tier,
                to_tier=next_tier,
            )
            publish_alert_on_commit(alert, "alert.updated", escalated=True)
            moved += 1
            log.info("alert escalated id=%s tier=%s->%s", pk, tier, next_tier)
    return moved


def alerts_reclaim(now: dt.datetime | None = None) -> int:
    """An acknowledgement holds while whoever gave it is with the member: in the alert's room,
    or in a private check-in with her. At each hold deadline (``ack_hold`` after the
    acknowledgement, then again and again) the worker looks. Still there: the hold goes on,
    quietly. Away: it looks once more ``ack_grace`` later (a phone changing networks comes
    back). Gone at both looks (a closed laptop, a dead phone, someone who acknowledged from the
    alert page and never came): the alert is open again, with a fresh deadline of its level, at
    its tier (on-call at once if nobody who can moderate is in the room), and rings for everyone
    there, by e-mail too. Returns how many were opened again."""
    now = now or timezone.now()
    reopened = 0
    due = Alert.objects.filter(
        kind__in=[AlertKind.CRISIS, AlertKind.CHECKIN],
        status=AlertStatus.ACKNOWLEDGED,
        ack_deadline__lte=now,
    ).values_list(
        "pk",
        "group_id",
        "checkin_id",
        "member_id",
        "acknowledged_by_id",
        "ack_deadline",
        "ack_away_since",
        "level",
    )
    for pk, group_id, checkin_id, member_id, by_id, deadline, away_since, level in list(due):
        # With the member: in the group's room, or in a private check-in with her (opened from
        # the alert or from the room's member menu).
        rooms = {group_id, *([checkin_id] if checkin_id else [])}
        if member_id is not None:
            rooms |= set(
                SupportGroup.objects.filter(
                    kind=GroupKind.CHECKIN,
                    checkin_of_id=group_id,
                    deleted_at__isnull=True,
                    enrollments__user_id=member_id,
                ).values_list("pk", flat=True)
            )
        here = by_id is not None and any(by_id in present_user_ids(room) for room in rooms)
        if here:
            # A right taken away counts as leaving, even before the room closes their socket.
            by = User.objects.filter(pk=by_id, is_active=True).first()
            here = by is not None and can_moderate(by, group_id)
        unchanged = Alert.objects.filter(
            pk=pk, status=AlertStatus.ACKNOWLEDGED, ack_deadline=deadline
        )
        if here:
            unchanged.update(ack_deadline=now + ack_hold(), ack_away_since=None)
            continue
        if away_since is None:
            # Away at one look: one more, a moment later, decides (a reconnect is not leaving).
            unchanged.update(ack_deadline=now + ack_grace(), ack_away_since=now)
            continue
        with transaction.atomic():
            window = ack_window(level) or dt.timedelta(minutes=5)
            claimed = unchanged.update(
                status=AlertStatus.OPEN,
                ack_deadline=now + window,
                acknowledged_at=None,
                acknowledged_by=None,
                ack_away_since=None,
                updated_at=now,
            )
            if not claimed:
                continue  # resolved or acknowledged again meanwhile, or another worker took it
            alert = Alert.objects.select_related("group").get(pk=pk)
            if alert.tier < Tier.ON_CALL and not moderators_present(group_id):
                alert.tier = Tier.ON_CALL
                alert.escalated_at = now
                alert.save(update_fields=["tier", "escalated_at", "updated_at"])
            # News to everyone at the tier, by e-mail at once; opened again within the digest
            # period, it goes in their digest instead (no e-mail flood from one alert).
            digest_period = dt.timedelta(seconds=settings.ALERT_EMAIL_DIGEST_SECONDS)
            lately = AuditEntry.objects.filter(
                alert=alert, action="alert.reopened", created_at__gte=now - digest_period
            ).exists()
            _email_alert(
                alert,
                tier_recipients(alert),
                "needs someone again: whoever acknowledged the alert has left",
                again=lately,
                anew=not lately,
            )
            audit(action="alert.reopened", actor=None, group=group_id, alert=alert, left=by_id)
            publish_alert_on_commit(alert, "alert.updated", escalated=True, reopened=True)
            reopened += 1
            log.warning("alert reopened id=%s: whoever acknowledged it has left", pk)
    return reopened


# ---------------------------------------------------------------- acknowledging and resolving


def alert_acknowledge(*, alert: Alert, by: User) -> Alert:
    if not can_handle_alert(by, alert):
        raise PermissionDenied(
            "Only the group's facilitators, on-call staff and admins can do that."
        )
    with transaction.atomic():
        now = timezone.now()
        # As it is now (the level may have risen since the caller read it).
        alert = Alert.objects.select_for_update().get(pk=alert.pk)
        fields: dict[str, Any] = {
            "status": AlertStatus.ACKNOWLEDGED,
            "acknowledged_at": now,
            "acknowledged_by": by,
            "ack_away_since": None,
            "updated_at": now,
        }
        # An unattended room's deadline is when it turns read-only, not an escalation: knowing
        # about it does not put a facilitator back in the room. An urgent or emergency alert's
        # deadline becomes when the worker looks whether whoever acknowledged it is still with
        # the member (``alerts_reclaim``).
        if alert.kind != AlertKind.UNATTENDED:
            fields["ack_deadline"] = now + ack_hold() if holds_acknowledgement(by, alert) else None
        changed = Alert.objects.filter(pk=alert.pk, status=AlertStatus.OPEN).update(**fields)
        alert.refresh_from_db()
        if changed:
            audit(
                action="alert.acknowledged",
                actor=by,
                group=alert.group_id,
                alert=alert,
                seconds_to_ack=round((now - alert.created_at).total_seconds(), 1),
            )
            publish_alert_on_commit(alert, "alert.updated")
    return alert


def alert_resolve(*, alert: Alert, by: User, outcome: str, note: str = "") -> Alert:
    if not can_handle_alert(by, alert):
        raise PermissionDenied(
            "Only the group's facilitators, on-call staff and admins can do that."
        )
    if outcome not in Outcome.values:
        raise ValidationError({"outcome": f"Choose one of: {', '.join(Outcome.values)}."})
    with transaction.atomic():
        now = timezone.now()
        alert = Alert.objects.select_for_update().get(pk=alert.pk)
        if alert.status == AlertStatus.RESOLVED:
            raise ValidationError({"detail": "This alert is already resolved."})
        if alert.acknowledged_at is None:
            alert.acknowledged_at, alert.acknowledged_by = now, by
        alert.status, alert.resolved_at, alert.resolved_by = AlertStatus.RESOLVED, now, by
        alert.outcome, alert.note, alert.ack_deadline = outcome, note[:4000], None
        alert.save()
        audit(
            action="alert.resolved",
            actor=by,
            group=alert.group_id,
            alert=alert,
            reason=note,
            outcome=outcome,
            # "Not a crisis" is feedback on the detector: keep which rules fired.
            rule_ids=alert.rule_ids if outcome == Outcome.NOT_A_CRISIS else [],
        )
        if (
            outcome == Outcome.NOT_A_CRISIS
            and alert.kind == AlertKind.CRISIS
            and alert.message is not None
        ):
            detector_example_record(
                message=alert.message,
                alert=alert,
                level="none",
                category="none",
                source=ExampleSource.NOT_A_CRISIS,
                by=by,
            )
        publish_alert_on_commit(alert, "alert.updated")
    return alert


def alert_upgrade(*, alert: Alert, level: str, category: str, reason: str = "") -> str:
    """A facilitator's (or the learned model's) higher level or other category for an open or
    acknowledged crisis alert; returns the level it had. Call inside a transaction, with the
    alert locked. An alert that rises to urgent or emergency is open again with a fresh deadline
    of its new level, even if someone acknowledged it at a lower level, so that a person answers
    for the graver judgement; with nobody who can moderate in the room it goes to on-call at
    once, as a new alert would. Tiers only ever add people. `reason` is added to the
    explanation (by default: raised by a facilitator)."""
    before = alert.level
    now = timezone.now()
    window = ack_window(level)
    alert.level, alert.category = level, category
    reason = reason or f"Raised from {before} by a facilitator."
    alert.explanation = f"{alert.explanation} {reason}".strip()[-500:]
    if window is not None and RANK[level] > RANK[before]:
        alert.status, alert.ack_deadline = AlertStatus.OPEN, now + window
        alert.acknowledged_at, alert.acknowledged_by = None, None
        if alert.tier < Tier.ON_CALL and not moderators_present(alert.group_id):
            alert.tier = Tier.ON_CALL
            _email_alert(
                alert, tier_recipients(alert), "needs a facilitator now (nobody is in the room)"
            )
    alert.save()
    publish_alert_on_commit(alert, "alert.updated")
    log.info("alert upgraded id=%s level=%s->%s tier=%s", alert.pk, before, level, alert.tier)
    return before


# ---------------------------------------------------------------- the learned stage


def messages_mark_reviewed(*, scores: dict[int, dict[str, Any] | None]) -> int:
    """Marks messages that the learned stage read and did not raise, with their scores: one
    parameterised statement, run once per message in a single ``executemany``. A message another
    reviewer claimed meanwhile keeps what that one wrote.

    Not a queryset update with one ``When`` per message: building and compiling hundreds of
    expressions every half second took a quarter of the database thread that every send needs
    under load (bench/ws_load.py, profiled); the database itself does little either way."""
    if not scores:
        return 0
    reviewed_at = Message._meta.get_field("reviewed_at")
    model_score = Message._meta.get_field("model_score")
    table, at, score, pk = (
        connection.ops.quote_name(str(name))
        for name in (
            Message._meta.db_table,
            reviewed_at.column,
            model_score.column,
            Message._meta.pk.column,
        )
    )
    sql = f"UPDATE {table} SET {at} = %s, {score} = %s WHERE {pk} = %s AND {at} IS NULL"
    now = reviewed_at.get_db_prep_save(timezone.now(), connection)
    rows = [
        (now, model_score.get_db_prep_save(value, connection), key) for key, value in scores.items()
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)
        return max(cursor.rowcount, 0)


def message_review_apply(
    *, message_id: int, assessment: Any, model_explanation: str = ""
) -> Alert | None:
    """What the learned stage found in a delivered message, when it raises what the send path
    stored (`moderation.crisis.combine.raises`): in one transaction, claims the message for
    review, raises its level and category, and raises its alert (a new one, or the open lower
    one upgraded); after commit the author gets the private support card when the message
    reaches urgent or emergency for the first time. Returns the alert raised or upgraded, None
    when another reviewer claimed the message first or a person already judged it.

    The claim is a conditional update on `reviewed_at`, so the web process's reviewer and the
    worker's sweep racing for one message raise its alert once. Crisis messages are never
    hidden: a held message stays held, and still gets its alert. `model_explanation` (the
    model's own "model: 0.91 urgent, self_harm") is what an upgraded alert adds to its
    explanation; a new alert has the combined one, which names both stages."""
    with transaction.atomic():
        claimed = Message.objects.filter(
            pk=message_id,
            reviewed_at__isnull=True,
            status__in=[MessageStatus.VISIBLE, MessageStatus.HELD],
        ).update(reviewed_at=timezone.now(), model_score=assessment.model)
        if not claimed:
            return None
        # The claim above holds the row's lock, so the facilitators' flag (which locks the
        # message first, then its alerts) waits for this transaction or went before it.
        message = Message.objects.get(pk=message_id)
        stored = (message.level, message.category)
        if RANK[assessment.level] >= RANK[message.level]:
            message.level, message.category = assessment.level, assessment.category
            Message.objects.filter(pk=message_id).update(
                level=message.level, category=message.category
            )
        alerts = list(
            Alert.objects.select_for_update()
            .filter(message_id=message_id, kind=AlertKind.CRISIS)
            .order_by("-id")
        )
        # The member already had the card if the send path or an earlier alert put this
        # message at urgent or above.
        highest = max([RANK[stored[0]]] + [RANK[a.level] for a in alerts])
        current = next((a for a in alerts if a.status != AlertStatus.RESOLVED), None)
        # A facilitator who resolved an alert judged the words as they were then; words the
        # member wrote after that (an edit) are new to everyone.
        judged = [
            a
            for a in alerts
            if a.status == AlertStatus.RESOLVED
            and (
                message.edited_at is None
                or a.resolved_at is None
                or a.resolved_at >= message.edited_at
            )
        ]
        alert: Alert | None = None
        if current is None and not judged:
            alert = alert_for_message(message=message, assessment=assessment, raised_by="model")
        elif current is not None and (
            RANK[assessment.level] > RANK[current.level]
            # Another category at the same level only where the alert still says what the
            # rules said: a facilitator's own judgement is not overridden.
            or (
                assessment.level == current.level
                and assessment.category != current.category
                and (current.level, current.category) == stored
            )
        ):
            alert = current
            before = alert_upgrade(
                alert=alert,
                level=assessment.level,
                category=assessment.category,
                reason=f"Raised from {current.level} by the {model_explanation or 'model'}.",
            )
            audit(
                action="alert.upgraded",
                actor=None,
                group=message.group_id,
                target_user=message.author_id,
                message_id=message.pk,
                alert=alert,
                level=assessment.level,
                category=assessment.category,
                from_level=before,
                raised_by="model",
            )
        # Otherwise a person already judged these words (an alert resolved, or flagged at this
        # level or higher): the message keeps the model's level, the alert theirs.
        if alert is not None and assessment.level in ESCALATING_LEVELS and highest < RANK["urgent"]:
            notify_member(
                user_id=message.author_id,
                group_id=message.group_id,
                frame=support_resources_frame(
                    assessment.level,
                    assessment.category,
                    user_id=message.author_id,
                    message_id=message.pk,
                ),
            )
    log.info(
        "model review raised message=%s %s->%s alert=%s",
        message_id,
        stored[0],
        assessment.level,
        alert.pk if alert else "-",
    )
    return alert


# ---------------------------------------------------------------- learning from facilitators


def detector_example_record(
    *, message: Message, alert: Alert | None, level: str, category: str, source: str, by: User
) -> DetectorExample:
    """Keeps a facilitator's judgement of a message as a labelled example for the detector.
    Call inside the transaction of the judgement. One example per message: the latest judgement
    replaces an earlier one, so training never sees the same words with two labels."""
    DetectorExample.objects.filter(message=message).delete()
    return DetectorExample.objects.create(
        message=message,
        text=message.body,
        level=level,
        category=category,
        source=source,
        rule_ids=list(message.rule_ids or []),
        model_score=_model_score(alert, message),
        detector_level=message.level,
        created_by=by,
    )


def _model_score(*objects: Any) -> dict[str, Any] | None:
    """The learned model's probabilities, where the send path stored them (on the alert or the
    message); None while there is no model."""
    for obj in objects:
        score = getattr(obj, "model_score", None)
        if isinstance(score, dict):
            return score
    return None


def detector_examples_forget(*, author: User) -> int:
    """Removes every example made from this person's messages (account deletion: their words
    leave the training data even where the group keeps their messages anonymized)."""
    count, _ = DetectorExample.objects.filter(message__author=author).delete()
    return count


def detector_example_dict(example: DetectorExample) -> dict[str, Any]:
    """One line of the export: the words and the labels, nothing about who or where. Its
    first four fields are those of the detector's dev set, so training reads it as data."""
    return {
        "id": f"fb-{example.pk}",
        "text": example.text,
        "level": example.level,
        "category": example.category,
        "source": example.source,
        "rule_ids": list(example.rule_ids or []),
        "model_score": example.model_score,
        "detector_level": example.detector_level,
    }


def detector_examples_export() -> Iterator[dict[str, Any]]:
    """Every labelled example, oldest first, as export lines."""
    for example in DetectorExample.objects.order_by("id").iterator():
        yield detector_example_dict(example)


def detector_feedback() -> list[dict[str, Any]]:
    """Rules behind alerts that facilitators judged 'not a crisis', most frequent first."""
    counts: dict[str, dict[str, Any]] = {}
    for alert in Alert.objects.filter(outcome=Outcome.NOT_A_CRISIS).only("rule_ids", "level"):
        for rule in alert.rule_ids or ["(none)"]:
            row = counts.setdefault(rule, {"rule_id": rule, "count": 0, "levels": {}})
            row["count"] += 1
            row["levels"][alert.level] = row["levels"].get(alert.level, 0) + 1
    return sorted(counts.values(), key=lambda r: (-r["count"], r["rule_id"]))


# ---------------------------------------------------------------- e-mail outbox


def _unclaimed(now: dt.datetime) -> Q:
    return Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)


def outbox_send(limit: int = 50) -> int:
    """Sends what the outbox holds. Each e-mail is claimed for a while (a lease) in a short
    transaction and sent outside it, so a mail relay that is slow or stalls holds no database
    lock (on SQLite that would stop every message); a worker that dies mid-send leaves the
    e-mail to be sent again when the lease ends: sent at least once, never lost."""
    from django.core.mail import send_mail

    sent = 0
    now = timezone.now()
    lease = dt.timedelta(seconds=2 * settings.EMAIL_TIMEOUT + 30)
    for pk in list(
        OutboundEmail.objects.filter(
            _unclaimed(now), sent_at__isnull=True, attempts__lt=5
        ).values_list("pk", flat=True)[:limit]
    ):
        now = timezone.now()
        claimed = OutboundEmail.objects.filter(_unclaimed(now), pk=pk, sent_at__isnull=True).update(
            claimed_until=now + lease
        )
        if not claimed:
            continue  # another worker has it
        mail = OutboundEmail.objects.get(pk=pk)
        try:
            send_mail(mail.subject, mail.body, settings.DEFAULT_FROM_EMAIL, [mail.to])
        except Exception:
            log.exception("alert e-mail failed id=%s", pk)
            OutboundEmail.objects.filter(pk=pk).update(
                claimed_until=None, attempts=mail.attempts + 1
            )
            continue
        OutboundEmail.objects.filter(pk=pk).update(sent_at=timezone.now(), claimed_until=None)
        sent += 1
    return sent


# ---------------------------------------------------------------- retention


def audit_text_purge(now: dt.datetime | None = None) -> int:
    """Alerts, reports and audit entries keep their metadata and lose their words after
    AUDIT_TEXT_RETENTION_DAYS. (The one sanctioned change to audit rows.)"""
    cutoff = (now or timezone.now()) - dt.timedelta(days=settings.AUDIT_TEXT_RETENTION_DAYS)
    changed = (
        Alert.objects.filter(created_at__lt=cutoff)
        .exclude(explanation="", note="")
        .update(explanation="", note="")
    )
    changed += Report.objects.filter(created_at__lt=cutoff).exclude(note="").update(note="")
    changed += AuditEntry.objects.filter(created_at__lt=cutoff).exclude(reason="").update(reason="")
    return changed

"""Members own their words: export everything held about them, and delete their account.

Deletion removes (or, by the group's setting, anonymizes) their messages, ends their
enrollments, closes their sockets, stops their calendar feed, and leaves alerts about them with
only what the audit needs. The account row stays as an inactive, renamed husk so that audit
entries keep pointing at something, but nothing of the person remains in it."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from moderation.models import Alert, HiddenAuthor, Report
from moderation.services import audit, detector_examples_forget
from rooms import events
from rooms.models import (
    Attendance,
    Enrollment,
    EnrollmentStatus,
    GroupFacilitator,
    Message,
    RoomConnection,
    SupportGroup,
)
from rooms.services import waitlist_promote
from server.accounts.models import User, WsTicket, new_calendar_token


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def account_export(*, user: User) -> dict[str, Any]:
    enrollments = Enrollment.objects.filter(user=user).select_related("group")
    messages = Message.objects.filter(author=user).select_related("group").order_by("id")
    return {
        "exported_at": timezone.now().isoformat(),
        "profile": {
            "id": user.pk,
            "username": user.username,
            "email": user.email,
            "role": user.role,
            "on_call": user.on_call,
            "date_joined": _iso(user.date_joined),
            "last_login": _iso(user.last_login),
        },
        "enrollments": [
            {
                "group_id": e.group_id,
                "group_name": e.group.name,
                "alias": e.alias,
                "status": e.status,
                "agreement_version_accepted": e.agreement_version,
                "joined_at": _iso(e.created_at),
            }
            for e in enrollments
        ],
        "messages": [
            {
                "id": m.pk,
                "group_id": m.group_id,
                "group_name": m.group.name,
                "created_at": _iso(m.created_at),
                "text": m.body,
                "status": m.status,
            }
            for m in messages
        ],
        "reports_made": [
            {
                "id": r.pk,
                "message_id": r.message_id,
                "reason": r.reason,
                "note": r.note,
                "status": r.status,
                "created_at": _iso(r.created_at),
                "resolved_at": _iso(r.resolved_at),
            }
            for r in Report.objects.filter(reporter=user)
        ],
        "attendance": [
            {
                "session_id": a.session_id,
                "group_id": a.session.group_id,
                "first_joined_at": _iso(a.first_joined_at),
                "last_left_at": _iso(a.last_left_at),
            }
            for a in Attendance.objects.filter(user=user).select_related("session")
        ],
        "alerts_about_you": [
            {
                "id": a.pk,
                "group_id": a.group_id,
                "level": a.level,
                "category": a.category,
                "status": a.status,
                "created_at": _iso(a.created_at),
            }
            for a in Alert.objects.filter(member=user)
        ],
        "hidden_authors": list(
            HiddenAuthor.objects.filter(user=user).values("group_id", "author_key")
        ),
    }


def account_delete(*, user: User, by: User) -> None:
    with transaction.atomic():
        enrollments = list(Enrollment.objects.filter(user=user).select_related("group"))
        keep_in = [e.group_id for e in enrollments if e.group.on_member_delete == "anonymize"]
        # Their words leave the detector's training data even where the room keeps them.
        detector_examples_forget(author=user)
        Message.objects.filter(author=user).exclude(group_id__in=keep_in).delete()
        seated_groups = [e.group_id for e in enrollments if e.status == EnrollmentStatus.ACTIVE]
        Enrollment.objects.filter(user=user).delete()
        for group in SupportGroup.objects.select_for_update().filter(pk__in=seated_groups):
            waitlist_promote(group=group)
        Report.objects.filter(reporter=user).delete()
        HiddenAuthor.objects.filter(user=user).delete()
        Attendance.objects.filter(user=user).delete()
        RoomConnection.objects.filter(user=user).delete()
        GroupFacilitator.objects.filter(user=user).delete()
        Token.objects.filter(user=user).delete()
        WsTicket.objects.filter(user=user).delete()
        # Alerts keep level, category, times and outcome for the audit; the words go.
        Alert.objects.filter(member=user).update(member=None, explanation="", note="")
        audit(action="account.deleted", actor=by, target_user=user, by_self=by.pk == user.pk)
        user.username = f"deleted-{uuid.uuid4().hex[:12]}"
        user.email = ""
        user.first_name = user.last_name = ""
        user.set_unusable_password()
        user.is_active = False
        user.is_staff = user.is_superuser = False
        user.on_call = False
        user.calendar_token = new_calendar_token()
        user.save()
        events.user_access_revoked_on_commit(user_id=user.pk)

"""Rows several test modules set up the same way."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone


def crisis_alert(
    group: Any,
    member: Any,
    *,
    level: str = "urgent",
    body: str = "x",
    due_in: dt.timedelta = dt.timedelta(hours=1),
    **fields: Any,
) -> Any:
    """An open self-harm alert on a stored message of the member's, at the session's tier, as
    the send path leaves one: its acknowledgement is due `due_in` from now (negative: overdue,
    for the worker to escalate). `fields` sets any other column of the alert."""
    from moderation.models import Alert, Tier
    from rooms.models import Message

    message = Message.objects.create(group=group, author=member, body=body, level=level)
    return Alert.objects.create(
        **{
            "group": group,
            "message": message,
            "member": member,
            "level": level,
            "category": "self_harm",
            "tier": Tier.SESSION,
            "ack_deadline": timezone.now() + due_in,
            **fields,
        }
    )

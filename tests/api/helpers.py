"""Small helpers shared by the API tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rooms.models import SupportGroup
from rooms.services import group_create
from server.accounts.models import User
from server.accounts.services import account_create

LA = "America/Los_Angeles"


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def member(name: str, role: str = "member") -> User:
    return account_create(
        username=name, password=f"pw-{name}-long", role=role, email=f"{name}@example.org"
    )


def weekly_group(
    name: str,
    *,
    start: dt.date,
    at: dt.time = dt.time(19, 0),
    byday: str = "TU",
    facilitators: list[int] | None = None,
    **extra: Any,
) -> SupportGroup:
    fields = {
        "name": name,
        "timezone": LA,
        "capacity": 10,
        "agreement_text": "Be kind.",
        "rrule": f"FREQ=WEEKLY;BYDAY={byday}",
        "start_date": start,
        "start_time": at,
        "duration_minutes": 90,
        **extra,
    }
    return group_create(fields=fields, facilitator_ids=facilitators or [])

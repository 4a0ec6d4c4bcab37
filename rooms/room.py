"""Room state: whether a group's room is open, and the session it belongs to."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from rooms.models import RoomOverride, Session, SessionStatus, SupportGroup


@dataclass(frozen=True)
class RoomState:
    open: bool
    locked: bool
    session: Session | None
    opens_at: dt.datetime | None  # when a closed room next opens, if scheduled
    override: str = RoomOverride.AUTO  # a facilitator's open/close in effect, or "auto"

    def as_dict(self, group: SupportGroup) -> dict:
        return {
            "group_id": group.pk,
            "name": group.name,
            "open": self.open,
            "locked": self.locked,
            "slow_mode_seconds": group.slow_mode_seconds,
            "typing_indicators": group.typing_indicators,
            "drop_in": group.drop_in,
            "override": self.override,
            "opens_at": self.opens_at.isoformat() if self.opens_at else None,
            "session": (
                {
                    "id": self.session.pk,
                    "starts_at": self.session.starts_at.isoformat(),
                    "ends_at": self.session.ends_at.isoformat(),
                }
                if self.session
                else None
            ),
        }


def room_state(group: SupportGroup, now: dt.datetime | None = None) -> RoomState:
    now = now or timezone.now()
    lead = settings.ROOM_OPENS_BEFORE
    session = (
        Session.objects.filter(
            group=group,
            status=SessionStatus.SCHEDULED,
            starts_at__lte=now + lead,
            ends_at__gt=now,
        )
        .order_by("starts_at")
        .first()
    )
    override = group.room_override
    if group.override_until and group.override_until <= now:
        override = RoomOverride.AUTO
    if override == RoomOverride.OPEN:
        is_open = True
    elif override == RoomOverride.CLOSED:
        is_open = False
    else:
        is_open = group.drop_in or session is not None
    opens_at = None
    if not is_open and not group.drop_in:
        upcoming = (
            Session.objects.filter(group=group, status=SessionStatus.SCHEDULED, starts_at__gt=now)
            .order_by("starts_at")
            .first()
        )
        opens_at = upcoming.starts_at - lead if upcoming else None
    return RoomState(
        open=is_open, locked=group.locked, session=session, opens_at=opens_at, override=override
    )

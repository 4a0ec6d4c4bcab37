"""Extension points that accounts and rooms name for the apps above them (STYLE.md: layers only
point down). The audit log (moderation) listens; accounts and rooms never import it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.dispatch import Signal

# A staff member changed a group, a session, an enrollment or an account. Sent inside the
# change's transaction, with keyword arguments action ("group.updated"), actor (a User or None
# for the system), group and target_user (ids or None) and data (a JSON-ready dict).
staff_action = Signal()


def staff_action_record(
    *,
    action: str,
    actor: Any,
    group: int | None = None,
    target_user: int | None = None,
    system_too: bool = False,
    **data: Any,
) -> None:
    """Sends `staff_action` for a change a person made; one with no actor (seeding, commands)
    only when `system_too` (what the system did on its own, such as seating the waitlist).
    Datetimes in `data` become ISO 8601 text."""
    if not getattr(actor, "pk", None) and not system_too:
        return
    clean = {k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in data.items()}
    staff_action.send(
        sender=None,
        action=action,
        actor=actor if getattr(actor, "pk", None) else None,
        group=group,
        target_user=target_user,
        data=clean,
    )

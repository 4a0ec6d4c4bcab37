"""The moderation commands of the room socket: one frame in, one action, the reply frame out.

Rooms names the extension point (rooms.hooks.ROOM_COMMANDS) and moderation registers this table
in its AppConfig.ready(); each action checks permission itself, as it does for the REST API.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from moderation.actions import (
    checkin_open,
    held_approve,
    held_reject,
    member_ban,
    member_mute,
    member_remove,
    member_unmute,
    message_delete,
    message_flag,
    report_create,
    room_update,
)
from moderation.models import Alert
from moderation.services import alert_acknowledge, alert_resolve
from rooms.models import Message, SupportGroup
from server.accounts.models import User


def room_command(*, user: User, group_id: int, frame: dict[str, Any]) -> dict[str, Any]:
    """Runs one moderation frame from a room socket; returns the reply frame."""
    kind = frame["type"]
    group = SupportGroup.objects.get(pk=group_id)

    def message_in_room() -> Message:
        pk = frame.get("message_id")
        message = (
            Message.objects.filter(pk=pk, group_id=group_id).first()
            if isinstance(pk, int)
            else None
        )
        if message is None:
            raise ValidationError({"message_id": "No such message in this room."})
        return message

    def alert_of_room() -> Alert:
        pk = frame.get("alert_id")
        alert = Alert.objects.filter(pk=pk).first() if isinstance(pk, int) else None
        if alert is None:
            raise ValidationError({"alert_id": "No such alert."})
        return alert

    def text(name: str) -> str:
        value = frame.get(name, "")
        return value if isinstance(value, str) else ""

    result: Any = None
    if kind == "mute":
        minutes = frame.get("minutes")
        member_mute(
            by=user,
            group=group,
            member=frame.get("member"),
            minutes=minutes if isinstance(minutes, int) else 0,
            reason=text("reason"),
        )
    elif kind == "unmute":
        member_unmute(by=user, group=group, member=frame.get("member"))
    elif kind == "remove":
        member_remove(by=user, group=group, member=frame.get("member"), reason=text("reason"))
    elif kind == "ban":
        member_ban(by=user, group=group, member=frame.get("member"), reason=text("reason"))
    elif kind == "delete":
        message_delete(by=user, message=message_in_room(), reason=text("reason"))
    elif kind == "flag":
        flagged = message_flag(
            by=user,
            message=message_in_room(),
            level=text("level"),
            category=text("category"),
            note=text("note"),
        )
        result = {"alert_id": flagged.pk}
    elif kind == "room.update":
        room_update(
            by=user,
            group=group,
            slow_mode_seconds=frame.get("slow_mode_seconds"),
            locked=frame.get("locked"),
            open=frame.get("open"),
        )
    elif kind == "held.approve":
        result = {"id": held_approve(by=user, message=message_in_room()).pk}
    elif kind == "held.reject":
        held_reject(by=user, message=message_in_room(), reason=text("reason"))
    elif kind == "alert.acknowledge":
        alert_acknowledge(alert=alert_of_room(), by=user)
    elif kind == "alert.resolve":
        alert_resolve(alert=alert_of_room(), by=user, outcome=text("outcome"), note=text("note"))
    elif kind == "checkin.open":
        result = {"group_id": checkin_open(by=user, group=group, member=frame.get("member")).pk}
    elif kind == "report":
        result = {
            "report_id": report_create(
                by=user, message=message_in_room(), reason=text("reason"), note=text("note")
            ).pk
        }
    else:
        raise ValidationError({"type": f"Unknown command {kind!r}."})
    reply: dict[str, Any] = {"type": "action.done", "action": kind}
    if frame.get("ref") is not None:
        reply["ref"] = frame["ref"]
    if result:
        reply.update(result)
    return reply


ROOM_COMMANDS = frozenset(
    {
        "mute",
        "unmute",
        "remove",
        "ban",
        "delete",
        "flag",
        "room.update",
        "held.approve",
        "held.reject",
        "alert.acknowledge",
        "alert.resolve",
        "checkin.open",
        "report",
    }
)


def room_commands() -> dict[str, Any]:
    """The table the room socket dispatches on (rooms.hooks.ROOM_COMMANDS)."""
    return dict.fromkeys(ROOM_COMMANDS, room_command)

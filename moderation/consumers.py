"""/ws/alerts/: crisis alerts for facilitators and on-call admins, outside any one room."""

from __future__ import annotations

import json
from typing import Any

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.core.exceptions import PermissionDenied, ValidationError

from moderation import services
from moderation.models import AlertStatus
from rooms import events
from server.accounts.models import Role

LEVEL_ORDER = {"emergency": 0, "urgent": 1, "watch": 2}


def alerts_hello(user: Any) -> dict[str, Any]:
    queue = list(
        services.alerts_visible(user).filter(
            status__in=[AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED]
        )[:200]
    )
    queue.sort(key=lambda a: (LEVEL_ORDER.get(a.level, 3), a.created_at))
    return {
        "type": "hello",
        "you": {
            "id": user.pk,
            "username": user.username,
            "role": user.role,
            "on_call": user.on_call,
        },
        "alerts": services.alert_dicts(queue),
    }


def alert_command(user: Any, frame: dict[str, Any]) -> dict[str, Any]:
    pk = frame.get("alert_id")
    alert = services.alerts_visible(user).filter(pk=pk).first() if isinstance(pk, int) else None
    if alert is None:
        raise ValidationError({"alert_id": "No such alert."})
    if frame["type"] == "alert.acknowledge":
        services.alert_acknowledge(alert=alert, by=user)
    else:
        outcome, note = frame.get("outcome"), frame.get("note", "")
        services.alert_resolve(
            alert=alert,
            by=user,
            outcome=outcome if isinstance(outcome, str) else "",
            note=note if isinstance(note, str) else "",
        )
    return {"type": "action.done", "action": frame["type"], "alert_id": alert.pk}


class AlertsConsumer(AsyncWebsocketConsumer):
    user: Any = None

    async def dispatch(self, message: dict[str, Any]) -> None:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        await self.accept()
        user = self.scope["user"]
        if not user.is_authenticated:
            await self.close(code=4401, reason="unauthenticated")
            return
        if user.role not in (Role.FACILITATOR, Role.ADMIN):
            await self.send(
                text_data=json.dumps(
                    {"type": "error", "code": "forbidden", "detail": "Alerts are for facilitators."}
                )
            )
            await self.close(code=4403, reason="forbidden")
            return
        self.user = user
        for name in (services.alerts_group(user.pk), events.user_group(user.pk)):
            self.groups.append(name)
            await self.channel_layer.group_add(name, self.channel_name)
        await self.send(text_data=json.dumps(await database_sync_to_async(alerts_hello)(user)))

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.user is None:
            return
        try:
            frame = json.loads(text_data or "")
        except ValueError:
            frame = None
        if not isinstance(frame, dict) or frame.get("type") not in (
            "alert.acknowledge",
            "alert.resolve",
            "ping",
        ):
            await self.send(
                text_data=json.dumps(
                    {
                        "type": "error",
                        "code": "invalid",
                        "detail": "Send alert.acknowledge, alert.resolve or ping frames.",
                    }
                )
            )
            return
        if frame["type"] == "ping":
            await self.send(text_data='{"type": "pong"}')
            return
        try:
            reply = await database_sync_to_async(alert_command)(self.user, frame)
        except PermissionDenied as exc:
            reply = {"type": "error", "code": "forbidden", "detail": str(exc)}
        except ValidationError as exc:
            reply = {"type": "error", "code": "invalid", "detail": " ".join(exc.messages)}
        await self.send(text_data=json.dumps(reply))

    async def room_frame(self, event: dict[str, Any]) -> None:
        await self.send(text_data=event["text"])

    async def access_revoked(self, event: dict[str, Any]) -> None:
        if event.get("group_id") is None:
            await self.close(code=4403, reason="revoked")

    async def member_muted(self, event: dict[str, Any]) -> None:
        return

    async def room_notice(self, event: dict[str, Any]) -> None:
        return

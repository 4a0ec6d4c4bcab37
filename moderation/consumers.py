"""/ws/alerts/: crisis alerts for facilitators and on-call admins, outside any one room."""

from __future__ import annotations

import datetime as dt
import logging
from functools import partial
from typing import Any

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Case, IntegerField, Q, Value, When

from moderation import services
from moderation.models import AlertStatus
from rooms import events, frames, inbound, liveness
from rooms.frames import Code
from rooms.rights import sweep_rights_of
from server.accounts.models import Role, User

log = logging.getLogger(__name__)

LEVEL_ORDER = {"emergency": 0, "urgent": 1, "watch": 2}
# At most this many alerts per page; fewer when their texts would pass frames.PAGE_BUDGET_BYTES.
QUEUE_PAGE = 200
_CHUNK = 25  # alerts read and serialized at a time while filling a page


def _rank() -> Case:
    return Case(
        *(When(level=level, then=Value(rank)) for level, rank in LEVEL_ORDER.items()),
        default=Value(len(LEVEL_ORDER)),
        output_field=IntegerField(),
    )


def _cursor(rank: int, created_at: dt.datetime, pk: int) -> str:
    return f"{rank}:{created_at.isoformat()}:{pk}"


def _after(rank: int, created_at: dt.datetime, pk: int) -> Q:
    """The alerts after this one in queue order (most severe first, then oldest)."""
    return (
        Q(rank__gt=rank)
        | Q(rank=rank, created_at__gt=created_at)
        | Q(rank=rank, created_at=created_at, pk__gt=pk)
    )


def _parse_cursor(cursor: str) -> tuple[int, dt.datetime, int]:
    try:
        rank_text, rest = cursor.split(":", 1)
        when_text, pk_text = rest.rsplit(":", 1)
        when = dt.datetime.fromisoformat(when_text)
        if when.tzinfo is None or not (rank_text.isascii() and pk_text.isascii()):
            raise ValueError(cursor)
        return int(rank_text), when, int(pk_text)
    except ValueError as bad:
        raise ValidationError({"cursor": "Send the `next` cursor of the last page."}) from bad


def alerts_queue_page(user: Any, cursor: str | None = None) -> tuple[list[str], str | None]:
    """The open and acknowledged alerts this user may handle, most severe first, then oldest:
    one page of serialized alerts that fits in a frame, and the cursor of the next page (None
    when this is the last)."""
    queue = (
        services.alerts_visible(user)
        .filter(status__in=[AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED])
        .annotate(rank=_rank())
        .order_by("rank", "created_at", "id")
    )
    last = _parse_cursor(cursor) if cursor is not None else None
    items: list[str] = []
    used = 0
    while len(items) < QUEUE_PAGE:
        chunk = list((queue.filter(_after(*last)) if last else queue)[:_CHUNK])
        if not chunk:
            return items, None
        for alert, shown in zip(chunk, services.alert_dicts(chunk), strict=True):
            item = frames.dumps(shown)
            cost = frames.size(item) + 1
            if items and (len(items) >= QUEUE_PAGE or used + cost > frames.PAGE_BUDGET_BYTES):
                assert last is not None
                return items, _cursor(*last)
            items.append(item)
            used += cost
            last = (alert.rank, alert.created_at, alert.pk)
    assert last is not None
    more = queue.filter(_after(*last)).exists()
    return items, _cursor(*last) if more else None


def _page_frame(head: str, items: list[str], cursor: str | None) -> str:
    tail = f',"has_more":{"true" if cursor else "false"},"next":{frames.dumps(cursor)}}}'
    return frames.join_page(head, items, tail)


def alerts_hello(user: Any) -> str:
    items, cursor = alerts_queue_page(user)
    you = {"id": user.pk, "username": user.username, "role": user.role, "on_call": user.on_call}
    return _page_frame(f'{{"type":"hello","you":{frames.dumps(you)},"alerts":', items, cursor)


def alerts_page(user: Any, cursor: Any) -> str:
    if not isinstance(cursor, str):
        raise ValidationError({"cursor": "Send the `next` cursor of the last page."})
    items, after = alerts_queue_page(user, cursor)
    return _page_frame('{"type":"alerts.page","alerts":', items, after)


def alerts_user_now(user_id: int) -> User | None:
    """The socket's person as the database has them now, if they may still use the alerts
    socket (an active facilitator or admin): read before every command, so a demotion or a
    deactivation takes effect on the next frame even if its revocation event was lost."""
    return User.objects.filter(
        pk=user_id, is_active=True, role__in=[Role.FACILITATOR, Role.ADMIN]
    ).first()


def alerts_rights_lost(held: list[tuple[int, str, bool]]) -> set[int]:
    """For the rights sweep (rooms.rights.sweep_rights_of): which of these alerts sockets,
    each held as (user id, role, on-call duty) when it opened, belong to someone who may no
    longer use alerts, or may with another role or duty. One query for them all."""
    now = {
        pk: (role, on_call)
        for pk, role, on_call in User.objects.filter(
            pk__in={pk for pk, _, _ in held},
            is_active=True,
            role__in=[Role.FACILITATOR, Role.ADMIN],
        ).values_list("pk", "role", "on_call")
    }
    return {i for i, (pk, role, on_call) in enumerate(held) if now.get(pk) != (role, on_call)}


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
    _inbound: inbound.Inbound | None = None

    async def dispatch(self, message: dict[str, Any]) -> None:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        await self.accept()
        user = self.scope["user"]
        if not user.is_authenticated:
            await self.close(code=frames.UNAUTHENTICATED, reason="unauthenticated")
            return
        if user.role not in (Role.FACILITATOR, Role.ADMIN):
            await self.send_text(
                frames.dumps(frames.error(Code.FORBIDDEN, "Alerts are for facilitators."))
            )
            await self.close(code=frames.FORBIDDEN, reason="forbidden")
            return
        if not inbound.socket_opened(user.pk):
            await self.send_text(frames.dumps(inbound.TOO_MANY_SOCKETS))
            await self.close(code=frames.FLOODING, reason="too_many_sockets")
            return
        self.user = user
        self._inbound = inbound.Inbound(
            reply=self._reply,
            close=self._close_flooding,
            commands={"alert.acknowledge", "alert.resolve"},
        )
        for name in (services.alerts_group(user.pk), events.user_group(user.pk)):
            self.groups.append(name)
            await self.channel_layer.group_add(name, self.channel_name)
        # Alerts may be the only sockets of this process: its heartbeat notices a Redis restart.
        liveness.ensure_heartbeat()
        await self.send_text(await database_sync_to_async(alerts_hello)(user))
        liveness.resync_on_layer_loss(self)
        sweep_rights_of(self)

    def rights_held(self) -> tuple[int, str, bool] | None:
        """For the rights sweep: who this socket serves, as they were when it opened."""
        user = self.user
        return None if user is None else (user.pk, user.role, user.on_call)

    @staticmethod
    def rights_lost(held: list[tuple[int, str, bool]]) -> set[int]:
        return alerts_rights_lost(held)

    async def send_text(self, text: str) -> None:
        """Every frame goes out here; see rooms.consumers.RoomConsumer.send_text."""
        if frames.size(text) > frames.FRAME_MAX_BYTES:
            log.error("frame over the size limit not sent bytes=%d", frames.size(text))
            text = frames.dumps(
                frames.error(Code.UNAVAILABLE, "An alert could not be shown. Reload the page.")
            )
        await self.send(text_data=text)

    async def disconnect(self, code: int) -> None:
        if self.user is not None and self._inbound is not None:
            self._inbound.stop()
            self._inbound = None
            inbound.socket_closed(self.user.pk)

    async def _reply(self, frame: dict[str, Any]) -> None:
        await self.send_text(frames.dumps(frame))

    async def _close_flooding(self, code: int) -> None:
        await self.close(code=code, reason="flooding")

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Each frame is judged as it arrives and its work queued (rooms/inbound.py)."""
        if self.user is None or self._inbound is None or self._inbound.closed:
            return
        try:
            frame: dict[str, Any] | None = frames.parse(text_data or "")
        except frames.FrameError as bad:
            reply = frames.error(Code.INVALID, bad.detail)
            await self._inbound.submit("other", partial(self._reply, reply))
            return
        assert frame is not None
        if frame["type"] not in ("alert.acknowledge", "alert.resolve", "alerts.page", "ping"):
            reply = frames.error(
                Code.INVALID, "Send alert.acknowledge, alert.resolve, alerts.page or ping."
            )
            await self._inbound.submit("other", partial(self._reply, reply))
            return
        await self._inbound.submit(frame["type"], partial(self._handle, frame))

    async def _handle(self, frame: dict[str, Any]) -> None:
        if frame["type"] == "ping":
            await self.send_text('{"type":"pong"}')
            return
        if self.user is None:  # revoked while this frame waited in the queue
            return
        user_id = self.user.pk

        def run() -> str | dict[str, Any] | None:
            user = alerts_user_now(user_id)
            if user is None:
                return None
            if frame["type"] == "alerts.page":
                return alerts_page(user, frame.get("cursor"))
            return alert_command(user, frame)

        try:
            reply = await database_sync_to_async(run)()
            if reply is None:
                await self.revoke()
                return
            if isinstance(reply, str):
                await self.send_text(reply)
                return
        except PermissionDenied as exc:
            reply = frames.error(Code.FORBIDDEN, str(exc))
        except ValidationError as exc:
            reply = frames.error(Code.INVALID, " ".join(exc.messages))
        except Exception:
            log.exception("alerts frame failed type=%s", frame["type"])
            reply = frames.error(Code.UNAVAILABLE, "Something went wrong on our side. Try again.")
        await self.send_text(frames.dumps(reply))

    async def after_layer_loss(self, frame: dict[str, Any]) -> None:
        """For rooms.liveness, after a Redis restart (its groups are joined again by then): the
        alerts raised or changed while Redis was away were never announced, so the queue is sent
        afresh, as a new `hello` that replaces the client's list (docs/protocol.md)."""
        if self.user is None or self._inbound is None:  # revoked, or closed
            return
        user_id = self.user.pk

        def queue() -> str | None:
            user = alerts_user_now(user_id)
            return None if user is None else alerts_hello(user)

        hello = await database_sync_to_async(queue)()
        if self.user is None:  # revoked meanwhile
            return
        if hello is None:
            await self.revoke()
            return
        await self.send_text(hello)

    async def room_frame(self, event: dict[str, Any]) -> None:
        # Recipients are chosen from the database when the alert is published
        # (services.tier_recipients), so someone who lost the right is not sent it.
        if self.user is not None:
            await self.send_text(event["text"])

    async def access_revoked(self, event: dict[str, Any]) -> None:
        if event.get("group_id") is None:
            await self.close(code=frames.FORBIDDEN, reason="revoked")

    async def access_changed(self, event: dict[str, Any]) -> None:
        """This person's role, active flag, on-call duty or groups changed (rooms/rights.py):
        close if they may no longer use alerts; reconnect for a fresh queue if what they may see
        changed."""
        if self.user is None:
            return
        now = await database_sync_to_async(alerts_user_now)(self.user.pk)
        if now is None:
            await self.revoke()
        elif (now.role, now.on_call) != (self.user.role, self.user.on_call) or (
            now.role == Role.FACILITATOR and event.get("group_id") is not None
        ):
            self.user = None
            await self.send_text(
                frames.dumps(
                    {"type": "access.changed", "detail": "Your role changed. Reconnecting…"}
                )
            )
            await self.close(code=frames.ACCESS_CHANGED, reason="access_changed")

    async def revoke(self) -> None:
        self.user = None  # nothing more is sent or answered on this socket
        await self.send_text(
            frames.dumps(frames.error(Code.FORBIDDEN, "You no longer have access to alerts."))
        )
        await self.close(code=frames.FORBIDDEN, reason="revoked")

    async def member_muted(self, event: dict[str, Any]) -> None:
        return

    async def room_notice(self, event: dict[str, Any]) -> None:
        return

"""The room socket. Thin: parse a frame, check what can be checked without the database, call
one action, reply. The protocol is documented in docs/protocol.md. What the web process runs
once for all its sockets is beside it: the room subscriptions (rooms/hub.py), the heartbeat and
the resync after a Redis restart (rooms/liveness.py), and the rights sweep (rooms/rights.py)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from rooms import (
    actions,
    events,
    frames,
    history,
    hooks,
    hub,
    inbound,
    liveness,
    presence,
    sending,
)
from rooms.access import Access, access_recheck, accesses_lost, room_access
from rooms.actions import SendRequest
from rooms.frames import ACCESS_CHANGED, FLOODING, FORBIDDEN, NOT_FOUND, Code
from rooms.member_messages import OWN_COMMANDS, own_command
from rooms.models import Message
from rooms.ratelimit import message_bucket, seconds_text
from rooms.refusals import Refusal, SendError, not_sent, speaking_refusal
from rooms.rights import sweep_rights_of
from rooms.sending import batcher
from server.accounts.models import User
from server.metrics import DELIVERIES, MESSAGE_SECONDS, MESSAGES, SOCKETS
from server.observability import request_id, user_id

log = logging.getLogger(__name__)


def room_commands() -> dict[str, Callable[..., dict[str, Any]]]:
    """The socket commands that the apps above rooms answer (rooms.hooks.ROOM_COMMANDS): the
    moderation tools, reports and alerts, by frame type. Each checks its own permission."""
    table: dict[str, Callable[..., dict[str, Any]]] = {}
    for hook in hooks.get_hooks(hooks.ROOM_COMMANDS):
        table.update(hook())
    return table


def command_error(exc: Exception, frame: dict[str, Any]) -> dict[str, Any]:
    if isinstance(exc, PermissionDenied):
        out = _error(Code.FORBIDDEN, str(exc) or "You are not allowed to do that.")
    else:
        assert isinstance(exc, ValidationError)
        messages = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        detail = " ".join(m for msgs in messages.values() for m in msgs)
        out = _error(Code.INVALID, detail, fields=messages)
    if frame.get("ref") is not None:
        out["ref"] = frame["ref"]
    out["action"] = frame.get("type")
    return out


def _echo(client_id: Any) -> str | None:
    # A client_id is echoed only when it could be one (a UUID is 36 characters): echoing an
    # arbitrary string could make the error larger than the frame it answers.
    return client_id if isinstance(client_id, str) and len(client_id) <= 64 else None


def _error(code: Code, detail: str, client_id: Any = None, **extra: Any) -> dict[str, Any]:
    return SendError(code, detail, **extra).frame(_echo(client_id))


def valid_ref(ref: Any) -> bool:
    """A command's `ref` is echoed in its answer: a short string or an integer."""
    if isinstance(ref, str):
        return len(ref) <= 64
    return ref is None or (isinstance(ref, int) and not isinstance(ref, bool))


class RoomConsumer(AsyncWebsocketConsumer):
    access: Access | None = None
    room: dict[str, Any]
    muted_until: str | None = None
    mute_reason = ""

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels 4.2+ closes stale DB connections before every handler, a thread hop per
        # delivered frame. Our database work goes through database_sync_to_async, which already
        # does that, so the per-delivery hop is skipped.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    # ------------------------------------------------------------ lifecycle

    async def connect(self) -> None:
        # Accept first: a close code is only visible to the client after the handshake.
        await self.accept()
        group_id = int(self.scope["url_route"]["kwargs"]["group_id"])
        try:
            access = await database_sync_to_async(room_access)(
                user=self.scope["user"], group_id=group_id
            )
        except Refusal as refusal:
            await self.send_frame(frames.error(refusal.code, refusal.detail, **refusal.extra))
            await self.close(code=refusal.close_code, reason=refusal.code.value)
            return
        if not inbound.socket_opened(access.user_id):
            await self.send_frame(inbound.TOO_MANY_SOCKETS)
            await self.close(code=FLOODING, reason="too_many_sockets")
            return
        self.access = access
        self._inbound = inbound.Inbound(
            reply=self.send_frame, close=self._close_flooding, commands=set(self._commands)
        )
        request_id.set(f"ws-{uuid.uuid4().hex[:12]}")
        user_id.set(str(access.user_id))
        # Room events arrive through the process's one subscription to the room (rooms/hub.py);
        # events for this person (revocation, mutes, private notices) through their own group.
        await hub.join(events.room_group(group_id), self)
        self.groups.append(events.user_group(access.user_id))
        await self.channel_layer.group_add(events.user_group(access.user_id), self.channel_name)
        liveness.ensure_heartbeat()
        hello = await database_sync_to_async(presence.room_join)(
            access=access, channel_name=self.channel_name, process=hub.PROCESS_ID
        )
        self.room = hello["room"]
        self.muted_until = hello["you"].get("muted_until")
        self.mute_reason = hello["you"].get("mute_reason", "")
        await self.send_frame(hello)
        # hello comes first; room events that arrived meanwhile follow it, in order.
        self._ready = True
        while self._early:
            await self.dispatch(self._early.pop(0))
        liveness.resync_on_layer_loss(self)
        sweep_rights_of(self)
        SOCKETS.labels("room").inc()
        log.info("room socket open group=%s user=%s", group_id, access.user_id)
        await self._publish_presence()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # When the channel layer fails (Redis gone), Channels ends the consumer without calling
        # disconnect(): presence rows and the socket gauge would outlive the socket, and a
        # facilitator who left would still count as present for escalation.
        try:
            await super().__call__(scope, receive, send)
        finally:
            if self.access is not None and not self._left:
                await self.disconnect(1011)

    _left = False
    _ready = False
    _revoked = False  # closing because this person's rights are gone or changed

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._early: list[dict[str, Any]] = []  # room events that arrived before hello
        self._commands = room_commands()

    def rights_held(self) -> Access | None:
        """For the rights sweep (sweep_rights_of): the access this socket was opened with."""
        return None if self._revoked else self.access

    @staticmethod
    def rights_lost(held: list[Access]) -> set[int]:
        return accesses_lost(held)

    async def deliver(self, event: dict[str, Any]) -> None:
        """Called by the room subscription (rooms/hub.py) for each room event."""
        if not self._ready:
            self._early.append(event)
            return
        await self.dispatch(event)

    async def disconnect(self, code: int) -> None:
        if self.access is None or self._left:
            return
        self._left = True
        inbound.socket_closed(self.access.user_id)
        if self._inbound is not None:
            self._inbound.stop()
        if self._sender is not None:
            self._sender.cancel()
        await hub.leave(events.room_group(self.access.group_id), self)
        SOCKETS.labels("room").dec()
        log.info(
            "room socket closed group=%s user=%s code=%s",
            self.access.group_id,
            self.access.user_id,
            code,
        )
        await database_sync_to_async(presence.room_leave)(
            access=self.access, channel_name=self.channel_name
        )
        await self._publish_presence()

    async def _publish_presence(self) -> None:
        assert self.access is not None
        frame = await database_sync_to_async(presence.presence_frame)(self.access.group_id)
        await events.publish_room(self.access.group_id, frame)

    async def send_frame(self, frame: dict[str, Any]) -> None:
        await self.send_text(frames.dumps(frame))

    async def after_layer_loss(self, frame: dict[str, Any]) -> None:
        """For rooms.liveness: the `resync` after a Redis restart."""
        await self.send_frame(frame)

    async def send_text(self, text: str) -> None:
        """Every frame goes out here. One over daphne's limit would never arrive and would end
        the socket with 1011; the size tests keep every frame type under it, and this keeps a
        mistake from ending the socket: the client is told to catch up instead."""
        if frames.size(text) > frames.FRAME_MAX_BYTES:
            log.error("frame over the size limit not sent bytes=%d", frames.size(text))
            text = frames.dumps(
                {"type": "resync", "detail": "Something could not be shown. Catch up with history."}
            )
        await self.send(text_data=text)

    # ------------------------------------------------------------ frames from the client

    _inbound: inbound.Inbound | None = None

    async def _close_flooding(self, code: int) -> None:
        await self.close(code=code, reason="flooding")

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Judges each frame as it arrives and queues its work (rooms/inbound.py): a frame
        over its type's rate, or one more than the socket's queue holds, is refused at once,
        so a flood never piles up in memory."""
        if self.access is None or self._inbound is None or self._inbound.closed or self._revoked:
            return
        if text_data is None:
            reply = _error(Code.INVALID, "Send text frames that hold a JSON object.")
            await self._inbound.submit("other", partial(self.send_frame, reply))
            return
        try:
            frame = frames.parse(text_data)
        except frames.FrameError as bad:
            sent = bad.frame or {}
            cid = sent.get("client_id") if sent.get("type") == "message.send" else None
            reply = _error(Code.INVALID, bad.detail, cid)
            await self._inbound.submit(
                "other", partial(self.send_frame, reply), client_id=reply.get("client_id")
            )
            return
        handler = {
            "message.send": self.on_message_send,
            "history": self.on_history,
            "typing": self.on_typing,
            "ping": self.on_ping,
            "hide": self.on_hide,
            "unhide": self.on_hide,
        }.get(frame["type"])
        if frame["type"] in self._commands:
            handler = self.on_command
        if frame["type"] in OWN_COMMANDS:
            handler = self.on_own
        if handler is None:
            reply = _error(Code.UNKNOWN_TYPE, f"Unknown frame type {frame['type'][:40]!r}.")
            await self._inbound.submit("other", partial(self.send_frame, reply))
            return
        sending = frame["type"] == "message.send"
        await self._inbound.submit(
            frame["type"],
            partial(self._run, handler, frame),
            client_id=_echo(frame.get("client_id")) if sending else None,
        )

    async def _run(self, handler: Any, frame: dict[str, Any]) -> None:
        try:
            await handler(frame)
        except Exception:
            # A bug must not end the member's socket (and with it their place in the room):
            # they get an error they can act on, and the traceback (ids only) is logged.
            log.exception("frame failed type=%s", frame["type"][:40])
            await self.send_frame(
                _error(
                    Code.UNAVAILABLE,
                    "Something went wrong on our side. Please try again.",
                    action=frame["type"][:40],
                )
            )

    async def on_command(self, frame: dict[str, Any]) -> None:
        """Moderation commands and reports; permission is checked by the action."""
        assert self.access is not None
        if not valid_ref(frame.get("ref")):
            await self.send_frame(
                {
                    **_error(
                        Code.INVALID, "ref must be a string of up to 64 characters or a number."
                    ),
                    "action": frame["type"],
                }
            )
            return
        group_id = self.access.group_id
        command = self._commands[frame["type"]]
        try:
            allowed, reply = await self.as_current(
                lambda user: command(user=user, group_id=group_id, frame=frame)
            )
        except (ValidationError, PermissionDenied) as exc:
            await self.send_frame(command_error(exc, frame))
            return
        if allowed:
            await self.send_frame(reply)

    async def on_own(self, frame: dict[str, Any]) -> None:
        """A member's own message (edit, delete, reaction) or a request for a private check-in;
        rooms/member_messages.py checks who may and what."""
        assert self.access is not None
        if not valid_ref(frame.get("ref")):
            await self.send_frame(
                {
                    **_error(
                        Code.INVALID, "ref must be a string of up to 64 characters or a number."
                    ),
                    "action": frame["type"],
                }
            )
            return
        group_id = self.access.group_id
        try:
            allowed, reply = await self.as_current(
                lambda user: own_command(user=user, group_id=group_id, frame=frame)
            )
        except (ValidationError, PermissionDenied) as exc:
            await self.send_frame(command_error(exc, frame))
            return
        if not allowed:
            return
        await self.send_frame(reply)
        if frame["type"] == "message.edit":
            edited = await database_sync_to_async(
                lambda: Message.objects.filter(pk=reply["id"], reviewed_at__isnull=True).first()
            )()
            if edited is not None:
                sending.delivered(edited)

    async def on_hide(self, frame: dict[str, Any]) -> None:
        assert self.access is not None
        registered = hooks.get_hooks(hooks.AUTHOR_HIDE)
        if not registered:
            await self.send_frame(
                _error(Code.UNKNOWN_TYPE, f"Unknown frame type {frame['type']!r}.")
            )
            return
        hide = registered[-1]
        group_id = self.access.group_id
        author = frame.get("author")
        try:
            allowed, hidden = await self.as_current(
                lambda user: hide(
                    by=user,
                    group_id=group_id,
                    author_key=author if isinstance(author, str) else "",
                    hidden=frame["type"] == "hide",
                )
            )
        except (PermissionDenied, ValidationError) as exc:
            await self.send_frame(command_error(exc, frame))
            return
        if not allowed:
            return
        self.access.hidden_authors = hidden
        await self.send_frame({"type": "hidden", "authors": sorted(hidden)})

    async def on_ping(self, frame: dict[str, Any]) -> None:
        await self.send_frame({"type": "pong"})

    async def on_message_send(self, frame: dict[str, Any]) -> None:
        """Queued to this socket's sender task: the socket keeps delivering the room's frames
        while its own sends wait for the database, and its sends keep their order."""
        if self._sends is None:
            self._sends = asyncio.Queue(maxsize=settings.INBOUND_QUEUE_FRAMES)
            self._sender = asyncio.get_running_loop().create_task(self._send_loop())
        try:
            # Only what storing needs: a frame's other fields could be most of its size.
            self._sends.put_nowait(
                {
                    "client_id": frame.get("client_id"),
                    "body": frame.get("body"),
                    "reply_to": frame.get("reply_to"),
                }
            )
        except asyncio.QueueFull:
            await self.send_frame(
                _error(
                    Code.QUEUE_FULL,
                    "Too many messages are waiting to be stored. Wait for their answers, "
                    "then send again.",
                    frame.get("client_id"),
                )
            )

    _sends: asyncio.Queue | None = None
    _sender: asyncio.Task | None = None

    async def _send_loop(self) -> None:
        assert self._sends is not None
        while True:
            frame = await self._sends.get()
            try:
                await self._handle_send(frame)
            except asyncio.CancelledError:
                if sending.really_cancelled():  # the socket closed
                    raise
                # A cancellation that leaked out of something awaited must not end this
                # socket's sending for good, silently.
                log.exception("message.send interrupted")
                refusal = not_sent()
                await self.send_frame(_error(refusal.code, refusal.detail, frame.get("client_id")))
            except Exception:
                log.exception("message.send failed")
                refusal = not_sent()
                await self.send_frame(_error(refusal.code, refusal.detail, frame.get("client_id")))

    async def _handle_send(self, frame: dict[str, Any]) -> None:
        assert self.access is not None
        raw_id, body = frame.get("client_id"), frame.get("body")
        try:
            client_id = uuid.UUID(str(raw_id)) if isinstance(raw_id, str) else None
        except ValueError:
            client_id = None
        if client_id is None:
            await self.send_frame(
                _error(Code.INVALID, "client_id must be a UUID chosen by the client.", raw_id)
            )
            return
        cid = str(raw_id)
        if not isinstance(body, str):
            await self.send_frame(_error(Code.INVALID, "body must be a string.", cid))
            return
        # The checks in the documented order; the action repeats the stateful ones against the
        # database, these cached copies only spare it obvious refusals.
        if not self.access.moderator:
            refusal = speaking_refusal(
                is_open=bool(self.room.get("open")),
                locked=bool(self.room.get("locked")),
                muted_until=parse_datetime(self.muted_until) if self.muted_until else None,
                mute_reason=self.mute_reason,
                now=timezone.now(),
            )
            if refusal is not None:
                await self.send_frame(refusal.frame(cid))
                return
        if not body.strip():
            await self.send_frame(_error(Code.INVALID, "Write something before sending.", cid))
            return
        if len(body) > settings.MESSAGE_MAX_CHARS:
            await self.send_frame(
                _error(
                    Code.TOO_LONG,
                    f"Messages can be up to {settings.MESSAGE_MAX_CHARS} characters; "
                    f"this one has {len(body)}. Split it into two.",
                    cid,
                    max_length=settings.MESSAGE_MAX_CHARS,
                )
            )
            return
        verdict = await message_bucket().take(f"user:{self.access.user_id}")
        if not verdict.allowed:
            # A client resending after a reconnect gets its ack, not a refusal.
            replay = await database_sync_to_async(actions.message_replay)(
                access=self.access, client_id=client_id
            )
            if replay is not None:
                for out in replay.frames_to_sender:
                    await self.send_frame(out)
                return
            await self.send_frame(
                _error(
                    Code.RATE_LIMITED,
                    f"You are sending quickly. Wait {seconds_text(verdict.retry_after)}, "
                    "then send again.",
                    cid,
                    retry_after=round(verdict.retry_after, 2),
                )
            )
            return
        started = time.monotonic()
        reply_to = frame.get("reply_to")
        result = await batcher().submit(
            SendRequest(
                self.access,
                client_id,
                body,
                reply_to=reply_to if isinstance(reply_to, int) and reply_to > 0 else None,
            )
        )
        if isinstance(result, SendError):
            await self.send_frame(result.frame(cid))
            if result.code == Code.FORBIDDEN:
                await self.as_current(lambda user: None)  # closes the socket if access is gone
            return
        # The room hears about the message from the batcher (rooms/sending.py), whether or
        # not this socket is still open by then.
        for out in result.frames_to_sender:
            await self.send_frame(out)
        if not result.duplicate:
            MESSAGE_SECONDS.observe(time.monotonic() - started)
            MESSAGES.labels("held" if result.moderator_frame else "delivered").inc()

    async def on_history(self, frame: dict[str, Any]) -> None:
        assert self.access is not None
        after_id, before_id, limit = (
            frame.get("after_id"),
            frame.get("before_id"),
            frame.get("limit", 50),
        )
        for value in (after_id, before_id, limit):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                await self.send_frame(
                    _error(Code.INVALID, "after_id, before_id and limit must be integers.")
                )
                return
        if after_id is not None and before_id is not None:
            await self.send_frame(_error(Code.INVALID, "Send after_id or before_id, not both."))
            return
        access = self.access
        allowed, page = await self.as_current(
            lambda user: history.history(
                access=access, after_id=after_id, before_id=before_id, limit=limit or 50
            )
        )
        if allowed:
            await self.send_text(page)

    async def on_typing(self, frame: dict[str, Any]) -> None:
        assert self.access is not None
        if not self.room.get("typing_indicators"):
            return
        allowed, _ = await self.as_current(lambda user: None)
        if not allowed:
            return
        text = frames.dumps({"type": "typing", "author": self.access.author})
        await events.publish_room(self.access.group_id, text, skip=self.channel_name)

    # ------------------------------------------------------------ events from the layer

    async def room_frame(self, event: dict[str, Any]) -> None:
        if event.get("skip") == self.channel_name:
            return
        if self.access and event.get("author") in self.access.hidden_authors:
            return
        if event.get("moderators_only"):
            # Crisis words and held messages: only to someone who moderates the room now.
            if self._revoked or not (self.access and self.access.moderator):
                return
            allowed, _ = await self.as_current(lambda user: None)
            if not allowed:
                return
        await self.send_text(event["text"])
        DELIVERIES.inc()

    async def room_frames(self, event: dict[str, Any]) -> None:
        """The messages one batch stored in this room, in order (rooms/sending.py)."""
        for item in event["frames"]:
            await self.room_frame(item)

    async def room_state(self, event: dict[str, Any]) -> None:
        self.room = event["room"]
        actions.forget_snapshots(group_id=self.room.get("group_id"))
        await self.send_frame({"type": "room.state", "room": self.room})

    async def member_muted(self, event: dict[str, Any]) -> None:
        if self.access is None or event.get("group_id") != self.access.group_id:
            return
        self.muted_until = event.get("muted_until")
        self.mute_reason = event.get("reason") or ""
        actions.forget_snapshots(group_id=self.access.group_id)
        await self.send_frame({**event, "type": "member.muted"})

    async def room_notice(self, event: dict[str, Any]) -> None:
        """A private frame for this user about this room (held decisions, check-in invites)."""
        if self.access is not None and event.get("group_id") == self.access.group_id:
            await self.send_frame(event["frame"])

    async def access_revoked(self, event: dict[str, Any]) -> None:
        if self.access is None:
            return
        if event.get("group_id") in (None, self.access.group_id):
            self._revoked = True
            log.info(
                "room socket revoked by event group=%s user=%s",
                self.access.group_id,
                self.access.user_id,
            )
            await self.send_frame(
                frames.error(Code.FORBIDDEN, "You no longer have access to this room.")
            )
            await self.close(code=FORBIDDEN, reason="revoked")

    async def access_changed(self, event: dict[str, Any]) -> None:
        """Someone changed this person's rights (rooms/rights.py): close if they are gone, ask the
        client to reconnect if they changed, carry on if this room is not concerned."""
        if self.access is None or self._revoked:
            return
        if event.get("group_id") in (None, self.access.group_id):
            await self.as_current(lambda user: None, reconnect_if_changed=True)

    async def as_current(
        self, call: Callable[[User], Any], *, reconnect_if_changed: bool = False
    ) -> tuple[bool, Any]:
        """Runs `call` with the socket's person as the database has them now, in one thread
        hop, after checking they still hold this socket's rights (rooms.access.access_recheck).
        Returns (True, what `call` returned); or, when the rights are gone, sends the refusal,
        closes the socket and returns (False, None)."""
        access = self.access
        assert access is not None
        if self._revoked:
            return False, None

        def run() -> tuple[bool, Any]:
            user, changed = access_recheck(access=access)
            if changed and reconnect_if_changed:
                return False, None
            return True, call(user)

        try:
            done, value = await database_sync_to_async(run)()
        except Refusal as refusal:
            self._revoked = True
            log.info(
                "room socket revoked group=%s user=%s code=%s",
                access.group_id,
                access.user_id,
                refusal.code,
            )
            await self.send_frame(frames.error(refusal.code, refusal.detail))
            await self.close(code=refusal.close_code, reason="revoked")
            return False, None
        if not done:
            self._revoked = True
            await self.send_frame(
                {
                    "type": "access.changed",
                    "detail": "Your role in this room changed. Reconnecting…",
                }
            )
            await self.close(code=ACCESS_CHANGED, reason="access_changed")
        return done, value

    async def room_deleted(self, event: dict[str, Any]) -> None:
        await self.close(code=NOT_FOUND, reason="deleted")

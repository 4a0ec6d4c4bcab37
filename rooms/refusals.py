"""Refusals: what the server answers when it will not do what a person asked, in one wording.

Whether a member may write in a room now (send a message, edit one, react) is decided by
`speaking_refusal`, in the words of SPEAKING, wherever it is checked: the room socket's early
check against its cached copy of the room, the send path's check against the database, and
members' own messages over the socket and the REST API.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from rooms import frames
from rooms.frames import Code

# Error code -> what the person reads. A mute fills in when it ends and the facilitator's reason.
SPEAKING: dict[Code, str] = {
    Code.CLOSED: "The room is closed, so nothing can be sent or changed until it opens.",
    Code.LOCKED: "A facilitator has made the room read-only for now.",
    Code.MUTED: "A facilitator has muted you until {until:%H:%M} UTC{reason}",
}
# Rights lost while connected.
NO_LONGER_MEMBER = "You are no longer a member of this group."
NO_LONGER_MODERATOR = "You no longer moderate this group."
REMOVED = "A moderator removed you from this session. You can come back to the next one."


class Refusal(Exception):  # noqa: N818 — a refusal is an outcome, not a programming error
    def __init__(self, close_code: int, code: Code, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.close_code, self.code, self.detail = close_code, code, detail
        self.extra = extra  # more fields for the error frame (`opens_at`)


class SendError(Exception):  # noqa: N818
    def __init__(self, code: Code, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.code, self.detail, self.extra = code, detail, extra

    def frame(self, client_id: str | None = None) -> dict[str, Any]:
        out = frames.error(self.code, self.detail)
        if client_id is not None:
            out["client_id"] = client_id
        out.update(self.extra)
        return out


def not_sent() -> SendError:
    """The answer when the server failed to store a message: nothing was stored, send again."""
    return SendError(Code.UNAVAILABLE, "That message was not sent. Please send it again.")


def speaking_refusal(
    *,
    is_open: bool,
    locked: bool,
    muted_until: dt.datetime | None,
    mute_reason: str = "",
    now: dt.datetime,
) -> SendError | None:
    """Why a member may not write in the room now (`closed`, `locked`, `muted`, in that order),
    or None. Moderators are never refused these: callers ask only for members."""
    if not is_open:
        return SendError(Code.CLOSED, SPEAKING[Code.CLOSED])
    if locked:
        return SendError(Code.LOCKED, SPEAKING[Code.LOCKED])
    if muted_until is not None and muted_until > now:
        reason = f": {mute_reason}" if mute_reason else "."
        return SendError(
            Code.MUTED,
            SPEAKING[Code.MUTED].format(until=muted_until, reason=reason),
            muted_until=muted_until.isoformat(),
        )
    return None

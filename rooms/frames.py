"""The WebSocket protocol in one place (docs/protocol.md): the close codes, the error codes and
the frame types the server sends, as constants; how the server writes frames, and how it reads a
client's. tests/test_protocol_doc.py checks these against docs/protocol.md both ways, and that
the product sends no error code or frame type that is not here.

Every frame the server sends must fit under daphne's `--websocket-max-message-size`, which
applies to outgoing frames too: a larger one is never delivered and its socket dies with 1011.
Frames are written as UTF-8 JSON (`ensure_ascii=False`: an emoji is 4 bytes on the wire, not a
12-byte escape pair), one copy of each member's words, and lists that could grow (history,
the alert queue) are cut into pages by bytes as well as by count. docs/protocol.md, "Limits".
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

# ---------------------------------------------------------------- close codes

UNAUTHENTICATED = 4401  # not signed in, or a bad ticket
FORBIDDEN = 4403  # signed in but not allowed in this room (or the alerts), or no longer
NOT_FOUND = 4404  # no such group, or it was deleted
CLOSED = 4409  # the room is closed now
ACCESS_CHANGED = 4205  # rights changed but not taken away: reconnect for a new `hello`
FLOODING = 4429  # kept sending after being refused, or too many sockets of one person
TOO_LARGE = 1009  # daphne's, for a frame over its size limit
CLOSE_CODES = frozenset(
    {UNAUTHENTICATED, FORBIDDEN, NOT_FOUND, CLOSED, ACCESS_CHANGED, FLOODING, TOO_LARGE}
)

# ---------------------------------------------------------------- error codes


class Code(StrEnum):
    """The `code` of an `error` frame, its value the string on the wire. Every error frame is
    built from one of these (frames.error), so a misspelt code fails, where a string would go
    out as a new, undocumented code."""

    # Refusing a socket, just before its close code.
    UNAUTHENTICATED = "unauthenticated"
    NOT_MEMBER = "not_member"
    REMOVED = "removed"
    AGREEMENT_REQUIRED = "agreement_required"
    NOT_FOUND = "not_found"
    ROOM_CLOSED = "room_closed"
    # On an open socket.
    INVALID = "invalid"
    UNKNOWN_TYPE = "unknown_type"
    TOO_LONG = "too_long"
    RATE_LIMITED = "rate_limited"
    QUEUE_FULL = "queue_full"
    SLOW_MODE = "slow_mode"
    MUTED = "muted"
    LOCKED = "locked"
    CLOSED = "closed"
    FORBIDDEN = "forbidden"
    UNAVAILABLE = "unavailable"
    # Just before a 4429 close.
    TOO_MANY_SOCKETS = "too_many_sockets"
    FLOODING = "flooding"


ERROR_CODES = frozenset(code.value for code in Code)

# ---------------------------------------------------------------- frame types

# Every `type` the server sends to a client, on the room socket or the alerts socket.
SERVER_FRAMES = frozenset(
    {
        "hello",
        "presence",
        "message.ack",
        "message.new",
        "message.held",
        "message.edited",
        "message.deleted",
        "message.reactions",
        "message.rejected",
        "history",
        "error",
        "room.state",
        "member.muted",
        "typing",
        "pong",
        "hidden",
        "resync",
        "access.changed",
        "action.done",
        "support.resources",
        "checkin.invite",
        "held.new",
        "report.new",
        "report.resolved",
        "alert.new",
        "alert.updated",
        "alerts.page",
    }
)
# Events between server processes on the channel layer, which no client sees as such: the
# consumers turn them into the frames above (or close the socket).
LAYER_EVENTS = frozenset(
    {
        "room.frame",
        "room.frames",
        "room.state",
        "room.notice",
        "room.deleted",
        "member.muted",
        "access.revoked",
        "access.changed",
        "health.ping",
    }
)

# daphne's --websocket-max-message-size (Dockerfile, tests/services.py, docs/operations.md).
FRAME_MAX_BYTES = 65536
# A page of history or of the alert queue stops before its messages pass this many bytes, so
# the page, with its envelope, stays well under FRAME_MAX_BYTES. The largest single message
# (MESSAGE_MAX_CHARS characters of the costliest kind) is about 25 KB, so a page always holds
# at least one.
PAGE_BUDGET_BYTES = 48 * 1024
# The people listed in `hello` and `presence` (the rest are counted): a full group of 500 with
# long aliases would not fit in a frame.
PRESENCE_BUDGET_BYTES = 24 * 1024
# The lines on a member's support card (in `support.resources` and in `hello` beside the people
# present): an admin may configure any number of lines, and the card must still arrive. The
# rest are on the help page the card links to.
SUPPORT_BUDGET_BYTES = 12 * 1024
# Client frames are flat objects; anything nested deeper than this is not a frame we know.
MAX_DEPTH = 4
# Numbers a client sends are ids, counts and seconds: they must fit a 64-bit database column.
MAX_INT = 2**63 - 1


def dumps(frame: Any) -> str:
    """A frame as compact UTF-8 JSON. Text that UTF-8 cannot carry (a lone surrogate, which
    input validation keeps out of the database) falls back to ASCII escapes rather than fail."""
    text = json.dumps(frame, ensure_ascii=False, separators=(",", ":"))
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = json.dumps(frame, separators=(",", ":"))
    return text


def size(text: str) -> int:
    """Bytes on the wire."""
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def fit(items: list[Any], budget: int) -> int:
    """How many of the items, from the first, fit in `budget` bytes as a JSON array."""
    used = 0
    for count, item in enumerate(items):
        used += size(dumps(item)) + 1
        if used > budget:
            return count
    return len(items)


def join_page(head: str, items: list[str], tail: str) -> str:
    """`head` + the items as a JSON array + `tail`, e.g. '{"type":"history","messages":' ..."""
    return f"{head}[{','.join(items)}]{tail}"


class FrameError(ValueError):
    """A client frame the server will not act on; `detail` is for the person, `frame` the object
    as parsed when it was one (to answer a message.send with its client_id)."""

    def __init__(self, detail: str, frame: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail, self.frame = detail, frame


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def text_problem(value: str) -> str | None:
    """Why this text cannot be stored, or None. PostgreSQL refuses NUL characters in text, and
    no database stores half of a UTF-16 surrogate pair (a broken emoji); both are refused per
    message rather than failing the transaction that stores others' messages with it."""
    if "\x00" in value:
        return "contains a NUL character"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "contains half of an emoji (an unpaired surrogate)"
    return None


def parse(text: str) -> dict[str, Any]:
    """A client's frame as a dict, or FrameError: not JSON, not an object with a string `type`,
    nested deeper than a frame ever is, numbers no column can hold, or text that cannot be
    stored (NUL, unpaired surrogates) in any key or value."""
    try:
        frame = json.loads(text, parse_constant=_no_constants)
    except RecursionError:
        raise FrameError("That frame is nested too deeply. Frames are flat JSON objects.") from None
    except ValueError:
        raise FrameError("That frame is not valid JSON.") from None
    if not isinstance(frame, dict):
        raise FrameError('Frames are JSON objects with a "type".')
    # Iterative, so that a frame nested just under the parser's limit cannot exhaust the stack.
    stack: list[tuple[Any, int]] = [(frame, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list) and depth > MAX_DEPTH:
            raise FrameError(
                "That frame is nested too deeply. Frames are flat JSON objects.", frame
            )
        if isinstance(value, dict):
            for key, item in value.items():
                stack.append((key, depth))
                stack.append((item, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, str):
            problem = text_problem(value)
            if problem:
                raise FrameError(
                    f"That frame {problem}, which cannot be stored. "
                    "Remove that character and send again.",
                    frame,
                )
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
            raise FrameError("A number in that frame is too large.", frame)
    if not isinstance(frame.get("type"), str):
        raise FrameError('Frames are JSON objects with a "type".')
    return frame


def error(code: Code, detail: str, **extra: Any) -> dict[str, Any]:
    """An `error` frame. Its code is checked here too (a ValueError for a string that is not
    one), and written as the plain string."""
    return {"type": "error", "code": Code(code).value, "detail": detail, **extra}

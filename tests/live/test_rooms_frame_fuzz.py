"""Frame fuzzing over real sockets: every client frame type, with wrong types, huge and deeply
nested values, unicode edge cases and unknown fields, from a member and a facilitator in a room
and on the facilitator's alerts socket.

The property: the server never closes the socket (no 1011), answers every frame that expects an
answer with its normal reply or an `error` frame that says what was wrong (never `unavailable`,
which means the server failed), and the socket still answers a ping afterwards."""

from __future__ import annotations

import json
import os
import re
import uuid
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from moderation.commands import ROOM_COMMANDS
from tests.live.conftest import Socket, session_cookie
from tests.services import Daphne

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

FRAME_LIMIT = 65536  # daphne's --websocket-max-message-size; larger frames close with 1009
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "50"))  # more for a deeper run

FIELDS: dict[str, tuple[str, ...]] = {
    "message.send": ("client_id", "body"),
    "history": ("after_id", "before_id", "limit"),
    "typing": (),
    "ping": (),
    "hide": ("author",),
    "unhide": ("author",),
    "mute": ("member", "minutes", "reason", "ref"),
    "unmute": ("member", "ref"),
    "remove": ("member", "reason", "ref"),
    "ban": ("member", "reason", "ref"),
    "delete": ("message_id", "reason", "ref"),
    "flag": ("message_id", "level", "category", "note", "ref"),
    "room.update": ("locked", "slow_mode_seconds", "open", "ref"),
    "held.approve": ("message_id", "ref"),
    "held.reject": ("message_id", "reason", "ref"),
    "alert.acknowledge": ("alert_id", "ref"),
    "alert.resolve": ("alert_id", "outcome", "note", "ref"),
    "checkin.open": ("member", "ref"),
    "report": ("message_id", "reason", "note", "ref"),
}
assert set(FIELDS) >= ROOM_COMMANDS, "a new command needs its fields here"
ALERT_FIELDS: dict[str, tuple[str, ...]] = {
    "alert.acknowledge": ("alert_id",),
    "alert.resolve": ("alert_id", "outcome", "note"),
    "alerts.page": ("cursor",),
    "ping": (),
}
# Per socket: the frame types (sends and history, what members use most, come up more often).
TYPES = {
    "room": ["message.send"] * 5 + ["history"] * 3 + sorted(FIELDS),
    "alerts": sorted(ALERT_FIELDS),
}
REPLIES = {
    "message.send": ("message.ack", "message.held", "error"),
    "history": ("history", "error"),
    "hide": ("hidden", "error"),
    "unhide": ("hidden", "error"),
    "ping": ("pong", "error"),
    "alerts.page": ("alerts.page", "error"),
    **{command: ("action.done", "error") for command in ROOM_COMMANDS},
}

EDGE_TEXT = [
    "",
    " \n\t",
    "\x00",
    "a\x00b",
    "\ud83d",  # half of an emoji
    "\udc00x",
    "\U0001f600",
    "\u202egnp.exe",
    "\u200b",
    "\ufeff",
    "\u2028\u2029",
    '"\\/\b\f\n\r\t',
    "<script>alert(1)</script>",
    "m1",
    "m\u00b2",
    "m" + "9" * 30,
    "s1",
    "open",
    "closed",
    "auto",
    "urgent",
    "self_harm",
    "A\u030a",
    "\U0010ffff",
]
DEEP = "deep-k3Jq{}"  # a placeholder, replaced by raw nested JSON after serializing

texts = st.one_of(
    st.sampled_from(EDGE_TEXT),
    st.text(st.characters(exclude_categories=()), max_size=40),
    st.builds(
        lambda char, n: char * n,
        st.sampled_from(["x", "\U0001f600", "\x01", '"', "\\", "\ud83d", "\u00e9"]),
        st.integers(500, 4500),
    ),
)
EDGE_NUMBERS = [0, -1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, -(2**63) - 1, 10**30, -(10**100), 0.5]
numbers = st.one_of(
    st.integers(-5, 5),
    st.integers(),
    st.sampled_from(EDGE_NUMBERS),
    st.floats(allow_nan=True, allow_infinity=True),
)
# The values most likely to break something, drawn often on their own: of the field's own type
# (an id just past 64 bits, text with half an emoji) or of any other.
edges = st.sampled_from([*EDGE_TEXT, *EDGE_NUMBERS, None, True, [], {}, float("nan")])
NUMERIC = {
    "after_id",
    "before_id",
    "limit",
    "minutes",
    "slow_mode_seconds",
    "message_id",
    "alert_id",
}


def edge(field: str) -> st.SearchStrategy[Any]:
    own = st.sampled_from(EDGE_NUMBERS if field in NUMERIC else EDGE_TEXT)
    return own | own | edges


scalars = st.one_of(st.none(), st.booleans(), numbers, texts, st.uuids().map(str))
deep = st.builds(
    lambda kind, depth: DEEP.format(f"{kind}{depth}"),
    st.sampled_from(["[", "{"]),
    st.integers(10, 9000),
)
values = st.one_of(
    scalars,
    deep,
    st.recursive(
        scalars,
        lambda kids: st.lists(kids, max_size=3) | st.dictionaries(texts, kids, max_size=3),
        max_leaves=6,
    ),
)


def nested(spec: str) -> str:
    kind, depth = spec[0], int(spec[1:])
    if kind == "[":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


def plausible(field: str, ids: dict[str, list[int]]) -> st.SearchStrategy[Any]:
    """Values of the right type, so that valid frames (and their normal replies) come up too."""
    return {
        "client_id": st.uuids().map(str),
        "body": st.sampled_from(["hello", "how is everyone", "\U0001f600 ok"]),
        "after_id": st.integers(0, 50),
        "before_id": st.integers(0, 50),
        "limit": st.integers(1, 300),
        "minutes": st.integers(0, 100),
        "slow_mode_seconds": st.integers(0, 60),
        "message_id": st.sampled_from(ids["message"]),
        "alert_id": st.sampled_from(ids["alert"]),
        "cursor": st.sampled_from(["0:2020-01-01T00:00:00+00:00:1", "2:x:1", "", "::"]),
        "member": st.sampled_from(["m999999", "s999999"]),
        "author": st.sampled_from(["m999999", "s1"]),
        "locked": st.booleans(),
        "open": st.sampled_from(["open", "auto"]),
    }.get(field, st.text(max_size=20))


@st.composite
def frames(
    draw: st.DrawFn, socket: str, ids: dict[str, list[int]]
) -> tuple[str | bytes, str | None]:
    """A raw frame for this socket ("room" or "alerts") and the type a server could read from
    it (None: not an object with a type)."""
    fields = FIELDS if socket == "room" else ALERT_FIELDS
    shape = draw(st.sampled_from(["known"] * 6 + ["unknown", "bad_type", "not_object", "raw"]))
    if shape == "raw":
        raw = draw(
            st.sampled_from(["", "{", "nul\x00", "[" * 60000, '{"type": "ping"', "\ufeff{}", "NaN"])
            | st.binary(max_size=64)
        )
        return raw, None
    if shape == "not_object":
        return json.dumps(draw(scalars)), None
    frame: dict[str, Any] = {}
    kind: str | None = None
    if shape == "known":
        # A valid frame of this type, then a few mutations: one odd value in an otherwise valid
        # frame reaches the code behind the checks that a wholly random frame never passes.
        kind = draw(st.sampled_from(TYPES[socket]))
        frame = {field: draw(plausible(field, ids)) for field in fields[kind]}
        if kind == "history":  # a page from one side, or the newest page (neither)
            keep = draw(st.sampled_from(["after_id", "before_id", None]))
            for side in ("after_id", "before_id"):
                if side != keep:
                    frame.pop(side)
        for _ in range(draw(st.integers(0, 2))):
            mutation = draw(st.sampled_from(["edge", "edge", "fuzz", "drop", "add"]))
            field = draw(st.sampled_from(fields[kind] or ("extra",)))
            if mutation == "drop":
                frame.pop(field, None)
            elif mutation == "add":
                frame[draw(texts)] = draw(values)
            else:
                frame[field] = draw(edge(field) if mutation == "edge" else values)
    elif shape == "unknown":
        kind = draw(texts)
    frame["type"] = kind if shape != "bad_type" else draw(values)
    if "type" in frame and not isinstance(frame["type"], str):
        kind = None
    text = json.dumps(frame, ensure_ascii=False)
    try:
        text.encode()
    except UnicodeEncodeError:  # a lone surrogate can only travel escaped
        text = json.dumps(frame)
    text = re.sub(r'"deep-k3Jq([\[{]\d+)"', lambda m: nested(m.group(1)), text)
    if len(text.encode("utf-8", "surrogatepass")) > FRAME_LIMIT - 64:
        text = json.dumps({"type": kind or "x", "big": "trimmed"})
    if socket == "alerts" and kind not in ALERT_FIELDS:
        kind = None  # the alerts socket answers every other type with `invalid`
    return text, kind if isinstance(kind, str) else None


def test_no_frame_a_client_sends_makes_the_server_fail_or_close_the_socket(world, enter, server):
    from moderation.crisis import assess
    from moderation.services import alert_for_message
    from rooms.models import Message

    messages = [
        Message.objects.create(
            group=world.other, author=world.bob, client_id=uuid.uuid4(), body=body
        )
        for body in ("seed 1", "seed 2", "I want to end my life tonight")
    ]
    alert = alert_for_message(message=messages[-1], assessment=assess(messages[-1].body))
    assert alert is not None
    ids = {"message": [m.pk for m in messages], "alert": [alert.pk, alert.pk + 1000]}
    socks: dict[str, Socket] = {}
    seen: Counter[str] = Counter()

    def sock_of(who: str) -> Socket:
        if who not in socks:
            if who == "alerts":
                socks[who] = alerts_socket(server, world.frank)
            else:
                user = world.bob if who == "member" else world.frank
                socks[who] = enter(user, world.other)
        return socks[who]

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(who=st.sampled_from(["member", "facilitator", "alerts"]), data=st.data())
    def check(who: str, data: st.DataObject) -> None:
        raw, kind = data.draw(frames("alerts" if who == "alerts" else "room", ids), label="frame")
        seen["examples"] += 1
        sock = sock_of(who)
        shown = f"{who} sent {kind!r}: {raw[:300]!r} ({len(raw)} long)"
        try:
            seen[exchange(sock, raw, kind)] += 1
        except ConnectionClosed as closed:
            socks.pop(who, None)  # the next example starts on a fresh socket
            code = closed.rcvd.code if closed.rcvd else None
            raise AssertionError(f"the server closed the socket with {code}; {shown}") from closed
        except (AssertionError, TimeoutError) as failed:
            raise AssertionError(f"{failed}; {shown}") from failed

    try:
        check()
    finally:
        for sock in socks.values():
            sock.close()
    answers = ", ".join(f"{answer} {n}" for answer, n in seen.most_common() if answer != "examples")
    print(f"[fuzz] {seen['examples']} frames sent, no failure; answers: {answers}")


def alerts_socket(server: Daphne, user: Any) -> Socket:
    ws = connect(
        f"{server.ws_url}/ws/alerts/",
        origin=server.url,
        additional_headers={"Cookie": session_cookie(user)},
        open_timeout=10,
    )
    ws.__enter__()  # the caller owns the connection; closing is explicit
    sock = Socket(ws)
    assert sock.recv_type_of(("hello",))["type"] == "hello"
    return sock


def exchange(sock: Socket, raw: str | bytes, kind: str | None) -> str:
    """Sends one frame, checks the answer and that the socket still answers a ping; returns
    the answer's type (with the error code), for the summary."""
    size = len(raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass"))
    assert size < FRAME_LIMIT, "the strategy must stay under daphne's limit"
    sock.ws.send(raw)
    expected: tuple[str, ...] | None
    if kind is None:
        expected = ("error",)
    elif kind == "typing":
        expected = None  # no reply; an error only for a frame the server cannot read
    else:
        expected = REPLIES.get(kind, ("error",))
    answer = "none"
    if expected is not None:
        reply = sock.recv_type_of(expected, timeout=10)
        answer = reply["type"]
        if reply["type"] == "error":
            check_error(reply)
            answer = f"error:{reply['code']}"
    sock.send({"type": "ping"})
    pong = sock.recv_type_of(("pong", "error"), timeout=10)
    while pong["type"] == "error":  # an error for a typing frame precedes the pong
        check_error(pong)
        answer = f"error:{pong['code']}"
        pong = sock.recv_type_of(("pong", "error"), timeout=10)
    sock.backlog.clear()
    return answer


def check_error(frame: dict[str, Any]) -> None:
    assert frame.get("code") not in (None, "unavailable"), frame
    assert isinstance(frame.get("detail"), str) and frame["detail"], frame

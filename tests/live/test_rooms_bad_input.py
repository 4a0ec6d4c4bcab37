"""Input that cannot be stored or parsed is refused for that one frame, as `invalid`, over real
sockets: the socket stays open and nobody else's message is affected."""

import json
import uuid

import pytest

from rooms.models import Message
from tests.live.conftest import Socket

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

# As a client's JSON encoder writes them: half of an emoji's surrogate pair, and a NUL.
LONE_SURROGATE = "hi \\ud83d there"
NUL = "hi \\u0000 there"


def raw_send(sock: Socket, client_id: str, escaped_body: str) -> None:
    # Written by hand: json.dumps would escape the backslash of the escape sequence.
    sock.send(f'{{"type": "message.send", "client_id": "{client_id}", "body": "{escaped_body}"}}')


def still_usable(sock: Socket) -> None:
    sock.send({"type": "ping"})
    assert sock.recv_type_of(("pong",)) == {"type": "pong"}


@pytest.mark.parametrize("escaped", [LONE_SURROGATE, NUL], ids=["lone-surrogate", "nul"])
def test_a_message_that_cannot_be_stored_is_invalid_and_another_members_message_goes_through(
    world, enter, escaped
):
    bob = enter(world.bob, world.other)
    frank = enter(world.frank, world.other)
    bad = str(uuid.uuid4())
    good = [str(uuid.uuid4()) for _ in range(5)]
    # Sent at the same moment, so the server stores them in one batch.
    raw_send(bob, bad, escaped)
    for client_id in good:
        frank.send({"type": "message.send", "client_id": client_id, "body": "ordinary words"})
    error = bob.recv_type_of(("error", "message.ack"))
    assert (error["type"], error["code"], error["client_id"]) == ("error", "invalid", bad)
    assert "character" in error["detail"]
    acks = [frank.recv_type_of(("message.ack", "error")) for _ in good]
    assert [(a["type"], a["client_id"]) for a in acks] == [("message.ack", c) for c in good]
    assert not Message.objects.filter(client_id=bad).exists()
    assert bob.say("and now in plain words")["type"] == "message.ack"
    still_usable(bob)


def test_a_bad_character_in_any_field_of_any_frame_is_invalid(world, enter):
    frank = enter(world.frank, world.other)
    frames = [
        '{"type": "history", "after_id": 0, "note\\u0000": 1}',
        '{"type": "report", "message_id": 1, "reason": "\\udc00"}',
        '{"type": "mute", "member": "m1", "minutes": 5, "reason": "x\\u0000"}',
        '{"type": "hide", "author": "\\ud800"}',
    ]
    for frame in frames:
        frank.send(frame)
        assert frank.recv_type_of(("error",))["code"] == "invalid", frame
    still_usable(frank)


@pytest.mark.parametrize(
    "frame",
    [
        '{"type": "history", "after_id": ' + "[" * 30000 + "]" * 30000 + "}",
        '{"type": "ping", "x": ' + '{"a": ' * 9000 + "1" + "}" * 9000 + "}",
        "[" * 60000,
        json.dumps({"type": "hide", "author": [[[[[[[[[["m1"]]]]]]]]]]}),
    ],
    ids=["deep-array", "deep-object", "deep-unclosed", "nested-ten-levels"],
)
def test_a_deeply_nested_frame_is_invalid_and_the_socket_stays_open(world, enter, frame):
    bob = enter(world.bob, world.other)
    assert len(frame.encode()) < 65536
    bob.send(frame)
    error = bob.recv_type_of(("error",))
    assert error["code"] == "invalid"
    still_usable(bob)


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "history", "after_id": 2**63},
        {"type": "history", "before_id": -(2**70), "limit": 10},
        {"type": "report", "message_id": 10**30, "reason": "x"},
        {"type": "delete", "message_id": 2**64, "reason": "x"},
        {"type": "mute", "member": "m" + "9" * 5000, "minutes": 5, "reason": "x"},
        {"type": "unmute", "member": "m\u00b2"},
        {"type": "hide", "author": "m" + "9" * 40},
        {"type": "flag", "message_id": 1, "ref": "\U0001f600" * 15000},
    ],
    ids=[
        "after-id-over-64-bits",
        "before-id-under-64-bits",
        "report-id-huge",
        "delete-id-huge",
        "member-key-huge",
        "member-key-superscript-digit",
        "author-key-too-long",
        "ref-too-long-to-echo",
    ],
)
def test_numbers_and_keys_out_of_range_are_invalid_not_a_server_error(world, enter, frame):
    frank = enter(world.frank, world.other)
    frank.send(json.dumps(frame, ensure_ascii=False))
    error = frank.recv_type_of(("error",))
    assert error["code"] == "invalid", error
    still_usable(frank)

"""Sending messages over real sockets: acks, broadcast, retries, bad frames, limits, markup."""

import contextlib
import datetime as dt
import json
import uuid
from html.parser import HTMLParser

import pytest
from django.utils import timezone
from websockets.exceptions import ConnectionClosed

from rooms.models import Enrollment, Message, SupportGroup
from rooms.services import enrollment_join
from tests.live.conftest import Socket, open_room, open_socket

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def send(sock, body, client_id=None):
    client_id = client_id or str(uuid.uuid4())
    sock.send({"type": "message.send", "client_id": client_id, "body": body})
    return client_id


# ---------------------------------------------------------------- ack and broadcast


def test_a_message_reaches_another_member_and_the_facilitator_with_the_same_content(world, enter):
    open_room(world.circle)
    enrollment_join(group=world.circle, user=world.charlie, alias="Fern", agreement_accepted=True)
    alice = enter(world.alice, world.circle)
    charlie = enter(world.charlie, world.circle)
    carol = enter(world.carol, world.circle)
    client_id = send(alice, "Today was hard.")
    ack = alice.recv_type("message.ack")
    assert ack == {"type": "message.ack", "client_id": client_id, "id": ack["id"]}
    for other in (charlie, carol):
        message = other.recv_type("message.new")["message"]
        assert message["id"] == ack["id"]
        assert message["client_id"] == client_id
        assert message["text"] == "Today was hard."
        assert message["body"] == "Today was hard."
        assert message["author"]["alias"] == "Willow"
        assert message["created_at"]
    row = Message.objects.get(pk=ack["id"])
    assert (row.author_id, row.group_id, row.body) == (
        world.alice.pk,
        world.circle.pk,
        "Today was hard.",
    )


def test_the_sender_also_receives_its_own_message_new(world, enter):
    bob = enter(world.bob, world.other)
    ack = bob.say("Echo?")
    assert bob.recv_type("message.new")["message"]["id"] == ack["id"]


def test_a_facilitators_message_is_marked_with_the_facilitator_role(world, enter):
    bob = enter(world.bob, world.other)
    frank = enter(world.frank, world.other)
    ack = frank.say("Welcome, everyone.")
    author = bob.recv_type("message.new")["message"]["author"]
    assert author["role"] == "facilitator"
    assert ack["type"] == "message.ack"


def test_a_retry_with_the_same_client_id_gets_the_same_id_and_reaches_others_once(world, enter):
    open_room(world.circle)
    alice = enter(world.alice, world.circle)
    carol = enter(world.carol, world.circle)
    client_id = str(uuid.uuid4())
    first = alice.say("Is anyone else awake?", client_id)
    second = alice.say("Is anyone else awake?", client_id)
    assert first["type"] == second["type"] == "message.ack"
    assert first["id"] == second["id"]
    assert Message.objects.filter(author=world.alice, client_id=client_id).count() == 1
    assert carol.recv_type("message.new")["message"]["id"] == first["id"]
    # Anything the retry had broadcast would arrive before this later message.
    later = alice.say("Later message")
    assert carol.recv_type("message.new")["message"]["id"] == later["id"]


def test_a_retry_on_a_new_socket_after_a_drop_is_still_one_message(world, enter):
    bob = enter(world.bob, world.other)
    client_id = str(uuid.uuid4())
    first = bob.say("Sent just before the tunnel", client_id)
    bob.close()
    again = enter(world.bob, world.other)
    assert again.say("Sent just before the tunnel", client_id)["id"] == first["id"]
    assert Message.objects.filter(author=world.bob).count() == 1


# ---------------------------------------------------------------- bad frames


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("[1, 2, 3]", "invalid"),
        ('"just a string"', "invalid"),
        ("{}", "invalid"),
        ('{"type": 7}', "invalid"),
        ("this is not json", "invalid"),
        ('{"type": "message.delete.all"}', "unknown_type"),
        (json.dumps({"type": "message.send", "client_id": "x", "body": "hi"}), "invalid"),
        (json.dumps({"type": "message.send", "body": "no client id"}), "invalid"),
        (
            json.dumps({"type": "message.send", "client_id": str(uuid.uuid4()), "body": ""}),
            "invalid",
        ),
        (
            json.dumps({"type": "message.send", "client_id": str(uuid.uuid4()), "body": " \n\t "}),
            "invalid",
        ),
        (
            json.dumps({"type": "message.send", "client_id": str(uuid.uuid4()), "body": 5}),
            "invalid",
        ),
        (
            json.dumps(
                {"type": "message.send", "client_id": str(uuid.uuid4()), "body": "x" * 4001}
            ),
            "too_long",
        ),
        ('{"type": "history", "after_id": "1"}', "invalid"),
        ('{"type": "history", "after_id": 1, "before_id": 9}', "invalid"),
    ],
    ids=[
        "json-array",
        "json-string",
        "no-type",
        "type-not-a-string",
        "not-json",
        "unknown-type",
        "client-id-not-a-uuid",
        "no-client-id",
        "empty-body",
        "blank-body",
        "body-not-a-string",
        "4001-characters",
        "history-id-not-an-integer",
        "history-both-directions",
    ],
)
def test_a_bad_frame_gets_its_error_and_the_socket_keeps_working(world, enter, frame, code):
    bob = enter(world.bob, world.other)
    bob.send(frame)
    error = bob.recv_type("error")
    assert error["code"] == code, error
    assert error["detail"]
    assert bob.say("Still here.")["type"] == "message.ack"
    assert Message.objects.filter(author=world.bob).count() == 1


def test_an_error_about_a_message_names_its_client_id(world, enter):
    bob = enter(world.bob, world.other)
    client_id = send(bob, "x" * 4001)
    error = bob.recv_type("error")
    assert error["client_id"] == client_id
    assert error["max_length"] == 4000


def test_a_body_of_exactly_4000_characters_is_accepted(world, enter):
    bob = enter(world.bob, world.other)
    ack = bob.say("y" * 4000)
    assert ack["type"] == "message.ack"
    assert len(Message.objects.get(pk=ack["id"]).body) == 4000


def test_a_binary_frame_gets_invalid_and_the_socket_keeps_working(world, enter):
    bob = enter(world.bob, world.other)
    bob.ws.send(b'{"type": "message.send"}')
    assert bob.recv_type("error")["code"] == "invalid"
    assert bob.say("Text works.")["type"] == "message.ack"


def test_ping_gets_pong(world, enter):
    bob = enter(world.bob, world.other)
    bob.send({"type": "ping"})
    assert bob.recv_type("pong") == {"type": "pong"}


def test_a_frame_over_the_size_limit_closes_that_socket_with_1009_and_the_client_can_reconnect(
    world, server, enter
):
    bob = enter(world.bob, world.other)
    frank = enter(world.frank, world.other)
    # Random-looking text, so no compression extension could shrink it under the limit.
    big = uuid.uuid4().hex * (100_000 // 32)
    bob.send({"type": "message.send", "client_id": str(uuid.uuid4()), "body": big})
    _, code = bob.closed()
    assert code == 1009
    again = enter(world.bob, world.other)
    ack = again.say("Sorry, pasted too much.")
    assert ack["type"] == "message.ack"
    assert frank.recv_type("message.new")["message"]["id"] == ack["id"]
    assert Message.objects.filter(author=world.bob).count() == 1


# ---------------------------------------------------------------- markup


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


XSS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<img src="x" onerror="alert(document.cookie)">',
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    '<a href="javascript:alert(1)">click me</a>',
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)//example.com",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "&#60;script&#62;alert(1)&#60;/script&#62;",
    "&amp;lt;b&amp;gt;",
    '<iframe src="https://evil.example"></iframe>',
    "<body onload=alert(1)>",
    '"><script>alert(1)</script>',
    'https://example.org/"onmouseover="alert(1)',
    "example.com/'><script>alert(1)</script>",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "<style>body{display:none}</style>",
    "read https://example.org/a?b=1&c=<2> please",
    "<<script>script>alert(1)<</script>/script>",
]


@pytest.mark.parametrize("payload", XSS)
def test_markup_comes_out_inert_and_text_is_exactly_what_was_typed(world, enter, payload):
    bob = enter(world.bob, world.other)
    frank = enter(world.frank, world.other)
    ack = bob.say(payload)
    assert ack["type"] == "message.ack", ack
    message = frank.recv_type("message.new")["message"]
    assert message["text"] == payload
    parsed = Tags()
    parsed.feed(message["body"])
    parsed.close()
    for tag, attrs in parsed.tags:
        assert tag == "a", message["body"]
        assert attrs["href"].startswith(("http://", "https://")), message["body"]
        assert attrs["rel"] == "nofollow noopener noreferrer"
        assert set(attrs) <= {"href", "rel", "target"}, attrs
    # Rendered, the safe body shows exactly the characters the member typed.
    assert "".join(parsed.text) == payload
    # The history serves the same safe body.
    bob.send({"type": "history", "limit": 1})
    assert bob.recv_type_of(("history",))["messages"][0]["body"] == message["body"]


def test_a_plain_web_address_becomes_a_safe_link(world, enter):
    bob = enter(world.bob, world.other)
    bob.say("this helped me https://example.org/grief")
    message = bob.recv_type("message.new")["message"]
    assert message["body"] == (
        'this helped me <a href="https://example.org/grief" rel="nofollow noopener noreferrer" '
        'target="_blank">https://example.org/grief</a>'
    )


# ---------------------------------------------------------------- who may write


def test_a_member_of_another_group_cannot_post_into_it(world, enter, server):
    # Bob holds a socket in his own room; nothing he sends there can land in the circle.
    open_room(world.circle)
    bob = enter(world.bob, world.other)
    bob.send(
        {
            "type": "message.send",
            "client_id": str(uuid.uuid4()),
            "body": "hi",
            "group_id": world.circle.pk,
        }
    )
    assert bob.recv_type("message.ack")
    assert not Message.objects.filter(group=world.circle).exists()
    ws = open_socket(server, world.circle.pk, world.bob)
    try:
        with contextlib.suppress(ConnectionClosed):  # the server may already have closed
            ws.send(
                json.dumps({"type": "message.send", "client_id": str(uuid.uuid4()), "body": "x"})
            )
        _, code = Socket(ws).closed()
    finally:
        ws.close()
    assert code == 4403
    assert not Message.objects.filter(group=world.circle).exists()


def test_a_client_id_used_in_one_room_cannot_be_replayed_into_another(world, enter):
    open_room(world.circle)
    enrollment_join(group=world.other, user=world.alice, alias="Willow", agreement_accepted=True)
    in_circle = enter(world.alice, world.circle)
    in_other = enter(world.alice, world.other)
    client_id = str(uuid.uuid4())
    assert in_circle.say("for the circle", client_id)["type"] == "message.ack"
    error = in_other.say("for the circle", client_id)
    assert error["type"] == "error" and error["code"] == "invalid"
    assert not Message.objects.filter(group=world.other).exists()


def test_a_muted_member_cannot_send_and_is_told_until_when(world, enter):
    until = timezone.now() + dt.timedelta(minutes=10)
    Enrollment.objects.filter(group=world.other, user=world.bob).update(
        muted_until=until, mute_reason="Take a breath"
    )
    bob = enter(world.bob, world.other)
    assert bob.hello["you"]["muted_until"]
    client_id = send(bob, "Let me speak!")
    error = bob.recv_type("error")
    assert error["code"] == "muted"
    assert error["client_id"] == client_id
    assert dt.datetime.fromisoformat(error["muted_until"]) == until
    assert not Message.objects.filter(author=world.bob).exists()


def test_a_member_whose_mute_has_expired_can_send(world, enter):
    Enrollment.objects.filter(group=world.other, user=world.bob).update(
        muted_until=timezone.now() - dt.timedelta(minutes=1)
    )
    bob = enter(world.bob, world.other)
    assert bob.say("I'm back.")["type"] == "message.ack"


def test_a_locked_room_refuses_members_messages_but_not_the_facilitators(world, enter):
    SupportGroup.objects.filter(pk=world.other.pk).update(locked=True)
    bob = enter(world.bob, world.other)
    frank = enter(world.frank, world.other)
    assert bob.hello["room"]["locked"] is True
    error = bob.say("Can I say something?")
    assert error["type"] == "error" and error["code"] == "locked"
    ack = frank.say("Let's take a five-minute pause.")
    assert ack["type"] == "message.ack"
    assert bob.recv_type("message.new")["message"]["id"] == ack["id"]
    assert list(Message.objects.values_list("author_id", flat=True)) == [world.frank.pk]


def test_a_room_closed_while_a_member_is_inside_refuses_their_messages(world, enter):
    bob = enter(world.bob, world.other)
    SupportGroup.objects.filter(pk=world.other.pk).update(room_override="closed")
    # The consumer's copy of the room still says open; the action checks the database.
    error = bob.say("Anyone?")
    assert error["type"] == "error" and error["code"] == "closed"
    assert not Message.objects.exists()


def test_slow_mode_spaces_a_members_messages(world, enter):
    SupportGroup.objects.filter(pk=world.other.pk).update(slow_mode_seconds=60)
    bob = enter(world.bob, world.other)
    frank = enter(world.frank, world.other)
    assert bob.say("first")["type"] == "message.ack"
    error = bob.say("second")
    assert error["code"] == "slow_mode"
    assert 0 < error["retry_after"] <= 60
    assert frank.say("facilitators are not slowed")["type"] == "message.ack"
    assert frank.say("at all")["type"] == "message.ack"


# ---------------------------------------------------------------- typing


def test_typing_is_not_shown_to_others_by_default(world, enter):
    bob = enter(world.bob, world.other)
    frank = enter(world.frank, world.other)
    assert bob.hello["room"]["typing_indicators"] is False
    bob.send({"type": "typing"})
    ack = bob.say("done typing")
    # Frames from one socket arrive in order, so a typing frame would precede this message.
    while True:
        frame = frank.recv()
        assert frame["type"] != "typing", frame
        if frame["type"] == "message.new" and frame["message"]["id"] == ack["id"]:
            break


def test_typing_reaches_others_when_the_group_turns_it_on(world, enter):
    SupportGroup.objects.filter(pk=world.other.pk).update(typing_indicators=True)
    bob = enter(world.bob, world.other)
    frank = enter(world.frank, world.other)
    bob.send({"type": "typing"})
    frame = frank.recv_type_of(("typing",))
    assert frame == {"type": "typing", "author": bob.hello["you"]}

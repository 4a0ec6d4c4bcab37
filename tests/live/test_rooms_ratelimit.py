"""The message rate limit over real sockets: a token bucket per person, across their sockets."""

import uuid

import pytest

from rooms.models import Message

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def limited(server_factory):
    """A server whose bucket holds 5 messages and refills too slowly to matter in a test."""
    return server_factory(RATE_LIMIT_BURST="5", RATE_LIMIT_PER_SECOND="0.001")


def flood(sock, count):
    client_ids = [str(uuid.uuid4()) for _ in range(count)]
    for i, client_id in enumerate(client_ids):
        sock.send({"type": "message.send", "client_id": client_id, "body": f"flood {i}"})
    replies = {}
    while len(replies) < count:
        frame = sock.recv_type_of(("message.ack", "error"))
        replies[frame["client_id"]] = frame
    return [replies[c] for c in client_ids]


def test_a_flood_gets_rate_limited_and_exactly_the_allowed_messages_are_stored(
    world, limited, enter
):
    bob = enter(world.bob, world.other, limited)
    replies = flood(bob, 20)
    acks = [r for r in replies if r["type"] == "message.ack"]
    limited_errors = [r for r in replies if r["type"] == "error"]
    assert len(acks) == 5
    assert replies[:5] == acks  # the burst is the first five
    assert len(limited_errors) == 15
    assert {e["code"] for e in limited_errors} == {"rate_limited"}
    assert all(e["retry_after"] > 0 for e in limited_errors)
    assert Message.objects.filter(author=world.bob).count() == 5
    assert sorted(Message.objects.values_list("pk", flat=True)) == sorted(a["id"] for a in acks)


def test_the_rate_limit_is_per_person_across_their_sockets(world, limited, enter):
    phone = enter(world.bob, world.other, limited)
    laptop = enter(world.bob, world.other, limited)
    replies = flood(phone, 3) + flood(laptop, 4)
    assert [r["type"] for r in replies].count("message.ack") == 5
    assert replies[-2]["code"] == replies[-1]["code"] == "rate_limited"
    assert Message.objects.filter(author=world.bob).count() == 5


def test_one_persons_flood_does_not_limit_another(world, limited, enter):
    bob = enter(world.bob, world.other, limited)
    frank = enter(world.frank, world.other, limited)
    flood(bob, 8)
    assert frank.say("I can still speak")["type"] == "message.ack"

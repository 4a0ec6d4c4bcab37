"""Several daphne processes on one Redis channel layer share their rooms."""

import pytest

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def second_daphne(server_factory, redis_server):
    return server_factory(
        REDIS_URL=redis_server.url, RATE_LIMIT_PER_SECOND="0", PRESENCE_HEARTBEAT_SECONDS="2"
    )


def test_members_on_two_processes_talk_to_each_other(world, redis_daphne, second_daphne, enter):
    world.circle.drop_in = True
    world.circle.save(update_fields=["drop_in"])
    alice = enter(world.alice, world.circle, redis_daphne)
    carol = enter(world.carol, world.circle, second_daphne)

    ack = alice.say("Hello from process one")
    assert carol.recv_message(ack["id"])["body"] == "Hello from process one"

    ack = carol.say("And back from process two")
    message = alice.recv_message(ack["id"])
    assert (message["body"], message["author"]["role"]) == (
        "And back from process two",
        "facilitator",
    )


def test_presence_spans_processes(world, redis_daphne, second_daphne, enter):
    bob = enter(world.bob, world.other, redis_daphne)
    enter(world.frank, world.other, second_daphne)
    while True:
        frame = bob.recv_type_of(("presence",))
        if {p["alias"] for p in frame["present"]} == {"River", "frank"}:
            break


def test_a_member_on_one_process_catches_up_on_what_was_said_on_the_other(
    world, redis_daphne, second_daphne, enter
):
    bob = enter(world.bob, world.other, redis_daphne)
    seen = bob.hello["last_message_id"]
    bob.close()
    frank = enter(world.frank, world.other, second_daphne)
    said = [frank.say(f"note {i}")["id"] for i in range(3)]
    bob = enter(world.bob, world.other, second_daphne)
    bob.send({"type": "history", "after_id": seen})
    assert [m["id"] for m in bob.recv_type_of(("history",))["messages"]] == said

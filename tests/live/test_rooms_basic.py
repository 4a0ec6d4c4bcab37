import uuid

import pytest

from rooms.models import Message

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def test_a_message_is_acknowledged_and_reaches_everyone_in_the_room(world, enter):
    world.circle.drop_in = True
    world.circle.save()
    alice = enter(world.alice, world.circle)
    carol = enter(world.carol, world.circle)
    ack = alice.say("Hi everyone, first time here.")
    assert ack["type"] == "message.ack"
    new = carol.recv_type("message.new")
    assert new["message"]["id"] == ack["id"]
    assert new["message"]["author"] == {
        "id": alice.hello["you"]["id"],
        "alias": "Willow",
        "role": "member",
    }
    assert Message.objects.filter(pk=ack["id"], author=world.alice).exists()


def test_retrying_with_the_same_client_id_stores_one_message(world, enter):
    world.circle.drop_in = True
    world.circle.save()
    alice = enter(world.alice, world.circle)
    client_id = str(uuid.uuid4())
    first = alice.say("Is anyone else awake?", client_id)
    second = alice.say("Is anyone else awake?", client_id)
    assert first["id"] == second["id"]
    assert Message.objects.filter(author=world.alice).count() == 1

"""Which batches a web process publishes on the channel layer for the others."""

import uuid

from rooms.access import room_access
from rooms.actions import SendRequest
from rooms.presence import heartbeat
from rooms.sending import store_batch


def send(user, group):  # noqa: ANN001, ANN201
    request = SendRequest(room_access(user=user, group_id=group.pk), uuid.uuid4(), "hello")
    (result,), shared = store_batch([request])
    assert result.room_frame is not None
    return shared


def test_the_only_web_process_publishes_nothing_and_one_among_others_publishes_its_rooms(world):
    from rooms.hub import PROCESS_ID

    heartbeat(process=PROCESS_ID)
    heartbeat(process="worker:host")  # the worker has no sockets
    assert send(world.bob, world.other) == set()
    heartbeat(process="host:1234:abcd")
    assert send(world.bob, world.other) == {world.other.pk}

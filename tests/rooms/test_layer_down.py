"""The channel layer only announces what the database already holds: with the layer down, what
was stored is still stored, and every sender is told so."""

import asyncio
import logging
import socket
import uuid

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from moderation.models import Alert, AlertKind
from rooms.access import room_access
from rooms.actions import SendRequest, SendResult, message_send_many
from rooms.models import Message


@pytest.fixture
def dead_redis_layer(settings):  # noqa: ANN001, ANN201
    """The production layer (Redis pub/sub) pointed at a port nobody listens on: every
    group_send fails the way it does when Redis is down."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{port}/0"]},
        }
    }
    with pytest.raises(Exception):  # noqa: B017 — whatever the client raises for a dead server
        async_to_sync(get_channel_layer().group_send)("probe", {"type": "probe"})


def test_with_the_layer_down_every_sender_of_a_stored_batch_and_its_alert_is_acknowledged(
    transactional_db, world, dead_redis_layer, caplog
):
    """A real commit (not a test transaction rolled back): the alert's announcements run after
    it, fail on the dead layer, and must not turn the batch's answers into "not sent"."""
    bob = room_access(user=world.bob, group_id=world.other.pk)
    frank = room_access(user=world.frank, group_id=world.other.pk)
    requests = [
        SendRequest(bob, uuid.uuid4(), "I want to end my life tonight"),
        SendRequest(frank, uuid.uuid4(), "I am here with you"),
        SendRequest(bob, uuid.uuid4(), "thank you"),
    ]
    with caplog.at_level(logging.ERROR, logger="rooms.events"):
        results = message_send_many(requests)

    assert all(isinstance(r, SendResult) for r in results), results
    crisis, welcome, thanks = results
    assert [f["type"] for f in crisis.frames_to_sender] == ["message.ack", "support.resources"]
    for request, result in zip(requests, results, strict=True):
        # New messages, so the room hears about them once the layer is back (not replays).
        assert not result.duplicate and result.room_frame is not None
        assert result.frames_to_sender[0] == {
            "type": "message.ack",
            "client_id": str(request.client_id),
            "id": result.message_id,
        }
    assert Message.objects.count() == 3
    alert = Alert.objects.get(kind=AlertKind.CRISIS)
    assert alert.message_id == crisis.message_id and alert.level == "emergency"
    # The alert's announcements were tried, and failed on the layer.
    failed = {r.getMessage() for r in caplog.records}
    assert f"announcing room.frame to room.{world.other.pk} failed" in failed
    assert any(m.startswith("announcing room.frame to alerts.") for m in failed)


def test_an_announcement_that_fails_after_commit_keeps_the_change_and_the_other_announcements(
    transactional_db, world
):
    from django.db import transaction

    from rooms import events

    ran = []

    def broken() -> None:
        raise RuntimeError("the layer, or a read the announcement makes, failed")

    with transaction.atomic():
        Message.objects.create(
            group=world.other, author=world.bob, client_id=uuid.uuid4(), body="kept"
        )
        events.on_commit(broken)
        events.on_commit(lambda: ran.append("after"))
    assert ran == ["after"]
    assert Message.objects.filter(body="kept").exists()


async def test_through_a_web_process_batch_with_the_layer_down_every_sender_is_acknowledged(
    transactional_db, world, dead_redis_layer, caplog
):
    """The whole way a socket's send takes: the batcher stores the batch, answers each sender,
    and announces it, on the layer too since another web process is up, which fails."""
    from channels.db import database_sync_to_async

    from rooms import hub
    from rooms.presence import heartbeat
    from rooms.sending import SendBatcher

    def setup() -> list[SendRequest]:
        heartbeat(process=hub.PROCESS_ID)
        heartbeat(process="elsewhere:1:abcd")  # another web process: the batch is published
        bob = room_access(user=world.bob, group_id=world.other.pk)
        frank = room_access(user=world.frank, group_id=world.other.pk)
        return [
            SendRequest(bob, uuid.uuid4(), "I want to end my life tonight"),
            SendRequest(frank, uuid.uuid4(), "I am here with you"),
        ]

    requests = await database_sync_to_async(setup)()
    batcher = SendBatcher()
    announced = f"announcing room.frames to room.{world.other.pk} failed"
    with caplog.at_level(logging.WARNING, logger="rooms.events"):
        results = [await batcher.submit(request) for request in requests]
        for _ in range(500):  # the announcer publishes to the dead layer, after the answers
            if any(r.getMessage().startswith(announced) for r in caplog.records):
                break
            await asyncio.sleep(0.01)
    batcher.task.cancel()
    batcher.announcer.cancel()
    assert [r.frames_to_sender[0]["type"] for r in results] == ["message.ack", "message.ack"]
    assert await database_sync_to_async(Alert.objects.count)() == 1
    failed = [r.getMessage() for r in caplog.records]
    assert any(
        m.startswith(f"announcing room.frames to room.{world.other.pk} failed") for m in failed
    )

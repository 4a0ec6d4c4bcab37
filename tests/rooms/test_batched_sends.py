"""Sends that arrive together are stored together, each with its own answer."""

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from moderation.models import Alert
from rooms.access import Access, room_access
from rooms.actions import SendRequest, SendResult, message_recover, message_send_many
from rooms.models import Enrollment, Message
from rooms.refusals import SendError


def access_for(user, group) -> Access:  # noqa: ANN001
    return room_access(user=user, group_id=group.pk)


def test_a_batch_stores_each_message_once_and_answers_each_sender(world):
    world.other.save()
    from rooms.services import enrollment_join
    from server.accounts.services import account_create

    erin = account_create(username="erin", password="pw-erin-long")
    enrollment_join(group=world.other, user=erin, alias="Fern", agreement_accepted=True)
    bob, fern = access_for(world.bob, world.other), access_for(erin, world.other)
    repeated = uuid.uuid4()
    results = message_send_many(
        [
            SendRequest(bob, repeated, "first"),
            SendRequest(fern, uuid.uuid4(), "second"),
            SendRequest(bob, repeated, "first"),  # a retry inside the same batch
            SendRequest(bob, uuid.uuid4(), "I want to end my life tonight"),
        ]
    )
    assert all(isinstance(r, SendResult) for r in results)
    first, second, retry, crisis = results
    assert retry.duplicate and retry.message_id == first.message_id and retry.room_frame is None
    assert first.room_frame and second.room_frame and crisis.room_frame
    assert Message.objects.count() == 3
    assert Alert.objects.get().message_id == crisis.message_id
    assert [f["type"] for f in crisis.frames_to_sender] == ["message.ack", "support.resources"]


def test_one_refused_send_does_not_stop_the_others_in_its_batch(world):
    bob = access_for(world.bob, world.other)
    Enrollment.objects.filter(user=world.bob).update(
        muted_until=timezone.now() + dt.timedelta(minutes=5), mute_reason="breathe"
    )
    frank = access_for(world.frank, world.other)
    muted, fine = message_send_many(
        [SendRequest(bob, uuid.uuid4(), "hello"), SendRequest(frank, uuid.uuid4(), "welcome")]
    )
    assert isinstance(muted, SendError) and muted.code == "muted"
    assert isinstance(fine, SendResult)
    assert list(Message.objects.values_list("author_id", flat=True)) == [world.frank.pk]


def test_a_batch_retried_after_it_was_stored_is_answered_from_the_database(world):
    bob = access_for(world.bob, world.other)
    request = SendRequest(bob, uuid.uuid4(), "once")
    (stored,) = message_send_many([request])
    (again,) = message_send_many([request])
    assert isinstance(again, SendResult) and again.duplicate
    assert again.message_id == stored.message_id and again.room_frame is None


def test_a_row_the_database_refuses_fails_alone_and_the_rest_of_its_batch_is_stored(world):
    """The consumer refuses such text as `invalid` before it gets here (tests/live/
    test_rooms_bad_input.py); should anything else reach the database that it cannot store, only
    that message fails: the others, a crisis message among them, are stored and answered."""
    bob, frank = access_for(world.bob, world.other), access_for(world.frank, world.other)
    bad, fine, crisis = message_send_many(
        [
            SendRequest(bob, uuid.uuid4(), "half an emoji \ud83d"),
            SendRequest(frank, uuid.uuid4(), "welcome"),
            SendRequest(bob, uuid.uuid4(), "I want to end my life tonight"),
        ]
    )
    assert isinstance(bad, SendError) and bad.code == "unavailable"
    assert isinstance(fine, SendResult) and isinstance(crisis, SendResult)
    assert Message.objects.count() == 2
    assert Alert.objects.get().message_id == crisis.message_id


def test_a_batch_whose_call_was_interrupted_is_answered_from_the_database_and_announced(world):
    """Storing may fail after the commit (an on-commit hook raised, the call was interrupted):
    what was stored is acknowledged and announced as new, since nobody was told; the rest is
    not sent."""
    bob, frank = access_for(world.bob, world.other), access_for(world.frank, world.other)
    stored_request = SendRequest(bob, uuid.uuid4(), "I want to end my life tonight")
    (stored,) = message_send_many([stored_request])
    lost = SendRequest(frank, uuid.uuid4(), "never reached the database")
    recovered, missing = message_recover([stored_request, lost])
    assert isinstance(recovered, SendResult) and not recovered.duplicate
    assert recovered.message_id == stored.message_id
    assert recovered.room_frame == stored.room_frame
    assert [f["type"] for f in recovered.frames_to_sender] == ["message.ack", "support.resources"]
    assert isinstance(missing, SendError) and missing.code == "unavailable"


@pytest.mark.postgres
def test_on_postgresql_a_nul_fails_only_its_own_message_in_a_batch(world, require_postgres):
    """PostgreSQL refuses NUL characters in text, which SQLite stores."""
    bob, frank = access_for(world.bob, world.other), access_for(world.frank, world.other)
    bad, fine = message_send_many(
        [
            SendRequest(bob, uuid.uuid4(), "a NUL \x00 here"),
            SendRequest(frank, uuid.uuid4(), "welcome"),
        ]
    )
    assert isinstance(bad, SendError) and bad.code == "unavailable"
    assert isinstance(fine, SendResult)
    assert list(Message.objects.values_list("body", flat=True)) == ["welcome"]

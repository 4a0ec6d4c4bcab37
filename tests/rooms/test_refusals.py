"""A member who may not write in the room reads the same words whether they send a message, edit
one or react: one function decides (rooms.refusals.speaking_refusal), one table words it."""

import datetime as dt
import uuid

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from moderation.actions import room_update
from rooms.access import room_access
from rooms.actions import SendRequest, forget_snapshots, message_send_many
from rooms.member_messages import reaction_toggle
from rooms.models import Enrollment, Message
from rooms.refusals import SPEAKING, SendError, speaking_refusal


def refused_to_send(user, group) -> SendError:  # noqa: ANN001
    forget_snapshots(everything=True)
    access = room_access(user=user, group_id=group.pk)
    (result,) = message_send_many([SendRequest(access, uuid.uuid4(), "hello")])
    assert isinstance(result, SendError)
    return result


def refused_to_react(user, message) -> str:  # noqa: ANN001
    with pytest.raises(PermissionDenied) as refused:
        reaction_toggle(
            user=user, group_id=message.group_id, message_id=message.pk, reaction="heart"
        )
    return str(refused.value)


@pytest.fixture
def said(world):  # noqa: ANN001, ANN201
    return Message.objects.create(group=world.other, author=world.frank, body="welcome")


def test_a_muted_member_reads_the_same_words_when_sending_and_reacting(world, said):
    until = timezone.now() + dt.timedelta(minutes=5)
    Enrollment.objects.filter(user=world.bob).update(muted_until=until, mute_reason="breathe")
    expected = speaking_refusal(
        is_open=True, locked=False, muted_until=until, mute_reason="breathe", now=timezone.now()
    )
    assert expected is not None and expected.detail.endswith(" UTC: breathe")
    sending = refused_to_send(world.bob, world.other)
    assert (sending.code, sending.detail) == ("muted", expected.detail)
    assert sending.extra == {"muted_until": until.isoformat()}
    assert refused_to_react(world.bob, said) == expected.detail


def test_a_locked_room_reads_the_same_when_sending_and_reacting(world, said):
    room_update(by=world.frank, group=world.other, locked=True)
    sending = refused_to_send(world.bob, world.other)
    assert (sending.code, sending.detail) == ("locked", SPEAKING["locked"])
    assert refused_to_react(world.bob, said) == SPEAKING["locked"]


def test_a_closed_room_reads_the_same_when_sending_and_reacting(world, said):
    access = room_access(user=world.bob, group_id=world.other.pk)  # entered while it was open
    room_update(by=world.frank, group=world.other, open="closed")
    forget_snapshots(everything=True)
    (sending,) = message_send_many([SendRequest(access, uuid.uuid4(), "hello")])
    assert isinstance(sending, SendError)
    assert (sending.code, sending.detail) == ("closed", SPEAKING["closed"])
    assert refused_to_react(world.bob, said) == SPEAKING["closed"]


def test_a_closed_room_is_named_before_a_lock_and_a_lock_before_a_mute_that_has_not_ended():
    now = timezone.now()
    later = now + dt.timedelta(minutes=1)
    codes = [
        speaking_refusal(is_open=False, locked=True, muted_until=later, now=now),
        speaking_refusal(is_open=True, locked=True, muted_until=later, now=now),
        speaking_refusal(is_open=True, locked=False, muted_until=later, now=now),
    ]
    assert [r.code if r else None for r in codes] == ["closed", "locked", "muted"]
    assert speaking_refusal(is_open=True, locked=False, muted_until=now, now=now) is None

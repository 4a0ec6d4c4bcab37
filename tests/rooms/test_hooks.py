"""The extension points rooms names for the apps above it (rooms/hooks.py)."""

import uuid

import pytest

from moderation.models import Alert
from rooms import hooks
from rooms.access import room_access
from rooms.actions import SendRequest, SendResult, message_send_many


@pytest.fixture
def no_hooks(monkeypatch):  # noqa: ANN001, ANN201
    """As if no app above rooms had registered anything."""
    monkeypatch.setattr(hooks, "_hooks", {})


def test_moderation_registers_at_every_point_rooms_names():
    assert {name for name in hooks.NAMES if hooks.get_hooks(name)} == hooks.NAMES


def test_a_hook_rooms_does_not_name_is_refused_and_one_registered_twice_runs_once(no_hooks):
    with pytest.raises(ValueError):
        hooks.register("before_send", print)

    @hooks.register(hooks.MODERATORS_CHANGED)
    def noticed(*, group_id: int) -> None: ...

    hooks.register(hooks.MODERATORS_CHANGED, noticed)
    assert hooks.get_hooks(hooks.MODERATORS_CHANGED) == [noticed]


def test_with_no_hook_registered_a_crisis_message_still_raises_its_alert_and_support_card(
    world, no_hooks
):
    """The crisis assessment and the alert are direct calls in the send path, never hooks."""
    access = room_access(user=world.bob, group_id=world.other.pk)
    assert access.hidden_authors == set()
    (result,) = message_send_many(
        [SendRequest(access, uuid.uuid4(), "I want to end my life tonight")]
    )
    assert isinstance(result, SendResult)
    assert [f["type"] for f in result.frames_to_sender] == ["message.ack", "support.resources"]
    assert Alert.objects.get().message_id == result.message_id

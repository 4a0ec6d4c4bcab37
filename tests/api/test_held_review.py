"""Held messages reviewed over REST: a facilitator approves or rejects, a member cannot."""

from __future__ import annotations

import pytest

from rooms.models import Message, MessageStatus

pytestmark = pytest.mark.django_db


def held(world) -> Message:  # noqa: ANN001
    return Message.objects.create(
        group=world.circle,
        author=world.alice,
        body="call me 555 123 4567",
        status=MessageStatus.HELD,
        held_reason="contact_details",
    )


def test_a_facilitator_rejects_a_held_message_with_a_reason(world):
    message = held(world)
    assert world.client(world.alice).post(
        f"/api/messages/{message.pk}/reject/", {"reason": "phone number"}, format="json"
    ).status_code in (403, 404)
    response = world.client(world.carol).post(
        f"/api/messages/{message.pk}/reject/", {"reason": "phone number"}, format="json"
    )
    assert response.status_code == 200, response.content
    message.refresh_from_db()
    assert message.status == MessageStatus.REJECTED


def test_a_facilitator_approves_a_held_message(world):
    message = held(world)
    response = world.client(world.carol).post(f"/api/messages/{message.pk}/approve/")
    assert response.status_code == 200, response.content
    assert Message.objects.filter(group=world.circle, status=MessageStatus.VISIBLE).exists()

"""Members' own messages over REST: the same actions as the room socket's frames."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from moderation.models import Alert, AuditEntry
from rooms.models import Message, Session

pytestmark = pytest.mark.django_db


@pytest.fixture
def said(world):
    now = timezone.now()
    Session.objects.create(
        group=world.circle,
        starts_at=now - dt.timedelta(minutes=5),
        ends_at=now + dt.timedelta(hours=1),
    )
    return Message.objects.create(group=world.circle, author=world.alice, body="Frist words")


def test_a_member_edits_then_deletes_their_message_and_the_audit_log_keeps_each_version(
    world, said
):
    client = world.client(world.alice)
    edited = client.patch(f"/api/messages/{said.pk}/", {"body": "First words"}, format="json")
    assert edited.status_code == 200
    assert edited.json()["text"] == "First words" and edited.json()["edited_at"]
    deleted = client.delete(f"/api/messages/{said.pk}/")
    assert deleted.status_code == 200 and deleted.json()["deleted"] is True
    history = list(
        AuditEntry.objects.filter(message_id_ref=said.pk)
        .order_by("id")
        .values_list("action", "reason")
    )
    assert history == [
        ("message.edited", "Frist words"),
        ("message.deleted_by_author", "First words"),
    ]


def test_an_edit_into_crisis_language_raises_an_alert(world, said):
    response = world.client(world.alice).patch(
        f"/api/messages/{said.pk}/", {"body": "I want to die"}, format="json"
    )
    assert response.status_code == 200
    alert = Alert.objects.get(message=said)
    assert alert.level in ("urgent", "emergency") and alert.ack_deadline is not None


def test_an_edit_never_lowers_the_alert_a_facilitator_raised_by_hand(world, said):
    flagged = world.client(world.carol).post(
        f"/api/messages/{said.pk}/flag/",
        {"level": "emergency", "category": "self_harm", "note": "she told me in the break"},
        format="json",
    )
    assert flagged.status_code in (200, 201), flagged.json()
    alert = Alert.objects.get(message=said)
    assert (alert.level, alert.category) == ("emergency", "self_harm")
    deadline = alert.ack_deadline

    # Her edit reads as watch to the rules: above the message's own level, below the flag's.
    edited = world.client(world.alice).patch(
        f"/api/messages/{said.pk}/",
        {"body": "Some days I feel hopeless about all of it"},
        format="json",
    )
    assert edited.status_code == 200
    alert.refresh_from_db()
    assert (alert.level, alert.category) == ("emergency", "self_harm")
    assert alert.ack_deadline == deadline
    assert Alert.objects.filter(message=said).count() == 1


def test_reactions_toggle_and_report_the_counts(world, said):
    client = world.client(world.carol)
    first = client.post(f"/api/messages/{said.pk}/reactions/", {"reaction": "hug"}, format="json")
    assert first.json() == {
        "message_id": said.pk,
        "reactions": {"hug": 1},
        "reaction": "hug",
        "on": True,
    }
    again = client.post(f"/api/messages/{said.pk}/reactions/", {"reaction": "hug"}, format="json")
    assert again.json()["reactions"] == {} and again.json()["on"] is False


def test_a_member_asks_for_a_private_check_in_over_rest(world, said):
    response = world.client(world.alice).post(f"/api/groups/{world.circle.pk}/checkin-request/")
    assert response.status_code == 201
    alert = Alert.objects.get(kind="checkin")
    assert alert.checkin_id == response.json()["group_id"]
    assert alert.member_id == world.alice.pk


def test_a_check_in_asked_for_with_nobody_in_the_room_is_emailed_to_on_call(world, said):
    from moderation.models import OutboundEmail

    world.dave.on_call = True
    world.dave.save()
    response = world.client(world.alice).post(f"/api/groups/{world.circle.pk}/checkin-request/")
    assert response.status_code == 201
    assert Alert.objects.get(kind="checkin").tier == 3
    (email,) = OutboundEmail.objects.filter(to=world.dave.email)
    assert "asked to talk privately" in email.subject
    assert "Willow" not in email.body and world.alice.username not in email.body


def test_reacting_while_the_room_is_closed_is_refused_with_403(world):
    closed = Message.objects.create(group=world.circle, author=world.alice, body="Earlier words")
    response = world.client(world.alice).post(
        f"/api/messages/{closed.pk}/reactions/", {"reaction": "hug"}, format="json"
    )
    assert response.status_code == 403, response.content
    assert "closed" in response.json()["detail"]

"""A facilitator flags a message the detector let pass, over a real socket against a running
server: the alert reaches the facilitators as a detected one would, and the member gets the
private support card."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.db import transaction

from moderation.models import Alert, AuditEntry, DetectorExample
from moderation.services import alert_for_message
from rooms.models import Message
from tests.live.conftest import open_room
from tests.live.http import api

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

ORDINARY = "Work was long. I made soup and went to bed early."


def room(group: Any) -> str:
    return f"/ws/rooms/{group.pk}/"


@dataclass(frozen=True)
class Watch:
    level: str = "watch"
    category: str = "self_harm"
    rule_ids: tuple[str, ...] = ("hopeless.general",)
    explanation: str = "hopelessness"


def test_carol_flags_alices_ordinary_message_as_urgent_and_both_hear_of_it(world, sockets):
    open_room(world.circle)
    carol_room = sockets(world.carol, room(world.circle))
    carol_alerts = sockets(world.carol, "/ws/alerts/")
    alice = sockets(world.alice, room(world.circle))
    ack = alice.say(ORDINARY)
    assert ack["type"] == "message.ack"
    carol_room.recv_message(ack["id"])
    assert not Alert.objects.filter(message_id=ack["id"]).exists(), "the detector let it pass"

    carol_room.send(
        {
            "type": "flag",
            "message_id": ack["id"],
            "level": "urgent",
            "category": "self_harm",
            "note": "She told me more after the last session.",
            "ref": "f1",
        }
    )
    done = carol_room.recv_type_of(("action.done", "error"))
    assert done["type"] == "action.done", done
    assert done["action"] == "flag" and done["ref"] == "f1"

    alert = carol_alerts.recv_type("alert.new")["alert"]
    assert alert["id"] == done["alert_id"]
    assert (alert["level"], alert["category"]) == ("urgent", "self_harm")
    assert alert["message_id"] == ack["id"] and alert["member"]["alias"] == "Willow"
    assert alert["explanation"] == "Flagged by a facilitator." and alert["ack_deadline"]
    assert alert["tier"] == 1  # carol is in the room
    assert carol_room.recv_type_of(("alert.new",))["alert"]["id"] == alert["id"]

    card = alice.recv_type_of(("support.resources",))
    assert (card["level"], card["category"]) == ("urgent", "self_harm")
    assert any("988" in r["how"] for r in card["resources"])
    alice.quiet(("alert.new", "alert.updated"))  # members never see alerts

    example = DetectorExample.objects.get()
    assert (example.source, example.level, example.message_id) == ("flagged", "urgent", ack["id"])
    assert AuditEntry.objects.get(action="alert.flagged").actor == world.carol


def test_an_admin_raises_a_watch_alert_to_emergency_over_rest(world, sockets, alert_server):
    open_room(world.circle)
    carol_alerts = sockets(world.carol, "/ws/alerts/")
    sockets(world.carol, room(world.circle))
    alice = sockets(world.alice, room(world.circle))
    ack = alice.say(ORDINARY)
    with transaction.atomic():
        watch = alert_for_message(message=Message.objects.get(pk=ack["id"]), assessment=Watch())
    assert watch is not None

    status, body = api(
        alert_server.url,
        world.dave,
        "POST",
        f"/api/messages/{ack['id']}/flag/",
        {"level": "emergency", "category": "self_harm"},
    )
    assert status == 200, body
    assert (body["id"], body["level"], body["status"]) == (watch.pk, "emergency", "open")

    updated = carol_alerts.recv_type_of(("alert.updated",))["alert"]
    assert (updated["id"], updated["level"]) == (watch.pk, "emergency")
    assert updated["ack_deadline"]
    card = alice.recv_type_of(("support.resources",))
    assert card["level"] == "emergency"
    assert any(r["immediate_danger"] for r in card["resources"])
    assert DetectorExample.objects.get().source == "upgraded"


def test_a_member_cannot_flag_and_nothing_changes(world, sockets):
    open_room(world.circle)
    alice = sockets(world.alice, room(world.circle))
    ack = alice.say(ORDINARY)
    alice.send(
        {
            "type": "flag",
            "message_id": ack["id"],
            "level": "emergency",
            "category": "self_harm",
            "ref": "x",
        }
    )
    error = alice.recv_type_of(("error",))
    assert error["code"] == "forbidden" and error["ref"] == "x"
    assert not Alert.objects.exists() and not DetectorExample.objects.exists()


def test_a_flag_with_a_level_that_is_not_a_crisis_is_invalid(world, sockets):
    open_room(world.circle)
    carol = sockets(world.carol, room(world.circle))
    ack = carol.say("Welcome, everyone.")
    carol.send({"type": "flag", "message_id": ack["id"], "level": "none", "category": "none"})
    error = carol.recv_type_of(("error",))
    assert error["code"] == "invalid" and set(error["fields"]) == {"level", "category"}
    assert not Alert.objects.exists()

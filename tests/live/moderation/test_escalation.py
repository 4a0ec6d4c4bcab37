"""A human reaches every member in crisis: alerts, support cards and escalation, over real
sockets against running servers, with short deadlines."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from django.core import mail  # noqa: F401 — the outbox model is what the worker sends from
from django.utils import timezone

from moderation.models import Alert, AlertStatus, AuditEntry, OutboundEmail, Tier
from rooms.models import GroupFacilitator, Session
from tests.factories import crisis_alert
from tests.live.conftest import open_room
from tests.live.http import api

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

CRISIS = "I want to end my life. I have the pills counted out for tonight."
URGENT = "honestly I just want to die, everyone would be better off without me"


def room(group: Any) -> str:
    return f"/ws/rooms/{group.pk}/"


def test_a_crisis_message_reaches_the_facilitator_as_an_alert_and_the_member_as_a_support_card(
    world, sockets
):
    open_room(world.circle)
    carol_room = sockets(world.carol, room(world.circle))
    carol_alerts = sockets(world.carol, "/ws/alerts/")
    alice = sockets(world.alice, room(world.circle))
    started = time.monotonic()
    ack = alice.say(CRISIS)
    assert ack["type"] == "message.ack"

    card = alice.recv_type_of(("support.resources",))
    assert card["level"] == "emergency"
    assert card["category"] == "self_harm"
    hows = " ".join(r["how"] for r in card["resources"])
    assert "988" in hows and "741741" in hows and "911" in hows

    alert = carol_alerts.recv_type("alert.new")["alert"]
    latency = time.monotonic() - started
    assert alert["level"] == "emergency"
    assert alert["message_id"] == ack["id"]
    assert alert["member"]["alias"] == "Willow"
    assert alert["tier"] == Tier.SESSION  # a facilitator is in the room
    assert alert["explanation"]
    in_room = carol_room.recv_type_of(("alert.new",))["alert"]
    assert in_room["id"] == alert["id"]
    # The room sees the message: never hidden, never delayed.
    assert carol_room.recv_message(ack["id"])["text"] == CRISIS
    assert latency < 5  # a generous bound for a noisy machine; bench/ measures the real figure


def test_other_members_never_see_the_alert_or_the_support_card(world, sockets):
    from rooms.services import enrollment_join
    from server.accounts.services import account_create

    open_room(world.circle)
    erin = account_create(username="erin", password="pw-erin-long", role="member")
    enrollment_join(group=world.circle, user=erin, alias="Fern", agreement_accepted=True)
    sockets(world.carol, room(world.circle))
    erin_sock = sockets(erin, room(world.circle))
    alice = sockets(world.alice, room(world.circle))
    ack = alice.say(URGENT)
    message = erin_sock.recv_message(ack["id"])
    assert message["text"] == URGENT
    alice.say("thanks for listening")
    frames = []
    while True:
        frame = erin_sock.recv()
        frames.append(frame["type"])
        if frame["type"] == "message.new":
            break
    assert "alert.new" not in frames and "support.resources" not in frames


def test_with_no_facilitator_in_the_room_the_alert_goes_straight_to_on_call(world, sockets):
    world.dave.on_call = True
    world.dave.save()
    open_room(world.circle)
    dave_alerts = sockets(world.dave, "/ws/alerts/")
    alice = sockets(world.alice, room(world.circle))
    ack = alice.say(CRISIS)
    alert = dave_alerts.recv_type("alert.new")["alert"]
    assert alert["message_id"] == ack["id"]
    assert alert["tier"] == Tier.ON_CALL
    assert OutboundEmail.objects.filter(to=world.dave.email).exists()


def test_an_unacknowledged_emergency_escalates_at_its_deadline(world, sockets):
    world.dave.on_call = True
    world.dave.save()
    # Frank co-facilitates the circle and is not in the room: the group's tier tells him.
    GroupFacilitator.objects.create(group=world.circle, user=world.frank)
    open_room(world.circle)
    carol_room = sockets(world.carol, room(world.circle))
    dave_alerts = sockets(world.dave, "/ws/alerts/")
    alice = sockets(world.alice, room(world.circle))
    ack = alice.say(CRISIS)
    alert = carol_room.recv_type_of(("alert.new",))["alert"]
    assert alert["tier"] == Tier.SESSION
    # Deadline 2 s: the next tier (all the group's facilitators) gets alert.updated, then on-call.
    updated = carol_room.recv_type_of(("alert.updated",), timeout=8)["alert"]
    assert updated["id"] == alert["id"] and updated["tier"] == Tier.GROUP
    reached = dave_alerts.recv_type_of(("alert.new", "alert.updated"), timeout=8)
    # Marked as an escalation, so that every page rings for it as for a new alert.
    assert reached["type"] == "alert.updated" and reached["escalated"] is True
    on_call = reached["alert"]
    assert on_call["tier"] == Tier.ON_CALL
    assert on_call["message_id"] == ack["id"]
    stored = Alert.objects.get(pk=alert["id"])
    assert stored.escalations >= 2
    assert AuditEntry.objects.filter(alert=stored, action="alert.escalated").count() >= 2
    assert OutboundEmail.objects.filter(to=world.dave.email).exists()


def test_an_acknowledged_alert_does_not_escalate(world, sockets):
    open_room(world.circle)
    carol_room = sockets(world.carol, room(world.circle))
    alice = sockets(world.alice, room(world.circle))
    alice.say(CRISIS)
    alert = carol_room.recv_type_of(("alert.new",))["alert"]
    carol_room.send({"type": "alert.acknowledge", "alert_id": alert["id"], "ref": 1})
    done = carol_room.recv_type_of(("action.done", "error"))
    assert done == {"type": "action.done", "action": "alert.acknowledge", "ref": 1}
    updated = carol_room.recv_type_of(("alert.updated",))["alert"]
    assert updated["status"] == AlertStatus.ACKNOWLEDGED
    time.sleep(3.5)  # past the 2 s deadline, with margin for the 0.2 s worker tick
    stored = Alert.objects.get(pk=alert["id"])
    assert stored.tier == Tier.SESSION and stored.escalations == 0
    assert stored.acknowledged_by_id == world.carol.pk


def test_an_acknowledged_emergency_rings_on_call_again_when_its_facilitator_leaves(world, sockets):
    world.dave.on_call = True
    world.dave.save()
    open_room(world.circle)
    dave_alerts = sockets(world.dave, "/ws/alerts/")
    carol = sockets(world.carol, room(world.circle))
    alice = sockets(world.alice, room(world.circle))
    alice.say(CRISIS)
    alert = carol.recv_type_of(("alert.new",))["alert"]
    assert alert["tier"] == Tier.SESSION
    carol.send({"type": "alert.acknowledge", "alert_id": alert["id"], "ref": 1})
    assert carol.recv_type_of(("action.done", "error"))["type"] == "action.done"
    # While she stays in the room, each look (every second on this server) lets the hold go on.
    time.sleep(3)
    stored = Alert.objects.get(pk=alert["id"])
    assert stored.status == AlertStatus.ACKNOWLEDGED
    assert stored.acknowledged_by_id == world.carol.pk
    assert not AuditEntry.objects.filter(alert=stored, action="alert.reopened").exists()
    carol.close()  # her laptop shuts; the alert is unresolved
    frame = dave_alerts.recv_type_of(("alert.updated",), timeout=10)
    assert frame["reopened"] is True and frame["escalated"] is True
    again = frame["alert"]
    assert again["id"] == alert["id"] and again["status"] == AlertStatus.OPEN
    assert again["acknowledged_by"] is None and again["tier"] == Tier.ON_CALL
    assert OutboundEmail.objects.filter(
        to=world.dave.email, subject__contains="needs someone again"
    ).exists()


def test_a_facilitator_resolves_an_alert_over_rest_and_not_a_crisis_feeds_the_detector_report(
    world, alert_server
):
    open_room(world.circle)
    alert = crisis_alert(
        world.circle, world.alice, due_in=dt.timedelta(minutes=5), rule_ids=["ideation.active"]
    )
    base = alert_server.url
    # A member never handles alerts (403, whatever the id); a facilitator of another group is
    # told the alert does not exist.
    assert api(base, world.alice, "POST", f"/api/alerts/{alert.pk}/acknowledge/")[0] == 403
    assert api(base, world.frank, "POST", f"/api/alerts/{alert.pk}/acknowledge/")[0] == 404
    status, body = api(
        base,
        world.carol,
        "POST",
        f"/api/alerts/{alert.pk}/resolve/",
        {"outcome": "not_a_crisis", "note": "quoting a song"},
    )
    assert status == 200, body
    assert body["status"] == "resolved" and body["outcome"] == "not_a_crisis"
    status, report = api(base, world.dave, "GET", "/api/detector-feedback/")
    assert status == 200
    assert report[0]["rule_id"] == "ideation.active" and report[0]["count"] == 1
    assert api(base, world.carol, "GET", "/api/detector-feedback/")[0] == 403
    status, body = api(
        base, world.carol, "POST", f"/api/alerts/{alert.pk}/resolve/", {"outcome": "resolved"}
    )
    assert status == 400 and "already resolved" in body["detail"]


def test_an_alert_can_be_escalated_only_once_per_deadline_by_two_workers(world, worker_factory):
    """Two workers and a restart between the alert and its deadline: the escalation happens
    exactly once."""
    open_room(world.circle)
    alert = crisis_alert(
        world.circle, world.alice, level="emergency", due_in=dt.timedelta(seconds=3)
    )
    env = {"WORKER_TICK_SECONDS": "0.1", "ALERT_ACK_SECONDS_EMERGENCY": "600"}
    first = worker_factory(**env)
    time.sleep(1)
    first.stop(kill=True)  # dies before the deadline
    worker_factory(**env)
    worker_factory(**env)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        alert.refresh_from_db()
        if alert.escalations:
            break
        time.sleep(0.2)
    time.sleep(1.5)  # give a would-be second escalation every chance to happen
    alert.refresh_from_db()
    assert alert.tier == Tier.GROUP
    assert alert.escalations == 1
    assert AuditEntry.objects.filter(alert=alert, action="alert.escalated").count() == 1


def test_the_last_facilitator_leaving_makes_the_room_read_only_after_the_grace_period(
    world, sockets, alert_server
):
    world.dave.on_call = True
    world.dave.save()
    now = timezone.now()
    Session.objects.create(
        group=world.circle,
        starts_at=now - dt.timedelta(minutes=5),
        ends_at=now + dt.timedelta(hours=1),
    )
    dave_alerts = sockets(world.dave, "/ws/alerts/")
    carol = sockets(world.carol, room(world.circle))
    alice = sockets(world.alice, room(world.circle))
    carol.close()
    alert = dave_alerts.recv_type_of(("alert.new",), timeout=8)["alert"]
    assert alert["kind"] == "unattended"
    # On call, he hears it by e-mail too, as for a crisis raised with nobody in the room.
    assert OutboundEmail.objects.filter(
        to=world.dave.email, subject__contains="the last facilitator left"
    ).exists()
    # He acknowledges it at once: knowing puts no facilitator in the room, so it still locks.
    status, body = api(
        alert_server.url, world.dave, "POST", f"/api/alerts/{alert['id']}/acknowledge/"
    )
    assert status == 200 and body["status"] == "acknowledged", body
    state = alice.recv_type_of(("room.state",), timeout=8)["room"]
    assert state["locked"] is True
    assert "read-only" in state["notice"]
    error = alice.say("hello?")
    assert error["code"] == "locked"
    sockets(world.carol, room(world.circle))
    reopened = alice.recv_type_of(("room.state",), timeout=8)["room"]
    assert reopened["locked"] is False
    assert alice.say("you're back")["type"] == "message.ack"

"""Every frame the server sends fits under daphne's 64 KiB limit, which applies to what the server
sends as much as to what it receives: a frame over it never arrives and the socket dies with
1011. Here the largest valid content (the longest message, of the characters that cost the most
bytes on the wire) goes through every frame type over real sockets."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.utils import timezone

from moderation.models import Alert
from rooms.models import Message, SupportGroup
from tests.live.conftest import Socket, open_room
from tests.live.moderation.conftest import WORST, largest, largest_alerts, whole_queue

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

CRISIS = "I want to end my life. I have the pills counted out for tonight."
HELD = "text me on 415 555 0199 if you want"


def room(group: Any) -> str:
    return f"/ws/rooms/{group.pk}/"


def still_usable(*socks: Socket) -> None:
    for sock in socks:
        sock.send({"type": "ping"})
        assert sock.recv_type_of(("pong",))["type"] == "pong"


def all_history(sock: Socket, direction: str, limit: int = 200) -> list[dict[str, Any]]:
    """Pages through the whole room, forward from the start or backward from the newest."""
    got: list[dict[str, Any]] = []
    cursor: dict[str, int] = {"after_id": 0} if direction == "after" else {}
    for _ in range(500):
        sock.send({"type": "history", "limit": limit, **cursor})
        page = sock.recv_type_of(("history",))
        assert page["messages"] or not page["has_more"], page
        if direction == "after":
            got += page["messages"]
            cursor = {"after_id": page["messages"][-1]["id"]} if page["messages"] else cursor
        else:
            got = page["messages"] + got
            cursor = {"before_id": page["messages"][0]["id"]} if page["messages"] else cursor
        if not page["has_more"]:
            return got
    raise AssertionError("history never ended")


@pytest.mark.parametrize("worst", sorted(WORST))
def test_the_largest_valid_messages_arrive_in_every_frame_type(world, sockets, worst):
    chars = WORST[worst]
    open_room(world.circle)
    carol = sockets(world.carol, room(world.circle))
    carol_alerts = sockets(world.carol, "/ws/alerts/")
    alice = sockets(world.alice, room(world.circle))

    # An emergency: message.ack and support.resources to the author, message.new to the room,
    # alert.new to the facilitator in the room and on her alerts socket.
    crisis = largest(CRISIS, chars)
    ack = alice.say(crisis)
    assert ack["type"] == "message.ack", ack
    assert alice.recv_type_of(("support.resources",))["level"] == "emergency"
    assert alice.recv_message(ack["id"])["text"] == crisis
    assert carol.recv_message(ack["id"])["text"] == crisis
    alert = carol_alerts.recv_type_of(("alert.new",))["alert"]
    assert (alert["message_id"], alert["message_text"]) == (ack["id"], crisis)
    assert carol.recv_type_of(("alert.new",))["alert"]["message_text"] == crisis
    carol_alerts.send({"type": "alert.acknowledge", "alert_id": alert["id"]})
    assert carol_alerts.recv_type_of(("alert.updated",))["alert"]["message_text"] == crisis

    # Held for review: message.held to the author, held.new to the facilitator; approved, it
    # reaches the room as message.new and the author gets its ack.
    held = largest(HELD, chars)
    assert alice.say(held)["type"] == "message.held"
    queued = carol.recv_type_of(("held.new",))["message"]
    assert queued["text"] == held
    carol.send({"type": "held.approve", "message_id": queued["id"]})
    approved = carol.recv_type_of(("action.done",))["id"]
    assert alice.recv_message(approved)["text"] == held
    assert alice.recv_type_of(("message.ack",))["id"] == approved

    # A report with the longest note carries the reported message's words to the facilitator.
    note = largest("worried", chars, 2000)
    alice.send({"type": "report", "message_id": approved, "reason": "unkind", "note": note})
    assert alice.recv_type_of(("action.done",))["action"] == "report"
    report = carol.recv_type_of(("report.new",))["report"]
    assert (report["message_text"], report["note"]) == (held, note)

    # History in both directions, and a fresh alerts socket's hello.
    for direction in ("after", "before"):
        texts = {m["id"]: m["text"] for m in all_history(alice, direction)}
        assert (texts[ack["id"]], texts[approved]) == (crisis, held)
    fresh = sockets(world.carol, "/ws/alerts/")
    assert [a["message_text"] for a in fresh.hello["alerts"]] == [crisis]
    still_usable(alice, carol, carol_alerts, fresh)


def test_history_of_long_and_many_messages_comes_in_pages_that_fit_and_page_on(world, sockets):
    """45 messages of 800 characters overflowed the newest page of 50; 200 short ones the
    catch-up page of 200; one message of 4,000 emoji every page that held it."""
    frank = sockets(world.frank, room(world.other))

    def store(bodies: list[str]) -> list[int]:
        rows = [
            Message(group=world.other, author=world.bob, client_id=uuid.uuid4(), body=body)
            for body in bodies
        ]
        return [m.pk for m in Message.objects.bulk_create(rows)]

    ids = store([f"{i} " + "a long day, " * 66 for i in range(45)])
    ids += store([f"short {i} " + "x" * 90 for i in range(200)])
    ids += store([largest(f"emoji {i}", WORST["emoji"]) for i in range(3)])
    ids += store([largest(f"mixed {i}", WORST["mixed"]) for i in range(3)])

    frank.send({"type": "history", "limit": 50})
    newest = frank.recv_type_of(("history",))
    assert newest["has_more"] is True
    assert [m["id"] for m in newest["messages"]] == ids[-len(newest["messages"]) :]
    for direction in ("after", "before"):
        for limit in (50, 200):
            assert [m["id"] for m in all_history(frank, direction, limit)] == ids
    still_usable(frank)


def test_the_alerts_hello_fits_and_the_rest_of_the_queue_comes_in_pages(world, sockets):
    """Two long crisis messages made /ws/alerts/ close with 1011 before its hello."""
    raised = largest_alerts(SupportGroup.objects.get(pk=world.circle.pk), world.alice, CRISIS)
    Alert.objects.filter(pk=raised[0]).update(created_at=timezone.now())  # newest, still first
    Alert.objects.filter(pk=raised[1]).update(level="urgent")

    carol = sockets(world.carol, "/ws/alerts/")
    assert carol.hello["has_more"] is True
    got = whole_queue(carol, carol.hello)
    ids = [a["id"] for a in got]
    assert sorted(ids) == sorted(raised) and len(set(ids)) == len(ids)
    # Most severe first, then oldest first: the urgent one last, the one made newest just before.
    assert ids[-1] == raised[1] and ids[-2] == raised[0]
    assert all(a["message_text"].startswith(CRISIS) for a in got)
    still_usable(carol)


def test_a_deeply_nested_frame_on_the_alerts_socket_is_invalid_and_the_socket_stays(world, sockets):
    carol = sockets(world.carol, "/ws/alerts/")
    carol.send('{"type": "alert.acknowledge", "alert_id": ' + "[" * 30000 + "]" * 30000 + "}")
    error = carol.recv_type_of(("error",))
    assert error["code"] == "invalid"
    for bad in ('{"type": "alert.resolve", "alert_id": 1, "note": "\\ud83d"}', "\x00"):
        carol.send(bad)
        assert carol.recv_type_of(("error",))["code"] == "invalid"
    still_usable(carol)


@pytest.mark.parametrize("worst", sorted(WORST))
def test_the_largest_valid_replies_edits_and_reactions_arrive(world, sockets, worst):
    """The members' own-message frames at their largest: a reply of the longest text quoting
    the longest message, an edit to the longest text, and a reaction to it."""
    chars = WORST[worst]
    open_room(world.circle)
    carol = sockets(world.carol, room(world.circle))
    alice = sockets(world.alice, room(world.circle))
    first = largest("first words", chars)
    ack = alice.say(first)
    assert ack["type"] == "message.ack", ack
    assert carol.recv_message(ack["id"])["text"] == first

    reply = largest("me too", chars)
    alice.send(
        {
            "type": "message.send",
            "client_id": str(uuid.uuid4()),
            "body": reply,
            "reply_to": ack["id"],
        }
    )
    reply_ack = alice.recv_type_of(("message.ack",))
    shown = carol.recv_message(reply_ack["id"])
    assert shown["text"] == reply and shown["reply_to"]["id"] == ack["id"]

    better = largest("better words", chars)
    alice.send({"type": "message.edit", "message_id": ack["id"], "body": better})
    assert alice.recv_type_of(("action.done",))["action"] == "message.edit"
    assert carol.recv_type_of(("message.edited",))["message"]["text"] == better

    alice.send({"type": "reaction", "message_id": ack["id"], "reaction": "heart", "on": True})
    reacted = carol.recv_type_of(("message.reactions",))
    assert (reacted["message_id"], reacted["reactions"]) == (ack["id"], {"heart": 1})
    still_usable(alice, carol)


def test_the_largest_hello_fits_a_full_room_and_a_support_card_of_many_lines(world, sockets):
    """A member's `hello` carries the people present and, while her alert is open, her support
    card: an admin may configure any number of help lines, and the room may be full of long
    aliases. Without their budgets the frame would pass 64 KiB and she could not enter."""
    from moderation.models import SupportResource
    from rooms.models import Enrollment, EnrollmentStatus, ProcessHeartbeat, RoomConnection
    from server.accounts.models import User
    from tests.factories import crisis_alert

    open_room(world.circle)
    # 300 people present through another web process, each with the longest alias of the
    # characters that cost the most bytes.
    ProcessHeartbeat.objects.create(process="web-elsewhere", last_seen=timezone.now())
    people = User.objects.bulk_create(
        User(username=f"present{i}", email=f"present{i}@example.org") for i in range(300)
    )
    kinds = list(WORST.values())
    Enrollment.objects.bulk_create(
        Enrollment(
            group=world.circle,
            user=person,
            alias=largest(str(i), kinds[i % len(kinds)], 40),
            status=EnrollmentStatus.ACTIVE,
        )
        for i, person in enumerate(people)
    )
    RoomConnection.objects.bulk_create(
        RoomConnection(
            channel_name=f"elsewhere.{i}", group=world.circle, user=person, process="web-elsewhere"
        )
        for i, person in enumerate(people)
    )
    # 150 help lines with every field at its longest, the one for immediate danger last.
    SupportResource.objects.bulk_create(
        SupportResource(
            name=largest(f"Line {i}", ("\U0001f600", '"'), 120),
            how=largest("Call", ("\U0001f600", "&"), 200),
            url="https://help.example.org/" + "a" * 170,
            phone="+1 (415) 555-0199 ext 12345",
            text_number="+1 (415) 555-0199",
            text_keyword="HOME" * 8,
            immediate_danger=i == 149,
            order=i,
        )
        for i in range(150)
    )
    # A country with no lines of its own: her card lists the international ones, all 150.
    world.alice.country = "AQ"
    world.alice.save()
    crisis_alert(world.circle, world.alice, level="emergency")  # open: her hello has her card

    alice = sockets(world.alice, room(world.circle))
    hello = alice.hello
    assert len(hello["present"]) > 10 and hello["others"] > 0
    card = hello["support"]
    assert card["resources"] and card["more"] > 0
    assert len(card["resources"]) + card["more"] >= 150
    # The line for immediate danger, last in the admin's order, is kept when not all fit.
    assert "Line 149" in [r["name"][:8] for r in card["resources"] if r["immediate_danger"]]
    # A new crisis message's own card arrives live, within the same budget.
    assert alice.say(CRISIS)["type"] == "message.ack"
    live = alice.recv_type_of(("support.resources",))
    assert live["more"] == card["more"] and live["resources"] == card["resources"]
    still_usable(alice)

"""Who is in the room, as the room sees it: aliases and roles, and attendance for sessions."""

import datetime as dt

import pytest
from django.utils import timezone

from rooms.models import Attendance, Session
from rooms.services import enrollment_join

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def next_presence(sock, wanted):
    """Presence frames until one lists exactly these (alias, role) pairs."""
    while True:
        frame = sock.recv_type_of(("presence",))
        present = {(p["alias"], p["role"]) for p in frame["present"]}
        if present == wanted:
            return frame


def test_hello_says_who_you_are_and_who_is_present(world, enter):
    frank = enter(world.frank, world.other)
    bob = enter(world.bob, world.other)
    hello = bob.hello
    assert hello["you"] == {"id": hello["you"]["id"], "alias": "River", "role": "member"}
    assert {(p["alias"], p["role"]) for p in hello["present"]} == {
        ("River", "member"),
        ("frank", "facilitator"),
    }
    assert hello["room"]["open"] is True
    assert hello["room"]["group_id"] == world.other.pk
    assert hello["last_message_id"] == 0
    assert frank.hello["you"]["role"] == "facilitator"


def test_a_second_member_joining_and_leaving_updates_presence(world, enter):
    enrollment_join(group=world.other, user=world.charlie, alias="Fern", agreement_accepted=True)
    bob = enter(world.bob, world.other)
    frank = enter(world.frank, world.other)
    charlie = enter(world.charlie, world.other)
    everyone = {("River", "member"), ("Fern", "member"), ("frank", "facilitator")}
    frame = next_presence(bob, everyone)
    # Facilitators first, then members by alias: a stable order for clients to render.
    assert frame["present"][0]["role"] == "facilitator"
    assert {p["id"] for p in frame["present"]} >= {charlie.hello["you"]["id"]}

    charlie.close()
    next_presence(bob, {("River", "member"), ("frank", "facilitator")})
    next_presence(frank, {("River", "member"), ("frank", "facilitator")})


def test_presence_never_names_a_member_by_account(world, enter):
    bob = enter(world.bob, world.other)
    enter(world.frank, world.other)
    frame = next_presence(bob, {("River", "member"), ("frank", "facilitator")})
    assert "bob" not in str(frame)


def test_two_sockets_of_one_member_count_once_and_leaving_one_keeps_them_present(world, enter):
    bob = enter(world.bob, world.other)
    frank = enter(world.frank, world.other)
    second = enter(world.bob, world.other)
    assert [p["alias"] for p in second.hello["present"]].count("River") == 1
    second.close()
    frame = next_presence(frank, {("River", "member"), ("frank", "facilitator")})
    assert len(frame["present"]) == 2
    assert bob.say("still here")["type"] == "message.ack"


def test_attendance_is_recorded_for_a_live_session(world, enter):
    now = timezone.now()
    session = Session.objects.create(
        group=world.circle,
        starts_at=now - dt.timedelta(minutes=5),
        ends_at=now + dt.timedelta(minutes=55),
    )
    alice = enter(world.alice, world.circle)
    assert alice.hello["room"]["session"]["id"] == session.pk
    attendance = Attendance.objects.get(session=session, user=world.alice)
    assert attendance.first_joined_at <= timezone.now()
    assert attendance.last_left_at is None
    alice.close()
    deadline = timezone.now() + dt.timedelta(seconds=5)
    while timezone.now() < deadline:
        attendance.refresh_from_db()
        if attendance.last_left_at is not None:
            break
    assert attendance.last_left_at is not None


def test_no_attendance_is_recorded_in_a_drop_in_room(world, enter):
    enter(world.bob, world.other)
    assert not Attendance.objects.exists()

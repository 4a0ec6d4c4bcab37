"""Revocation: signing out, removal and deletion close live sockets within a second or two.

Logout is driven over HTTP against daphne itself (the real browser path). Removal and deletion
are services run in this test process, the way the REST API and the worker run them in their own
processes in production; they reach the server's sockets through a shared Redis channel layer."""

import time

import pytest

from rooms.models import Enrollment, EnrollmentStatus
from rooms.services import enrollment_end, enrollment_join, group_delete
from tests.live.conftest import Socket, http_logout, open_socket, refusal, session_cookie

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

PROMPTLY = 2.0  # seconds: "within a second", with room for a loaded test machine


def closed_promptly(sock):
    started = time.monotonic()
    frames, code = sock.closed(timeout=PROMPTLY + 1)
    assert time.monotonic() - started < PROMPTLY
    return frames, code


def test_signing_out_closes_the_members_socket(world, server):
    cookie = session_cookie(world.bob)
    sock = Socket(open_socket(server, world.other.pk, cookie=cookie))
    try:
        assert sock.recv()["type"] == "hello"
        assert http_logout(server, cookie) in (200, 302)
        frames, code = closed_promptly(sock)
    finally:
        sock.close()
    assert code == 4403
    assert [f["code"] for f in frames if f["type"] == "error"] == ["forbidden"]
    # The signed-out session cannot open a new socket either.
    _, again = refusal(server, world.other.pk, cookie=cookie)
    assert again == 4401


def test_signing_out_closes_every_socket_of_that_person_and_no_one_elses(world, server, enter):
    cookie = session_cookie(world.bob)
    first = Socket(open_socket(server, world.other.pk, cookie=cookie))
    second = enter(world.bob, world.other)
    frank = enter(world.frank, world.other)
    try:
        assert first.recv()["type"] == "hello"
        http_logout(server, cookie)
        assert closed_promptly(first)[1] == 4403
        assert closed_promptly(second)[1] == 4403
    finally:
        first.close()
    assert frank.say("Still here")["type"] == "message.ack"


def test_removing_a_member_closes_their_socket(world, redis_daphne, shared_layer, enter):
    bob = enter(world.bob, world.other, redis_daphne)
    frank = enter(world.frank, world.other, redis_daphne)
    enrollment = Enrollment.objects.get(group=world.other, user=world.bob)
    enrollment_end(enrollment=enrollment, status=EnrollmentStatus.REMOVED)
    frames, code = closed_promptly(bob)
    assert code == 4403
    assert [f["code"] for f in frames if f["type"] == "error"] == ["forbidden"]
    assert frank.say("The room continues.")["type"] == "message.ack"
    frames, code = refusal(redis_daphne, world.other.pk, world.bob)
    assert code == 4403


def test_banning_a_member_closes_their_socket(world, redis_daphne, shared_layer, enter):
    bob = enter(world.bob, world.other, redis_daphne)
    enrollment = Enrollment.objects.get(group=world.other, user=world.bob)
    enrollment_end(enrollment=enrollment, status=EnrollmentStatus.BANNED)
    assert closed_promptly(bob)[1] == 4403


def test_removal_from_one_group_keeps_the_members_socket_in_another(
    world, redis_daphne, shared_layer, enter
):
    enrollment_join(group=world.other, user=world.alice, alias="Willow", agreement_accepted=True)
    world.circle.drop_in = True
    world.circle.save(update_fields=["drop_in"])
    in_circle = enter(world.alice, world.circle, redis_daphne)
    in_other = enter(world.alice, world.other, redis_daphne)
    enrollment_end(
        enrollment=Enrollment.objects.get(group=world.other, user=world.alice),
        status=EnrollmentStatus.REMOVED,
    )
    assert closed_promptly(in_other)[1] == 4403
    assert in_circle.say("I am still in the circle")["type"] == "message.ack"


def test_deleting_a_group_closes_its_sockets_with_4404(world, redis_daphne, shared_layer, enter):
    bob = enter(world.bob, world.other, redis_daphne)
    frank = enter(world.frank, world.other, redis_daphne)
    group_delete(group=world.other)
    assert closed_promptly(bob)[1] == 4404
    assert closed_promptly(frank)[1] == 4404
    frames, code = refusal(redis_daphne, world.other.pk, world.bob)
    assert code == 4404


def test_a_mute_reaches_the_members_socket_at_once(world, redis_daphne, shared_layer, enter):
    from moderation.actions import member_mute

    bob = enter(world.bob, world.other, redis_daphne)
    member_mute(
        by=world.frank, group=world.other, member=bob.hello["you"]["id"], minutes=5, reason="Pause"
    )
    muted = bob.recv_type_of(("member.muted",))
    assert muted["group_id"] == world.other.pk
    assert muted["muted_until"]
    error = bob.say("But I wanted to say")
    assert (error["type"], error["code"]) == ("error", "muted")


def test_a_mute_in_one_group_does_not_silence_the_member_in_another(
    world, redis_daphne, shared_layer, enter
):
    from moderation.actions import member_mute

    enrollment_join(group=world.other, user=world.alice, alias="Willow", agreement_accepted=True)
    world.circle.drop_in = True
    world.circle.save(update_fields=["drop_in"])
    in_circle = enter(world.alice, world.circle, redis_daphne)
    in_other = enter(world.alice, world.other, redis_daphne)
    member_mute(
        by=world.carol,
        group=world.circle,
        member=in_circle.hello["you"]["id"],
        minutes=5,
        reason="Pause",
    )
    assert in_circle.recv_type_of(("member.muted",))["group_id"] == world.circle.pk
    assert in_circle.say("in the circle")["code"] == "muted"
    assert in_other.say("in the other group")["type"] == "message.ack"

"""Who may open a room socket, over real sockets against daphne. Every refusal is a close code
after exactly one `error` frame: no hello, no presence, no messages, nothing of the room."""

import contextlib
import datetime as dt
import json
import uuid

import pytest
from django.utils import timezone
from websockets.exceptions import ConnectionClosed, InvalidStatus

from rooms.models import Enrollment, EnrollmentStatus, Message, Session, SupportGroup
from rooms.services import enrollment_join, group_update
from server.accounts.models import WsTicket
from server.accounts.services import ws_ticket_issue
from tests.live.conftest import Socket, open_room, open_socket, read_until_closed, refusal
from tests.live.http import api

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def assert_refused(frames, code, expected_code, error_code=None):
    """The only thing a refused client ever sees is one error frame, then the close."""
    assert code == expected_code, (code, frames)
    assert [f["type"] for f in frames] == ["error"], frames
    if error_code is not None:
        assert frames[0]["code"] == error_code, frames
    assert frames[0]["detail"]


def post_something(group):
    """A message in the room, so a leak of room data before a refusal would be visible."""
    Message.objects.create(
        group=group, author=group.facilitators.first(), client_id=uuid.uuid4(), body="secret"
    )


def test_an_anonymous_visitor_is_refused_with_4401(world, server):
    open_room(world.circle)
    post_something(world.circle)
    frames, code = refusal(server, world.circle.pk)
    assert_refused(frames, code, 4401, "unauthenticated")


def test_a_signed_in_person_in_no_group_is_refused_with_4403(world, server):
    open_room(world.circle)
    post_something(world.circle)
    frames, code = refusal(server, world.circle.pk, world.charlie)
    assert_refused(frames, code, 4403)


@pytest.mark.parametrize(
    "status",
    [
        EnrollmentStatus.PENDING,
        EnrollmentStatus.WAITLISTED,
        EnrollmentStatus.REMOVED,
        EnrollmentStatus.BANNED,
        EnrollmentStatus.LEFT,
        EnrollmentStatus.DECLINED,
    ],
)
def test_a_member_who_is_not_active_in_the_group_is_refused_with_4403(world, server, status):
    open_room(world.circle)
    post_something(world.circle)
    Enrollment.objects.filter(group=world.circle, user=world.alice).update(status=status)
    frames, code = refusal(server, world.circle.pk, world.alice)
    assert_refused(frames, code, 4403)


def test_a_member_of_another_group_cannot_enter_its_room(world, server):
    frames, code = refusal(server, world.circle.pk, world.bob)
    assert_refused(frames, code, 4403)


def test_an_unknown_group_is_refused_with_4404(world, server):
    frames, code = refusal(server, 999_999, world.alice)
    assert_refused(frames, code, 4404, "not_found")


def test_a_deleted_group_is_refused_with_4404(world, server):
    SupportGroup.objects.filter(pk=world.other.pk).update(deleted_at=timezone.now())
    frames, code = refusal(server, world.other.pk, world.bob)
    assert_refused(frames, code, 4404)


def test_a_scheduled_room_with_no_session_now_is_refused_with_4409(world, server):
    post_something(world.circle)
    frames, code = refusal(server, world.circle.pk, world.alice)
    assert_refused(frames, code, 4409, "room_closed")
    assert "opens at" in frames[0]["detail"]
    # The moment itself, for the client to show in the reader's own time zone.
    upcoming = Session.objects.filter(group=world.circle).earliest("starts_at")
    opens_at = dt.datetime.fromisoformat(frames[0]["opens_at"])
    assert opens_at == upcoming.starts_at - dt.timedelta(minutes=10)


def test_cancelling_the_session_on_now_closes_the_room_for_everyone_in_it_with_a_notice(
    world, server, enter
):
    now = timezone.now()
    session = Session.objects.create(
        group=world.circle,
        starts_at=now - dt.timedelta(minutes=5),
        ends_at=now + dt.timedelta(minutes=60),
    )
    alice = enter(world.alice, world.circle)
    carol = enter(world.carol, world.circle)
    status, body = api(server.url, world.dave, "POST", f"/api/sessions/{session.pk}/cancel/")
    assert (status, body["status"]) == (200, "cancelled")
    for sock in (alice, carol):
        frame = sock.recv_type("room.state")
        assert frame["room"]["open"] is False
        assert frame["room"]["session"] is None
        assert frame["room"]["notice"] == "The facilitators cancelled this session."
    refused = alice.say("Still here?")
    assert (refused["type"], refused["code"]) == ("error", "closed")
    # Facilitators may still write in a closed room.
    assert carol.say("We'll meet next week.")["type"] == "message.ack"
    frames, code = refusal(server, world.circle.pk, world.alice)
    assert_refused(frames, code, 4409, "room_closed")


def test_cancelling_a_session_later_in_the_week_says_nothing_to_the_room(world, server, enter):
    open_room(world.circle)
    later = Session.objects.filter(group=world.circle).earliest("starts_at")
    alice = enter(world.alice, world.circle)
    status, _ = api(server.url, world.dave, "POST", f"/api/sessions/{later.pk}/cancel/")
    assert status == 200
    alice.quiet(("room.state",))


def test_a_scheduled_room_opens_ten_minutes_before_its_session(world, enter):
    now = timezone.now()
    session = Session.objects.create(
        group=world.circle,
        starts_at=now + dt.timedelta(minutes=5),
        ends_at=now + dt.timedelta(minutes=65),
    )
    alice = enter(world.alice, world.circle)
    assert alice.hello["room"]["open"] is True
    assert alice.hello["room"]["session"]["id"] == session.pk
    assert alice.say("Early, but here.")["type"] == "message.ack"


def test_a_room_whose_next_session_is_further_than_ten_minutes_away_stays_closed(world, server):
    now = timezone.now()
    Session.objects.create(
        group=world.circle,
        starts_at=now + dt.timedelta(minutes=15),
        ends_at=now + dt.timedelta(minutes=75),
    )
    frames, code = refusal(server, world.circle.pk, world.alice)
    assert_refused(frames, code, 4409)


def test_a_facilitator_closing_the_room_refuses_members_but_not_facilitators(world, server, enter):
    SupportGroup.objects.filter(pk=world.other.pk).update(room_override="closed")
    frames, code = refusal(server, world.other.pk, world.bob)
    assert_refused(frames, code, 4409)
    frank = enter(world.frank, world.other)
    assert frank.hello["room"]["open"] is False


def test_a_facilitator_can_open_a_scheduled_room_early(world, enter):
    SupportGroup.objects.filter(pk=world.circle.pk).update(room_override="open")
    alice = enter(world.alice, world.circle)
    assert alice.hello["room"]["open"] is True


def test_a_changed_agreement_refuses_until_the_member_accepts_it_again(world, server, enter):
    open_room(world.circle)
    group_update(group=world.circle, fields={"agreement_text": "Be kind. No advice-giving."})
    frames, code = refusal(server, world.circle.pk, world.alice)
    assert_refused(frames, code, 4403, "agreement_required")

    response = world.client(world.alice).post(
        f"/api/groups/{world.circle.pk}/join/",
        {"alias": "Willow", "agreement_accepted": True},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "active"
    alice = enter(world.alice, world.circle)
    assert alice.hello["you"]["alias"] == "Willow"


def test_a_foreign_origin_is_refused_at_the_handshake(world, server):
    with pytest.raises(InvalidStatus) as refused:
        open_socket(server, world.other.pk, world.bob, origin="https://evil.example")
    assert refused.value.response.status_code == 403


@pytest.mark.parametrize(
    "origin",
    [
        "https://127.0.0.1:{port}",  # this host and port, another scheme
        "http://127.0.0.1:{other}",  # this host, another port (another service)
        "http://127.0.0.1",  # this host, the default port
        "http://localhost:{port}",  # another of ALLOWED_HOSTS, not the one asked
        "http://127.0.0.1:{port}/path",
        "null",
    ],
)
def test_this_host_on_another_scheme_or_port_is_refused_at_the_handshake(world, server, origin):
    origin = origin.format(port=server.port, other=server.port + 1)
    with pytest.raises(InvalidStatus) as refused:
        open_socket(server, world.other.pk, world.bob, origin=origin)
    assert refused.value.response.status_code == 403


def test_the_configured_site_origin_is_accepted_and_only_with_its_scheme(world, server):
    # The test servers keep the default SITE_URL, http://127.0.0.1:8000.
    ws = open_socket(server, world.other.pk, world.bob, origin="http://127.0.0.1:8000")
    try:
        assert json.loads(ws.recv(timeout=5))["type"] == "hello"
    finally:
        ws.close()
    for origin in ("https://127.0.0.1:8000", "http://127.0.0.1:8001"):
        with pytest.raises(InvalidStatus) as refused:
            open_socket(server, world.other.pk, world.bob, origin=origin)
        assert refused.value.response.status_code == 403


def test_a_missing_origin_is_refused_at_the_handshake(world, server):
    with pytest.raises(InvalidStatus) as refused:
        open_socket(server, world.other.pk, world.bob, origin=None)
    assert refused.value.response.status_code == 403


def ticket_for(world, user):
    response = world.client(user).post("/api/ws-ticket/")
    assert response.status_code == 201, response.content
    return response.json()["ticket"]


def test_a_fresh_ticket_lets_a_client_without_cookies_in(world, server):
    ticket = ticket_for(world, world.bob)
    sock = Socket(open_socket(server, world.other.pk, query=f"?ticket={ticket}"))
    try:
        hello = sock.recv()
        assert hello["type"] == "hello"
        assert hello["you"]["alias"] == "River"
        assert sock.say("Hello from a native app.")["type"] == "message.ack"
    finally:
        sock.close()


def test_a_used_ticket_is_refused_with_4401(world, server):
    ticket = ticket_for(world, world.bob)
    first = open_socket(server, world.other.pk, query=f"?ticket={ticket}")
    first.close()
    frames, code = refusal(server, world.other.pk, query=f"?ticket={ticket}")
    assert_refused(frames, code, 4401)


def test_an_expired_ticket_is_refused_with_4401(world, server):
    ticket = ws_ticket_issue(user=world.bob)
    WsTicket.objects.filter(key=ticket).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    frames, code = refusal(server, world.other.pk, query=f"?ticket={ticket}")
    assert_refused(frames, code, 4401)


def test_a_bad_ticket_is_not_replaced_by_the_session_cookie(world, server):
    frames, code = refusal(server, world.other.pk, world.bob, query="?ticket=not-a-ticket")
    assert_refused(frames, code, 4401)


def test_a_ticket_of_a_member_of_another_group_is_refused_with_4403(world, server):
    ticket = ticket_for(world, world.bob)
    frames, code = refusal(server, world.circle.pk, query=f"?ticket={ticket}")
    assert_refused(frames, code, 4403)


def test_a_member_who_joins_through_the_api_can_enter_at_once(world, enter):
    enrollment_join(group=world.other, user=world.charlie, alias="Fern", agreement_accepted=True)
    charlie = enter(world.charlie, world.other)
    assert charlie.hello["you"]["alias"] == "Fern"


def test_a_refused_socket_ignores_whatever_the_client_sends(world, server):
    ws = open_socket(server, world.circle.pk, world.charlie)
    try:
        with contextlib.suppress(ConnectionClosed):  # the server may already have closed
            ws.send('{"type": "history", "limit": 10}')
        frames, code = read_until_closed(ws)
    finally:
        ws.close()
    assert_refused(frames, code, 4403)

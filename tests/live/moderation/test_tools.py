"""Facilitator tools, held messages, reports, hiding, check-ins and the audit log, driven the
way clients drive them: REST and room frames against a running server."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from moderation.models import AuditEntry, Report
from rooms.models import Enrollment, Message, MessageStatus, SupportGroup
from rooms.services import enrollment_join
from server.accounts.services import account_create
from tests.live.conftest import open_room
from tests.live.http import api

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def erin(world):
    user = account_create(username="erin", password="pw-erin-long", role="member")
    enrollment_join(group=world.circle, user=user, alias="Fern", agreement_accepted=True)
    return user


def member_key(group: Any, user: Any) -> str:
    return f"m{Enrollment.objects.get(group=group, user=user).pk}"


def room(group: Any) -> str:
    return f"/ws/rooms/{group.pk}/"


def tool_calls(world, erin) -> list[tuple[str, str, str, dict | None]]:  # noqa: ANN001
    g = world.circle.pk
    m = member_key(world.circle, erin)
    visible = Message.objects.create(group=world.circle, author=erin, body="hello")
    held, held_too = (
        Message.objects.create(
            group=world.circle,
            author=erin,
            body="call me 555 123 4567",
            status=MessageStatus.HELD,
            held_reason="contact_details",
        )
        for _ in range(2)
    )
    return [
        ("mute", "POST", f"/api/groups/{g}/mute/", {"member": m, "minutes": 10, "reason": "r"}),
        ("unmute", "POST", f"/api/groups/{g}/unmute/", {"member": m}),
        ("remove", "POST", f"/api/groups/{g}/remove/", {"member": m}),
        ("ban", "POST", f"/api/groups/{g}/ban/", {"member": m, "reason": "threats"}),
        ("slow mode", "POST", f"/api/groups/{g}/room/", {"slow_mode_seconds": 30}),
        ("lock", "POST", f"/api/groups/{g}/room/", {"locked": True}),
        ("close", "POST", f"/api/groups/{g}/room/", {"open": "closed"}),
        ("check-in", "POST", f"/api/groups/{g}/checkin/", {"member": m}),
        ("held list", "GET", f"/api/groups/{g}/held/", None),
        ("delete", "POST", f"/api/messages/{visible.pk}/delete/", {"reason": "r"}),
        ("approve", "POST", f"/api/messages/{held.pk}/approve/", None),
        ("reject", "POST", f"/api/messages/{held_too.pk}/reject/", {"reason": "r"}),
    ]


def snapshot(world) -> tuple:  # noqa: ANN001
    group = SupportGroup.objects.get(pk=world.circle.pk)
    return (
        list(
            Enrollment.objects.order_by("pk").values_list("status", "muted_until", "removed_until")
        ),
        list(Message.objects.order_by("pk").values_list("pk", "status")),
        (group.slow_mode_seconds, group.locked, group.room_override),
        SupportGroup.objects.count(),
        AuditEntry.objects.count(),
    )


@pytest.mark.parametrize("who", ["alice", "frank", "charlie"])
def test_every_facilitator_tool_is_refused_to_members_and_to_facilitators_of_other_groups(
    world, erin, alert_server, who
):
    user = getattr(world, who)
    calls = tool_calls(world, erin)
    before = snapshot(world)
    for name, method, path, body in calls:
        status, reply = api(alert_server.url, user, method, path, body)
        # A facilitator of another group is told the circle's messages do not exist; the
        # circle itself is in the catalogue, so its tools refuse him.
        expected = 404 if who == "frank" and path.startswith("/api/messages/") else 403
        assert status == expected, (name, status, reply)
        assert reply["detail"], name
    assert snapshot(world) == before


def test_every_facilitator_tool_works_for_the_lead_facilitator_and_an_admin(
    world, erin, alert_server
):
    for user in (world.carol, world.dave):
        for name, method, path, body in tool_calls(world, erin):
            status, reply = api(alert_server.url, user, method, path, body)
            assert status in (200, 201), (user.username, name, status, reply)
        Enrollment.objects.filter(user=erin).update(status="active")
    actors = set(AuditEntry.objects.values_list("actor__username", flat=True))
    assert {"carol", "dave"} <= actors


def test_a_member_sending_a_moderation_frame_gets_forbidden_and_nothing_changes(
    world, erin, sockets
):
    open_room(world.circle)
    alice = sockets(world.alice, room(world.circle))
    alice.send(
        {
            "type": "mute",
            "member": member_key(world.circle, erin),
            "minutes": 5,
            "reason": "x",
            "ref": "a",
        }
    )
    error = alice.recv_type_of(("error",))
    assert error["code"] == "forbidden" and error["ref"] == "a"
    assert Enrollment.objects.get(user=erin).muted_until is None


def test_a_muted_member_is_told_for_how_long_and_why_and_cannot_send(world, erin, sockets):
    open_room(world.circle)
    carol = sockets(world.carol, room(world.circle))
    fern = sockets(erin, room(world.circle))
    carol.send(
        {
            "type": "mute",
            "member": member_key(world.circle, erin),
            "minutes": 15,
            "reason": "Please take a breath before replying.",
        }
    )
    assert carol.recv_type_of(("action.done", "error"))["type"] == "action.done"
    notice = fern.recv_type_of(("member.muted",))
    assert notice["reason"] == "Please take a breath before replying."
    assert notice["by"] == "Moderator"
    assert notice["muted_until"]
    error = fern.say("but wait")
    assert error["code"] == "muted" and error["muted_until"]
    assert not Message.objects.filter(author=erin).exists()


def test_a_removed_member_is_disconnected_and_cannot_come_back_this_session(
    world, erin, sockets, alert_server
):
    open_room(world.circle)
    fern = sockets(erin, room(world.circle))
    status, _ = api(
        alert_server.url,
        world.carol,
        "POST",
        f"/api/groups/{world.circle.pk}/remove/",
        {"member": member_key(world.circle, erin)},
    )
    assert status == 200
    frames, code = fern.closed()
    assert code == 4403
    from tests.live.conftest import refusal

    frames, code = refusal(alert_server, world.circle.pk, erin)
    assert code == 4403 and frames[0]["code"] == "removed"


def test_a_banned_member_is_disconnected_and_cannot_rejoin(world, erin, sockets, alert_server):
    open_room(world.circle)
    fern = sockets(erin, room(world.circle))
    status, _ = api(
        alert_server.url,
        world.carol,
        "POST",
        f"/api/groups/{world.circle.pk}/ban/",
        {"member": member_key(world.circle, erin), "reason": "threats to a member"},
    )
    assert status == 200
    assert fern.closed()[1] == 4403
    status, body = api(
        alert_server.url,
        erin,
        "POST",
        f"/api/groups/{world.circle.pk}/join/",
        {"alias": "Fern", "agreement_accepted": True},
    )
    assert status == 403


def test_a_deleted_message_disappears_for_everyone_and_the_audit_log_keeps_the_actor(
    world, erin, sockets
):
    open_room(world.circle)
    carol = sockets(world.carol, room(world.circle))
    alice = sockets(world.alice, room(world.circle))
    ack = sockets(erin, room(world.circle)).say("something unkind")
    carol.recv_message(ack["id"])
    carol.send({"type": "delete", "message_id": ack["id"], "reason": "unkind"})
    assert carol.recv_type_of(("action.done", "error"))["type"] == "action.done"
    deleted = alice.recv_type_of(("message.deleted",))
    assert deleted == {"type": "message.deleted", "id": ack["id"], "by": "Moderator"}
    alice.send({"type": "history", "limit": 10})
    page = alice.recv_type_of(("history",))
    tomb = next(m for m in page["messages"] if m["id"] == ack["id"])
    assert tomb["deleted"] is True and tomb["body"] == ""
    entry = AuditEntry.objects.get(action="message.deleted")
    assert entry.actor == world.carol and entry.message_id_ref == ack["id"]
    assert Message.objects.get(pk=ack["id"]).body == "something unkind"  # kept for the audit


def test_slow_mode_and_lock_apply_to_members_but_not_to_facilitators(world, erin, sockets):
    open_room(world.circle)
    carol = sockets(world.carol, room(world.circle))
    fern = sockets(erin, room(world.circle))
    carol.send({"type": "room.update", "slow_mode_seconds": 60})
    assert carol.recv_type_of(("action.done",))
    assert fern.recv_type_of(("room.state",))["room"]["slow_mode_seconds"] == 60
    assert fern.say("first")["type"] == "message.ack"
    slow = fern.say("second")
    assert slow["code"] == "slow_mode" and slow["retry_after"] > 0
    carol.send({"type": "room.update", "locked": True})
    assert fern.recv_type_of(("room.state",))["room"]["locked"] is True
    assert fern.say("third")["code"] == "locked"
    assert carol.say("Let's pause for a moment.")["type"] == "message.ack"
    carol.send({"type": "room.update", "locked": False, "slow_mode_seconds": 0})
    assert fern.recv_type_of(("room.state",))["room"]["locked"] is False


def test_a_facilitator_can_close_the_room_and_open_it_early(world, sockets, alert_server):
    from tests.live.conftest import refusal

    carol = sockets(world.carol, room(world.circle))  # scheduled group, no session now
    assert carol.hello["room"]["open"] is False
    assert refusal(alert_server, world.circle.pk, world.alice)[1] == 4409
    carol.send({"type": "room.update", "open": "open"})
    assert carol.recv_type_of(("room.state",))["room"]["open"] is True
    alice = sockets(world.alice, room(world.circle))
    assert alice.say("made it early")["type"] == "message.ack"
    carol.send({"type": "room.update", "open": "closed"})
    assert alice.recv_type_of(("room.state",))["room"]["open"] is False
    assert alice.say("still here?")["code"] == "closed"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("text me on 415 555 0199 if you want", "contact_details"),
        ("my email is fern.r@gmail.com", "contact_details"),
        ("add me on insta: fern_heals", "contact_details"),
        ("I'm at 42 Oak Street, come by", "contact_details"),
        ("River you are pathetic, kys", "harassment"),
    ],
)
def test_held_messages_reach_only_the_facilitators_until_approved(
    world, erin, sockets, text, reason
):
    open_room(world.circle)
    carol = sockets(world.carol, room(world.circle))
    alice = sockets(world.alice, room(world.circle))
    fern = sockets(erin, room(world.circle))
    client_id = str(uuid.uuid4())
    held = fern.say(text, client_id)
    assert held == {"type": "message.held", "client_id": client_id, "reason": reason}
    queued = carol.recv_type_of(("held.new",))["message"]
    assert queued["text"] == text and queued["reason"] == reason
    carol.send({"type": "held.approve", "message_id": queued["id"]})
    done = carol.recv_type_of(("action.done",))
    delivered = alice.recv_message(done["id"])
    assert delivered["text"] == text
    assert done["id"] > queued["id"]  # a new id, so clients catching up by id see it
    assert fern.recv_type_of(("message.ack",))["id"] == done["id"]


@pytest.mark.parametrize(
    "text", ["my case number is 1234567890", "2019-2023 were the hardest years", "I'll ignore it"]
)
def test_numbers_and_words_that_are_not_contact_details_are_delivered(world, erin, sockets, text):
    open_room(world.circle)
    carol = sockets(world.carol, room(world.circle))
    ack = sockets(erin, room(world.circle)).say(text)
    assert ack["type"] == "message.ack"
    assert carol.recv_message(ack["id"])["text"] == text


def test_a_rejected_held_message_tells_the_author_and_never_reaches_the_room(world, erin, sockets):
    open_room(world.circle)
    carol = sockets(world.carol, room(world.circle))
    fern = sockets(erin, room(world.circle))
    fern.say("call me 555-123-4567")
    queued = carol.recv_type_of(("held.new",))["message"]
    carol.send({"type": "held.reject", "message_id": queued["id"], "reason": "No phone numbers."})
    rejected = fern.recv_type_of(("message.rejected",))
    assert rejected["reason"] == "No phone numbers." and rejected["by"] == "Moderator"
    assert Message.objects.get(pk=queued["id"]).status == MessageStatus.REJECTED
    assert AuditEntry.objects.filter(action="held.rejected", actor=world.carol).exists()


def test_crisis_language_is_never_held_even_with_contact_details(world, erin, sockets):
    open_room(world.circle)
    sockets(world.carol, room(world.circle))
    alice = sockets(world.alice, room(world.circle))
    ack = sockets(erin, room(world.circle)).say(
        "I want to kill myself tonight. my number is 555 123 4567"
    )
    assert ack["type"] == "message.ack"
    assert alice.recv_message(ack["id"])


def test_a_report_reaches_the_facilitators_and_the_reporter_sees_it_resolved(
    world, erin, sockets, alert_server
):
    open_room(world.circle)
    carol = sockets(world.carol, room(world.circle))
    alice = sockets(world.alice, room(world.circle))
    ack = sockets(erin, room(world.circle)).say("you should just get over it")
    alice.recv_message(ack["id"])
    alice.send({"type": "report", "message_id": ack["id"], "reason": "unkind", "note": "hurtful"})
    report_id = alice.recv_type_of(("action.done",))["report_id"]
    new = carol.recv_type_of(("report.new",))["report"]
    assert new["id"] == report_id and new["reason"] == "unkind"
    status, mine = api(alert_server.url, world.alice, "GET", "/api/reports/")
    assert status == 200 and mine["results"][0]["status"] == "open"
    assert api(alert_server.url, erin, "GET", "/api/reports/")[1]["results"] == []
    status, _ = api(alert_server.url, world.carol, "POST", f"/api/reports/{report_id}/resolve/", {})
    assert status == 200
    assert alice.recv_type_of(("report.resolved",))["report_id"] == report_id
    assert Report.objects.get(pk=report_id).status == "resolved"
    # A facilitator of another group is told no such report exists.
    status, _ = api(alert_server.url, world.frank, "POST", f"/api/reports/{report_id}/resolve/", {})
    assert status == 404


def test_a_member_who_hides_another_no_longer_sees_their_messages(world, erin, sockets):
    open_room(world.circle)
    alice = sockets(world.alice, room(world.circle))
    fern = sockets(erin, room(world.circle))
    alice.send({"type": "hide", "author": member_key(world.circle, erin)})
    assert alice.recv_type_of(("hidden",))["authors"] == [member_key(world.circle, erin)]
    hidden = fern.say("you won't see this")
    carol = sockets(world.carol, room(world.circle))
    shown = carol.say("but you will see this")
    assert alice.recv_type_of(("message.new",))["message"]["id"] == shown["id"]
    alice.send({"type": "history", "limit": 50})
    ids = [m["id"] for m in alice.recv_type_of(("history",))["messages"]]
    assert hidden["id"] not in ids and shown["id"] in ids


def test_a_private_check_in_from_an_alert_is_a_room_for_just_the_two_of_them(
    world, erin, sockets, alert_server
):
    open_room(world.circle)
    alice = sockets(world.alice, room(world.circle))
    sockets(world.carol, room(world.circle))
    alice.say("I want to end my life tonight")
    from moderation.models import Alert

    alert = Alert.objects.get(member=world.alice)
    status, body = api(alert_server.url, world.carol, "POST", f"/api/alerts/{alert.pk}/checkin/")
    assert status == 201, body
    invite = alice.recv_type_of(("checkin.invite",))
    assert invite["group_id"] == body["group_id"]
    checkin = SupportGroup.objects.get(pk=body["group_id"])
    private_alice = sockets(world.alice, room(checkin))
    private_carol = sockets(world.carol, room(checkin))
    ack = private_carol.say("I'm here with you. Can you tell me where you are?")
    assert private_alice.recv_message(ack["id"])["author"]["role"] == "facilitator"
    from tests.live.conftest import refusal

    assert refusal(alert_server, checkin.pk, erin)[1] == 4403
    status, groups = api(alert_server.url, erin, "GET", "/api/groups/")
    assert checkin.pk not in [g["id"] for g in groups["results"]]


def test_the_audit_log_records_actions_and_cannot_be_edited(world, erin, alert_server):
    g = world.circle.pk
    api(
        alert_server.url,
        world.carol,
        "POST",
        f"/api/groups/{g}/mute/",
        {"member": member_key(world.circle, erin), "minutes": 5, "reason": "cool off"},
    )
    status, log = api(alert_server.url, world.dave, "GET", "/api/audit/?action=member.muted")
    assert status == 200
    entry = log["results"][0]
    assert entry["actor"] == "carol" and entry["reason"] == "cool off"
    for method in ("PUT", "PATCH", "DELETE"):
        status, _ = api(alert_server.url, world.dave, method, f"/api/audit/{entry['id']}/", {})
        assert status == 405, method
    assert api(alert_server.url, world.dave, "POST", "/api/audit/", {})[0] == 405
    assert api(alert_server.url, world.alice, "GET", "/api/audit/")[0] == 403
    assert api(alert_server.url, world.frank, "GET", "/api/audit/")[1]["results"] == []
    stored = AuditEntry.objects.get(pk=entry["id"])
    stored.reason = "rewritten"
    with pytest.raises(PermissionError):
        stored.save()


def test_a_held_message_whose_author_deleted_the_account_can_still_be_approved(
    world, erin, sockets
):
    from server.accounts.privacy import account_delete

    SupportGroup.objects.filter(pk=world.circle.pk).update(on_member_delete="anonymize")
    open_room(world.circle)
    carol = sockets(world.carol, room(world.circle))
    alice = sockets(world.alice, room(world.circle))
    sockets(erin, room(world.circle)).say("call me 555-123-4567")
    queued = carol.recv_type_of(("held.new",))["message"]
    account_delete(user=erin, by=erin)
    carol.send({"type": "held.approve", "message_id": queued["id"], "ref": "a1"})
    done = carol.recv_type_of(("action.done", "error"))
    assert done["type"] == "action.done", done
    delivered = alice.recv_message(done["id"])
    assert delivered["author"]["alias"] == "Former member"
    assert delivered["text"] == "call me 555-123-4567"

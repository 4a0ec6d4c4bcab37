"""The privilege property: rights are read from the database on every command, so whoever loses
a right while a socket is open is refused at the next attempt, and nothing changes.

The changes are made in this test process while the server runs on its own in-memory channel
layer: the revocation event never reaches the server, as if the at-most-once layer had dropped
it. What refuses the attempt is the socket's own check before each command. The tests of the
events themselves (the socket closes at once, whatever path made the change) are in
tests/live/test_rooms_rights.py."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone
from websockets.exceptions import ConnectionClosed

from moderation.commands import ROOM_COMMANDS
from moderation.models import Alert, AlertKind, AuditEntry, HiddenAuthor, Report, Tier
from rooms.actions import SNAPSHOT_SECONDS
from rooms.member_messages import OWN_COMMANDS
from rooms.models import Enrollment, EnrollmentStatus, Message, MessageStatus, SupportGroup
from rooms.services import enrollment_end, enrollment_join, group_update
from server.accounts.models import User
from server.accounts.services import account_create, account_set_role
from tests.live.conftest import open_room
from tests.live.http import api

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

ROOM_FRAMES = {"message.send", "history", "typing", "hide", "unhide"}
STAFF_FRAMES = sorted(ROOM_COMMANDS | ROOM_FRAMES)
MEMBER_FRAMES = sorted(ROOM_FRAMES | OWN_COMMANDS | {"report"})


def room(group: Any) -> str:
    return f"/ws/rooms/{group.pk}/"


@pytest.fixture
def scene(world) -> dict[str, Any]:  # noqa: ANN001
    """The circle's room open (typing indicators on, so a typing frame does something), erin a
    member in it, a visible message, a held one, and an open emergency alert."""
    SupportGroup.objects.filter(pk=world.circle.pk).update(typing_indicators=True)
    open_room(world.circle)
    erin = account_create(username="erin", password="pw-erin-long", role="member")
    enrollment_join(group=world.circle, user=erin, alias="Fern", agreement_accepted=True)
    now = timezone.now()
    # reviewed: the embedded worker's learned stage leaves them alone
    visible = Message.objects.create(group=world.circle, author=erin, body="hello", reviewed_at=now)
    held = Message.objects.create(
        group=world.circle,
        author=erin,
        body="call me 555 123 4567",
        status=MessageStatus.HELD,
        held_reason="contact_details",
        reviewed_at=now,
    )
    alert = Alert.objects.create(
        kind=AlertKind.CRISIS,
        group=world.circle,
        message=visible,
        member=erin,
        level="emergency",
        category="self_harm",
        tier=Tier.GROUP,
    )
    member = f"m{Enrollment.objects.get(group=world.circle, user=erin).pk}"
    return {"erin": erin, "visible": visible.pk, "held": held.pk, "alert": alert.pk, "m": member}


def frame_for(kind: str, scene: dict[str, Any], world: Any) -> dict[str, Any]:  # noqa: ANN001
    fields: dict[str, dict[str, Any]] = {
        "mute": {"member": scene["m"], "minutes": 5, "reason": "Pause"},
        "unmute": {"member": scene["m"]},
        "remove": {"member": scene["m"], "reason": "r"},
        "ban": {"member": scene["m"], "reason": "threats"},
        "delete": {"message_id": scene["visible"], "reason": "r"},
        "flag": {"message_id": scene["visible"], "level": "urgent", "category": "abuse_danger"},
        "room.update": {"locked": True, "slow_mode_seconds": 30},
        "held.approve": {"message_id": scene["held"]},
        "held.reject": {"message_id": scene["held"], "reason": "r"},
        "alert.acknowledge": {"alert_id": scene["alert"]},
        "alert.resolve": {"alert_id": scene["alert"], "outcome": "not_a_crisis"},
        "checkin.open": {"member": scene["m"]},
        "report": {"message_id": scene["visible"], "reason": "spam"},
        "message.send": {"client_id": str(uuid.uuid4()), "body": "Still here?"},
        "history": {"limit": 10},
        "typing": {},
        "hide": {"author": scene["m"]},
        "unhide": {"author": scene["m"]},
        "message.edit": {"message_id": scene["visible"], "body": "Changed"},
        "message.delete": {"message_id": scene["visible"]},
        "reaction": {"message_id": scene["visible"], "reaction": "heart", "on": True},
        "checkin.request": {},
    }
    assert set(fields) >= ROOM_COMMANDS | ROOM_FRAMES | OWN_COMMANDS, "a new command needs fields"
    return {"type": kind, **fields[kind], "ref": "r1"}


def state(world) -> tuple:  # noqa: ANN001
    """Everything a command could change."""
    group = SupportGroup.objects.get(pk=world.circle.pk)
    return (
        list(
            Enrollment.objects.order_by("pk").values_list("status", "muted_until", "removed_until")
        ),
        list(Message.objects.order_by("pk").values_list("pk", "status", "level")),
        list(Alert.objects.order_by("pk").values_list("pk", "status", "level", "outcome")),
        (group.slow_mode_seconds, group.locked, group.room_override),
        SupportGroup.objects.count(),
        Report.objects.count(),
        HiddenAuthor.objects.count(),
        AuditEntry.objects.count(),
    )


def admin_demoted_to_member(world) -> User:  # noqa: ANN001
    account_set_role(user=world.dave, role="member")
    return world.dave


def facilitator_taken_off_the_group(world) -> User:  # noqa: ANN001
    group_update(group=world.circle, fields={}, facilitator_ids=[world.frank.pk])
    return world.carol


def facilitator_deactivated(world) -> User:  # noqa: ANN001
    world.carol.is_active = False
    world.carol.save(update_fields=["is_active"])
    return world.carol


STAFF_LOSSES: dict[str, tuple[str, Callable[[Any], User]]] = {
    "admin demoted to member": ("dave", admin_demoted_to_member),
    "facilitator taken off the group": ("carol", facilitator_taken_off_the_group),
    "facilitator deactivated": ("carol", facilitator_deactivated),
}


def member_removed_from_the_group(world) -> None:  # noqa: ANN001
    enrollment_end(
        enrollment=Enrollment.objects.get(group=world.circle, user=world.alice),
        status=EnrollmentStatus.REMOVED,
    )


def member_deactivated(world) -> None:  # noqa: ANN001
    User.objects.filter(pk=world.alice.pk).update(is_active=False)  # no signal at all


MEMBER_LOSSES: dict[str, Callable[[Any], None]] = {
    "member removed from the group": member_removed_from_the_group,
    "member deactivated (QuerySet.update, no signal)": member_deactivated,
}


def send_refused(sock, frame: dict[str, Any]) -> None:  # noqa: ANN001
    """Sends the frame and checks it is refused; the server's rights sweep may have closed the
    socket already (rooms/consumers.py), which is a refusal too."""
    try:
        sock.send(frame)
    except ConnectionClosed as closed:
        assert closed.rcvd is not None and closed.rcvd.code in (4401, 4403), closed
        return
    assert_refused(sock, frame["type"])


def assert_refused(sock, kind: str) -> None:  # noqa: ANN001
    """The attempt is answered with a refusal and the socket closes; nothing it asked for."""
    frames, code = sock.closed()
    frames = sock.backlog + frames
    assert code in (4401, 4403), (kind, code, frames, sock.server_logged())
    errors = [f for f in frames if f["type"] == "error"]
    assert errors and errors[-1]["code"] in ("forbidden", "unauthenticated"), (
        kind,
        frames,
        sock.server_logged(),
    )
    answered = {"action.done", "history", "hidden", "message.ack", "message.held"}
    assert not [f for f in frames if f["type"] in answered], (kind, frames)


@pytest.mark.parametrize("loss", sorted(STAFF_LOSSES))
@pytest.mark.parametrize("kind", STAFF_FRAMES)
def test_staff_who_lose_the_right_are_refused_at_the_next_room_command(
    world, scene, sockets, kind, loss
):
    who, take_away = STAFF_LOSSES[loss]
    if kind == "message.send":
        # Staff write past a lock; someone who no longer moderates must not.
        SupportGroup.objects.filter(pk=world.circle.pk).update(locked=True)
    sock = sockets(getattr(world, who), room(world.circle))
    assert sock.hello["you"]["role"] in ("facilitator", "admin")
    take_away(world)
    before = state(world)
    send_refused(sock, frame_for(kind, scene, world))
    assert state(world) == before


@pytest.mark.parametrize("loss", sorted(MEMBER_LOSSES))
@pytest.mark.parametrize("kind", MEMBER_FRAMES)
def test_members_who_lose_the_right_are_refused_at_the_next_room_command(
    world, scene, sockets, kind, loss
):
    sock = sockets(world.alice, room(world.circle))
    MEMBER_LOSSES[loss](world)
    if kind == "message.send":
        # The send path reads members' standing through a snapshot at most this old
        # (rooms/actions.py); one taken before the change has expired after it.
        time.sleep(SNAPSHOT_SECONDS + 0.2)
    before = state(world)
    send_refused(sock, frame_for(kind, scene, world))
    assert state(world) == before


ALERT_FRAMES = ["alert.acknowledge", "alert.resolve", "alerts.page"]


@pytest.mark.parametrize("loss", ["admin demoted to member", "facilitator deactivated"])
@pytest.mark.parametrize("kind", ALERT_FRAMES)
def test_staff_who_lose_the_right_are_refused_at_the_next_alerts_command(
    world, scene, sockets, kind, loss
):
    who, take_away = STAFF_LOSSES[loss]
    sock = sockets(getattr(world, who), "/ws/alerts/")
    assert [a["id"] for a in sock.hello["alerts"]] == [scene["alert"]]
    take_away(world)
    before = state(world)
    frame = frame_for(kind, scene, world) if kind != "alerts.page" else {"type": kind}
    if kind == "alerts.page":
        frame["cursor"] = sock.hello["next"] or "0:2026-01-01T00:00:00+00:00:0"
    sock.send(frame)
    frames, code = sock.closed()
    assert code == 4403, frames
    assert [f["code"] for f in frames if f["type"] == "error"] == ["forbidden"]
    assert not [f for f in frames if f["type"] in ("action.done", "alerts.page")]
    assert state(world) == before


@pytest.mark.parametrize("kind", ["alert.acknowledge", "alert.resolve"])
def test_a_facilitator_taken_off_the_group_can_no_longer_handle_its_alerts(
    world, scene, sockets, kind
):
    sock = sockets(world.carol, "/ws/alerts/")
    assert [a["id"] for a in sock.hello["alerts"]] == [scene["alert"]]
    facilitator_taken_off_the_group(world)
    before = state(world)
    sock.send(frame_for(kind, scene, world))
    error = sock.recv_type_of(("error", "action.done"))
    assert (error["type"], error["code"]) == ("error", "invalid")
    assert state(world) == before


def test_a_facilitator_taken_off_the_group_is_sent_no_held_message_and_no_alert(
    world, scene, sockets
):
    carol_room = sockets(world.carol, room(world.circle))
    carol_alerts = sockets(world.carol, "/ws/alerts/")
    frank_alerts = sockets(world.frank, "/ws/alerts/")  # the group's facilitator after the change
    fern = sockets(scene["erin"], room(world.circle))
    facilitator_taken_off_the_group(world)
    assert fern.say("call me 555-123-4567")["type"] == "message.held"
    assert fern.say("I am going to end my life tonight")["type"] == "message.ack"
    assert frank_alerts.recv_type_of(("alert.new",))["alert"]["level"] == "emergency"
    frames, code = carol_room.closed()
    assert code == 4403
    sent = [f["type"] for f in carol_room.backlog + frames]
    assert "held.new" not in sent and "alert.new" not in sent, sent
    carol_alerts.quiet(("alert.new", "alert.updated"))


REST_ACTIONS = [
    ("mute", "POST", "/api/groups/{g}/mute/", {"member": "{m}", "minutes": 10, "reason": "r"}),
    ("unmute", "POST", "/api/groups/{g}/unmute/", {"member": "{m}"}),
    ("remove", "POST", "/api/groups/{g}/remove/", {"member": "{m}"}),
    ("ban", "POST", "/api/groups/{g}/ban/", {"member": "{m}", "reason": "threats"}),
    ("room", "POST", "/api/groups/{g}/room/", {"locked": True}),
    ("check-in", "POST", "/api/groups/{g}/checkin/", {"member": "{m}"}),
    ("held list", "GET", "/api/groups/{g}/held/", None),
    ("delete", "POST", "/api/messages/{visible}/delete/", {"reason": "r"}),
    (
        "flag",
        "POST",
        "/api/messages/{visible}/flag/",
        {"level": "urgent", "category": "abuse_danger"},
    ),
    ("approve", "POST", "/api/messages/{held}/approve/", None),
    ("reject", "POST", "/api/messages/{held}/reject/", {"reason": "r"}),
    ("acknowledge", "POST", "/api/alerts/{alert}/acknowledge/", None),
    ("resolve", "POST", "/api/alerts/{alert}/resolve/", {"outcome": "not_a_crisis"}),
    ("edit group", "PATCH", "/api/groups/{g}/", {"slow_mode_seconds": 5, "capacity": 30}),
]


@pytest.mark.parametrize("loss", sorted(STAFF_LOSSES))
@pytest.mark.parametrize("name", [a[0] for a in REST_ACTIONS])
def test_staff_who_lose_the_right_are_refused_at_the_next_rest_action(
    world, scene, alert_server, name, loss
):
    _, method, path, body = next(a for a in REST_ACTIONS if a[0] == name)
    values = {**scene, "g": world.circle.pk}
    path = path.format(**values)
    body = {k: v.format(**values) if isinstance(v, str) else v for k, v in (body or {}).items()}
    who, take_away = STAFF_LOSSES[loss]
    actor = getattr(world, who)
    take_away(world)
    before = state(world)
    status, reply = api(alert_server.url, actor, method, path, body or None)
    assert status in (401, 403, 404), (name, status, reply)
    assert state(world) == before


def test_an_alert_resolved_by_someone_who_still_has_the_right_works(world, scene, sockets):
    """The control: the same frames work for those who keep their rights."""
    sock = sockets(world.carol, "/ws/alerts/")
    sock.send(frame_for("alert.acknowledge", scene, world))
    assert sock.recv_type_of(("action.done", "error"))["type"] == "action.done"
    room_sock = sockets(world.dave, room(world.circle))
    room_sock.send(frame_for("mute", scene, world))
    assert room_sock.recv_type_of(("action.done", "error"))["type"] == "action.done"
    assert Enrollment.objects.get(user=scene["erin"]).muted_until > timezone.now() + dt.timedelta(
        minutes=4
    )


@pytest.mark.parametrize("loss", sorted(MEMBER_LOSSES))
def test_a_member_who_loses_the_right_and_sends_nothing_is_closed_out_all_the_same(
    world, scene, sockets, loss
):
    alice = sockets(world.alice, room(world.circle))
    fern = sockets(scene["erin"], room(world.circle))
    MEMBER_LOSSES[loss](world)
    # No event reaches the server, and alice sends nothing: the server's sweep finds her.
    frames, code = alice.closed(timeout=30)
    assert code == 4403
    said = fern.say("Said after she left")
    assert said["type"] == "message.ack"
    assert not [f for f in frames if f["type"] == "message.new"]


def test_staff_who_lose_the_right_and_send_nothing_are_closed_out_all_the_same(
    world, scene, sockets
):
    carol = sockets(world.carol, room(world.circle))
    facilitator_taken_off_the_group(world)
    frames, code = carol.closed(timeout=30)
    assert code == 4403


def test_an_admin_demoted_with_a_queryset_update_is_closed_out_of_alerts_by_the_sweep(
    world, sockets
):
    """`QuerySet.update()` sends no signal (and this process's events never reach the server
    anyway): the alerts socket of an admin demoted so, who sends nothing, is found by the
    server's rights sweep within its period and closed as the signal path closes it."""
    from django.conf import settings

    queue = sockets(world.dave, "/ws/alerts/")
    User.objects.filter(pk=world.dave.pk).update(role="member")
    started = time.monotonic()
    frames, code = queue.closed(timeout=settings.RIGHTS_SWEEP_SECONDS + 5)
    assert code == 4403
    assert time.monotonic() - started < settings.RIGHTS_SWEEP_SECONDS + 5
    assert [(f["type"], f["code"]) for f in frames] == [("error", "forbidden")]


def test_a_facilitator_put_on_call_with_a_queryset_update_is_asked_to_reconnect_by_the_sweep(
    world, sockets
):
    """Rights changed but kept: the queue she may see grew, so the sweep asks her client to
    reconnect for a fresh one (4205), as the signal path does."""
    from django.conf import settings

    queue = sockets(world.carol, "/ws/alerts/")
    User.objects.filter(pk=world.carol.pk).update(on_call=True)
    frames, code = queue.closed(timeout=settings.RIGHTS_SWEEP_SECONDS + 5)
    assert code == 4205
    assert [f["type"] for f in frames] == ["access.changed"]

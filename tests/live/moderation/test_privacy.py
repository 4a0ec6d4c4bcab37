"""Members own their words: export, deletion, retention, identity and logs."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from moderation.models import Alert, AuditEntry, Report, Tier
from moderation.services import audit, audit_text_purge
from rooms.models import Enrollment, Message, MessageStatus
from rooms.services import enrollment_join, group_update
from rooms.worker import messages_purge
from server.accounts.models import User
from server.accounts.services import account_create, calendar_token_reset
from tests.live.conftest import open_room, refusal
from tests.live.http import api
from tests.services import Daphne

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def erin(world):
    user = account_create(
        username="erin", password="pw-erin-long", role="member", email="erin@example.org"
    )
    enrollment_join(group=world.circle, user=user, alias="Fern", agreement_accepted=True)
    return user


def room(group) -> str:  # noqa: ANN001
    return f"/ws/rooms/{group.pk}/"


def test_a_member_can_export_everything_the_service_holds_about_them(world, erin):
    mine = Message.objects.create(group=world.circle, author=world.alice, body="my own words")
    theirs = Message.objects.create(group=world.circle, author=erin, body="erin's words")
    Report.objects.create(
        message=theirs,
        group=world.circle,
        reporter=world.alice,
        reason="unkind",
        note="felt dismissed",
    )
    response = world.client(world.alice).get("/api/me/export/")
    assert response.status_code == 200
    data = response.json()
    assert data["profile"]["username"] == "alice"
    assert data["profile"]["email"] == "alice@example.org"
    assert [e["alias"] for e in data["enrollments"]] == ["Willow"]
    assert [m["text"] for m in data["messages"]] == ["my own words"]
    assert data["messages"][0]["id"] == mine.pk
    assert data["reports_made"][0]["note"] == "felt dismissed"
    assert "erin's words" not in json.dumps(data)
    assert APIClient().get("/api/me/export/").status_code == 401


def test_a_wrong_password_deletes_nothing(world):
    response = world.client(world.alice).post(
        "/api/me/delete/", {"password": "nope"}, format="json"
    )
    assert response.status_code == 400 and "password" in response.json()
    assert User.objects.get(pk=world.alice.pk).is_active


def test_after_deletion_nothing_of_the_member_is_served_by_any_api_feed_or_history(
    world, erin, sockets, alert_server
):
    open_room(world.circle)
    world.circle.capacity = 2
    world.circle.save()
    gwen = account_create(username="gwen", password="pw-gwen-long", role="member")
    enrollment_join(group=world.circle, user=gwen, alias="Moss", agreement_accepted=True)
    assert Enrollment.objects.get(user=gwen).status == "waitlisted"
    alice = sockets(world.alice, room(world.circle))
    fern = sockets(erin, room(world.circle))
    said = alice.say("something only Willow said")
    fern.recv_message(said["id"])
    alert = Alert.objects.create(
        group=world.circle,
        member=world.alice,
        level="urgent",
        category="self_harm",
        explanation="ideation: 'want to die'",
        tier=Tier.SESSION,
    )
    old_feed = f"/calendar/{world.alice.calendar_token}.ics"
    assert api(alert_server.url, None, "GET", old_feed)[0] == 200

    status, _ = api(
        alert_server.url, world.alice, "POST", "/api/me/delete/", {"password": "pw-alice-long"}
    )
    assert status == 204
    frames, code = alice.closed()
    assert code == 4403
    fern.send({"type": "history", "limit": 200})
    history = fern.recv_type_of(("history",))
    assert all(m["id"] != said["id"] for m in history["messages"])
    assert "Willow" not in json.dumps(history)
    assert api(alert_server.url, None, "GET", old_feed)[0] == 404
    status, members = api(
        alert_server.url, world.carol, "GET", f"/api/groups/{world.circle.pk}/enrollments/"
    )
    assert "alice" not in json.dumps(members) and "Willow" not in json.dumps(members)
    assert api(alert_server.url, world.alice, "GET", "/api/me/")[0] == 401  # token gone
    login = api(
        alert_server.url,
        None,
        "POST",
        "/api/auth/token/",
        {"username": "alice", "password": "pw-alice-long"},
    )
    assert login[0] == 400
    alert.refresh_from_db()
    assert alert.member_id is None and alert.explanation == ""
    assert alert.level == "urgent"  # the audit keeps what it needs
    assert Enrollment.objects.get(user=gwen).status == "active"  # the seat went on
    assert not Message.objects.filter(body__contains="only Willow").exists()
    assert AuditEntry.objects.filter(action="account.deleted").exists()


def test_a_group_that_keeps_anonymized_messages_shows_them_as_a_former_member(
    world, erin, sockets, alert_server
):
    open_room(world.circle)
    group_update(group=world.circle, fields={"on_member_delete": "anonymize"})
    said = sockets(world.alice, room(world.circle)).say("a thought worth keeping")
    assert (
        api(
            alert_server.url, world.alice, "POST", "/api/me/delete/", {"password": "pw-alice-long"}
        )[0]
        == 204
    )
    fern = sockets(erin, room(world.circle))
    fern.send({"type": "history", "limit": 50})
    kept = next(m for m in fern.recv_type_of(("history",))["messages"] if m["id"] == said["id"])
    assert kept["text"] == "a thought worth keeping"
    assert kept["author"]["alias"] == "Former member"
    assert "alice" not in json.dumps(kept) and "Willow" not in json.dumps(kept)


def test_an_admin_deletes_an_account_on_request_and_no_one_else_can(world, alert_server):
    assert api(alert_server.url, world.carol, "DELETE", f"/api/users/{world.bob.pk}/")[0] == 403
    assert api(alert_server.url, world.alice, "DELETE", f"/api/users/{world.bob.pk}/")[0] == 403
    assert User.objects.get(pk=world.bob.pk).is_active
    assert api(alert_server.url, world.dave, "DELETE", f"/api/users/{world.bob.pk}/")[0] == 204
    bob = User.objects.get(pk=world.bob.pk)
    assert not bob.is_active and bob.username.startswith("deleted-") and bob.email == ""
    assert refusal(alert_server, world.other.pk, bob)[1] == 4401


def test_retention_deletes_old_messages_of_every_status_and_keeps_recent_ones(world):
    now = timezone.now()
    old = [
        Message.objects.create(
            group=world.circle, author=world.alice, body=f"old {status}", status=status
        )
        for status in (
            MessageStatus.VISIBLE,
            MessageStatus.HELD,
            MessageStatus.DELETED,
            MessageStatus.REJECTED,
        )
    ]
    Message.objects.filter(pk__in=[m.pk for m in old]).update(
        created_at=now - dt.timedelta(days=31)
    )
    recent = Message.objects.create(group=world.circle, author=world.alice, body="recent")
    assert messages_purge(now) >= 4
    assert list(Message.objects.values_list("pk", flat=True)) == [recent.pk]
    # With a clock 30 days on, the recent one goes too.
    messages_purge(now + dt.timedelta(days=30, minutes=1))
    assert not Message.objects.exists()


def test_alerts_reports_and_audit_entries_lose_their_words_but_keep_their_facts(world, settings):
    settings.AUDIT_TEXT_RETENTION_DAYS = 90
    message = Message.objects.create(group=world.circle, author=world.alice, body="x")
    alert = Alert.objects.create(
        group=world.circle,
        member=world.alice,
        level="urgent",
        category="self_harm",
        explanation="ideation: 'want to die'",
        note="called her",
        outcome="private_checkin",
    )
    report = Report.objects.create(
        message=message,
        group=world.circle,
        reporter=world.alice,
        reason="unkind",
        note="he said ...",
    )
    entry = audit(action="member.muted", actor=world.carol, group=world.circle, reason="cool off")
    assert audit_text_purge(timezone.now() + dt.timedelta(days=89)) == 0
    assert audit_text_purge(timezone.now() + dt.timedelta(days=91)) == 3
    alert.refresh_from_db()
    report.refresh_from_db()
    entry.refresh_from_db()
    assert (alert.explanation, alert.note) == ("", "")
    assert (alert.level, alert.outcome) == ("urgent", "private_checkin")
    assert report.note == "" and report.reason == "unkind"
    assert entry.reason == "" and entry.action == "member.muted" and entry.actor == world.carol


def test_members_see_only_aliases_and_staff_see_real_names(world, erin, sockets, alert_server):
    open_room(world.circle)
    sockets(world.carol, room(world.circle))
    fern = sockets(erin, room(world.circle))
    alice = sockets(world.alice, room(world.circle))
    said = alice.say("hello from Willow")
    seen = [fern.hello, fern.recv_message(said["id"])]
    fern.send({"type": "history", "limit": 50})
    seen.append(fern.recv_type_of(("history",)))
    for path in (
        "/api/groups/",
        f"/api/groups/{world.circle.pk}/",
        f"/api/groups/{world.circle.pk}/sessions/",
        "/api/reports/",
        "/api/me/",
    ):
        status, body = api(alert_server.url, erin, "GET", path)
        assert status == 200, path
        seen.append(body)
    text = json.dumps(seen)
    assert "Willow" in text  # the alias is what members see
    for secret in ("alice", "alice@example.org", str(world.alice.email)):
        assert secret not in text
    assert (
        api(alert_server.url, erin, "GET", f"/api/groups/{world.circle.pk}/enrollments/")[0] == 403
    )
    status, body = api(
        alert_server.url, world.carol, "GET", f"/api/groups/{world.circle.pk}/enrollments/"
    )
    assert status == 200 and "alice" in json.dumps(body)


def test_no_log_line_ever_holds_a_message_body_an_excerpt_a_password_or_a_token(
    world, erin, server_factory: Callable[..., Daphne]
):
    from websockets.sync.client import connect

    from tests.live.conftest import Socket, session_cookie
    from tests.live.http import token_for

    server = server_factory(
        EMBEDDED_WORKER="1",
        LOG_FORMAT="json",
        LOG_LEVEL="DEBUG",
        RATE_LIMIT_PER_SECOND="0",
        PRESENCE_HEARTBEAT_SECONDS="2",
    )
    open_room(world.circle)
    marker = f"zq{uuid.uuid4().hex[:10]}"

    def enter(user):  # noqa: ANN001, ANN202
        ws = connect(
            f"{server.ws_url}{room(world.circle)}",
            origin=server.url,
            additional_headers={"Cookie": session_cookie(user)},
        )
        ws.__enter__()
        sock = Socket(ws)
        sock.recv_type("hello")
        return sock

    carol, fern = enter(world.carol), enter(erin)
    plain = fern.say(f"plain words {marker}")
    crisis = fern.say(f"I want to end my life tonight {marker}")
    held = fern.say(f"call me on 555 123 4567 {marker}")
    assert (plain["type"], crisis["type"], held["type"]) == (
        "message.ack",
        "message.ack",
        "message.held",
    )
    alert = carol.recv_type_of(("alert.new",))["alert"]
    carol.send(
        {
            "type": "alert.resolve",
            "alert_id": alert["id"],
            "outcome": "supported_in_room",
            "note": f"note {marker}",
        }
    )
    carol.recv_type_of(("action.done",))
    fern.send(
        {"type": "report", "message_id": plain["id"], "reason": "test", "note": f"report {marker}"}
    )
    fern.recv_type_of(("action.done", "error"))
    carol.send(
        {
            "type": "mute",
            "member": f"m{Enrollment.objects.get(user=erin).pk}",
            "minutes": 1,
            "reason": f"reason {marker}",
        }
    )
    carol.recv_type_of(("action.done",))
    fern.send({"type": "history", "limit": 50})
    fern.recv_type_of(("history",))
    api(server.url, erin, "GET", "/api/me/export/")
    api(server.url, None, "GET", f"/calendar/{erin.calendar_token}.ics")
    # A reset link, or a mistyped one, is a 404 that Django's own logger reports with the path.
    stale = erin.calendar_token
    calendar_token_reset(user=erin)
    assert api(server.url, None, "GET", f"/calendar/{stale}.ics")[0] == 404
    assert api(server.url, None, "GET", f"/calendar/{stale[:-2]}{marker}.ics")[0] == 404
    api(server.url, None, "POST", "/api/auth/token/", {"username": "erin", "password": marker})
    token = token_for(erin)
    carol.close()
    fern.close()
    server.stop()
    log = server.log_path.read_text()
    assert "message stored" in log and "alert raised" in log  # the log does record the events
    assert "Not Found: /calendar/[redacted].ics" in log
    for secret in (marker, token, erin.calendar_token, stale, stale[:-2], "pw-erin-long"):
        assert secret not in log, secret
    records = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert records and all("request_id" in r for r in records)

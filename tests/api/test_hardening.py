"""Hardening: what an attacker, a careless admin and odd input found (issue "Hardening").
Runaway recurrence rules, forged X-Forwarded-For, the admin sign-in, and bad input that used to
end in a 500 or run the wrong action."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from rooms import scheduling
from rooms.models import Message, MessageStatus, Session, SupportGroup
from server.accounts.models import User
from tests.api.helpers import LA

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
WEEKLY = {"rrule": "FREQ=WEEKLY;BYDAY=TU", "dtstart": "2030-01-01T19:00:00", "duration_minutes": 60}


def create(world, **recurrence):
    return world.client(world.dave).post(
        "/api/groups/",
        {"name": "New group", "timezone": LA, "recurrence": {**WEEKLY, **recurrence}},
        format="json",
    )


# ---------------------------------------------------------------- recurrence rules


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("rrule", "words"),
    [
        ("FREQ=DAILY;INTERVAL=0", "INTERVAL"),
        ("FREQ=WEEKLY;INTERVAL=-1", "INTERVAL"),
        ("FREQ=DAILY;INTERVAL=1000000000", "INTERVAL"),
        ("FREQ=DAILY;COUNT=0", "COUNT"),
        ("FREQ=DAILY;COUNT=99999999999999999999", "COUNT"),
        ("FREQ=WEEKLY;UNTIL=99991231T235959Z", "UNTIL"),
        ("FREQ=WEEKLY;UNTIL=00010101T000000Z", "UNTIL"),
        ("FREQ=WEEKLY;UNTIL=next-year", "UNTIL"),
        ("FREQ=DAILY;BYHOUR=9,18", "BYHOUR"),
    ],
)
def test_a_runaway_or_out_of_range_rule_is_a_field_error(world, rrule, words):
    started = time.monotonic()
    response = create(world, rrule=rrule)
    assert response.status_code == 400, response.content[:300]
    [message] = response.json()["recurrence"]["rrule"]
    assert words in message
    assert time.monotonic() - started < 5
    assert not SupportGroup.objects.filter(name="New group").exists()


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    "rrule",
    [
        "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",
        "FREQ=WEEKLY;BYMONTH=4;BYMONTHDAY=31",
        "FREQ=MONTHLY;BYMONTHDAY=31;BYDAY=5FR;BYSETPOS=3",
        "FREQ=WEEKLY;UNTIL=20291231",
    ],
)
def test_a_rule_that_gives_no_session_is_refused_quickly(world, rrule):
    started = time.monotonic()
    response = create(world, rrule=rrule)
    assert response.status_code == 400, response.content[:300]
    [message] = response.json()["recurrence"]["rrule"]
    assert "no session" in message
    assert time.monotonic() - started < 3
    assert not SupportGroup.objects.filter(name="New group").exists()


@pytest.mark.parametrize(
    "dtstart", ["0001-01-01T19:00:00", "1999-12-31T19:00:00", "9999-01-01T19:00:00"]
)
def test_a_start_outside_2000_to_2100_is_a_field_error(world, dtstart):
    response = create(world, dtstart=dtstart)
    assert response.status_code == 400
    assert "between 2000 and 2100" in response.json()["recurrence"]["dtstart"][0]


@pytest.mark.timeout(20)
def test_the_lead_facilitator_cannot_hang_the_server_through_patch_either(world):
    path = f"/api/groups/{world.circle.pk}/"
    before = list(Session.objects.filter(group=world.circle).values_list("pk", flat=True))
    runaway = world.client(world.carol).patch(
        path, {"recurrence": {"rrule": "FREQ=DAILY;INTERVAL=0"}}, format="json"
    )
    assert runaway.status_code == 400
    assert "INTERVAL" in runaway.json()["recurrence"]["rrule"][0]
    # Only the rule changes: it is checked against the group's own start.
    never = world.client(world.carol).patch(
        path, {"recurrence": {"rrule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"}}, format="json"
    )
    assert never.status_code == 400
    assert "no session" in never.json()["recurrence"]["rrule"][0]
    assert list(Session.objects.filter(group=world.circle).values_list("pk", flat=True)) == before
    world.circle.refresh_from_db()
    assert world.circle.rrule == "FREQ=WEEKLY;BYDAY=TU"


def test_sessions_are_worked_out_before_the_write_transaction_opens(world, monkeypatch):
    """SQLite has one writer: a slow rule must not hold the write lock while it expands."""
    depth_in_view = len(connection.atomic_blocks)
    depths = []
    real = scheduling.occurrences

    def spy(*args, **kwargs):
        depths.append(len(connection.atomic_blocks))
        return real(*args, **kwargs)

    monkeypatch.setattr(scheduling, "occurrences", spy)
    created = create(world, rrule="FREQ=DAILY", dtstart="2000-01-01T19:00:00")
    assert created.status_code == 201, created.json()
    patched = world.client(world.carol).patch(
        f"/api/groups/{world.circle.pk}/",
        {"recurrence": {"rrule": "FREQ=WEEKLY;BYDAY=WE"}},
        format="json",
    )
    assert patched.status_code == 200, patched.json()
    assert depths and set(depths) == {depth_in_view}
    assert Session.objects.filter(group_id=created.json()["id"]).count() == 7 * 12


def test_expansion_stops_when_its_time_is_up():
    rule = scheduling.parse_rrule("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", dt.datetime(2026, 1, 1))
    started = time.monotonic()
    with pytest.raises(scheduling.ExpansionTooLongError):
        scheduling.with_budget(rule, seconds=0.05).between(
            dt.datetime(2026, 1, 1), dt.datetime(2027, 1, 1)
        )
    assert time.monotonic() - started < 1


def test_worker_skips_a_group_whose_rule_went_bad_and_materializes_the_others(world):
    SupportGroup.objects.filter(pk=world.circle.pk).update(rrule="FREQ=DAILY;INTERVAL=0")
    healthy = SupportGroup.objects.create(
        name="Healthy",
        rrule="FREQ=WEEKLY;BYDAY=MO",
        start_date=timezone.now().date(),
        start_time=dt.time(18, 0),
        duration_minutes=60,
    )
    assert scheduling.sessions_materialize_all() >= 12
    assert Session.objects.filter(group=healthy).count() >= 12


# ---------------------------------------------------------------- sessions: move and list


def _future_session(world) -> Session:
    return Session.objects.filter(group=world.circle, starts_at__gt=timezone.now()).first()


@pytest.mark.parametrize(
    "body",
    [
        {"starts_at": "9999-12-31T00:00:00Z"},
        {"starts_at": "9999-12-31T23:00:00-05:00"},
        {"ends_at": "9999-12-31T00:00:00Z"},
    ],
)
def test_moving_a_session_to_the_year_9999_is_a_field_error(world, body):
    session = _future_session(world)
    response = world.client(world.carol).patch(f"/api/sessions/{session.pk}/", body, format="json")
    assert response.status_code == 400, response.content[:300]
    assert set(body) & set(response.json())
    refreshed = Session.objects.get(pk=session.pk)
    assert (refreshed.starts_at, refreshed.ends_at) == (session.starts_at, session.ends_at)


def test_patching_a_session_needs_no_starts_at(world):
    session = _future_session(world)
    later_end = session.ends_at + dt.timedelta(minutes=30)
    response = world.client(world.carol).patch(
        f"/api/sessions/{session.pk}/", {"ends_at": later_end.isoformat()}, format="json"
    )
    assert response.status_code == 200, response.json()
    session.refresh_from_db()
    assert session.ends_at == later_end and session.moved
    empty = world.client(world.carol).patch(f"/api/sessions/{session.pk}/", {}, format="json")
    assert empty.status_code == 400
    assert "starts_at" in empty.json()["detail"]


@pytest.mark.parametrize(
    "query",
    [
        "from=0001-01-01T00:00:00%2B05:00",
        "to=9999-12-31T23:59:59-05:00",
        "from=1900-01-01",
        "to=2200-01-01",
    ],
)
def test_extreme_from_and_to_are_field_errors(world, query):
    response = world.client(world.alice).get(f"/api/groups/{world.circle.pk}/sessions/?{query}")
    assert response.status_code == 400, response.content[:300]
    name = query.split("=")[0]
    assert "between 2000 and 2100" in response.json()[name][0]


# ---------------------------------------------------------------- sign-in throttles


def test_rotating_x_forwarded_for_does_not_reset_the_address_throttle(world):
    """Straight to daphne (no proxy configured), X-Forwarded-For is the client's own words."""
    codes = [
        APIClient()
        .post(
            "/api/auth/token/",
            {"username": ("alice", "bob", "carol")[i % 3], "password": f"guess{i}"},
            format="json",
            HTTP_X_FORWARDED_FOR=f"203.0.113.{i}",
        )
        .status_code
        for i in range(30)
    ]
    assert codes[:10] == [400] * 10
    assert codes[10:] == [429] * 20


def _rest_framework(settings, **changes) -> None:
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, **changes}


def test_behind_one_proxy_the_address_the_proxy_saw_is_counted(world, settings):
    _rest_framework(settings, NUM_PROXIES=1)
    # Whatever the client wrote comes first; the proxy appends the address it saw.
    codes = [
        APIClient()
        .post(
            "/api/auth/token/",
            {"username": f"user{i}", "password": "guess"},
            format="json",
            HTTP_X_FORWARDED_FOR=f"198.51.100.{i}, 203.0.113.7",
        )
        .status_code
        for i in range(11)
    ]
    assert codes == [400] * 10 + [429]
    other_client = APIClient().post(
        "/api/auth/token/",
        {"username": "alice", "password": "guess"},
        format="json",
        HTTP_X_FORWARDED_FOR="203.0.113.7, 203.0.113.8",
    )
    assert other_client.status_code == 400


def test_nginx_passes_on_only_the_address_it_saw():
    """daphne --proxy-headers takes the first X-Forwarded-For entry: nginx must not let the
    client write it."""
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    settings = [line.strip() for line in conf.splitlines() if not line.strip().startswith("#")]
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in settings
    assert not [line for line in settings if "$proxy_add_x_forwarded_for" in line]


def test_admin_login_is_throttled_like_the_other_sign_ins(world):
    client = Client()
    codes = [
        client.post("/admin/login/", {"username": "dave", "password": f"guess{i}"}).status_code
        for i in range(10)
    ]
    assert codes == [200] * 10
    refused = client.post("/admin/login/", {"username": "dave", "password": "pw-dave-long"})
    assert refused.status_code == 429
    assert "Retry-After" in refused
    assert b"Too many sign-in attempts" in refused.content
    assert "_auth_user_id" not in client.session


def test_admin_login_counts_per_username_across_addresses(world):
    for i in range(10):
        Client(REMOTE_ADDR=f"198.51.100.{i}").post(
            "/admin/login/", {"username": "dave", "password": f"guess{i}"}
        )
    refused = Client(REMOTE_ADDR="192.0.2.1").post(
        "/admin/login/", {"username": "dave", "password": "pw-dave-long"}
    )
    assert refused.status_code == 429


def test_admin_login_still_signs_an_admin_in(world):
    client = Client()
    assert client.get("/admin/login/").status_code == 200
    response = client.post(
        "/admin/login/?next=/admin/", {"username": "dave", "password": "pw-dave-long"}
    )
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


# ---------------------------------------------------------------- bad input


NON_INTEGER_IDS = [
    ("post", "/api/messages/abc/delete/"),
    ("post", "/api/messages/1e3/flag/"),
    ("post", "/api/messages/abc/approve/"),
    ("post", "/api/messages/abc/reject/"),
    ("post", "/api/messages/abc/report/"),
    ("get", "/api/groups/abc/"),
    ("get", "/api/groups/abc/sessions/"),
    ("get", "/api/groups/abc/calendar.ics"),
    ("post", "/api/groups/abc/mute/"),
    ("get", "/api/groups/abc/held/"),
    ("get", "/api/sessions/abc/"),
    ("post", "/api/sessions/abc/cancel/"),
    ("post", "/api/enrollments/abc/approve/"),
    ("post", "/api/alerts/abc/acknowledge/"),
    ("post", "/api/reports/abc/resolve/"),
    ("get", "/api/users/abc/"),
    ("get", "/api/audit/abc/"),
    ("get", "/api/groups/99999999999999999999/"),
    ("post", "/api/messages/99999999999999999999/delete/"),
]


@pytest.mark.parametrize(("method", "path"), NON_INTEGER_IDS)
def test_an_id_that_is_not_a_number_is_a_json_404(world, method, path):
    response = getattr(world.client(world.dave), method)(path, {}, format="json")
    assert response.status_code == 404, response.content[:300]
    assert response["Content-Type"] == "application/json"
    assert response.json()["detail"]


def test_an_unknown_api_path_is_a_json_404(world):
    response = world.client(world.alice).get("/api/no-such-thing/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert "/api/docs/" in response.json()["detail"]


@pytest.mark.parametrize("action", ["delete", "flag", "approve", "reject", "report"])
def test_delete_on_a_message_action_is_refused_and_deletes_nothing(world, action):
    message = Message.objects.create(group=world.circle, author=world.alice, body="still here")
    response = world.client(world.carol).delete(f"/api/messages/{message.pk}/{action}/")
    assert response.status_code == 405
    assert response.json()["detail"]
    message.refresh_from_db()
    assert message.status == MessageStatus.VISIBLE


def test_every_api_route_refuses_the_methods_it_does_not_offer(world):
    """The class of the bug above: no route answers a method it does not list."""
    from tests.api.test_permission_matrix import routed_endpoints

    message = Message.objects.create(group=world.circle, author=world.alice, body="still here")
    offered: dict[str, set[str]] = {}
    for endpoint in routed_endpoints():
        if endpoint.path.startswith("/api/") and endpoint.path != "/api/":
            offered.setdefault(endpoint.path, set()).add(endpoint.method)
    client = world.client(world.dave)
    before = (SupportGroup.objects.count(), Session.objects.count(), User.objects.count())
    for path, methods in sorted(offered.items()):
        url = path.replace("{id}", str(message.pk))
        for method in {"GET", "POST", "PUT", "PATCH", "DELETE"} - methods:
            response = getattr(client, method.lower())(url, {}, format="json")
            assert response.status_code == 405, (method, path, response.status_code)
    message.refresh_from_db()
    assert message.status == MessageStatus.VISIBLE
    assert (SupportGroup.objects.count(), Session.objects.count(), User.objects.count()) == before


def test_deleting_a_message_still_works_with_post(world):
    message = Message.objects.create(group=world.circle, author=world.alice, body="gone")
    response = world.client(world.carol).post(f"/api/messages/{message.pk}/delete/", {})
    assert response.status_code == 200
    message.refresh_from_db()
    assert message.status == MessageStatus.DELETED


def test_mute_without_a_reason_is_a_field_error(world):
    enrollment = world.circle.enrollments.get(user=world.alice)
    response = world.client(world.carol).post(
        f"/api/groups/{world.circle.pk}/mute/",
        {"member": str(enrollment.pk), "minutes": 5},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["reason"] == ["This field is required."]


def test_limit_is_capped_at_200(world):
    start = timezone.now() + dt.timedelta(days=200)
    Session.objects.bulk_create(
        Session(
            group=world.circle,
            starts_at=start + dt.timedelta(days=i),
            ends_at=start + dt.timedelta(days=i, hours=1),
        )
        for i in range(230)
    )
    page = world.client(world.alice).get("/api/sessions/?limit=100000").json()
    assert page["count"] > 200
    assert len(page["results"]) == 200
    assert "limit=200" in page["next"]


def test_a_huge_offset_is_an_empty_page(world):
    response = world.client(world.alice).get("/api/sessions/?offset=99999999999999999999999")
    assert response.status_code == 200
    assert response.json()["results"] == []


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/alerts/?status=everything", "status"),
        ("/api/alerts/?level=apocalyptic", "level"),
        ("/api/alerts/?kind=other", "kind"),
        ("/api/reports/?status=lost", "status"),
        ("/api/users/?role=superhero", "role"),
        ("/api/groups/{circle}/enrollments/?status=vip", "status"),
        ("/api/sessions/?upcoming=perhaps", "upcoming"),
        ("/api/sessions/?group=abc", "group"),
        ("/api/sessions/?group=%C2%B2", "group"),
        ("/api/sessions/?facilitator=99999999999999999999", "facilitator"),
        ("/api/groups/?facilitator=-3", "facilitator"),
        ("/api/groups/?mine=sometimes", "mine"),
        ("/api/audit/?actor=abc", "actor"),
    ],
)
def test_a_query_parameter_outside_its_values_is_a_field_error(world, path, name):
    response = world.client(world.dave).get(path.format(circle=world.circle.pk))
    assert response.status_code == 400, response.content[:300]
    body = response.json()
    assert body[name] and body["detail"] == f"Some fields are not valid: {name}."


# ---------------------------------------------------------------- accounts


def test_create_account_runs_the_password_validators():
    with pytest.raises(CommandError, match="This password is too short"):
        call_command("create_account", "newperson", "--password", "1")
    with pytest.raises(CommandError, match="too similar to the username"):
        call_command("create_account", "newperson", "--password", "newperson1")
    assert not User.objects.filter(username="newperson").exists()


def test_a_report_answers_the_same_for_a_missing_message_and_one_in_another_group(world):
    from rooms.models import MessageStatus

    elsewhere = Message.objects.create(group=world.other, author=world.bob, body="in the other")
    held = Message.objects.create(
        group=world.circle, author=world.alice, body="x", status=MessageStatus.HELD
    )
    mine = Message.objects.create(group=world.circle, author=world.alice, body="in the circle")
    missing = max(elsewhere.pk, held.pk, mine.pk) + 1000
    client = world.client(world.alice)
    answers = [
        client.post(f"/api/messages/{pk}/report/", {"reason": "spam"}, format="json")
        for pk in (missing, elsewhere.pk, held.pk)
    ]
    assert {(r.status_code, r.content) for r in answers} == {(404, answers[0].content)}
    assert answers[0].json()["detail"]
    assert (
        client.post(f"/api/messages/{mine.pk}/report/", {"reason": "spam"}, format="json")
    ).status_code == 201


# ---------------------------------------------------------------- what exists elsewhere

NO_SUCH_ID = 999999
MESSAGE_TOOLS = [
    ("delete", {"reason": "r"}),
    ("flag", {"level": "urgent", "category": "self_harm"}),
    ("approve", None),
    ("reject", {"reason": "r"}),
]
ALERT_TOOLS = [("acknowledge", None), ("resolve", {"outcome": "resolved"}), ("checkin", None)]
MEMBER_TOOLS = [
    ("mute", {"minutes": 5, "reason": "Pause"}),
    ("unmute", {}),
    ("remove", {}),
    ("ban", {"reason": "threats"}),
    ("checkin", {}),
]


def answer(response) -> tuple[int, object]:
    return response.status_code, response.json()


def circle_message(world, action: str) -> Message:
    """A message of the circle in the state the action works on (held for approve and reject)."""
    held = action in ("approve", "reject")
    return Message.objects.create(
        group=world.circle,
        author=world.alice,
        body="words",
        status=MessageStatus.HELD if held else MessageStatus.VISIBLE,
        held_reason="contact_details" if held else "",
    )


@pytest.mark.parametrize(("action", "body"), MESSAGE_TOOLS)
def test_a_facilitator_of_another_group_is_told_a_message_there_does_not_exist(world, action, body):
    """frank facilitates the other group: a message of the circle answers him exactly as an id
    that names no message does, so the status does not tell him which messages exist."""
    message = circle_message(world, action)
    frank = world.client(world.frank)
    there, nowhere = (
        frank.post(f"/api/messages/{pk}/{action}/", body, format="json")
        for pk in (message.pk, NO_SUCH_ID)
    )
    assert answer(there) == answer(nowhere)
    assert there.status_code == 404 and there.json()["detail"]
    assert Message.objects.get(pk=message.pk).status == message.status


@pytest.mark.parametrize(("action", "body"), MESSAGE_TOOLS)
def test_a_member_is_refused_message_moderation_whatever_the_id(world, action, body):
    """A member can never moderate: the same 403 on a message of her own group, on one
    elsewhere and on an id that names none."""
    mine = circle_message(world, action)
    elsewhere = Message.objects.create(group=world.other, author=world.bob, body="x")
    alice = world.client(world.alice)
    answers = [
        answer(alice.post(f"/api/messages/{pk}/{action}/", body, format="json"))
        for pk in (mine.pk, elsewhere.pk, NO_SUCH_ID)
    ]
    assert answers == [(403, {"detail": "Only facilitators and admins moderate messages."})] * 3


@pytest.mark.parametrize(("action", "body"), ALERT_TOOLS)
def test_a_facilitator_of_another_group_is_told_an_alert_there_does_not_exist(world, action, body):
    from moderation.models import Alert

    message = Message.objects.create(group=world.circle, author=world.alice, body="x")
    alert = Alert.objects.create(
        group=world.circle, message=message, member=world.alice, level="urgent"
    )
    frank = world.client(world.frank)
    there, nowhere = (
        frank.post(f"/api/alerts/{pk}/{action}/", body, format="json")
        for pk in (alert.pk, NO_SUCH_ID)
    )
    assert answer(there) == answer(nowhere)
    assert there.status_code == 404
    assert Alert.objects.get(pk=alert.pk).status == "open"


@pytest.fixture
def checkin_room(world) -> SupportGroup:
    """carol's private check-in with alice: a group only the two of them (and admins) see."""
    from moderation.actions import checkin_open

    alice = world.circle.enrollments.get(user=world.alice)
    return checkin_open(by=world.carol, group=world.circle, member=f"m{alice.pk}")


@pytest.mark.parametrize(
    ("action", "body"), [*MEMBER_TOOLS, ("room", {"locked": True}), ("hide", {})]
)
def test_a_facilitator_of_another_group_is_told_a_checkin_room_there_does_not_exist(
    world, checkin_room, action, body
):
    """The catalogue shows every group but the check-in rooms: those are seen by their two
    people only, and their tools answer anyone else as for a group that does not exist."""
    enrollment = checkin_room.enrollments.get()
    named = {"member": f"m{enrollment.pk}", "author": f"m{enrollment.pk}", **body}
    frank = world.client(world.frank)
    there, nowhere = (
        frank.post(f"/api/groups/{pk}/{action}/", named, format="json")
        for pk in (checkin_room.pk, NO_SUCH_ID)
    )
    assert answer(there) == answer(nowhere)
    assert there.status_code == 404
    assert frank.get(f"/api/groups/{checkin_room.pk}/held/").status_code == 404


@pytest.mark.parametrize(("action", "body"), [*MEMBER_TOOLS, ("hide", {})])
def test_a_facilitator_naming_a_member_of_another_group_is_answered_as_for_no_member(
    world, action, body
):
    alice = world.circle.enrollments.get(user=world.alice)
    frank = world.client(world.frank)
    there, nowhere = (
        frank.post(
            f"/api/groups/{world.other.pk}/{action}/",
            {"member": key, "author": key, **body},
            format="json",
        )
        for key in (f"m{alice.pk}", f"m{NO_SUCH_ID}")
    )
    assert answer(there) == answer(nowhere)
    assert there.status_code == 400


@pytest.mark.parametrize(("action", "body"), [*MEMBER_TOOLS, ("room", {"locked": True})])
def test_a_member_is_refused_the_room_tools_whatever_the_group(world, checkin_room, action, body):
    alice = world.client(world.alice)
    answers = [
        answer(alice.post(f"/api/groups/{pk}/{action}/", body, format="json"))
        for pk in (world.circle.pk, world.other.pk, checkin_room.pk, NO_SUCH_ID)
    ]
    refused = (403, {"detail": "Only facilitators and admins use the room's tools."})
    assert answers == [refused] * 4


def test_a_facilitator_of_another_group_is_told_a_report_there_does_not_exist(world):
    from moderation.models import Report

    message = Message.objects.create(group=world.circle, author=world.alice, body="x")
    report = Report.objects.create(
        message=message, group=world.circle, reporter=world.alice, reason="unkind"
    )
    frank = world.client(world.frank)
    there, nowhere = (
        frank.post(f"/api/reports/{pk}/resolve/", {}, format="json")
        for pk in (report.pk, NO_SUCH_ID)
    )
    assert answer(there) == answer(nowhere)
    assert there.status_code == 404
    refused = world.client(world.alice).post(f"/api/reports/{report.pk}/resolve/", {})
    assert answer(refused) == (403, {"detail": "Only facilitators and admins resolve reports."})
    assert Report.objects.get(pk=report.pk).status == "open"


@pytest.mark.parametrize(
    ("action", "body"),
    [("approve", None), ("decline", None), ("seat", None), ("move", {"position": 1})],
)
def test_a_facilitator_of_another_group_is_told_a_request_there_does_not_exist(world, action, body):
    """A pending request names who asked to join a group: its id answers a facilitator of
    another group as an id that names no request; a member is refused whatever the id."""
    from rooms.services import enrollment_join, group_update
    from tests.api.helpers import member

    group_update(group=world.circle, fields={"join_policy": "approval"})
    pending = enrollment_join(
        group=world.circle, user=member("gail"), alias="Gail", agreement_accepted=True
    )
    frank = world.client(world.frank)
    there, nowhere = (
        frank.post(f"/api/enrollments/{pk}/{action}/", body, format="json")
        for pk in (pending.pk, NO_SUCH_ID)
    )
    assert answer(there) == answer(nowhere)
    assert there.status_code == 404
    alice = world.client(world.alice)
    refused = [
        answer(alice.post(f"/api/enrollments/{pk}/{action}/", body, format="json"))
        for pk in (pending.pk, NO_SUCH_ID)
    ]
    assert refused == [(403, {"detail": "Only facilitators and admins decide on requests."})] * 2
    pending.refresh_from_db()
    assert pending.status == "pending"

"""Schema fuzzing: schemathesis generates requests for every operation in /api/schema/, valid and
invalid, and sends them as dave (admin) and as alice (member). Every answer must be one the
schema documents: no 5xx, a documented status code and content type, a body matching the
documented schema. Each example runs in a savepoint rolled back after it, so every example
starts from the same world, and half the examples aim at objects that exist.

Bounded to fit CI: FUZZ_EXAMPLES examples per operation and persona (about a minute and a half
on two cores), the same ones every run. To dig deeper, with new examples each run:
`FUZZ_EXAMPLES=500 FUZZ_RANDOM=1 .venv/bin/pytest tests/api/test_schema_fuzz.py`."""

from __future__ import annotations

import ast
import datetime as dt
import fnmatch
import os
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from django.utils import timezone
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from werkzeug.test import Client

from moderation.models import Alert, AuditEntry, Report
from rooms.models import Message, MessageStatus
from tests.api.test_permission_matrix import ROWS as MATRIX

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "20"))
PERSONAS = ("dave", "alice")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def in_process_requests() -> Iterator[None]:
    """The WSGI app runs on the test's thread and database connection; Django's test client
    keeps the connection open across requests the same way (the test's transaction would
    otherwise be closed under it)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def targets(world) -> dict[str, list]:
    """Objects the ids in paths can hit: a visible, a held and a crisis message, an alert, a
    report, an audit entry, besides the world's groups, sessions, enrollments and people."""
    visible = Message.objects.create(group=world.circle, author=world.alice, body="hello all")
    held = Message.objects.create(
        group=world.circle,
        author=world.alice,
        body="call me",
        status=MessageStatus.HELD,
        held_reason="contact_details",
    )
    crisis = Message.objects.create(
        group=world.circle, author=world.alice, body="I can't go on", level="urgent"
    )
    alert = Alert.objects.create(
        group=world.circle,
        message=crisis,
        member=world.alice,
        level="urgent",
        category="self_harm",
        ack_deadline=timezone.now() + dt.timedelta(minutes=5),
    )
    report = Report.objects.create(
        message=visible, group=world.circle, reporter=world.alice, reason="unkind"
    )
    entry = AuditEntry.objects.create(actor=world.carol, action="mute", group=world.circle)
    people = [world.alice, world.bob, world.carol, world.dave, world.charlie, world.frank]
    # Each kind of path gets ids of its own kind, so that examples reach the operation's
    # answers for an object that exists (a 200, a 403 for a member) and not only its 404.
    return {
        "/api/alerts/": [alert.pk],
        "/api/messages/": [visible.pk, held.pk, crisis.pk],
        "/api/reports/": [report.pk],
        "/api/audit/": [entry.pk],
        "/api/groups/": [world.circle.pk, world.other.pk],
        "/api/sessions/": list(world.circle.sessions.values_list("pk", flat=True)[:3]),
        "/api/enrollments/": list(world.circle.enrollments.values_list("pk", flat=True)),
        "/api/users/": [p.pk for p in people],
        "/calendar/": [world.alice.calendar_token],
    }


def real_values(targets: dict[str, list], path: str) -> list:
    return next((values for prefix, values in targets.items() if path.startswith(prefix)), [])


@pytest.fixture(params=PERSONAS)
def persona(request: pytest.FixtureRequest) -> str:
    return request.param


# Read at collection (no database needed): one test per operation, each run for every persona.
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", WSGIHandler())

# The statuses each operation answered during the run, and the personas it ran as, for
# test_every_documented_status_is_one_the_server_returns (after the fuzz, below).
OBSERVED: dict[tuple[str, str], set[str]] = defaultdict(set)
RAN_AS: dict[tuple[str, str], set[str]] = defaultdict(set)
# Statuses the fuzz does not reach, each returned by a named test elsewhere ("file::test", the
# test's name a glob): limits that take more requests than an example makes, answers that need
# a persona and a state the fuzz's world does not have, and the answers the permission matrix
# asserts for every persona on an object made for the purpose.
# test_every_test_named_for_a_status_exists keeps each name pointing at a test.
WAITLIST_TEST = "tests/api/test_staff_actions.py::test_a_facilitator_reorders_the_waitlist_*"
DOCUMENTED = "tests/api/test_documented_statuses.py::"
MEMBER_AND_ALERTS = DOCUMENTED + "test_a_member_is_refused_every_alert_action_whatever_the_id"
REACHED_ELSEWHERE: dict[tuple[str, str, str], str] = {
    (
        "POST",
        "/api/auth/token/",
        "200",
    ): "tests/api/test_accounts.py::test_token_endpoint_gives_a_token_*",
    (
        "POST",
        "/api/auth/token/",
        "429",
    ): "tests/api/test_accounts.py::test_token_endpoint_is_throttled_*",
    (
        "POST",
        "/api/ws-ticket/",
        "429",
    ): "tests/api/test_throttles.py::test_minting_websocket_tickets_*",
    (
        "POST",
        "/api/groups/{id}/join/",
        "429",
    ): "tests/api/test_throttles.py::test_joining_and_leaving_*",
    (
        "POST",
        "/api/groups/{id}/leave/",
        "429",
    ): "tests/api/test_throttles.py::test_joining_and_leaving_*",
    # Held messages: whether an example lands on the world's one held message varies with the
    # ids earlier tests used.
    (
        "POST",
        "/api/messages/{id}/reject/",
        "200",
    ): "tests/api/test_held_review.py::test_a_facilitator_rejects_*",
    (
        "POST",
        "/api/messages/{id}/approve/",
        "200",
    ): "tests/api/test_held_review.py::test_a_facilitator_approves_*",
    # The fuzz's world has no live session: reacting needs the room open, so its 403 is the rule.
    (
        "POST",
        "/api/messages/{id}/reactions/",
        "403",
    ): "tests/api/test_own_messages_api.py::test_reacting_*",
    # The fuzz's world has no waitlist: seating and moving need people waiting.
    **{
        ("POST", f"/api/enrollments/{{id}}/{action}/", status): WAITLIST_TEST
        for action, status in (("move", "200"), ("move", "400"), ("seat", "200"))
    },
    # A generated member id seldom names a member of the group, a password seldom is one.
    **{
        ("POST", f"/api/groups/{{id}}/{action}/", status): DOCUMENTED + test
        for action, status, test in (
            ("mute", "200", "test_a_facilitator_mutes_a_member_*"),
            ("unmute", "200", "test_a_facilitator_lifts_a_mute"),
            ("remove", "200", "test_a_facilitator_removes_a_member_*"),
            ("ban", "200", "test_an_admin_bans_a_member_*"),
            ("checkin", "201", "test_a_facilitator_opens_a_private_checkin_*"),
            ("hide", "200", "test_a_member_hides_*"),
            ("hide", "403", "test_someone_outside_the_group_cannot_hide_*"),
        )
    },
    ("POST", "/api/me/delete/", "204"): DOCUMENTED + "test_a_member_deletes_her_own_account_*",
    ("DELETE", "/api/users/{id}/", "400"): DOCUMENTED + "test_an_admin_cannot_delete_her_own_*",
    ("POST", "/api/sessions/{id}/cancel/", "400"): DOCUMENTED + "test_a_session_that_is_over_*",
    # Alerts: the fuzz's one alert has its member; members are refused whatever the id.
    ("POST", "/api/alerts/{id}/checkin/", "400"): DOCUMENTED + "test_checking_in_on_an_alert_*",
    **{
        ("POST", f"/api/alerts/{{id}}/{action}/", "403"): MEMBER_AND_ALERTS
        for action in ("acknowledge", "resolve", "checkin")
    },
    **{
        (row.method, row.path, str(status)): "tests/api/test_permission_matrix.py::"
        "test_permission_matrix"
        for row in MATRIX
        for status in row.expect.values()
    },
}


@pytest.mark.timeout(600)
@pytest.mark.usefixtures("in_process_requests")
@schema.given(data=st.data())
@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("FUZZ_RANDOM") != "1",
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented(case, data, persona, world, targets):
    values = real_values(targets, case.path)
    for name in case.path_parameters or {}:
        if values and data.draw(st.booleans(), label="real " + name):
            case.path_parameters[name] = data.draw(st.sampled_from(values), label=name)
    token, _ = Token.objects.get_or_create(user=getattr(world, persona))
    cache.clear()  # the sign-in throttles would answer 429 to every later example
    with transaction.atomic():
        response = case.call(headers={"Authorization": f"Token {token.key}"})
        transaction.set_rollback(True)
    operation = (case.method.upper(), case.path)
    OBSERVED[operation].add(str(response.status_code))
    RAN_AS[operation].add(persona)
    case.validate_response(response, checks=CHECKS)
    # The generic answers an operation's shape documents (server.api.document_generic_errors),
    # which generated requests seldom get: no credentials, and a body of a type no parser
    # reads (on an object that exists, or the 404 comes first). Tried until each was seen.
    with transaction.atomic():
        for status in generic_statuses(case, token.key, OBSERVED[operation]):
            OBSERVED[operation].add(str(status))
        transaction.set_rollback(True)


def generic_statuses(case, token: str, seen: set[str]) -> list[int]:
    client = Client(WSGIHandler())  # as schemathesis calls the app, on this connection
    path, method = case.formatted_path, case.method.upper()
    auth = {"Authorization": f"Token {token}"}
    definition = case.operation.definition.raw
    answers = []
    if "401" not in seen:
        answers.append(client.open(path, method=method).status_code)
    if definition.get("requestBody") and not {"400", "415"} <= seen:
        for data, content_type in ((b"not json", "text/plain"), (b'{"', "application/json")):
            answers.append(
                client.open(
                    path, method=method, data=data, content_type=content_type, headers=auth
                ).status_code
            )
    # `format` is left out: DRF answers an unknown one with 404, before the others are read.
    query = [
        p["name"]
        for p in definition.get("parameters", [])
        if p.get("in") == "query" and p["name"] != "format"
    ]
    if query and "400" not in seen:
        bad = {name: "not-a-valid-value" for name in query}
        answers.append(client.open(path, method=method, query_string=bad, headers=auth).status_code)
    # ... and asked for on its own, until the 404 it documents was seen.
    formats = any(p.get("name") == "format" for p in definition.get("parameters", []))
    if formats and "404" not in seen:
        bad = {"format": "not-a-valid-value"}
        answers.append(client.open(path, method=method, query_string=bad, headers=auth).status_code)
    return answers


def test_every_documented_status_is_one_the_server_returns():
    """A status the schema documents that no request of the fuzz got, as any persona, is a
    promise nobody tested (or one the server cannot keep): either the fuzz reaches it, a named
    test elsewhere does (REACHED_ELSEWHERE), or the schema stops documenting it."""
    ran = {op for op, personas in RAN_AS.items() if personas >= set(PERSONAS)}
    if not ran:
        if os.environ.get("CI"):  # in CI the fuzz always runs first: not having run is a fault
            pytest.fail("the fuzz above did not run before this check")
        pytest.skip("the fuzz above did not run in this session")
    never = []
    for path, operations in schema.raw_schema["paths"].items():
        for method, operation in operations.items():
            key = (method.upper(), path)
            if key not in ran:
                continue
            for status in operation.get("responses", {}):
                if status in OBSERVED[key] or (*key, status) in REACHED_ELSEWHERE:
                    continue
                never.append(f"{method.upper()} {path} {status}")
    assert not never, "documented but never returned:\n" + "\n".join(sorted(never))


def test_every_test_named_for_a_status_exists():
    """A claim in REACHED_ELSEWHERE holds only while its test does: each names a test file and,
    by a glob, at least one test function in it (read from the file, so that a renamed or
    deleted test fails here rather than leaving the status unchecked)."""
    root = Path(__file__).resolve().parents[2]
    stale = []
    for claim in sorted(set(REACHED_ELSEWHERE.values())):
        path, _, pattern = claim.partition("::")
        file = root / path
        if not pattern or not file.is_file():
            stale.append(f"{claim}: no such test file")
            continue
        tree = ast.parse(file.read_text(), filename=str(file))
        tests = [
            node.name
            for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.name.startswith("test")
        ]
        if not fnmatch.filter(tests, pattern):
            stale.append(f"{claim}: no such test in the file")
    assert not stale, "\n".join(stale)

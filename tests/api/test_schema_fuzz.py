"""Schema fuzzing: schemathesis generates requests for every operation in /api/schema/, valid and
invalid, and sends them as dave (admin) and as alice (member). Every answer must be one the
schema documents: no 5xx, a documented status code and content type, a body matching the
documented schema. Each example runs in a savepoint rolled back after it, so every example
starts from the same world, and half the examples aim at objects that exist.

Bounded to fit CI: FUZZ_EXAMPLES examples per operation and persona (about a minute and a half
on two cores), the same ones every run. To dig deeper, with new examples each run:
`FUZZ_EXAMPLES=500 FUZZ_RANDOM=1 .venv/bin/pytest tests/api/test_schema_fuzz.py`."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator

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

from moderation.models import Alert, AuditEntry, Report
from rooms.models import Message, MessageStatus

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "20"))
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
def targets(world) -> dict[str, list[int]]:
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
    return {
        "id": sorted(
            {visible.pk, held.pk, crisis.pk, alert.pk, report.pk, entry.pk, world.circle.pk}
            | {world.other.pk, *(p.pk for p in people)}
            | set(world.circle.sessions.values_list("pk", flat=True)[:3])
            | set(world.circle.enrollments.values_list("pk", flat=True))
        ),
        "token": [world.alice.calendar_token],
    }


@pytest.fixture(params=["dave", "alice"])
def persona(request: pytest.FixtureRequest) -> str:
    return request.param


# Read at collection (no database needed): one test per operation, each run for every persona.
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", WSGIHandler())


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
    for name, values in targets.items():
        if name in (case.path_parameters or {}) and data.draw(st.booleans(), label="real " + name):
            case.path_parameters[name] = data.draw(st.sampled_from(values), label=name)
    token, _ = Token.objects.get_or_create(user=getattr(world, persona))
    cache.clear()  # the sign-in throttles would answer 429 to every later example
    with transaction.atomic():
        response = case.call(headers={"Authorization": f"Token {token.key}"})
        transaction.set_rollback(True)
    case.validate_response(response, checks=CHECKS)

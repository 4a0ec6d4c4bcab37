"""Every endpoint against every persona. The endpoint list comes from the URL configuration, so a
new endpoint without a row here fails `test_every_endpoint_has_a_matrix_row`."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework.test import APIClient

from rooms.models import Enrollment, GroupFacilitator, Message, Session, SupportGroup
from rooms.services import enrollment_join, group_update
from server.accounts.models import User, WsTicket
from tests.api.helpers import member

PERSONAS = ["anonymous", "charlie", "alice", "bob", "carol", "frank", "dave"]


@dataclass
class Row:
    method: str
    path: str  # as in the OpenAPI schema: {id}, {token}
    expect: dict[str, int]  # persona -> status; "*" for everyone else
    body: dict[str, Any] | None = None


def everyone(code: int, **others: int) -> dict[str, int]:
    return {"*": code, **others}


SIGNED_IN = everyone(200, anonymous=401)
MANAGERS = everyone(403, anonymous=401, carol=200, dave=200)
ADMINS = everyone(403, anonymous=401, dave=200)
# Decisions on the circle's requests: frank, who facilitates another group, is told the request
# does not exist; members are refused whatever the id.
DECIDERS = everyone(403, anonymous=401, carol=200, dave=200, frank=404)

ROWS = [
    Row("GET", "/api/", SIGNED_IN),
    Row("GET", "/api/schema/", everyone(200)),
    Row("GET", "/api/docs/", everyone(200)),
    Row("POST", "/api/auth/token/", everyone(400), {"username": "alice", "password": "wrong"}),
    Row("POST", "/api/ws-ticket/", everyone(201, anonymous=401)),
    Row("GET", "/api/me/", SIGNED_IN),
    Row("PATCH", "/api/me/", SIGNED_IN, {"discreet": False}),
    Row("POST", "/api/me/calendar/reset/", SIGNED_IN),
    Row("GET", "/api/me/export/", SIGNED_IN),
    Row("POST", "/api/me/delete/", everyone(400, anonymous=401), {"password": "wrong"}),
    Row("GET", "/api/groups/", SIGNED_IN),
    Row(
        "POST",
        "/api/groups/",
        everyone(403, anonymous=401, dave=201),
        {"name": "New group", "timezone": "UTC", "drop_in": True},
    ),
    Row("GET", "/api/groups/{id}/", SIGNED_IN),
    Row("PATCH", "/api/groups/{id}/", MANAGERS, {"name": "Renamed", "capacity": 7}),
    Row("DELETE", "/api/groups/{id}/", everyone(403, anonymous=401, dave=204)),
    Row("GET", "/api/groups/{id}/sessions/", SIGNED_IN),
    Row("GET", "/api/groups/{id}/calendar.ics/", SIGNED_IN),
    Row("GET", "/api/groups/{id}/calendar.ics", SIGNED_IN),
    Row("GET", "/api/groups/{id}/enrollments/", MANAGERS),
    Row(
        "POST",
        "/api/groups/{id}/join/",
        everyone(403, anonymous=401, charlie=201, bob=201, alice=200),
        {"alias": "Newcomer", "agreement_accepted": True},
    ),
    # Leaving a group you are not in is a 400 that changes nothing.
    Row("POST", "/api/groups/{id}/leave/", everyone(400, anonymous=401, alice=200)),
    Row("GET", "/api/sessions/", SIGNED_IN),
    Row("GET", "/api/sessions/{id}/", SIGNED_IN),
    Row("PATCH", "/api/sessions/{id}/", MANAGERS, {"starts_at": "MOVE"}),
    Row("POST", "/api/sessions/{id}/cancel/", MANAGERS),
    Row("POST", "/api/enrollments/{id}/approve/", DECIDERS),
    Row("POST", "/api/enrollments/{id}/decline/", DECIDERS),
    Row("POST", "/api/enrollments/{id}/seat/", DECIDERS),
    # The target is a pending request, not on the waitlist: managers may, and are told why not.
    Row(
        "POST",
        "/api/enrollments/{id}/move/",
        everyone(403, anonymous=401, carol=400, dave=400, frank=404),
        {"position": 1},
    ),
    # Members' own messages: the author edits and deletes; everyone in the room reacts; people
    # outside the room are told nothing about the message.
    Row(
        "PATCH",
        "/api/messages/{id}/",
        everyone(404, anonymous=401, alice=200, carol=403, dave=403),
        {"body": "Edited words"},
    ),
    Row(
        "DELETE",
        "/api/messages/{id}/",
        everyone(404, anonymous=401, alice=200, carol=403, dave=403),
    ),
    Row(
        "POST",
        "/api/messages/{id}/reactions/",
        everyone(404, anonymous=401, alice=200, carol=200, dave=200),
        {"reaction": "heart"},
    ),
    Row(
        "POST",
        "/api/groups/{id}/checkin-request/",
        everyone(404, anonymous=401, alice=201, carol=403, dave=403),
    ),
    Row("GET", "/api/users/", ADMINS),
    Row("GET", "/api/users/{id}/", ADMINS),
    Row("PATCH", "/api/users/{id}/", ADMINS, {"on_call": True}),
    Row("DELETE", "/api/users/{id}/", everyone(403, anonymous=401, dave=204)),
    # The secret URL is the credential: no sign-in needed, and any session is ignored.
    Row("GET", "/calendar/{token}.ics", everyone(200)),
]

_PARAM = re.compile(r"\(\?P<(\w+)>[^)]*\)|<(?:\w+:)?(\w+)>")
# The views of this issue (accounts, scheduling, the API root, schema and docs) each need a row.
FOUNDATION = ("server.", "rooms.", "rest_framework.", "drf_spectacular.")
# Endpoints of other apps that anyone may read without signing in.
PUBLIC = {("GET", "/api/resources/"), ("GET", "/api/resources/countries/")}


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    module: str


def _methods(callback: Any) -> list[str]:
    if getattr(callback, "actions", None):  # a viewset route
        return [m.upper() for m in callback.actions if m not in ("head", "options")]
    cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    return [
        m.upper()
        for m in ("get", "post", "put", "patch", "delete")
        if cls is not None and hasattr(cls, m)
    ]


def _normalize(route: str) -> str:
    route = _PARAM.sub(lambda m: "{" + (m.group(1) or m.group(2)) + "}", route)
    route = route.replace("^", "").replace("$", "").replace("\\.", ".")
    return "/" + route.replace("{pk}", "{id}")


def routed_endpoints(patterns: list | None = None, prefix: str = "") -> set[Endpoint]:
    """Every method of every URL under /api/ and /calendar/, read from the URL configuration."""
    found: set[Endpoint] = set()
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            found |= routed_endpoints(entry.url_patterns, route)
        elif isinstance(entry, URLPattern) and "format>" not in route:  # skip `.json` variants
            path = _normalize(route)
            if not path.startswith(("/api/", "/calendar/")):
                continue
            cls = getattr(entry.callback, "cls", None) or entry.callback
            found |= {Endpoint(m, path, cls.__module__) for m in _methods(entry.callback)}
    return found


def test_every_endpoint_has_a_matrix_row(client):
    """The URL configuration and the OpenAPI schema both agree with the rows."""
    rows = {(r.method, r.path) for r in ROWS}
    foundation = {(e.method, e.path) for e in routed_endpoints() if e.module.startswith(FOUNDATION)}
    assert foundation == rows

    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    documented = {
        (method.upper(), path)
        for path, ops in schema["paths"].items()
        for method in ops
        if method in ("get", "post", "put", "patch", "delete")
    }
    undocumented = {
        ("GET", "/api/"),
        ("GET", "/api/schema/"),
        ("GET", "/api/docs/"),
        ("GET", "/api/groups/{id}/calendar.ics"),  # an alias of the documented .../calendar.ics/
    }
    assert rows - undocumented <= documented


def test_endpoints_of_other_apps_refuse_anonymous_and_outsiders(world):
    """Other issues own the full rows for their endpoints; every one of them, including any
    added later, must at least refuse the anonymous caller, and refuse charlie's writes without
    changing anything. (One test, not parametrized, so collection does not import the URLs.)"""
    others = sorted(
        (e for e in routed_endpoints() if not e.module.startswith(FOUNDATION)),
        key=lambda e: (e.path, e.method),
    )
    assert others, "expected the moderation endpoints"
    for endpoint in others:
        where = f"{endpoint.method} {endpoint.path}"
        path = endpoint.path.replace("{id}", str(world.circle.pk))
        call = REQUEST[endpoint.method]
        before = _snapshot()
        anonymous = call(APIClient(), path, {}, format="json")
        if (endpoint.method, endpoint.path) in PUBLIC:
            assert anonymous.status_code == 200, where
        else:
            assert anonymous.status_code == 401, (where, anonymous.content[:300])
        if endpoint.method != "GET":
            outsider = call(world.client(world.charlie), path, {}, format="json")
            assert outsider.status_code in (400, 403, 404), (where, outsider.content[:300])
        assert _snapshot() == before, where


def test_every_matrix_row_names_every_persona_or_a_default():
    for row in ROWS:
        assert "*" in row.expect or set(PERSONAS) <= set(row.expect), row


@pytest.fixture
def targets(world) -> dict[str, Any]:
    """Objects the rows act on: the circle, a future session of it, a pending request."""
    group_update(group=world.circle, fields={"join_policy": "approval"})
    pending = enrollment_join(
        group=world.circle, user=member("gail"), alias="Gail", agreement_accepted=True
    )
    group_update(group=world.circle, fields={"join_policy": "open"})
    session = Session.objects.filter(group=world.circle, starts_at__gt=timezone.now()).first()
    assert session is not None and pending.status == "pending"
    # A live session, so that the room is open for the rows on members' own messages.
    now = timezone.now()
    Session.objects.create(
        group=world.circle,
        starts_at=now - dt.timedelta(minutes=5),
        ends_at=now + dt.timedelta(hours=1),
    )
    said = Message.objects.create(group=world.circle, author=world.alice, body="My own words")
    return {"group": world.circle, "session": session, "enrollment": pending, "message": said}


def _snapshot() -> dict[str, Any]:
    """Everything a refused request could have changed."""
    return {
        "groups": list(SupportGroup.objects.order_by("pk").values()),
        "facilitators": list(GroupFacilitator.objects.order_by("pk").values()),
        "sessions": list(Session.objects.order_by("pk").values()),
        "enrollments": list(Enrollment.objects.order_by("pk").values()),
        "users": list(User.objects.order_by("pk").values()),
        "tickets": WsTicket.objects.count(),
    }


def _client(world, persona: str) -> APIClient:
    return world.client(None if persona == "anonymous" else getattr(world, persona))


def _url(row: Row, world, targets: dict[str, Any]) -> str:
    ids = {
        "/api/groups/": targets["group"].pk,
        "/api/sessions/": targets["session"].pk,
        "/api/enrollments/": targets["enrollment"].pk,
        "/api/users/": world.alice.pk,
        "/api/messages/": targets["message"].pk,
    }
    path = row.path.replace("{token}", world.alice.calendar_token)
    for prefix, pk in ids.items():
        if path.startswith(prefix):
            path = path.replace("{id}", str(pk))
    return path


def _body(row: Row, targets: dict[str, Any]) -> dict[str, Any] | None:
    if row.body == {"starts_at": "MOVE"}:
        moved = targets["session"].starts_at + dt.timedelta(hours=1)
        return {"starts_at": moved.isoformat()}
    return row.body


REQUEST: dict[str, Callable[..., Any]] = {
    "GET": APIClient.get,
    "POST": APIClient.post,
    "PATCH": APIClient.patch,
    "DELETE": APIClient.delete,
}


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r.method} {r.path}")
def test_permission_matrix(world, targets, row, persona):
    expected = row.expect.get(persona, row.expect.get("*"))
    client = _client(world, persona)
    before = _snapshot()
    response = REQUEST[row.method](
        client, _url(row, world, targets), _body(row, targets), format="json"
    )
    assert response.status_code == expected, (persona, row.path, response.content[:300])
    if response.status_code >= 400:
        assert _snapshot() == before, "a refused request changed the database"
        if response["Content-Type"].startswith("application/json"):
            assert response.json()["detail"]


def test_anonymous_and_refused_requests_get_json_details(world):
    response = APIClient().get("/api/groups/")
    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided."}
    response = world.client(world.alice).delete(f"/api/groups/{world.circle.pk}/")
    assert response.status_code == 403
    assert response.json() == {"detail": "Only admins delete groups."}

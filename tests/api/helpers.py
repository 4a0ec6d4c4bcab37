"""Small helpers shared by the API tests."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

import requests
import schemathesis
from django.test import Client
from schemathesis.schemas import BaseSchema

from rooms.models import SupportGroup
from rooms.services import group_create
from server.accounts.models import User
from server.accounts.services import account_create

LA = "America/Los_Angeles"


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def member(name: str, role: str = "member") -> User:
    return account_create(
        username=name, password=f"pw-{name}-long", role=role, email=f"{name}@example.org"
    )


def weekly_group(
    name: str,
    *,
    start: dt.date,
    at: dt.time = dt.time(19, 0),
    byday: str = "TU",
    facilitators: list[int] | None = None,
    **extra: Any,
) -> SupportGroup:
    fields = {
        "name": name,
        "timezone": LA,
        "capacity": 10,
        "agreement_text": "Be kind.",
        "rrule": f"FREQ=WEEKLY;BYDAY={byday}",
        "start_date": start,
        "start_time": at,
        "duration_minutes": 90,
        **extra,
    }
    return group_create(fields=fields, facilitator_ids=facilitators or [])


@functools.cache
def _schema() -> BaseSchema:
    raw = Client().get("/api/schema/?format=json").json()
    return schemathesis.openapi.from_dict(raw)


def assert_documented(response: Any, method: str, path: str) -> None:
    """The response's status is one the schema documents for the operation (`path` as the schema
    writes it: /api/groups/{id}/mute/), and its body matches the schema documented for it."""
    schema = _schema()
    operation = schema[path][method.upper()]
    documented = operation.definition.raw.get("responses", {})
    status = str(response.status_code)
    assert status in documented, f"{method} {path} does not document {status}"
    headers = {name: [value] for name, value in response.items()}
    request = requests.Request(method.upper(), f"http://testserver{path}").prepare()
    operation.validate_response(
        schemathesis.Response(
            status_code=response.status_code,
            headers=headers,
            content=response.content,
            request=request,
            elapsed=0.0,
            verify=False,
        )
    )

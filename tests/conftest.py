"""Personas, after healthchecks: alice (member of the circle), bob (member of another group),
carol (lead facilitator of the circle), dave (admin), charlie (signed in, in no group: sees
nothing private)."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

IN_CI = os.environ.get("CI", "").lower() == "true"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres: needs real concurrent PostgreSQL transactions")
    config.addinivalue_line("markers", "live: runs against real daphne/worker processes")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The PostgreSQL tests run in their own pass (TEST_DATABASE=postgres, see the Makefile); in
    the SQLite pass they are deselected, not skipped, and that pass runs only them."""
    on_postgres = os.environ.get("TEST_DATABASE") == "postgres"
    keep, drop = [], []
    for item in items:
        (keep if (item.get_closest_marker("postgres") is not None) == on_postgres else drop).append(
            item
        )
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@dataclass
class World:
    alice: object
    bob: object
    carol: object
    dave: object
    charlie: object
    frank: object
    circle: object
    other: object

    def client(self, user: object | None) -> APIClient:
        client = APIClient()
        if user is not None:
            token, _ = Token.objects.get_or_create(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client


def seed_support_resources() -> None:
    """The data migration's crisis resources; a transactional test's flush removes them."""
    import importlib

    from django.apps import apps

    from moderation.models import SupportResource

    if not SupportResource.objects.exists():
        for migration in ("0002_seed_resources", "0005_resource_countries"):
            importlib.import_module(f"moderation.migrations.{migration}").seed(apps, None)


@pytest.fixture
def world(db) -> World:  # noqa: ANN001
    from rooms.services import enrollment_join, group_create
    from server.accounts.services import account_create

    seed_support_resources()

    def make(name: str, role: str = "member"):  # noqa: ANN202
        return account_create(
            username=name, password="pw-" + name + "-long", role=role, email=f"{name}@example.org"
        )

    alice, bob, charlie = make("alice"), make("bob"), make("charlie")
    carol, frank = make("carol", "facilitator"), make("frank", "facilitator")
    dave = make("dave", "admin")
    start = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).date()
    circle = group_create(
        fields={
            "name": "Evening Circle",
            "timezone": "America/Los_Angeles",
            "capacity": 3,
            "agreement_text": "Be kind.",
            "rrule": "FREQ=WEEKLY;BYDAY=TU",
            "start_date": start,
            "start_time": dt.time(19, 0),
            "duration_minutes": 90,
        },
        facilitator_ids=[carol.pk],
    )
    other = group_create(
        fields={"name": "Other Group", "drop_in": True, "agreement_text": "Be gentle."},
        facilitator_ids=[frank.pk],
    )
    enrollment_join(group=circle, user=alice, alias="Willow", agreement_accepted=True)
    enrollment_join(group=other, user=bob, alias="River", agreement_accepted=True)
    return World(alice, bob, carol, dave, charlie, frank, circle, other)


@pytest.fixture(autouse=True)
def fresh_room_snapshots() -> None:
    """Row ids are reused between tests that roll back; the send path's short-lived snapshots
    must not carry one test's rooms into the next."""
    from rooms.actions import forget_snapshots

    forget_snapshots(everything=True)


@pytest.fixture
def require_postgres() -> None:
    assert connection.vendor == "postgresql", "this test needs TEST_DATABASE=postgres"

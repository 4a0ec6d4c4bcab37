"""Real concurrent transactions on PostgreSQL: the last seat and the reminder claim."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.core import mail
from django.db import connection

from rooms.models import Enrollment, Session
from rooms.services import enrollment_join, group_create
from rooms.worker import reminders_send
from tests.api.helpers import member

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

RACERS = 8


def race(workers: list[Callable[[], Any]]) -> list[Any]:
    """Starts every worker at the same moment, each on its own thread and connection."""
    barrier = threading.Barrier(len(workers))
    results: list[Any] = [None] * len(workers)

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = workers[i]()
        except Exception as exc:  # noqa: BLE001 — reported to the test below
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(workers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_many_members_racing_for_the_last_seat_give_it_to_exactly_one(require_postgres):
    group = group_create(
        fields={"name": "Last Seat", "capacity": 3, "drop_in": True, "agreement_text": "Hi."}
    )
    for i in range(2):
        enrollment_join(
            group=group, user=member(f"seated{i}"), alias=f"S{i}", agreement_accepted=True
        )
    racers = [member(f"racer{i}") for i in range(RACERS)]

    results = race(
        [
            lambda user=user, i=i: (
                enrollment_join(
                    group=group, user=user, alias=f"Racer {i}", agreement_accepted=True
                ).status
            )
            for i, user in enumerate(racers)
        ]
    )

    assert sorted(results) == ["active"] + ["waitlisted"] * (RACERS - 1), results
    assert Enrollment.objects.filter(group=group, status="active").count() == 3
    waiting = Enrollment.objects.filter(group=group, status="waitlisted")
    assert sorted(e.waitlisted_at is not None for e in waiting) == [True] * (RACERS - 1)


def test_two_reminder_workers_at_once_send_one_email_per_member(require_postgres):
    start = dt.date.today() + dt.timedelta(days=1)
    groups = [
        group_create(
            fields={
                "name": f"Group {n}",
                "timezone": "UTC",
                "capacity": 10,
                "rrule": "FREQ=DAILY",
                "start_date": start,
                "start_time": dt.time(12, 0),
                "duration_minutes": 60,
            }
        )
        for n in range(3)
    ]
    members = [member(f"m{i}") for i in range(6)]
    for i, user in enumerate(members):
        enrollment_join(group=groups[i % 3], user=user, alias=f"M{i}", agreement_accepted=True)
    first = Session.objects.filter(group=groups[0]).earliest("starts_at")
    now = first.starts_at - dt.timedelta(minutes=30)
    mail.outbox = []

    results = race([lambda: reminders_send(now=now), lambda: reminders_send(now=now)])

    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(results) == 3  # one session per group, each claimed by one worker
    recipients = sorted(r for m in mail.outbox for r in m.to)
    assert recipients == sorted(u.email for u in members)
    assert Session.objects.filter(reminder_sent_at__isnull=False).count() == 3

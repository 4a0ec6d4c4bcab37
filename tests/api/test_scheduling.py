"""Recurrence to sessions: DST, re-materialization, one-off cancel and move, and facilitator
double-booking."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError

from rooms.models import Session
from rooms.scheduling import sessions_materialize, sessions_materialize_all
from rooms.services import group_update, session_cancel, session_move
from tests.api.helpers import LA, utc, weekly_group

pytestmark = pytest.mark.django_db

PACIFIC = zoneinfo.ZoneInfo(LA)


def local(session: Session) -> dt.datetime:
    return session.starts_at.astimezone(PACIFIC)


def starts(group) -> list[dt.datetime]:
    return list(Session.objects.filter(group=group).values_list("starts_at", flat=True))


def test_weekly_evening_session_stays_at_19_local_across_the_november_change():
    group = weekly_group("Tuesdays", start=dt.date(2026, 10, 6))
    sessions_materialize(group=group, now=utc(2026, 10, 1))
    sessions = list(Session.objects.filter(group=group))
    assert {local(s).time() for s in sessions} == {dt.time(19, 0)}
    assert {local(s).weekday() for s in sessions} == {1}  # Tuesday
    by_day = {local(s).date(): s.starts_at for s in sessions}
    # 19:00 PDT (UTC-7) is 02:00 UTC the next day; 19:00 PST (UTC-8) is 03:00 UTC.
    assert by_day[dt.date(2026, 10, 27)] == utc(2026, 10, 28, 2, 0)
    assert by_day[dt.date(2026, 11, 3)] == utc(2026, 11, 4, 3, 0)
    assert all(s.ends_at - s.starts_at == dt.timedelta(minutes=90) for s in sessions)


def test_weekly_evening_session_stays_at_19_local_across_the_march_change():
    group = weekly_group("Tuesdays", start=dt.date(2027, 1, 5))
    sessions_materialize(group=group, now=utc(2027, 2, 1))
    sessions = list(Session.objects.filter(group=group))
    assert {local(s).time() for s in sessions} == {dt.time(19, 0)}
    by_day = {local(s).date(): s.starts_at for s in sessions}
    assert by_day[dt.date(2027, 3, 9)] == utc(2027, 3, 10, 3, 0)  # PST
    assert by_day[dt.date(2027, 3, 16)] == utc(2027, 3, 17, 2, 0)  # PDT


def test_dst_schedule_through_the_api_keeps_the_local_start(clock, world):
    clock.set(utc(2026, 10, 1))
    response = world.client(world.dave).post(
        "/api/groups/",
        {
            "name": "Tuesday Evenings",
            "timezone": LA,
            "recurrence": {
                "rrule": "FREQ=WEEKLY;BYDAY=TU",
                "dtstart": "2026-10-06T19:00:00",
                "duration_minutes": 90,
            },
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    group = response.json()
    assert group["recurrence"] == {
        "rrule": "FREQ=WEEKLY;BYDAY=TU",
        "dtstart": "2026-10-06T19:00:00",
        "duration_minutes": 90,
    }
    sessions = (
        world.client(world.alice)
        .get(f"/api/groups/{group['id']}/sessions/?from=2026-10-20&to=2026-11-10")
        .json()["results"]
    )
    # `to` is midnight UTC on Nov 10, before that evening's session.
    assert [(s["starts_at"], s["starts_at_local"]) for s in sessions] == [
        ("2026-10-21T02:00:00Z", "2026-10-20T19:00:00-07:00"),
        ("2026-10-28T02:00:00Z", "2026-10-27T19:00:00-07:00"),
        ("2026-11-04T03:00:00Z", "2026-11-03T19:00:00-08:00"),
    ]
    assert [s["ends_at"] for s in sessions] == [
        "2026-10-21T03:30:00Z",
        "2026-10-28T03:30:00Z",
        "2026-11-04T04:30:00Z",
    ]


def test_twelve_weeks_of_sessions_are_materialized_and_topped_up(clock):
    group = weekly_group("Tuesdays", start=dt.date(2026, 9, 1))
    assert len(starts(group)) == 12
    assert max(starts(group)) <= clock.now + dt.timedelta(weeks=12)
    clock.advance(weeks=1)
    assert sessions_materialize_all() == 1
    assert len(starts(group)) == 13


def test_rule_change_keeps_past_and_moved_sessions_and_replaces_future_ones(clock):
    group = weekly_group("Tuesdays", start=dt.date(2026, 9, 1))
    clock.advance(weeks=3)  # Oct 20: three sessions are now history
    past = list(Session.objects.filter(group=group, starts_at__lte=clock.now))
    assert len(past) == 3
    to_move = Session.objects.filter(group=group, starts_at__gt=clock.now).first()
    moved_to = utc(2026, 10, 30, 1, 0)
    session_move(session=to_move, starts_at=moved_to)

    group_update(group=group, fields={"rrule": "FREQ=WEEKLY;BYDAY=WE"})

    remaining = list(Session.objects.filter(group=group))
    assert [s for s in remaining if s.starts_at <= clock.now] == past
    kept = Session.objects.get(pk=to_move.pk)
    assert kept.moved and kept.starts_at == moved_to
    future = [s for s in remaining if s.starts_at > clock.now and not s.moved]
    assert {local(s).strftime("%a %H:%M") for s in future} == {"Wed 19:00"}
    assert len(future) == 12  # twelve weeks ahead of the new `now`
    assert min(local(s).date() for s in future) == dt.date(2026, 10, 21)


def test_changing_the_duration_stretches_future_sessions_only(clock):
    group = weekly_group("Tuesdays", start=dt.date(2026, 9, 1))
    clock.advance(weeks=2)
    group_update(group=group, fields={"duration_minutes": 60})
    for session in Session.objects.filter(group=group):
        expected = 90 if session.starts_at <= clock.now else 60
        assert session.ends_at - session.starts_at == dt.timedelta(minutes=expected)


def test_switching_to_drop_in_removes_future_scheduled_sessions(clock):
    group = weekly_group("Tuesdays", start=dt.date(2026, 9, 1))
    clock.advance(weeks=2)
    group_update(group=group, fields={"drop_in": True})
    assert all(s <= clock.now for s in starts(group))
    assert len(starts(group)) == 2


def test_a_rule_with_a_utc_until_ends_at_that_instant(clock):
    group = weekly_group("Tuesdays", start=dt.date(2026, 9, 1))
    group_update(group=group, fields={"rrule": "FREQ=WEEKLY;BYDAY=TU;UNTIL=20261021T020000Z"})
    assert [local(s).date() for s in Session.objects.filter(group=group)] == [
        dt.date(2026, 9, 29),
        dt.date(2026, 10, 6),
        dt.date(2026, 10, 13),
        dt.date(2026, 10, 20),
    ]


def test_cancelling_one_session_leaves_the_others(world):
    sessions = list(Session.objects.filter(group=world.circle))
    target = sessions[1]
    response = world.client(world.carol).post(f"/api/sessions/{target.pk}/cancel/")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    after = {s.pk: s for s in Session.objects.filter(group=world.circle)}
    assert after[target.pk].status == "cancelled"
    for s in sessions:
        if s.pk != target.pk:
            assert (after[s.pk].status, after[s.pk].starts_at) == ("scheduled", s.starts_at)


def test_moving_one_session_leaves_the_others(world):
    sessions = list(Session.objects.filter(group=world.circle))
    target = sessions[2]
    new_start = target.starts_at + dt.timedelta(days=1, hours=-1)
    response = world.client(world.dave).patch(
        f"/api/sessions/{target.pk}/", {"starts_at": new_start.isoformat()}, format="json"
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["moved"] is True
    assert body["starts_at"] == new_start.isoformat().replace("+00:00", "Z")
    moved = Session.objects.get(pk=target.pk)
    assert moved.ends_at - moved.starts_at == dt.timedelta(minutes=90)
    assert moved.occurrence == target.occurrence
    for s in sessions:
        if s.pk != target.pk:
            assert Session.objects.get(pk=s.pk).starts_at == s.starts_at


def test_moving_a_session_into_the_past_is_refused(world):
    target = Session.objects.filter(group=world.circle).first()
    response = world.client(world.carol).patch(
        f"/api/sessions/{target.pk}/", {"starts_at": "2000-01-01T10:00:00Z"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["starts_at"] == ["Move the session to a time in the future."]


def test_session_that_has_ended_cannot_be_cancelled(clock):
    group = weekly_group("Tuesdays", start=dt.date(2026, 9, 1))
    first = Session.objects.filter(group=group).first()
    clock.advance(weeks=1)
    with pytest.raises(ValidationError, match="already over"):
        session_cancel(session=first)


def _clashing_group(world, **extra):
    """A second group for carol, on Tuesdays at 19:30 local, overlapping the circle."""
    start = world.circle.start_date
    return weekly_group("Second Circle", start=start, facilitators=[world.frank.pk], **extra)


def test_moving_into_a_facilitators_other_session_is_refused_naming_it(world):
    morning = weekly_group(
        "Morning Circle",
        start=world.circle.start_date,
        at=dt.time(10, 0),
        facilitators=[world.carol.pk],
    )
    theirs = Session.objects.filter(group=morning).first()
    ours = Session.objects.filter(group=world.circle).first()
    response = world.client(world.dave).patch(
        f"/api/sessions/{ours.pk}/",
        {"starts_at": (theirs.starts_at + dt.timedelta(minutes=30)).isoformat()},
        format="json",
    )
    assert response.status_code == 400
    [problem] = response.json()["starts_at"]
    assert "carol already facilitates 'Morning Circle'" in problem
    assert Session.objects.get(pk=ours.pk).starts_at == ours.starts_at


def test_creating_a_group_that_double_books_a_facilitator_is_refused_naming_it(world):
    count = Session.objects.count()
    response = world.client(world.dave).post(
        "/api/groups/",
        {
            "name": "Clashing Circle",
            "timezone": LA,
            "facilitators": [world.carol.pk],
            "recurrence": {
                "rrule": "FREQ=WEEKLY;BYDAY=TU",
                "dtstart": f"{world.circle.start_date}T19:30:00",
                "duration_minutes": 60,
            },
        },
        format="json",
    )
    assert response.status_code == 400
    body = response.json()
    assert "facilitators" in body["detail"]
    assert "carol already facilitates 'Evening Circle'" in body["facilitators"][0]
    assert Session.objects.count() == count
    assert not world.circle.__class__.objects.filter(name="Clashing Circle").exists()


def test_adding_a_facilitator_who_is_busy_at_those_times_is_refused(world):
    second = _clashing_group(world, at=dt.time(19, 30))
    response = world.client(world.dave).patch(
        f"/api/groups/{second.pk}/",
        {"facilitators": [world.frank.pk, world.carol.pk]},
        format="json",
    )
    assert response.status_code == 400, response.json()
    assert "carol already facilitates 'Evening Circle'" in response.json()["facilitators"][0]
    assert list(second.facilitators.all()) == [world.frank]


def test_a_facilitator_may_lead_groups_that_meet_at_different_times(world):
    other_day = weekly_group(
        "Thursdays", start=world.circle.start_date, byday="TH", facilitators=[world.carol.pk]
    )
    # Every Thursday at 19:00 in Los Angeles from its start date that begins within the next
    # SESSION_MATERIALIZE_WEEKS weeks: 12, or 11 when the first Thursday is a week away (a test
    # run on a Thursday).
    now = dt.datetime.now(dt.UTC)
    until = now + dt.timedelta(weeks=settings.SESSION_MATERIALIZE_WEEKS)
    days = (world.circle.start_date + dt.timedelta(days=n) for n in range(7 * 14))
    thursdays = [
        dt.datetime.combine(day, dt.time(19, 0), PACIFIC) for day in days if day.weekday() == 3
    ]
    expected = [t for t in thursdays if now < t <= until]
    assert 11 <= len(expected) <= 12
    assert sorted(starts(other_day)) == expected

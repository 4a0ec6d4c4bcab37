"""Schedules without a horizon: a group whose first session is twenty weeks away has its sessions
in the API for any range asked for, and its calendar feed carries the rule itself, so that
19:00 in Los Angeles stays 19:00 across the March change in both. The feed is read back with
recurring-ical-events, the expansion calendar apps' own libraries do."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
import recurring_ical_events
from icalendar import Calendar

from rooms.models import Session
from rooms.scheduling import sessions_materialize_all
from rooms.services import group_update, session_cancel, session_move
from tests.api.helpers import LA, utc

pytestmark = pytest.mark.django_db

PACIFIC = zoneinfo.ZoneInfo(LA)
# Twenty weeks before the first session, which is two weeks before the March 2027 change.
TODAY = utc(2026, 10, 13, 17, 0)
FIRST = dt.date(2027, 3, 2)


@pytest.fixture
def far_group(clock, world):
    clock.set(TODAY)
    assert FIRST - TODAY.date() == dt.timedelta(weeks=20)
    response = world.client(world.dave).post(
        "/api/groups/",
        {
            "name": "Spring Circle",
            "timezone": LA,
            "recurrence": {
                "rrule": "FREQ=WEEKLY;BYDAY=TU",
                "dtstart": f"{FIRST}T19:00:00",
                "duration_minutes": 90,
            },
            "facilitators": [world.carol.pk],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()


def sessions_of(world, group_id: int, query: str) -> list[dict]:
    response = world.client(world.alice).get(f"/api/groups/{group_id}/sessions/?{query}")
    assert response.status_code == 200, response.json()
    return response.json()["results"]


def feed(world, group_id: int) -> Calendar:
    response = world.client(world.alice).get(f"/api/groups/{group_id}/calendar.ics")
    assert response.status_code == 200
    return Calendar.from_ical(response.content)


def expanded(calendar: Calendar, start: dt.datetime, end: dt.datetime) -> list:
    return sorted(
        recurring_ical_events.of(calendar).between(start, end), key=lambda e: e.decoded("dtstart")
    )


def test_the_first_month_of_a_group_twenty_weeks_out_is_in_the_api_across_the_march_change(
    world, far_group
):
    sessions = sessions_of(world, far_group["id"], "from=2027-03-01&to=2027-04-01")
    # 19:00 PST (UTC-8) is 03:00 UTC the next day; after March 14, 19:00 PDT is 02:00 UTC.
    assert [(s["starts_at"], s["starts_at_local"]) for s in sessions] == [
        ("2027-03-03T03:00:00Z", "2027-03-02T19:00:00-08:00"),
        ("2027-03-10T03:00:00Z", "2027-03-09T19:00:00-08:00"),
        ("2027-03-17T02:00:00Z", "2027-03-16T19:00:00-07:00"),
        ("2027-03-24T02:00:00Z", "2027-03-23T19:00:00-07:00"),
        ("2027-03-31T02:00:00Z", "2027-03-30T19:00:00-07:00"),
    ]
    # The page that lists the next sessions (no range) starts with the first one too.
    upcoming = sessions_of(world, far_group["id"], "limit=3")
    assert [s["starts_at_local"] for s in upcoming] == [
        "2027-03-02T19:00:00-08:00",
        "2027-03-09T19:00:00-08:00",
        "2027-03-16T19:00:00-07:00",
    ]
    detail = world.client(world.alice).get(f"/api/groups/{far_group['id']}/").json()
    assert detail["next_session"]["starts_at"] == "2027-03-03T03:00:00Z"


def test_any_range_asked_for_has_its_sessions_however_far_ahead(world, far_group):
    sessions = sessions_of(world, far_group["id"], "from=2029-11-01&to=2029-11-15")
    assert [s["starts_at_local"] for s in sessions] == [
        "2029-11-06T19:00:00-08:00",
        "2029-11-13T19:00:00-08:00",
    ]
    # Asked again: the same rows, none made twice.
    again = sessions_of(world, far_group["id"], "from=2029-11-01&to=2029-11-15")
    assert [s["id"] for s in again] == [s["id"] for s in sessions]
    # A made-on-demand session is a real one: it can be cancelled.
    cancel = world.client(world.carol).post(f"/api/sessions/{sessions[0]['id']}/cancel/")
    assert cancel.status_code == 200, cancel.json()


def test_a_range_is_made_only_up_to_the_bound(world, far_group):
    sessions = sessions_of(world, far_group["id"], "from=2030-01-01&to=2100-01-01&limit=20")
    assert len(sessions) == 20
    made = Session.objects.filter(group_id=far_group["id"], starts_at__gte=utc(2030, 1, 1))
    assert made.count() == 20


def test_the_feed_carries_the_rule_and_expands_to_19_local_across_the_march_change(
    world, far_group
):
    calendar = feed(world, far_group["id"])
    assert [str(tz["tzid"]) for tz in calendar.walk("VTIMEZONE")] == [LA]
    (master,) = calendar.walk("VEVENT")
    assert master["dtstart"].params["TZID"] == LA
    assert master["rrule"].to_ical() == b"FREQ=WEEKLY;BYDAY=TU"
    instances = expanded(calendar, utc(2027, 3, 1), utc(2027, 4, 1))
    starts = [e.decoded("dtstart") for e in instances]
    assert [s.astimezone(PACIFIC).strftime("%a %d %H:%M") for s in starts] == [
        "Tue 02 19:00",
        "Tue 09 19:00",
        "Tue 16 19:00",
        "Tue 23 19:00",
        "Tue 30 19:00",
    ]
    assert [s.astimezone(dt.UTC).hour for s in starts] == [3, 3, 2, 2, 2]
    assert {e.decoded("dtend") - e.decoded("dtstart") for e in instances} == {
        dt.timedelta(minutes=90)
    }
    # The same sessions as the API, and a year later still there without any row made.
    api = sessions_of(world, far_group["id"], "from=2027-03-01&to=2027-04-01")
    assert [s.astimezone(dt.UTC) for s in starts] == [
        dt.datetime.fromisoformat(s["starts_at"]) for s in api
    ]
    march_2028 = (dt.datetime(2028, 3, 1, tzinfo=PACIFIC), dt.datetime(2028, 4, 1, tzinfo=PACIFIC))
    assert len(expanded(calendar, *march_2028)) == 4


def test_the_feed_leaves_out_a_cancelled_session_and_shows_a_moved_one_where_it_went(
    world, far_group
):
    api = sessions_of(world, far_group["id"], "from=2027-03-01&to=2027-04-01")
    session_cancel(session=Session.objects.get(pk=api[1]["id"]))
    moved_to = utc(2027, 3, 18, 2, 30)  # Wednesday 19:30 PDT instead of Tuesday 19:00
    session_move(session=Session.objects.get(pk=api[2]["id"]), starts_at=moved_to)

    calendar = feed(world, far_group["id"])
    content = calendar.to_ical()
    assert b"EXDATE;TZID=America/Los_Angeles:20270309T190000" in content
    assert b"RECURRENCE-ID;TZID=America/Los_Angeles:20270316T190000" in content
    starts = [
        e.decoded("dtstart").astimezone(PACIFIC).strftime("%a %d %H:%M")
        for e in expanded(calendar, utc(2027, 3, 1), utc(2027, 4, 1))
    ]
    assert starts == ["Tue 02 19:00", "Wed 17 19:30", "Tue 23 19:00", "Tue 30 19:00"]


def test_the_feed_ends_where_the_rule_ends(world, far_group):
    group = world.circle.__class__.objects.get(pk=far_group["id"])
    group_update(group=group, fields={"rrule": "FREQ=WEEKLY;BYDAY=TU;UNTIL=20270323"})
    calendar = feed(world, far_group["id"])
    (master,) = calendar.walk("VEVENT")
    # A date UNTIL is the group's midnight; in the feed it is that moment in UTC.
    assert b"UNTIL=20270323T070000Z" in master["rrule"].to_ical()
    instances = expanded(calendar, utc(2027, 1, 1), utc(2028, 1, 1))
    api = sessions_of(world, far_group["id"], "from=2027-01-01&to=2028-01-01")
    assert [e.decoded("dtstart").astimezone(dt.UTC) for e in instances] == [
        dt.datetime.fromisoformat(s["starts_at"]) for s in api
    ]
    assert len(api) == 3


def test_a_rule_change_replaces_sessions_made_far_ahead_and_keeps_their_cancellations(
    world, far_group
):
    far = sessions_of(world, far_group["id"], "from=2029-11-01&to=2029-11-30")
    assert len(far) == 4
    session_cancel(session=Session.objects.get(pk=far[0]["id"]))
    group = world.circle.__class__.objects.get(pk=far_group["id"])

    group_update(group=group, fields={"duration_minutes": 60})
    kept = Session.objects.filter(group=group, starts_at__gte=utc(2029, 11, 1))
    assert sorted(kept.values_list("status", flat=True)) == ["cancelled"] + ["scheduled"] * 3

    group_update(group=group, fields={"rrule": "FREQ=WEEKLY;BYDAY=WE"})
    assert not Session.objects.filter(group=group, starts_at__gte=utc(2029, 11, 1)).exists()
    again = sessions_of(world, far_group["id"], "from=2029-11-01&to=2029-11-30")
    assert {
        dt.datetime.fromisoformat(s["starts_at_local"]).strftime("%a %H:%M") for s in again
    } == {"Wed 19:00"}


def test_the_worker_keeps_sessions_made_far_ahead(world, far_group, clock):
    far = sessions_of(world, far_group["id"], "from=2029-11-01&to=2029-11-30")
    clock.advance(weeks=1)
    sessions_materialize_all()
    assert Session.objects.filter(pk__in=[s["id"] for s in far]).count() == len(far)


def test_a_start_off_the_rules_day_is_not_an_extra_session_in_the_feed(world, clock):
    clock.set(TODAY)
    response = world.client(world.dave).post(
        "/api/groups/",
        {
            "name": "Off Day",
            "timezone": LA,
            "recurrence": {
                "rrule": "FREQ=WEEKLY;BYDAY=TU",
                "dtstart": "2027-03-03T19:00:00",  # a Wednesday
                "duration_minutes": 90,
            },
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    calendar = feed(world, response.json()["id"])
    # Calendar apps take DTSTART as the first instance: it is the rule's first Tuesday.
    (master,) = calendar.walk("VEVENT")
    assert master.decoded("dtstart") == dt.datetime(2027, 3, 9, 19, 0, tzinfo=PACIFIC)
    starts = [e.decoded("dtstart") for e in expanded(calendar, utc(2027, 3, 1), utc(2027, 4, 1))]
    api = sessions_of(world, response.json()["id"], "from=2027-03-01&to=2027-04-01")
    assert [s.astimezone(dt.UTC) for s in starts] == [
        dt.datetime.fromisoformat(s["starts_at"]) for s in api
    ]
    assert len(api) == 4

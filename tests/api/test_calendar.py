"""iCalendar feeds: the group's calendar and each person's feed at a secret URL."""

from __future__ import annotations

import datetime as dt

import pytest
import recurring_ical_events
from icalendar import Calendar
from rest_framework.test import APIClient

from rooms.models import Session
from tests.api.helpers import weekly_group

pytestmark = pytest.mark.django_db


def events(content: bytes) -> list:
    calendar = Calendar.from_ical(content)
    return [c for c in calendar.walk() if c.name == "VEVENT"]


def feed_path(url: str, settings) -> str:
    """The feed is on the host the member used (the test client's)."""
    assert url.startswith("http://testserver/calendar/")
    return url.removeprefix("http://testserver")


def instances(content: bytes, weeks: int = 12) -> list:
    """The feed expanded as a calendar app does, over the sessions' weeks."""
    now = dt.datetime.now(dt.UTC)
    return recurring_ical_events.of(Calendar.from_ical(content)).between(
        now, now + dt.timedelta(weeks=weeks, days=2)
    )


def test_group_calendar_carries_the_rule_and_expands_to_the_sessions(world):
    response = world.client(world.alice).get(f"/api/groups/{world.circle.pk}/calendar.ics/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    calendar = Calendar.from_ical(response.content)
    assert str(calendar["version"]) == "2.0"
    assert str(calendar["x-wr-calname"]) == "Evening Circle"
    (master,) = events(response.content)
    assert str(master["uid"]).startswith(f"group-{world.circle.pk}@")
    assert master["dtstart"].params["TZID"] == world.circle.timezone
    assert [str(tz["tzid"]) for tz in calendar.walk("VTIMEZONE")] == [world.circle.timezone]
    # Eleven or twelve, by the day of the week the test runs on.
    sessions = list(Session.objects.filter(group=world.circle))
    assert len(sessions) >= 11
    found = sorted(instances(response.content), key=lambda e: e.decoded("dtstart"))
    assert [(e.decoded("dtstart"), e.decoded("dtend")) for e in found[: len(sessions)]] == [
        (s.starts_at, s.ends_at) for s in sessions
    ]
    assert {str(e["summary"]) for e in found} == {"Evening Circle"}


def test_group_calendar_is_served_without_the_trailing_slash(world):
    response = world.client(world.alice).get(
        f"/api/groups/{world.circle.pk}/calendar.ics", follow=True
    )
    assert response.status_code == 200
    assert len(events(response.content)) == 1


def test_calendar_apps_asking_for_text_calendar_get_the_feed(world):
    client = world.client(world.alice)
    group = client.get(f"/api/groups/{world.circle.pk}/calendar.ics/", HTTP_ACCEPT="text/calendar")
    assert group.status_code == 200
    assert len(events(group.content)) == 1
    feed = APIClient().get(
        f"/calendar/{world.alice.calendar_token}.ics", HTTP_ACCEPT="text/calendar"
    )
    assert feed.status_code == 200
    assert len(events(feed.content)) == 1


def test_a_cancelled_session_is_an_exception_to_the_rule(world):
    target = Session.objects.filter(group=world.circle)[3]
    world.client(world.carol).post(f"/api/sessions/{target.pk}/cancel/")
    response = world.client(world.alice).get(f"/api/groups/{world.circle.pk}/calendar.ics/")
    (master,) = events(response.content)
    assert [d.dt for d in master["exdate"].dts] == [target.starts_at]
    starts = {e.decoded("dtstart") for e in instances(response.content)}
    assert target.starts_at not in starts
    assert len(starts) >= 11


def test_a_one_off_session_is_an_event_of_its_own(world):
    start = Session.objects.filter(group=world.circle).last().starts_at + dt.timedelta(days=2)
    one_off = Session.objects.create(
        group=world.circle, starts_at=start, ends_at=start + dt.timedelta(hours=1)
    )
    response = world.client(world.alice).get(f"/api/groups/{world.circle.pk}/calendar.ics/")
    single = next(e for e in events(response.content) if "session-" in str(e["uid"]))
    assert str(single["uid"]).startswith(f"session-{one_off.pk}@")
    assert single.decoded("dtstart") == start


def test_member_feed_works_at_the_secret_url_without_signing_in(world, settings):
    url = world.client(world.alice).get("/api/me/").json()["calendar_feed_url"]
    response = APIClient().get(feed_path(url, settings))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    assert {str(e["summary"]) for e in events(response.content)} == {"Evening Circle"}
    assert len(instances(response.content, weeks=11)) >= 11


def test_resetting_the_feed_retires_the_old_url(world, settings):
    client = world.client(world.alice)
    old = feed_path(client.get("/api/me/").json()["calendar_feed_url"], settings)
    reset = client.post("/api/me/calendar/reset/")
    assert reset.status_code == 200
    new = feed_path(reset.json()["calendar_feed_url"], settings)
    assert new != old
    gone = APIClient().get(old)
    assert gone.status_code == 404
    assert "not valid" in gone.json()["detail"]
    assert APIClient().get(new).status_code == 200
    assert feed_path(client.get("/api/me/").json()["calendar_feed_url"], settings) == new


def test_an_outsiders_feed_shows_no_groups(world):
    response = APIClient().get(f"/calendar/{world.charlie.calendar_token}.ics")
    assert response.status_code == 200
    assert events(response.content) == []


def test_a_members_feed_leaves_out_groups_they_are_not_in(world):
    elsewhere = weekly_group("Thursdays", start=world.circle.start_date, byday="TH")
    response = APIClient().get(f"/calendar/{world.bob.calendar_token}.ics")
    assert events(response.content) == []
    response = APIClient().get(f"/calendar/{world.alice.calendar_token}.ics")
    names = {str(e["summary"]) for e in events(response.content)}
    assert names == {"Evening Circle"}
    assert elsewhere.name not in names


def test_a_waitlisted_or_pending_member_feed_has_no_sessions_yet(world):
    from rooms.services import enrollment_end

    enrollment_end(enrollment=world.alice.enrollments.get(group=world.circle))
    response = APIClient().get(f"/calendar/{world.alice.calendar_token}.ics")
    assert events(response.content) == []


def test_a_facilitators_feed_has_the_groups_they_facilitate(world):
    response = APIClient().get(f"/calendar/{world.carol.calendar_token}.ics")
    assert {str(e["summary"]) for e in events(response.content)} == {"Evening Circle"}


def test_an_unknown_feed_token_is_not_found(world):
    for token in ("short", "x" * 32):
        response = APIClient().get(f"/calendar/{token}.ics")
        assert response.status_code == 404


def test_a_deactivated_accounts_feed_is_not_found(world):
    world.alice.is_active = False
    world.alice.save()
    assert APIClient().get(f"/calendar/{world.alice.calendar_token}.ics").status_code == 404

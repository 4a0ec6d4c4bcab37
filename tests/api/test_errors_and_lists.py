"""Error shapes, field validation, pagination and filters."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from rooms.models import Session, SupportGroup
from rooms.services import session_cancel
from tests.api.helpers import LA, weekly_group

pytestmark = pytest.mark.django_db


def create(world, **payload):
    return world.client(world.dave).post(
        "/api/groups/", {"name": "New group", **payload}, format="json"
    )


WEEKLY = {"rrule": "FREQ=WEEKLY;BYDAY=TU", "dtstart": "2030-01-01T19:00:00", "duration_minutes": 60}


def test_unknown_object_gives_a_json_404(world):
    response = world.client(world.alice).get("/api/groups/999999/")
    assert response.status_code == 404
    assert response.json() == {"detail": "No SupportGroup matches the given query."}


def test_unknown_timezone_is_a_field_error(world):
    response = create(world, timezone="Mars/Olympus_Mons", recurrence=WEEKLY)
    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "Some fields are not valid: timezone."
    assert body["timezone"] == [
        "'Mars/Olympus_Mons' is not an IANA timezone such as 'America/Los_Angeles'."
    ]
    assert not SupportGroup.objects.filter(name="New group").exists()


def test_invalid_rrule_is_a_field_error_on_the_recurrence(world):
    response = create(world, timezone=LA, recurrence={**WEEKLY, "rrule": "FREQ=FORTNIGHTLY"})
    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "Some fields are not valid: recurrence."
    [message] = body["recurrence"]["rrule"]
    assert message.startswith("Not a valid RRULE")
    assert not SupportGroup.objects.filter(name="New group").exists()


@pytest.mark.parametrize(
    "rrule",
    ["", "DTSTART:20300101T190000\nRRULE:FREQ=WEEKLY", "FREQ=HOURLY", "FREQ=MINUTELY;COUNT=5"],
)
def test_rules_that_are_not_one_daily_or_slower_rrule_are_refused(world, rrule):
    response = create(world, timezone=LA, recurrence={**WEEKLY, "rrule": rrule})
    assert response.status_code == 400
    assert response.json()["recurrence"]["rrule"]


def test_dtstart_with_an_offset_is_refused_because_the_timezone_applies(world):
    response = create(world, timezone=LA, recurrence={**WEEKLY, "dtstart": "2030-01-01T19:00Z"})
    assert response.status_code == 400
    assert "without an offset" in response.json()["recurrence"]["dtstart"][0]


def test_several_field_errors_come_together(world):
    response = world.client(world.dave).post(
        "/api/groups/", {"capacity": 0, "join_policy": "anyone"}, format="json"
    )
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"detail", "name", "capacity", "join_policy"}
    assert body["detail"] == "Some fields are not valid: capacity, join_policy, name."


def test_non_json_body_gives_a_clear_error(world):
    response = world.client(world.dave).post(
        "/api/groups/", data="{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error")


def test_a_patch_may_change_only_part_of_the_recurrence(world):
    response = world.client(world.carol).patch(
        f"/api/groups/{world.circle.pk}/",
        {"recurrence": {"rrule": "FREQ=WEEKLY;BYDAY=WE"}},
        format="json",
    )
    assert response.status_code == 200, response.json()
    recurrence = response.json()["recurrence"]
    assert recurrence["rrule"] == "FREQ=WEEKLY;BYDAY=WE"
    assert recurrence["dtstart"].endswith("T19:00:00")
    assert recurrence["duration_minutes"] == 90
    future = Session.objects.filter(group=world.circle, starts_at__gt=timezone.now())
    assert {s.starts_at.astimezone(dt.UTC).strftime("%a") for s in future} == {"Thu"}


def test_removing_the_recurrence_clears_future_sessions(world):
    response = world.client(world.dave).patch(
        f"/api/groups/{world.circle.pk}/", {"recurrence": None}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["recurrence"] is None
    assert not Session.objects.filter(group=world.circle).exists()


def test_the_lead_must_be_one_of_the_facilitators(world):
    response = world.client(world.dave).patch(
        f"/api/groups/{world.circle.pk}/",
        {"facilitators": [world.carol.pk], "lead_facilitator": world.frank.pk},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["lead_facilitator"] == ["The lead must be one of the facilitators."]


def test_only_facilitators_and_admins_can_facilitate(world):
    response = world.client(world.dave).patch(
        f"/api/groups/{world.circle.pk}/", {"facilitators": [world.alice.pk]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["facilitators"] == ["Only facilitators can facilitate: alice."]


def test_admin_creates_a_group_with_facilitators_and_a_lead(world):
    response = create(
        world,
        timezone=LA,
        facilitators=[world.frank.pk, world.carol.pk],
        lead_facilitator=world.carol.pk,
        drop_in=True,
        held_categories=["harassment"],
        slow_mode_seconds=10,
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["facilitators"] == [world.frank.pk, world.carol.pk]
    assert body["lead_facilitator"] == world.carol.pk
    assert body["held_categories"] == ["harassment"]
    assert body["recurrence"] is None and body["next_session"] is None


def test_deleting_a_group_hides_it_and_cancels_its_future_sessions(world):
    response = world.client(world.dave).delete(f"/api/groups/{world.circle.pk}/")
    assert response.status_code == 204
    assert world.client(world.alice).get(f"/api/groups/{world.circle.pk}/").status_code == 404
    names = [g["name"] for g in world.client(world.alice).get("/api/groups/").json()["results"]]
    assert names == ["Other Group"]
    assert set(Session.objects.filter(group=world.circle).values_list("status", flat=True)) == {
        "cancelled"
    }


def test_group_list_paginates(world):
    for i in range(3):
        weekly_group(f"Extra {i}", start=world.circle.start_date, byday="FR")
    page = world.client(world.alice).get("/api/groups/?limit=2").json()
    assert page["count"] == 5
    assert len(page["results"]) == 2
    assert "offset=2" in page["next"]
    rest = world.client(world.alice).get("/api/groups/?limit=2&offset=4").json()
    assert len(rest["results"]) == 1 and rest["next"] is None


def test_group_list_filters_by_facilitator_and_mine(world):
    client = world.client(world.alice)
    by_frank = client.get(f"/api/groups/?facilitator={world.frank.pk}").json()["results"]
    assert [g["name"] for g in by_frank] == ["Other Group"]
    mine = client.get("/api/groups/?mine=true").json()["results"]
    assert [(g["name"], g["seats_taken"]) for g in mine] == [("Evening Circle", 1)]
    carols = world.client(world.carol).get("/api/groups/?mine=1").json()["results"]
    assert [g["name"] for g in carols] == ["Evening Circle"]
    assert world.client(world.charlie).get("/api/groups/?mine=true").json()["results"] == []
    drop_in = client.get("/api/groups/?drop_in=true").json()["results"]
    assert [g["name"] for g in drop_in] == ["Other Group"]


def test_session_list_paginates_and_filters_by_group_facilitator_and_upcoming(world, clock):
    clock.set(dt.datetime.now(dt.UTC))
    thursdays = weekly_group(
        "Thursdays", start=world.circle.start_date, byday="TH", facilitators=[world.frank.pk]
    )
    client = world.client(world.alice)
    everything = client.get("/api/sessions/?limit=100").json()
    # Eleven or twelve weeks of each group, by the day of the week the test runs on.
    assert everything["count"] == Session.objects.count() >= 22
    page = client.get("/api/sessions/?limit=5").json()
    assert len(page["results"]) == 5 and page["next"]
    starts = [s["starts_at"] for s in everything["results"]]
    assert starts == sorted(starts)

    by_group = client.get(f"/api/sessions/?group={thursdays.pk}&limit=100").json()
    assert by_group["count"] == Session.objects.filter(group=thursdays).count()
    assert {s["group"] for s in by_group["results"]} == {thursdays.pk}
    by_facilitator = client.get(f"/api/sessions/?facilitator={world.carol.pk}&limit=100").json()
    assert {s["group"] for s in by_facilitator["results"]} == {world.circle.pk}

    first = Session.objects.filter(group=world.circle).earliest("starts_at")
    clock.set(first.ends_at + dt.timedelta(minutes=1))
    upcoming = client.get(f"/api/sessions/?upcoming=true&group={world.circle.pk}").json()
    assert upcoming["count"] == Session.objects.filter(group=world.circle).count() - 1
    assert first.pk not in {s["id"] for s in upcoming["results"]}


def test_group_sessions_between_from_and_to(world):
    sessions = list(Session.objects.filter(group=world.circle))
    session_cancel(session=sessions[1])
    lo = sessions[1].starts_at.isoformat()
    hi = (sessions[3].starts_at + dt.timedelta(minutes=1)).isoformat()
    client = world.client(world.charlie)
    response = client.get(f"/api/groups/{world.circle.pk}/sessions/", {"from": lo, "to": hi})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [s["id"] for s in results] == [s.pk for s in sessions[1:4]]
    assert [s["status"] for s in results] == ["cancelled", "scheduled", "scheduled"]
    assert set(results[0]) >= {"id", "starts_at", "ends_at", "status"}
    by_day = client.get(
        f"/api/groups/{world.circle.pk}/sessions/",
        {"from": sessions[-1].starts_at.date().isoformat()},
    )
    # An open range from the last session made so far goes on with sessions made as asked.
    listed = by_day.json()["results"]
    assert listed[0]["id"] == sessions[-1].pk
    assert len(listed) == 50  # the page
    assert {s["starts_at_local"][11:19] for s in listed} == {"19:00:00"}


def test_bad_from_or_to_is_a_field_error(world):
    for query in ("from=next-tuesday", "to=2026-13-45T25:00"):
        response = world.client(world.alice).get(f"/api/groups/{world.circle.pk}/sessions/?{query}")
        assert response.status_code == 400
        name = query.split("=")[0]
        assert response.json()[name] == ["Use an ISO 8601 date or date-time."]
        assert response.json()["detail"] == f"Some fields are not valid: {name}."

"""Staff changes to groups, sessions, enrollments and on-call duty are in the audit log, with
who made them, and the log filters by action or by kind of action. Facilitators reorder the
waitlist and seat someone at once; the group page names its facilitators."""

from __future__ import annotations

import datetime as dt

import pytest

from rooms.models import Enrollment, Session
from rooms.services import group_update
from tests.api.helpers import member

pytestmark = pytest.mark.django_db

SOON = (dt.date.today() + dt.timedelta(days=2)).isoformat()
WEEKLY = {
    "recurrence": {"rrule": "FREQ=WEEKLY", "dtstart": f"{SOON}T19:00:00", "duration_minutes": 60}
}


def audit(world, user, **query):
    response = world.client(user).get("/api/audit/", query)
    assert response.status_code == 200, response.json()
    return response.json()["results"]


def test_an_admins_changes_to_a_group_and_its_sessions_are_in_the_audit_log(world):
    dave = world.client(world.dave)
    created = dave.post(
        "/api/groups/",
        {"name": "Morning Circle", "facilitators": [world.carol.pk], **WEEKLY},
        format="json",
    )
    assert created.status_code == 201, created.json()
    group_id = created.json()["id"]
    edited = dave.patch(
        f"/api/groups/{group_id}/",
        {"name": "Morning Light", "facilitators": [world.carol.pk, world.frank.pk]},
        format="json",
    )
    assert edited.status_code == 200, edited.json()
    first, second = Session.objects.filter(group_id=group_id).order_by("starts_at")[:2]
    assert dave.post(f"/api/sessions/{first.pk}/cancel/").status_code == 200
    later = (second.starts_at + dt.timedelta(hours=1)).isoformat()
    moved = dave.patch(f"/api/sessions/{second.pk}/", {"starts_at": later}, format="json")
    assert moved.status_code == 200, moved.json()

    entries = audit(world, world.dave, group=group_id)
    actions = [e["action"] for e in reversed(entries)]
    assert actions == [
        "group.created",
        "group.facilitators_changed",
        "group.updated",
        "group.facilitators_changed",
        "session.cancelled",
        "session.moved",
    ]
    assert {e["actor"] for e in entries} == {"dave"}
    by_action = {e["action"]: e for e in reversed(entries)}  # the latest of each
    assert by_action["group.updated"]["data"]["fields"] == ["name"]
    assert by_action["group.facilitators_changed"]["data"]["added"] == ["frank"]
    assert by_action["session.cancelled"]["data"]["session"] == first.pk
    assert dt.datetime.fromisoformat(by_action["session.moved"]["data"]["starts_at"][1]) == (
        second.starts_at + dt.timedelta(hours=1)
    )

    # Filter by one action, or by a kind of action.
    assert [e["action"] for e in audit(world, world.dave, action="session.moved")] == [
        "session.moved"
    ]
    kinds = {e["action"] for e in audit(world, world.dave, action="group")}
    assert kinds == {"group.created", "group.updated", "group.facilitators_changed"}
    # The group's facilitators read their group's entries too.
    assert {e["action"] for e in audit(world, world.carol, group=group_id, action="session")} == {
        "session.cancelled",
        "session.moved",
    }


def test_approvals_waitlist_seats_and_on_call_changes_are_in_the_audit_log(world):
    group_update(group=world.circle, fields={"join_policy": "approval", "capacity": 1})
    charlie = member("maple")
    for user, alias in ((world.charlie, "Fern"), (charlie, "Maple")):
        world.client(user).post(
            f"/api/groups/{world.circle.pk}/join/",
            {"alias": alias, "agreement_accepted": True},
            format="json",
        )
    fern = Enrollment.objects.get(user=world.charlie)
    maple = Enrollment.objects.get(user=charlie)
    carol = world.client(world.carol)
    assert carol.post(f"/api/enrollments/{fern.pk}/approve/").json()["status"] == "waitlisted"
    assert carol.post(f"/api/enrollments/{maple.pk}/decline/").status_code == 200
    # Raising the capacity seats the waitlist at once, in the log as the admin's doing.
    world.client(world.dave).patch(
        f"/api/groups/{world.circle.pk}/", {"capacity": 2}, format="json"
    )
    fern.refresh_from_db()
    assert fern.status == "active"
    world.client(world.dave).patch(f"/api/users/{world.frank.pk}/", {"on_call": True}, "json")

    entries = audit(world, world.dave, action="enrollment")
    assert [(e["action"], e["actor"], e["data"]["alias"]) for e in reversed(entries)] == [
        ("enrollment.approved", "carol", "Fern"),
        ("enrollment.declined", "carol", "Maple"),
        ("enrollment.seated", "dave", "Fern"),
    ]
    assert entries[0]["data"]["why"] == "capacity raised"
    (on_call,) = audit(world, world.dave, action="account")
    assert on_call["action"] == "account.on_call_changed" and on_call["actor"] == "dave"
    assert on_call["data"] == {"username": "frank", "on_call": True}
    # Account changes belong to no group: facilitators do not see them.
    assert audit(world, world.carol, action="account") == []


def test_a_seat_freed_by_a_member_leaving_is_logged_as_the_systems_doing(world):
    """Changes with no person behind them (seeding, commands) are not logged; the waitlist
    moving up on its own is."""
    group_update(group=world.circle, fields={"capacity": 1})
    world.client(world.charlie).post(
        f"/api/groups/{world.circle.pk}/join/",
        {"alias": "Fern", "agreement_accepted": True},
        format="json",
    )
    assert audit(world, world.dave, action="group") == []  # the fixture's own set-up
    world.client(world.alice).post(f"/api/groups/{world.circle.pk}/leave/")
    (entry,) = audit(world, world.dave, action="enrollment.seated")
    assert entry["actor"] is None and entry["data"]["alias"] == "Fern"
    assert entry["data"]["why"] == "a seat opened"


def waitlist_of(world, group):
    listed = world.client(world.carol).get(f"/api/groups/{group.pk}/enrollments/?status=waitlisted")
    return [
        e["alias"] for e in sorted(listed.json()["results"], key=lambda e: e["waitlist_position"])
    ]


def test_a_facilitator_reorders_the_waitlist_and_seats_someone_at_once(world):
    from rooms.services import enrollment_join

    group_update(group=world.circle, fields={"capacity": 1})  # alice (Willow) has the place
    people = {}
    for name in ("Fern", "Maple", "Oak"):
        people[name] = enrollment_join(
            group=world.circle, user=member(name.lower()), alias=name, agreement_accepted=True
        )
    assert waitlist_of(world, world.circle) == ["Fern", "Maple", "Oak"]
    carol = world.client(world.carol)
    moved = carol.post(f"/api/enrollments/{people['Oak'].pk}/move/", {"position": 1}, format="json")
    assert moved.status_code == 200, moved.json()
    assert moved.json()["waitlist_position"] == 1
    assert waitlist_of(world, world.circle) == ["Oak", "Fern", "Maple"]
    bad = carol.post(f"/api/enrollments/{people['Oak'].pk}/move/", {"position": 9}, format="json")
    assert bad.status_code == 400 and "from 1 to 3" in bad.json()["position"][0]

    seated = carol.post(f"/api/enrollments/{people['Maple'].pk}/seat/")
    assert seated.status_code == 200 and seated.json()["status"] == "active"
    assert waitlist_of(world, world.circle) == ["Oak", "Fern"]
    # A member cannot do either.
    outsider = world.client(world.alice)
    assert outsider.post(f"/api/enrollments/{people['Fern'].pk}/seat/").status_code in (403, 404)
    # Raising the capacity seats the next at once: Oak, first after the move.
    world.client(world.dave).patch(
        f"/api/groups/{world.circle.pk}/", {"capacity": 3}, format="json"
    )
    assert waitlist_of(world, world.circle) == ["Fern"]
    actions = [e["action"] for e in audit(world, world.dave, action="enrollment")]
    assert actions.count("enrollment.seated") == 2 and "enrollment.waitlist_moved" in actions


def test_the_group_page_names_its_facilitators(world):
    from rooms.models import GroupFacilitator

    GroupFacilitator.objects.create(group=world.circle, user=world.frank)
    body = world.client(world.alice).get(f"/api/groups/{world.circle.pk}/").json()
    assert body["facilitator_names"] == ["carol", "frank"]  # the lead first

"""An admin in the browser: scheduling a weekly group with the recurrence picker, its sessions in
two time zones, one session cancelled and one moved, the waitlist, on-call, the audit log."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import shoot, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def next_monday() -> dt.date:
    today = dt.date.today()
    return today + dt.timedelta(days=7 - today.weekday())


def test_an_admin_creates_a_weekly_group_and_sees_its_sessions(world: Any, new_page: Any) -> None:
    from rooms.models import DEFAULT_AGREEMENT, Session, SupportGroup

    page = new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in(page, "dave")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Scheduling").click()
    expect(page.get_by_role("link", name="Evening Circle", exact=True)).to_be_visible()
    shoot(page, "admin-scheduling")
    page.get_by_role("link", name="New group").click()

    # A new group starts with the default agreement, which the admin may keep.
    expect(page.get_by_label("Group agreement")).to_have_value(DEFAULT_AGREEMENT)
    page.get_by_label("Name").fill("Thursday Healing Circle")
    page.get_by_label("Description").fill("For partners rebuilding after betrayal.")
    page.get_by_label("Places").fill("6")
    page.get_by_label("Joining").select_option(label="By approval: facilitators review requests")
    page.get_by_label("Time zone").select_option("America/New_York")
    page.get_by_label("Repeats").select_option(label="Every week")
    page.get_by_label("First session").fill(next_monday().isoformat())
    page.get_by_label("First session").dispatch_event("change")
    page.get_by_label("Starts at (group's time)").fill("18:30")
    page.get_by_label("Length in minutes").fill("60")
    expect(page.get_by_role("checkbox", name="Monday")).to_be_checked()
    page.get_by_role("checkbox", name="Thursday").check()
    expect(page.get_by_text("Every Monday and Thursday at 6:30 PM, 60 minutes")).to_be_visible()
    page.get_by_role("checkbox", name="carol").check()
    page.get_by_role("radio", name="carol leads the group").check()
    shoot(page, "admin-group-new")
    page.get_by_role("button", name="Create group").click()

    expect(page.get_by_role("status").filter(has_text="The group was created")).to_be_visible()
    group = SupportGroup.objects.get(name="Thursday Healing Circle")
    assert group.rrule == "FREQ=WEEKLY;BYDAY=MO,TH"
    assert (group.timezone, group.start_time, group.duration_minutes) == (
        "America/New_York",
        dt.time(18, 30),
        60,
    )
    assert group.join_policy == "approval"
    assert group.agreement_text == DEFAULT_AGREEMENT
    assert list(group.groupfacilitator_set.values_list("user__username", "is_lead")) == [
        ("carol", True)
    ]

    sessions = page.get_by_role("table", name="Upcoming sessions")
    rows = sessions.get_by_role("row")
    expect(rows.nth(1)).to_contain_text("Monday")
    # The group's time and the viewer's (the browser is in Chicago, an hour behind New York).
    expect(rows.nth(1).get_by_role("cell").nth(0)).to_contain_text("6:30 PM")
    expect(rows.nth(1).get_by_role("cell").nth(1)).to_contain_text("5:30 PM")
    expect(rows.nth(2)).to_contain_text("Thursday")
    shoot(page, "admin-group-edit")

    first, second = Session.objects.filter(group=group).order_by("starts_at")[:2]
    rows.nth(1).get_by_role("button", name=re.compile("^Cancel session")).click()
    expect(rows.nth(1)).to_contain_text("Cancelled")
    first.refresh_from_db()
    assert first.status == "cancelled"

    rows.nth(2).get_by_role("button", name=re.compile("^Move")).click()
    dialog = page.get_by_role("dialog", name="Move this session")
    chicago = zoneinfo.ZoneInfo("America/Chicago")
    new_start = (second.starts_at + dt.timedelta(days=1)).astimezone(chicago)
    dialog.get_by_label(re.compile("^New start")).fill(new_start.strftime("%Y-%m-%dT%H:%M"))
    dialog.get_by_role("button", name="Move session").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("status").filter(has_text="Session moved")).to_be_visible()
    second.refresh_from_db()
    assert second.moved and second.starts_at == new_start.astimezone(dt.UTC)


def test_an_admin_approves_requests_marks_who_is_on_call_and_reads_the_audit_log(
    world: Any, new_page: Any
) -> None:
    from moderation.services import audit
    from rooms.services import enrollment_join

    type(world.circle).objects.filter(pk=world.circle.pk).update(join_policy="approval")
    world.circle.refresh_from_db()
    request = enrollment_join(
        group=world.circle, user=world.charlie, alias="Fern", agreement_accepted=True
    )
    assert request.status == "pending"
    audit(action="member.muted", actor=world.carol, group=world.circle, reason="Take a breath")
    audit(action="room.updated", actor=world.carol, group=world.circle, locked=True)

    page = new_page()
    sign_in(page, "dave")
    page.goto(f"/manage/groups/{world.circle.pk}/")
    members = page.get_by_role("table", name="Enrollments")
    expect(members.get_by_role("row", name=re.compile("Fern"))).to_contain_text(
        "Waiting for approval"
    )
    members.get_by_role("button", name="Approve Fern").click()
    expect(members.get_by_role("row", name=re.compile("Fern"))).to_contain_text("Member")
    request.refresh_from_db()
    assert request.status == "active"

    page.get_by_role("navigation", name="Main").get_by_role("link", name="People").click()
    expect(page.get_by_role("status").filter(has_text="Nobody is on call")).to_be_visible()
    page.get_by_role("checkbox", name="carol is on call").check()
    expect(page.get_by_role("status").filter(has_text="carol is now on call")).to_be_visible()
    world.carol.refresh_from_db()
    assert world.carol.on_call
    shoot(page, "admin-people")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log").click()
    log = page.get_by_role("table", name="Audit entries")
    # The header, the two moderation entries, and the admin's own approval and on-call change.
    expect(log.get_by_role("row")).to_have_count(5)
    expect(log.get_by_role("row").nth(1)).to_contain_text("account.on_call_changed")
    expect(log.get_by_role("row").nth(2)).to_contain_text("enrollment.approved")
    page.get_by_label("Action").fill("member.muted")
    page.get_by_role("button", name="Filter").click()
    expect(log.get_by_role("row")).to_have_count(2)
    expect(log.get_by_role("row").nth(1)).to_contain_text("Take a breath")
    expect(log.get_by_role("row").nth(1)).to_contain_text("carol")
    shoot(page, "admin-audit")


def first_tuesday_twenty_weeks_out_before_a_dst_change() -> dt.date:
    """A Tuesday at least twenty weeks away whose third week brings a change of clocks in Los
    Angeles, so that the first sessions straddle it whatever the day the tests run."""
    pacific = zoneinfo.ZoneInfo("America/Los_Angeles")
    day = dt.date.today() + dt.timedelta(weeks=20)
    day += dt.timedelta(days=(1 - day.weekday()) % 7)
    while True:
        offsets = {
            dt.datetime.combine(day + dt.timedelta(weeks=w), dt.time(19), pacific).utcoffset()
            for w in range(4)
        }
        if len(offsets) == 2:
            return day
        day += dt.timedelta(weeks=1)


def test_a_group_twenty_weeks_out_shows_its_sessions_at_19_local_across_the_clock_change(
    world: Any, new_page: Any
) -> None:
    from rooms.services import group_create

    first = first_tuesday_twenty_weeks_out_before_a_dst_change()
    group = group_create(
        fields={
            "name": "Far Spring Circle",
            "timezone": "America/Los_Angeles",
            "rrule": "FREQ=WEEKLY;BYDAY=TU",
            "start_date": first,
            "start_time": dt.time(19, 0),
            "duration_minutes": 90,
        },
        facilitator_ids=[world.carol.pk],
    )
    page = new_page()
    sign_in(page, "dave")
    page.goto(f"/manage/groups/{group.pk}/")
    rows = page.get_by_role("table", name="Upcoming sessions").get_by_role("row")
    expect(rows.nth(1)).to_contain_text(first.strftime("%b %-d"))
    expect(rows).to_have_count(13)  # the header and twelve sessions
    group_times = [rows.nth(i).get_by_role("cell").nth(0).inner_text() for i in range(1, 13)]
    your_times = [rows.nth(i).get_by_role("cell").nth(1).inner_text() for i in range(1, 13)]
    # Los Angeles and Chicago change clocks the same night: 7 PM there is 9 PM here throughout.
    assert all("7:00 PM" in text for text in group_times), group_times
    assert all("9:00 PM" in text for text in your_times), your_times
    pacific = zoneinfo.ZoneInfo("America/Los_Angeles")
    offsets = {
        s.starts_at.astimezone(pacific).utcoffset()
        for s in group.sessions.order_by("starts_at")[:12]
    }
    assert len(offsets) == 2, "the sessions shown straddle a change of clocks"
    shoot(page, "admin-group-far-ahead")

"""The waitlist in the browser: a facilitator moves someone up and seats someone at once; more
places seat the waitlist on saving, without a reload; members see who facilitates."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import shoot, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_facilitator_moves_up_and_seats_from_the_waitlist(world: Any, new_page: Any) -> None:
    from rooms.models import Enrollment
    from rooms.services import enrollment_join, group_update
    from server.accounts.services import account_create

    group_update(group=world.circle, fields={"capacity": 1})
    for name in ("Fern", "Maple", "Oak"):
        user = account_create(username=name.lower(), password="pw-x-long-enough", role="member")
        enrollment_join(group=world.circle, user=user, alias=name, agreement_accepted=True)

    alice = new_page()
    sign_in(alice, "alice")
    alice.goto(f"/groups/{world.circle.pk}/")
    expect(alice.get_by_text("Facilitator", exact=True)).to_be_visible()
    expect(alice.locator("dd").filter(has_text=re.compile("^carol$"))).to_be_visible()

    dave = new_page()
    sign_in(dave, "dave")
    dave.goto(f"/manage/groups/{world.circle.pk}/")
    table = dave.get_by_role("table", name="Enrollments")
    table.get_by_role("button", name="Move up Oak").click()
    expect(dave.get_by_role("status").filter(has_text="Oak is now number 2")).to_be_visible()
    table.get_by_role("button", name="Seat now Maple").click()
    expect(table.get_by_role("row", name=re.compile("^Maple"))).to_contain_text("Member")
    shoot(dave, "group-edit-waitlist")
    assert Enrollment.objects.get(alias="Maple").status == "active"

    # One more place: the next on the waitlist (Fern; then Oak, moved up past Maple) is seated
    # on saving, and the table shows it without a reload.
    dave.get_by_label("Places").fill("3")
    dave.get_by_role("button", name=re.compile("^Save")).click()
    expect(dave.get_by_text("1 person was seated from the waitlist")).to_be_visible()
    expect(table.get_by_role("row", name=re.compile("^Fern"))).to_contain_text("Member")
    expect(table.get_by_role("row", name=re.compile("^Oak"))).to_contain_text("number 1")

"""axe-core (bundled with axe-playwright-python, no network) finds no violations on the pages
members and staff use, at desktop and at phone width, with the help dialog open too. A table
that scrolls sideways on a phone is a focusable, named region, so keyboard users can scroll it."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ensure_resources, live_session, sign_in

pytestmark = pytest.mark.django_db(transaction=True)

WIDTHS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


def violations(page: Any, name: str) -> list[str]:
    """axe's violations on the page as it is now: rule, impact and the nodes it points at."""
    from axe_playwright_python.sync_playwright import Axe

    found = Axe().run(page).response["violations"]
    return [
        f"{name}: {v['id']} ({v['impact']}) {v['help']} -> "
        + "; ".join(", ".join(node["target"]) for node in v["nodes"])
        for v in found
    ]


def enter_room(page: Any, group_id: int) -> None:
    page.goto(f"/rooms/{group_id}/")
    expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible()


@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_axe_finds_no_violations(world: Any, new_page: Any, width: str) -> None:
    ensure_resources()
    live_session(world.circle)
    found: list[str] = []

    member = new_page(viewport=WIDTHS[width])
    member.goto("/login/")
    found += violations(member, "login")
    sign_in(member, "alice")
    found += violations(member, "member home")
    member.goto("/groups/")
    expect(member.get_by_role("heading", name="Evening Circle")).to_be_visible()
    found += violations(member, "groups")
    enter_room(member, world.circle.pk)
    found += violations(member, "member's room")
    member.get_by_role("button", name="Get help now").click()
    expect(member.get_by_role("dialog", name="Help, right now")).to_be_visible()
    found += violations(member, "member's room, help dialog open")
    member.keyboard.press("Escape")
    member.goto("/account/")
    found += violations(member, "account")

    facilitator = new_page(viewport=WIDTHS[width])
    sign_in(facilitator, "carol")
    enter_room(facilitator, world.circle.pk)
    found += violations(facilitator, "facilitator's room")

    admin = new_page(viewport=WIDTHS[width])
    sign_in(admin, "dave")
    admin.goto("/alerts/")
    expect(admin.get_by_role("status").filter(has_text="Live")).to_be_visible()
    found += violations(admin, "alerts")
    for name, url in [
        ("groups to manage", "/manage/"),
        ("group edit", f"/manage/groups/{world.circle.pk}/"),
        ("people", "/manage/people/"),
        ("audit log", "/audit/"),
    ]:
        admin.goto(url)
        expect(admin.get_by_text("Loading…")).to_have_count(0)
        found += violations(admin, name)

    assert not found, "axe found violations:\n" + "\n".join(found)

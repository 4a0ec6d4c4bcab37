"""Safety for members who may be watched, and help that works where the member is: Quick exit,
tap-to-call and tap-to-text crisis lines, and the lines of the member's own country."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ensure_resources, live_session, shoot, sign_in

pytestmark = pytest.mark.django_db(transaction=True)

NEUTRAL = "https://www.bbc.com/weather"


def neutral_site(page: Any) -> None:
    """The neutral site, served by the test: the tests reach no address off this machine."""
    page.context.route(
        re.compile(r"^https://www\.bbc\.com/"),
        lambda route: route.fulfill(
            content_type="text/html",
            body="<!doctype html><title>Weather</title><h1>Weather forecast</h1>",
        ),
    )


def enter_room(page: Any, group_id: int) -> None:
    page.goto(f"/rooms/{group_id}/")
    expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible()


def test_quick_exit_leaves_for_a_neutral_site_sends_nothing_and_back_skips_the_room(
    world: Any, new_page: Any
) -> None:
    from rooms.models import Message

    live_session(world.circle)
    page = new_page()
    neutral_site(page)
    sign_in(page, "alice")
    enter_room(page, world.circle.pk)
    page.get_by_label("Message", exact=True).fill("something I would never want him to see")
    quick = page.get_by_role("link", name="Quick exit")
    expect(quick).to_be_visible()
    quick.click()
    expect(page.get_by_role("heading", name="Weather forecast")).to_be_visible()
    assert page.url == NEUTRAL
    assert not Message.objects.filter(body__contains="never want him").exists()
    page.go_back()
    page.wait_for_load_state()
    assert "/rooms/" not in page.url, page.url


def test_escape_twice_is_a_quick_exit_from_any_member_page_even_with_a_dialog_open(
    world: Any, new_page: Any
) -> None:
    page = new_page()
    neutral_site(page)
    page.goto("/login/")
    # Reachable by keyboard before signing in too: Tab lands on it from the help button.
    page.get_by_role("button", name="Get help now").focus()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Quick exit")).to_be_focused()
    sign_in(page, "alice")
    page.goto(f"/groups/{world.circle.pk}/")
    page.get_by_role("button", name="Get help now").click()
    expect(page.get_by_role("dialog", name="Help, right now")).to_be_visible()
    page.keyboard.press("Escape")
    page.keyboard.press("Escape")
    expect(page.get_by_role("heading", name="Weather forecast")).to_be_visible()
    page.go_back()
    page.wait_for_load_state()
    assert f"/groups/{world.circle.pk}/" not in page.url, page.url


def test_quick_exit_is_on_member_pages_at_phone_width_and_not_in_staff_headers(
    world: Any, new_page: Any
) -> None:
    page = new_page(viewport={"width": 375, "height": 740})
    sign_in(page, "alice")
    quick = page.get_by_role("link", name="Quick exit")
    expect(quick).to_be_in_viewport()
    box = quick.bounding_box()
    assert box and box["height"] >= 40, box  # big enough for a thumb in a hurry
    staff = new_page()
    sign_in(staff, "carol")
    expect(staff.get_by_role("link", name="Quick exit")).to_have_count(0)


def test_crisis_lines_are_tap_to_call_and_tap_to_text_links(world: Any, new_page: Any) -> None:
    ensure_resources()
    page = new_page()
    page.goto("/login/")
    page.get_by_role("button", name="Get help now").click()
    dialog = page.get_by_role("dialog", name="Help, right now")
    expect(dialog.get_by_role("link", name="Call 911", exact=True)).to_have_attribute(
        "href", "tel:911"
    )
    expect(dialog.get_by_role("link", name="Call 988", exact=True)).to_have_attribute(
        "href", "tel:988"
    )
    expect(dialog.get_by_role("link", name="Text 988", exact=True)).to_have_attribute(
        "href", "sms:988"
    )
    expect(dialog.get_by_role("link", name="Text HOME to 741741", exact=True)).to_have_attribute(
        "href", "sms:741741?body=HOME"
    )
    expect(dialog.get_by_role("link", name="Call 800-799-7233", exact=True)).to_have_attribute(
        "href", "tel:8007997233"
    )
    # The website link's name starts with the words it shows (axe: label-content-name-mismatch).
    expect(
        dialog.get_by_role("link", name=re.compile(r"^988lifeline\.org \(988 Suicide"))
    ).to_be_visible()
    shoot(page, "help-dialog-links")


def test_a_member_in_india_sees_indian_lines_in_help_and_in_the_support_card(
    world: Any, new_page: Any
) -> None:
    from server.accounts.models import User

    ensure_resources()
    live_session(world.circle)
    page = new_page(timezone_id="Asia/Kolkata", locale="en-IN")
    sign_in(page, "alice")
    page.get_by_role("button", name="Get help now").click()
    dialog = page.get_by_role("dialog", name="Help, right now")
    expect(dialog.get_by_label("Lines for")).to_have_value("IN")
    expect(dialog.get_by_role("link", name="Call 14416", exact=True)).to_have_attribute(
        "href", "tel:14416"
    )
    expect(dialog.get_by_role("link", name="Call 112", exact=True)).to_be_visible()
    expect(dialog.get_by_text("988 Suicide & Crisis Lifeline")).to_have_count(0)
    expect(dialog.get_by_text("Find A Helpline", exact=True)).to_be_visible()
    # The guess is saved on the account, so the room's private support card agrees.
    assert User.objects.get(pk=world.alice.pk).country == "IN"
    shoot(page, "help-dialog-india")
    dialog.get_by_role("button", name="Close").click()

    enter_room(page, world.circle.pk)
    page.get_by_label("Message", exact=True).fill("I want to die")
    page.get_by_role("button", name="Send").click()
    card = page.get_by_role("region", name="You're not alone")
    expect(card.get_by_text("Tele-MANAS", exact=True)).to_be_visible()
    expect(card.get_by_role("link", name="Call 14416", exact=True)).to_be_visible()
    expect(card.get_by_text("988")).to_have_count(0)

    # Travelling, or a wrong guess: the member picks another country.
    page.get_by_role("button", name="Get help now").click()
    dialog.get_by_label("Lines for").select_option(label="United Kingdom")
    expect(dialog.get_by_role("link", name="Call 116 123", exact=True)).to_have_attribute(
        "href", "tel:116123"
    )
    expect(dialog.get_by_role("link", name="Text SHOUT to 85258", exact=True)).to_be_visible()
    expect(dialog.get_by_text("Tele-MANAS")).to_have_count(0)
    page.wait_for_function("() => document.getElementById('main').dataset.country === 'GB'")
    assert User.objects.get(pk=world.alice.pk).country == "GB"


def test_a_member_turns_on_discreet_mode_and_chooses_a_country_on_the_account_page(
    world: Any, new_page: Any
) -> None:
    from server.accounts.models import User

    ensure_resources()
    page = new_page()
    sign_in(page, "alice")
    page.goto("/account/")
    page.get_by_label("Discreet mode").check()
    page.get_by_label("Country for crisis lines").select_option(label="Canada")
    page.get_by_role("button", name="Save safety settings").click()
    expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    alice = User.objects.get(pk=world.alice.pk)
    assert (alice.discreet, alice.country) == (True, "CA")
    page.get_by_role("button", name="Get help now").click()
    dialog = page.get_by_role("dialog", name="Help, right now")
    expect(dialog.get_by_role("link", name="Call 9-8-8", exact=True)).to_have_attribute(
        "href", "tel:988"
    )
    shoot(page, "account-safety")

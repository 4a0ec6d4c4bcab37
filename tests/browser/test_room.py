"""The room under a member's hands: a burst of messages faster than the rate limit, a phone's
small screen, held messages across a reload, a session cancelled while it is live, and the
keyboard."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import SCREENSHOTS, enter_room, live_session, room_log, shoot, sign_in
from tests.services import Daphne

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def limited_web(server_factory: Callable[..., Daphne]) -> Daphne:
    """A server with the rate limit on: a burst of three, then two messages a second."""
    return server_factory(
        RATE_LIMIT_BURST="3",
        RATE_LIMIT_PER_SECOND="2",
        PRESENCE_HEARTBEAT_SECONDS="2",
        DJANGO_ALLOW_ASYNC_UNSAFE="",
    )


def test_a_burst_faster_than_the_rate_limit_keeps_its_order_for_everyone(
    world: Any, new_page: Any, limited_web: Daphne
) -> None:
    from rooms.services import enrollment_join

    enrollment_join(group=world.circle, user=world.charlie, alias="Fern", agreement_accepted=True)
    live_session(world.circle)
    alice = new_page(base_url=limited_web.url)
    sign_in(alice, "alice")
    enter_room(alice, world.circle.pk)
    charlie = new_page(base_url=limited_web.url)
    sign_in(charlie, "charlie")
    enter_room(charlie, world.circle.pk)

    words = ["one", "two", "three", "four", "five", "six", "seven", "eight"]
    box = alice.get_by_label("Message", exact=True)
    for word in words:
        box.fill(f"burst {word}")
        box.press("Enter")
    expect(alice.get_by_role("alert").filter(has_text="sending quickly")).to_be_visible()

    expected = [f"burst {w}" for w in words]
    for page in (alice, charlie):
        texts = room_log(page).get_by_role("listitem").locator(".msg-text")
        expect(texts).to_have_text(expected, timeout=20_000)
    expect(room_log(alice).get_by_text(re.compile("Sending|Waiting|Will send"))).to_have_count(0)
    # Once everything is sent, the notice about sending quickly is gone.
    expect(alice.get_by_text("sending quickly")).to_be_hidden()
    shoot(alice, "room-after-burst")

    from rooms.models import Message

    stored = list(Message.objects.filter(group=world.circle).order_by("id"))
    assert [m.body for m in stored] == expected


PHONE_844 = {"width": 390, "height": 844}


def box_of(locator: Any) -> dict[str, float]:
    box = locator.bounding_box()
    assert box is not None, "not laid out"
    return box


def header_bottom(page: Any) -> float:
    """Where the site header ends on screen (0 when it has scrolled away)."""
    return float(
        page.evaluate(
            "Math.max(0, document.querySelector('.site-header').getBoundingClientRect().bottom)"
        )
    )


def assert_not_under_header(page: Any, locator: Any) -> None:
    top = box_of(locator)["y"]
    assert top >= header_bottom(page) - 1, f"top {top} is under the header ({header_bottom(page)})"
    assert top < page.viewport_size["height"], f"top {top} is below the screen"


def test_on_a_phone_the_composer_is_on_screen_and_nothing_focused_hides_under_the_header(
    world: Any, new_page: Any
) -> None:
    live_session(world.circle)
    carol = new_page(viewport=PHONE_844, is_mobile=True, has_touch=True)
    sign_in(carol, "carol")
    enter_room(carol, world.circle.pk)
    alice = new_page(viewport=PHONE_844, is_mobile=True, has_touch=True)
    sign_in(alice, "alice")
    enter_room(alice, world.circle.pk)

    # The header takes a small part of the screen, and the box to write in is on it.
    header = box_of(alice.locator(".site-header"))
    assert header["height"] <= 0.12 * PHONE_844["height"], header
    composer = alice.get_by_label("Message", exact=True)
    box = box_of(composer)
    assert box["y"] >= header_bottom(alice) and box["y"] + box["height"] <= PHONE_844["height"], box
    send = alice.get_by_role("button", name="Send")
    assert box_of(send)["y"] + box_of(send)["height"] <= PHONE_844["height"]
    alice.screenshot(path=str(SCREENSHOTS / "room-phone-844.png"))
    shoot(alice, "room-phone")

    # Many messages later the box is still on screen.
    for n in range(12):
        composer.fill(f"Line {n} of a long evening, with enough words to wrap on a phone.")
        composer.press("Enter")
    expect(room_log(alice).get_by_role("listitem")).to_have_count(12)
    expect(room_log(alice).get_by_text("Sending")).to_have_count(0)
    box = box_of(composer)
    assert box["y"] + box["height"] <= PHONE_844["height"], box

    # The support card takes focus: its heading is on screen, not under the header.
    composer.fill("I want to kill myself tonight, I have the pills here")
    composer.press("Enter")
    support = alice.get_by_role("region", name="You're not alone")
    expect(support).to_be_focused()
    assert_not_under_header(alice, support.get_by_role("heading", name="You're not alone"))
    box = box_of(composer)
    assert box["y"] + box["height"] <= PHONE_844["height"], box
    alice.screenshot(path=str(SCREENSHOTS / "room-phone-844-support.png"))
    shoot(alice, "room-phone-support")

    # The facilitator's alert: following the banner's link puts the heading on screen.
    carol.get_by_role("alert").get_by_role("link", name="See the alert").click()
    heading = carol.get_by_role("heading", name=re.compile("^Alerts in this room"))
    expect(heading).to_be_in_viewport()
    assert_not_under_header(carol, heading)
    carol.screenshot(path=str(SCREENSHOTS / "room-phone-844-alert.png"))


def test_a_held_message_stays_with_its_author_across_a_reload_until_a_facilitator_decides(
    world: Any, new_page: Any
) -> None:
    live_session(world.circle)
    alice = new_page()
    sign_in(alice, "alice")
    enter_room(alice, world.circle.pk)
    box = alice.get_by_label("Message", exact=True)
    box.fill("Hello everyone, glad to be here.")
    box.press("Enter")
    box.fill("You can text me at 555 123 4567 any time.")
    box.press("Enter")
    box.fill("My other number is 555 987 6543.")
    box.press("Enter")
    first = room_log(alice).get_by_role("listitem").filter(has_text="555 123 4567")
    second = room_log(alice).get_by_role("listitem").filter(has_text="555 987 6543")
    expect(first).to_contain_text("Held for review")
    expect(second).to_contain_text("Held for review")

    alice.reload()
    expect(alice.get_by_role("status").filter(has_text="Live")).to_be_visible()
    expect(first).to_contain_text("Held for review")
    expect(first).to_contain_text("Willow (you)")
    expect(second).to_contain_text("Held for review")
    texts = room_log(alice).get_by_role("listitem").locator(".msg-text")
    expect(texts).to_have_text(
        [
            "Hello everyone, glad to be here.",
            "You can text me at 555 123 4567 any time.",
            "My other number is 555 987 6543.",
        ]
    )
    shoot(alice, "room-held-after-reload")

    # Nobody else sees them; the facilitator decides, and the author sees each decision.
    carol = new_page()
    sign_in(carol, "carol")
    enter_room(carol, world.circle.pk)
    held = carol.get_by_role("list", name="Messages held for review").get_by_role("listitem")
    expect(held).to_have_count(2)
    expect(room_log(carol).get_by_text("555")).to_have_count(0)
    held.filter(has_text="555 123 4567").get_by_role("button", name=re.compile("^Approve")).click()
    expect(first).not_to_contain_text("Held")
    expect(room_log(carol).get_by_text("555 123 4567")).to_be_visible()
    held.filter(has_text="555 987 6543").get_by_role("button", name=re.compile("^Reject")).click()
    expect(second).to_contain_text("Not shared by a moderator")

    alice.reload()
    expect(alice.get_by_role("status").filter(has_text="Live")).to_be_visible()
    expect(first).not_to_contain_text("Held")
    expect(second).to_contain_text("Not shared by a moderator")
    expect(room_log(alice).get_by_role("listitem")).to_have_count(3)


def test_cancelling_a_live_session_ends_it_for_everyone_with_times_in_their_own_zone(
    world: Any, new_page: Any
) -> None:
    from rooms.models import Session

    live_session(world.circle)
    alice = new_page()
    sign_in(alice, "alice")
    enter_room(alice, world.circle.pk)
    composer = alice.get_by_label("Message", exact=True)
    expect(composer).to_be_enabled()

    dave = new_page()
    dave.on("dialog", lambda dialog: dialog.accept())
    sign_in(dave, "dave")
    dave.goto(f"/manage/groups/{world.circle.pk}/")
    rows = dave.get_by_role("table", name="Upcoming sessions").get_by_role("row")
    live_row = rows.nth(1)
    expect(live_row).to_contain_text("On now")
    # A session that has started can be ended, not moved; the next one can still be moved.
    expect(live_row.get_by_role("button", name=re.compile("^Move"))).to_have_count(0)
    expect(rows.nth(2).get_by_role("button", name=re.compile("^Move"))).to_have_count(1)
    shoot(dave, "group-edit-live-session")
    live_row.get_by_role("button", name=re.compile("^End and cancel")).click()
    expect(live_row).to_contain_text("Cancelled")

    # The member is told at once, the room no longer says it is live, and the box is off.
    banner = alice.get_by_role("status").filter(has_text="cancelled this session")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("(your time)")
    expect(banner).not_to_contain_text("UTC")
    expect(alice.get_by_role("status").filter(has_text=re.compile("^Room closed$"))).to_be_visible()
    expect(alice.get_by_role("status").filter(has_text=re.compile("^Live$"))).to_have_count(0)
    expect(composer).to_be_disabled()
    shoot(alice, "room-session-cancelled")

    # After a reload the closed room says when it opens, in the member's own time zone.
    upcoming = Session.objects.filter(group=world.circle, status="scheduled").earliest("starts_at")
    alice.reload()
    closed = alice.get_by_role("status").filter(has_text="The room is closed right now")
    expect(closed).to_be_visible()
    expect(closed).not_to_contain_text("UTC")
    chicago = alice.evaluate(
        """iso => new Date(iso).toLocaleString(undefined, {hour: "numeric", minute: "2-digit"})""",
        (upcoming.starts_at - dt.timedelta(minutes=10)).isoformat(),
    )
    expect(closed).to_contain_text(chicago)
    expect(closed).to_contain_text("(your time)")


def focused_text(page: Any) -> str:
    return str(page.evaluate("document.activeElement.innerText || document.activeElement.id"))


def test_the_message_list_is_one_tab_stop_with_arrow_keys_and_shortcuts_reach_the_box_and_help(
    world: Any, new_page: Any
) -> None:
    from rooms.services import enrollment_join

    enrollment_join(group=world.circle, user=world.charlie, alias="Fern", agreement_accepted=True)
    live_session(world.circle)
    fern = new_page()
    sign_in(fern, "charlie")
    enter_room(fern, world.circle.pk)
    for n in range(8):
        fern.get_by_label("Message", exact=True).fill(f"Evening note {n}")
        fern.get_by_label("Message", exact=True).press("Enter")
    alice = new_page()
    sign_in(alice, "alice")
    enter_room(alice, world.circle.pk)
    messages = room_log(alice).get_by_role("listitem")
    expect(messages).to_have_count(8)

    # From the box, one Shift+Tab reaches the newest message; one more leaves the list.
    composer = alice.get_by_label("Message", exact=True)
    composer.focus()
    alice.keyboard.press("Shift+Tab")
    expect(messages.nth(7)).to_be_focused()
    alice.keyboard.press("Shift+Tab")
    assert not alice.evaluate("document.getElementById('log').contains(document.activeElement)")

    # Arrow keys move inside the list; Tab goes on from the active message to its own options.
    alice.keyboard.press("Alt+Shift+M")
    expect(composer).to_be_focused()
    alice.keyboard.press("Shift+Tab")
    alice.keyboard.press("ArrowUp")
    alice.keyboard.press("ArrowUp")
    expect(messages.nth(5)).to_be_focused()
    alice.keyboard.press("Home")
    expect(messages.nth(0)).to_be_focused()
    alice.keyboard.press("End")
    alice.keyboard.press("ArrowUp")
    expect(messages.nth(6)).to_be_focused()
    alice.keyboard.press("Tab")
    expect(
        messages.nth(6).get_by_role("button", name=re.compile("^Message options"))
    ).to_be_focused()
    alice.keyboard.press("Shift+Tab")
    alice.keyboard.press("Enter")
    dialog = alice.get_by_role("dialog", name="Message from Fern")
    expect(dialog).to_contain_text("Evening note 6")
    alice.keyboard.press("Escape")
    expect(messages.nth(6)).to_be_focused()
    alice.keyboard.press("Escape")
    expect(composer).to_be_focused()

    # The Get help now shortcut, documented on the button.
    help_button = alice.get_by_role("button", name="Get help now")
    expect(help_button).to_have_attribute("aria-keyshortcuts", "Alt+Shift+H")
    expect(composer).to_have_attribute("aria-keyshortcuts", "Alt+Shift+M")
    alice.keyboard.press("Alt+Shift+H")
    expect(alice.get_by_role("dialog", name="Help, right now")).to_be_visible()
    alice.keyboard.press("Escape")

    # Near the 4,000 limit the box counts down; past it, it says by how much, and nothing is cut.
    composer.fill("a" * 3600)
    expect(alice.get_by_text("400 characters left.")).to_be_visible()
    composer.fill("b" * 4050)
    expect(composer).to_have_value("b" * 4050)
    expect(alice.get_by_text(re.compile("^50 characters over the 4,000 limit"))).to_be_visible()
    composer.press("Enter")
    expect(alice.get_by_role("alert")).to_contain_text("this one has 4050")
    expect(messages).to_have_count(8)
    shoot(alice, "room-keyboard-and-counter")


def test_members_do_not_download_the_moderation_code(world: Any, new_page: Any) -> None:
    live_session(world.circle)
    loaded: dict[str, list[str]] = {"alice": [], "carol": []}
    for name, urls in loaded.items():
        page = new_page()
        page.on("request", lambda request, urls=urls: urls.append(request.url))
        sign_in(page, name)
        enter_room(page, world.circle.pk)
    scripts = {
        name: {url.rsplit("/js/", 1)[-1] for url in urls if "/js/" in url}
        for name, urls in loaded.items()
    }
    assert {"room.js", "room/socket.js", "room/messages.js", "room/sending.js"} <= scripts["alice"]
    assert not {"room/staff.js", "alertcard.js"} & scripts["alice"], scripts["alice"]
    assert {"room/staff.js", "alertcard.js"} <= scripts["carol"], scripts["carol"]

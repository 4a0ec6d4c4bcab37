"""Members' own messages in the browser: reactions, a reply that quotes, editing and deleting
one's own message, and asking a facilitator for a private word."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import enter_room, live_session, room_log, shoot, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def say(page: Any, text: str) -> None:
    page.get_by_label("Message", exact=True).fill(text)
    page.get_by_role("button", name="Send").click()


def options(page: Any, alias: str) -> Any:
    return page.get_by_role("button", name=re.compile(f"^Message options: {alias}")).first


@pytest.fixture
def evening(world: Any, new_page: Any) -> dict[str, Any]:
    from rooms.services import enrollment_join

    live_session(world.circle)
    enrollment_join(group=world.circle, user=world.charlie, alias="Fern", agreement_accepted=True)
    people = {}
    for name in ("alice", "charlie", "carol"):
        page = new_page()
        sign_in(page, name)
        enter_room(page, world.circle.pk)
        people[name] = page
    return people


def test_members_react_reply_edit_and_delete_their_own_messages(
    world: Any, evening: dict[str, Any]
) -> None:
    alice, fern = evening["alice"], evening["charlie"]
    say(alice, "I told him I'm leaving.")
    expect(room_log(fern).get_by_text("I told him I'm leaving.")).to_be_visible()

    # Fern reacts with a heart: both see it, and Fern's is pressed.
    options(fern, "Willow").click()
    dialog = fern.get_by_role("dialog", name="Message from Willow")
    dialog.get_by_role("group", name="React").get_by_role("button", name="Heart").click()
    expect(dialog).to_be_hidden()
    expect(room_log(alice).get_by_role("button", name="Heart 1")).to_be_visible()
    expect(room_log(fern).get_by_role("button", name="Heart 1")).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(room_log(alice).get_by_role("button", name="Heart 1")).to_have_attribute(
        "aria-pressed", "false"
    )

    # Fern replies: the reply quotes Willow's words.
    options(fern, "Willow").click()
    dialog.get_by_role("button", name="Reply").click()
    expect(fern.get_by_text("Replying to Willow: I told him I'm leaving.")).to_be_visible()
    expect(fern.get_by_label("Message", exact=True)).to_be_focused()
    say(fern, "So proud of you.")
    reply = room_log(alice).get_by_role("listitem").filter(has_text="So proud of you.")
    expect(reply.get_by_text("In reply to Willow: I told him I'm leaving.")).to_be_attached()
    expect(fern.get_by_text("Replying to Willow")).to_be_hidden()
    mine = room_log(fern).get_by_role("listitem").filter(has_text="So proud of you.")
    expect(mine.get_by_text("In reply to Willow: I told him I'm leaving.")).to_be_attached()
    shoot(fern, "room-reactions-reply")

    # Willow edits her message: everyone sees the new words, marked as edited.
    options(alice, "Willow").click()
    own = alice.get_by_role("dialog", name="Your message")
    own.get_by_label("Edit your message").fill("I told him today that I'm leaving.")
    own.get_by_role("button", name="Save edit").click()
    edited = room_log(fern).get_by_role("listitem").filter(has_text="I told him today")
    expect(edited.get_by_text("(edited)")).to_be_visible()
    expect(edited.get_by_role("button", name="Heart 1")).to_be_visible()

    # And then deletes it: gone for everyone, and the reply no longer quotes it.
    alice.once("dialog", lambda d: d.accept())
    options(alice, "Willow").click()
    own.get_by_role("button", name="Delete my message").click()
    expect(room_log(fern).get_by_text("This message was deleted by its author.")).to_be_visible()
    expect(room_log(fern).get_by_text("I told him today")).to_have_count(0)
    fern.reload()
    expect(fern.get_by_role("status").filter(has_text="Live")).to_be_visible()
    expect(room_log(fern).get_by_text("In reply to Willow: a deleted message")).to_be_attached()
    expect(room_log(fern).get_by_text("I told him")).to_have_count(0)


def test_a_member_asks_to_talk_privately_and_the_facilitator_gets_an_alert_with_the_room(
    world: Any, evening: dict[str, Any]
) -> None:
    alice, carol = evening["alice"], evening["carol"]
    alice.get_by_role("button", name="Talk to a facilitator privately").click()
    expect(alice.get_by_text("A facilitator has been asked to join you")).to_be_visible()
    link = alice.get_by_role("link", name="Open the private check-in (new tab)")
    expect(link).to_have_attribute("href", re.compile(r"^/rooms/\d+/$"))
    alerts = carol.get_by_role("list", name="Open alerts in this room")
    expect(alerts.get_by_text("Willow asked to talk privately")).to_be_visible()
    expect(
        alerts.get_by_role("link", name="Open the private check-in (new tab)")
    ).to_have_attribute("href", link.get_attribute("href") or "")
    shoot(alice, "room-private-word")

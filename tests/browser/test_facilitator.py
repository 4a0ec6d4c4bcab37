"""A facilitator's evening in the browser: a member in crisis reaches them in under a second,
and they acknowledge, resolve, mute, delete, review held messages and reports, and open a
private check-in."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    ensure_resources,
    enter_room,
    live_session,
    room_log,
    shoot,
    sign_in,
)

pytestmark = pytest.mark.django_db(transaction=True)

EMERGENCY = "I want to kill myself tonight. I have the pills ready."
URGENT = "I want to die"
WATCH = "Some days I feel hopeless about all of it"


def say(page: Any, text: str) -> None:
    page.get_by_label("Message", exact=True).fill(text)
    page.get_by_role("button", name="Send").click()


def message_options(page: Any, alias: str) -> Any:
    return page.get_by_role("button", name=re.compile(f"^Message options: {alias}"))


@pytest.fixture
def evening(world: Any, new_page: Any) -> dict[str, Any]:
    """A live session with Willow (alice) and Fern (charlie) in the room."""
    from rooms.services import enrollment_join

    ensure_resources()
    live_session(world.circle)
    enrollment_join(group=world.circle, user=world.charlie, alias="Fern", agreement_accepted=True)
    people = {}
    for name in ("alice", "charlie"):
        page = new_page()
        sign_in(page, name)
        enter_room(page, world.circle.pk)
        people[name] = page
    return people


def test_a_crisis_message_alerts_the_facilitator_within_a_second_and_the_member_gets_support(
    world: Any, new_page: Any, evening: dict[str, Any]
) -> None:
    from moderation.models import Alert, AuditEntry

    alice, fern = evening["alice"], evening["charlie"]
    carol = new_page()
    sign_in(carol, "carol")
    enter_room(carol, world.circle.pk)
    alerts = carol.get_by_role("list", name="Open alerts in this room")
    carol.evaluate(
        """() => new MutationObserver((changes, observer) => {
             window.__alertAt = Date.now(); observer.disconnect();
           }).observe(document.getElementById('room-alerts'), {childList: true})"""
    )

    alice.get_by_label("Message", exact=True).fill(EMERGENCY)
    sent_at = alice.evaluate("Date.now()")
    alice.get_by_role("button", name="Send").click()
    card = alerts.get_by_role("listitem", name=re.compile("Willow"))
    expect(card).to_be_visible(timeout=1000)
    assert carol.evaluate("window.__alertAt") - sent_at < 1000
    expect(card).to_contain_text("Emergency")
    expect(card).to_contain_text("have the pills ready")
    expect(carol.get_by_role("alert").filter(has_text="Emergency alert")).to_be_visible()
    shoot(carol, "room-facilitator-alert")

    # The member: a private, calm card with the resources, focused so a screen reader reads it.
    support = alice.get_by_role("region", name="You're not alone")
    expect(support).to_be_visible()
    expect(support).to_be_focused()
    expect(support).to_contain_text("Call or text 988")
    expect(fern.get_by_role("region", name="You're not alone")).to_have_count(0)
    # The room still sees the message: a person reaching out is never silenced.
    expect(room_log(fern).get_by_text(EMERGENCY)).to_be_visible()
    shoot(alice, "room-support-card")
    support.get_by_role("button", name="Close this note").click()
    expect(support).to_be_hidden()
    expect(alice.get_by_label("Message", exact=True)).to_be_focused()

    card.get_by_role("button", name=re.compile("^Acknowledge")).click()
    expect(card).to_contain_text("Acknowledged")
    expect(carol.get_by_role("alert").filter(has_text="Emergency alert")).to_be_hidden()
    card.get_by_text("Resolve with an outcome").click()
    card.get_by_label("Outcome").select_option(label="Supported in the room")
    card.get_by_label("Note (for the team)").fill("Talked in the room; she is with her sister.")
    card.get_by_role("button", name="Resolve").click()
    expect(card).to_have_count(0)
    alert = Alert.objects.get()
    assert (alert.status, alert.outcome) == ("resolved", "supported_in_room")

    # Mute, with minutes and a reason the member sees in plain words.
    message_options(carol, "Willow").first.click()
    dialog = carol.get_by_role("dialog", name="Message from Willow")
    dialog.get_by_label("For how long").select_option(label="10 minutes")
    dialog.get_by_label("Reason (they will see it)").fill("Let's pause for a moment.")
    shoot(carol, "room-moderate-dialog")
    dialog.get_by_role("button", name="Mute Willow").click()
    expect(
        carol.get_by_role("status").filter(has_text="Willow muted for 10 minutes")
    ).to_be_visible()
    muted = alice.get_by_role("alert").filter(has_text="Muted by a moderator until")
    expect(muted).to_contain_text("Let's pause for a moment.")
    expect(alice.get_by_label("Message", exact=True)).to_be_disabled()
    shoot(alice, "room-muted")

    # Delete: everyone sees that a moderator removed it, and its words are gone.
    say(fern, "Something that should not stay.")
    expect(room_log(carol).get_by_text("Something that should not stay.")).to_be_visible()
    message_options(carol, "Fern").last.click()
    dialog = carol.get_by_role("dialog", name="Message from Fern")
    dialog.get_by_role("button", name="Delete message").click()
    for page in (fern, alice, carol):
        expect(room_log(page).get_by_text("Something that should not stay.")).to_have_count(0)
        expect(
            room_log(page).get_by_text("This message was removed by a moderator.")
        ).to_be_visible()

    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"alert.acknowledged", "alert.resolved", "member.muted", "message.deleted"} <= actions


def test_the_alert_queue_puts_the_most_severe_first_and_opens_a_private_check_in(
    world: Any, new_page: Any, evening: dict[str, Any]
) -> None:
    alice = evening["alice"]
    carol = new_page()
    sign_in(carol, "carol")
    carol.get_by_role("navigation", name="Main").get_by_role("link", name="Alerts").click()
    expect(carol.get_by_role("status").filter(has_text="Live")).to_be_visible()

    for text in (WATCH, URGENT, EMERGENCY):
        say(alice, text)
    queue = carol.get_by_role("list", name="Open alerts, most urgent first")
    items = queue.get_by_role("listitem", name=re.compile("Willow"))
    # All three arrive live: watch-level alerts are a low-priority entry in the queue of every
    # facilitator of the group; a reload (from the API) shows the same queue.
    expect(items).to_have_count(3)
    carol.reload()
    expect(items).to_have_count(3)
    expect(items.nth(0)).to_contain_text("Emergency")
    expect(items.nth(1)).to_contain_text("Urgent")
    expect(items.nth(2)).to_contain_text("Watch")
    expect(carol.get_by_role("alert").filter(has_text="Emergency")).to_be_visible()
    expect(carol.get_by_role("navigation", name="Main")).to_contain_text("Alerts 2")
    shoot(carol, "alerts-queue")

    items.nth(0).get_by_role("button", name="Open private check-in").click()
    link = carol.get_by_role("link", name=re.compile("Open the private check-in with Willow"))
    expect(link).to_be_visible()
    invite = alice.get_by_role("link", name="Open the private check-in")
    expect(invite).to_be_visible()
    href = invite.get_attribute("href")
    assert href and href == link.get_attribute("href")

    alice.goto(href)
    expect(alice.get_by_role("status").filter(has_text="Live")).to_be_visible()
    carol.goto(href)
    expect(carol.get_by_role("status").filter(has_text="Live")).to_be_visible()
    say(carol, "Hi Willow, it's Carol. I'm here with you.")
    expect(room_log(alice).get_by_text("I'm here with you.")).to_be_visible()
    present = alice.get_by_role("list", name=re.compile("^Here now"))
    expect(present.get_by_role("listitem").filter(has_text="carol")).to_contain_text("Facilitator")
    shoot(alice, "checkin-room")


def test_held_messages_and_reports_reach_the_facilitator_and_hide_works_for_a_member(
    world: Any, new_page: Any, evening: dict[str, Any]
) -> None:
    alice, fern = evening["alice"], evening["charlie"]
    carol = new_page()
    sign_in(carol, "carol")
    enter_room(carol, world.circle.pk)

    say(alice, "You can text me at 555 123 4567 any time.")
    mine = room_log(alice).get_by_role("listitem").filter(has_text="555 123 4567")
    expect(mine).to_contain_text("Held for review")
    expect(room_log(fern).get_by_text("555 123 4567")).to_have_count(0)
    held = carol.get_by_role("list", name="Messages held for review").get_by_role("listitem")
    expect(held).to_contain_text("555 123 4567")
    shoot(carol, "room-facilitator-held")
    held.get_by_role("button", name=re.compile("^Approve")).click()
    expect(room_log(fern).get_by_text("You can text me at 555 123 4567 any time.")).to_be_visible()
    expect(mine).not_to_contain_text("Held")

    say(alice, "Honestly I don't agree with any of that.")
    fern_log = room_log(fern)
    expect(fern_log.get_by_text("Honestly I don't agree with any of that.")).to_be_visible()
    message_options(fern, "Willow").last.click()
    dialog = fern.get_by_role("dialog", name="Message from Willow")
    dialog.get_by_label("Why are you reporting it?").select_option(
        label="It's hurtful or harassing"
    )
    dialog.get_by_label(re.compile("Anything the facilitators should know")).fill("It hurt.")
    shoot(fern, "room-report-dialog")
    dialog.get_by_role("button", name="Send report").click()
    expect(
        fern.get_by_role("status").filter(has_text="Your report went to the facilitators")
    ).to_be_visible()
    reports = carol.get_by_role("list", name="Open reports").get_by_role("listitem")
    expect(reports).to_contain_text("Honestly I don't agree with any of that.")
    reports.get_by_role("button", name="Mark as handled").click()
    expect(reports).to_have_count(0)
    expect(fern.get_by_role("status").filter(has_text="has looked at your report")).to_be_visible()

    message_options(fern, "Willow").last.click()
    fern.get_by_role("dialog").get_by_role("button", name="Hide Willow's messages").click()
    expect(fern_log.get_by_text("Honestly I don't agree with any of that.")).to_have_count(0)
    say(alice, "Are you still there?")
    expect(room_log(carol).get_by_text("Are you still there?")).to_be_visible()
    expect(fern_log.get_by_text("Are you still there?")).to_have_count(0)

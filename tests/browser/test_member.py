"""A member's evening in the browser: signing in, joining a group, chatting, losing the
connection, and finding help."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    Relay,
    ensure_resources,
    enter_room,
    live_session,
    room_log,
    shoot,
    sign_in,
)

pytestmark = pytest.mark.django_db(transaction=True)


def say(page: Any, text: str) -> None:
    page.get_by_label("Message", exact=True).fill(text)
    page.get_by_role("button", name="Send").click()


def test_member_signs_in_accepts_the_agreement_and_chats_with_another_member(
    world: Any, new_page: Any
) -> None:
    live_session(world.circle)
    charlie = new_page()

    # A wrong password says so, in words, and keeps the username.
    charlie.goto("/login/")
    shoot(charlie, "login")
    charlie.get_by_label("Username").fill("charlie")
    charlie.get_by_label("Password").fill("not-my-password")
    charlie.get_by_role("button", name="Sign in").click()
    expect(charlie.get_by_role("alert")).to_contain_text("don't match")
    expect(charlie.get_by_label("Username")).to_have_value("charlie")
    shoot(charlie, "login-error")
    sign_in(charlie, "charlie")
    expect(charlie.get_by_text("You haven't joined a group yet.")).to_be_visible()
    shoot(charlie, "member-home-empty")

    charlie.get_by_role("navigation", name="Main").get_by_role("link", name="Groups").click()
    expect(charlie.get_by_role("heading", name="Evening Circle")).to_be_visible()
    shoot(charlie, "catalogue")
    charlie.get_by_role("link", name=re.compile(r"Read more and join\s*: Evening Circle")).click()
    expect(charlie.get_by_role("heading", name="Group agreement")).to_be_visible()
    expect(charlie.get_by_text("Be kind.")).to_be_visible()
    shoot(charlie, "group-page")

    # The agreement must be accepted and an alias chosen; each refusal says what to do.
    charlie.get_by_label("Your name in this group").fill("Fern")
    charlie.get_by_role("button", name="Join the group").click()
    expect(charlie.get_by_role("alert")).to_contain_text("tick the box")
    charlie.get_by_label("I have read the group agreement and I accept it").check()
    charlie.get_by_role("button", name="Join the group").click()
    expect(charlie.get_by_role("status").filter(has_text="Welcome, Fern")).to_be_visible()
    shoot(charlie, "group-joined")

    alice = new_page()
    sign_in(alice, "alice")
    expect(alice.get_by_role("link", name=re.compile("Join room"))).to_be_visible()
    expect(alice.get_by_text("Next session:")).to_be_visible()
    shoot(alice, "member-home")
    alice.get_by_role("link", name=re.compile("Join room")).click()
    expect(alice.get_by_role("status").filter(has_text="Live")).to_be_visible()

    charlie.get_by_role("link", name="Go to the room").click()
    expect(charlie.get_by_role("status").filter(has_text="Live")).to_be_visible()
    present = alice.get_by_role("list", name=re.compile("^Here now")).filter(has_text="Fern")
    expect(present).to_be_visible()

    say(charlie, "Hello everyone, first time here.")
    mine = room_log(charlie).get_by_role("listitem").filter(has_text="first time here")
    expect(mine).to_contain_text("Fern (you)")
    expect(mine).not_to_contain_text("Sending")
    expect(room_log(alice).get_by_text("Hello everyone, first time here.")).to_be_visible()

    say(alice, "Welcome, Fern. Glad you came.")
    expect(room_log(charlie).get_by_text("Welcome, Fern. Glad you came.")).to_be_visible()
    reply = room_log(charlie).get_by_role("listitem").filter(has_text="Glad you came")
    expect(reply).to_contain_text("Willow")
    expect(room_log(charlie).get_by_role("listitem")).to_have_count(2)
    shoot(charlie, "room-member")


def test_a_dropped_connection_recovers_with_no_missing_or_doubled_message(
    world: Any, new_page: Any
) -> None:
    from rooms.models import Message
    from rooms.services import enrollment_join

    live_session(world.circle)
    enrollment_join(group=world.circle, user=world.charlie, alias="Fern", agreement_accepted=True)
    fern = new_page()
    sign_in(fern, "charlie")
    enter_room(fern, world.circle.pk)

    # Alice's socket goes through a relay the test controls. On cue, it sends the server a frame
    # over daphne's size limit, and the server closes the socket (1009); until released, new
    # connections are turned away, as when the network is gone.
    relay = Relay("/ws/rooms/")
    alice = new_page()
    relay.attach(alice)
    sign_in(alice, "alice")
    enter_room(alice, world.circle.pk)

    say(fern, "Before the drop.")
    expect(room_log(alice).get_by_text("Before the drop.")).to_be_visible()

    relay.blocked = True
    relay.upstream.send("x" * 70_000)
    expect(alice.get_by_role("status").filter(has_text="Reconnecting")).to_be_visible()

    # Fern keeps talking while Alice is away; Alice writes too, and her message waits.
    for n in range(1, 4):
        say(fern, f"While you were away {n}.")
    expect(room_log(fern).get_by_text("While you were away 3.")).to_be_visible()
    say(alice, "Typed while offline.")
    waiting = room_log(alice).get_by_role("listitem").filter(has_text="Typed while offline.")
    expect(waiting).to_contain_text("Waiting for the connection")
    shoot(alice, "room-reconnecting")

    relay.blocked = False
    expect(alice.get_by_role("status").filter(has_text="Live")).to_be_visible(timeout=20_000)
    log = room_log(alice)
    for n in range(1, 4):
        expect(log.get_by_text(f"While you were away {n}.")).to_have_count(1)
    expect(log.get_by_text("Before the drop.")).to_have_count(1)
    expect(log.get_by_role("separator", name="New since you were away")).to_be_visible()
    expect(waiting).not_to_contain_text("Waiting")
    expect(room_log(fern).get_by_text("Typed while offline.")).to_have_count(1)
    shoot(alice, "room-caught-up")

    # In order, once each, and the page holds exactly what the database holds.
    texts = log.locator(".msg-text").all_inner_texts()
    stored = list(
        Message.objects.filter(group=world.circle).order_by("id").values_list("body", flat=True)
    )
    assert texts == stored
    assert stored.count("Typed while offline.") == 1
    assert relay.attempts >= 2


def test_a_message_on_the_wire_when_the_connection_drops_is_sent_again_once(
    world: Any, new_page: Any
) -> None:
    from rooms.models import Message
    from rooms.services import enrollment_join

    live_session(world.circle)
    enrollment_join(group=world.circle, user=world.charlie, alias="Fern", agreement_accepted=True)
    fern = new_page()
    sign_in(fern, "charlie")
    enter_room(fern, world.circle.pk)

    # On cue, the link dies under Alice's next message: the frame never reaches the server and
    # the socket closes, as when a phone loses its network mid-send.
    relay = Relay("/ws/rooms/")
    alice = new_page()
    relay.attach(alice)
    sign_in(alice, "alice")
    enter_room(alice, world.circle.pk)

    relay.drop = "message.send"
    say(alice, "Sent as the line dropped.")
    say(alice, "And one after it.")
    mine = room_log(alice).get_by_role("listitem")
    expect(alice.get_by_role("status").filter(has_text="Live")).to_be_visible(timeout=20_000)
    expect(mine.filter(has_text="Sent as the line dropped.")).not_to_contain_text(
        re.compile("Waiting|Sending|Not sent"), timeout=20_000
    )
    expect(mine.filter(has_text="And one after it.")).not_to_contain_text(
        re.compile("Waiting|Sending|Not sent"), timeout=20_000
    )
    log = room_log(fern)
    expect(log.locator(".msg-text")).to_have_text(
        ["Sent as the line dropped.", "And one after it."], timeout=20_000
    )
    assert relay.dropped == 1
    stored = list(
        Message.objects.filter(group=world.circle).order_by("id").values_list("body", flat=True)
    )
    assert stored == ["Sent as the line dropped.", "And one after it."]


def test_catching_up_pages_through_everything_missed_while_live_messages_arrive(
    world: Any, new_page: Any
) -> None:
    from django.utils import timezone

    from rooms.models import Message
    from rooms.services import enrollment_join

    live_session(world.circle)
    enrollment_join(group=world.circle, user=world.charlie, alias="Fern", agreement_accepted=True)
    fern = new_page()
    sign_in(fern, "charlie")
    enter_room(fern, world.circle.pk)

    # Alice's socket goes through a relay that can refuse new connections and hold back the
    # first page of her catch-up until the test lets it through.
    relay = Relay("/ws/rooms/")
    alice = new_page()
    relay.attach(alice)
    sign_in(alice, "alice")
    enter_room(alice, world.circle.pk)
    say(fern, "Before the drop.")
    expect(room_log(alice).get_by_text("Before the drop.")).to_be_visible()

    relay.blocked = True
    relay.upstream.send("x" * 70_000)  # over daphne's frame limit: the server closes it
    expect(alice.get_by_role("status").filter(has_text="Reconnecting")).to_be_visible()
    # More than one catch-up page (200) arrives while she is away.
    now = timezone.now()
    Message.objects.bulk_create(
        Message(group=world.circle, author=world.charlie, body=f"Missed {n}.", reviewed_at=now)
        for n in range(1, 251)
    )
    relay.hold = "history"
    relay.blocked = False
    expect(alice.get_by_role("status").filter(has_text="Live")).to_be_visible(timeout=20_000)
    relay.wait_for(alice, lambda: bool(relay.held), "the catch-up's first page")

    # A message arrives live before that page does: the page after it must still start where
    # the first one ends, not after the live one.
    say(fern, "Said live during the catch-up.")
    expect(room_log(alice).get_by_text("Said live during the catch-up.")).to_be_visible()
    relay.release()

    stored = list(
        Message.objects.filter(group=world.circle).order_by("id").values_list("body", flat=True)
    )
    assert len(stored) == 252
    expect(room_log(alice).locator(".msg-text")).to_have_text(stored, timeout=20_000)


def test_a_support_card_sent_while_the_socket_was_away_shows_on_reconnecting_once(
    world: Any, new_page: Any
) -> None:
    from moderation.crisis import assess

    text = "I have the pills counted out and I am taking them all tonight."
    assert assess(text).level == "emergency"
    ensure_resources()
    live_session(world.circle)

    # The card never arrives on the socket it was sent to: that link is gone by then.
    relay = Relay("/ws/rooms/", discard="support.resources")
    alice = new_page()
    relay.attach(alice)
    sign_in(alice, "alice")
    enter_room(alice, world.circle.pk)
    say(alice, text)
    mine = room_log(alice).get_by_role("listitem").filter(has_text="taking them all tonight")
    expect(mine).not_to_contain_text(re.compile("Waiting|Sending"))
    relay.wait_for(alice, lambda: relay.discarded > 0, "the support card")
    assert relay.discarded == 1
    support = alice.get_by_role("region", name="You're not alone")
    expect(support).to_be_hidden()

    relay.cut(block=False)
    expect(alice.get_by_role("status").filter(has_text="Live")).to_be_visible(timeout=20_000)
    expect(support).to_be_visible()
    expect(support).to_contain_text("Call or text 988")
    support.get_by_role("button", name="Close this note").click()
    expect(support).to_be_hidden()

    # Shown once: the alert is still open, but a reload does not bring the card back.
    alice.reload()
    expect(alice.get_by_role("status").filter(has_text="Live")).to_be_visible(timeout=20_000)
    expect(room_log(alice).get_by_text(text)).to_be_visible()
    expect(support).to_be_hidden()


def test_a_link_that_dies_without_closing_is_noticed_and_replaced(
    world: Any, new_page: Any
) -> None:
    from rooms.services import enrollment_join

    live_session(world.circle)
    enrollment_join(group=world.circle, user=world.charlie, alias="Fern", agreement_accepted=True)
    fern = new_page()
    sign_in(fern, "charlie")
    enter_room(fern, world.circle.pk)

    # Alice's line can go silent: nothing passes either way and nothing closes, as when a
    # laptop sleeps or a phone changes network under the page.
    relay = Relay("/ws/rooms/")
    alice = new_page()
    alice.clock.install()  # the page's timers are the test's: a minute passes in a moment
    relay.attach(alice)
    sign_in(alice, "alice")
    enter_room(alice, world.circle.pk)
    expect(alice.get_by_role("status").filter(has_text="Live")).to_be_visible()

    relay.go_silent()
    say(fern, "Said while her line was dead.")
    alice.clock.run_for(90_000)
    expect(alice.get_by_role("status").filter(has_text="Live")).to_be_visible(timeout=20_000)
    assert len(relay.lines) == 2
    expect(room_log(alice).get_by_text("Said while her line was dead.")).to_have_count(1)


def test_an_xss_payload_renders_as_text(world: Any, new_page: Any) -> None:
    from rooms.services import enrollment_join

    live_session(world.circle)
    enrollment_join(group=world.circle, user=world.charlie, alias="Fern", agreement_accepted=True)
    fern = new_page()
    sign_in(fern, "charlie")
    enter_room(fern, world.circle.pk)
    alice = new_page()
    sign_in(alice, "alice")
    enter_room(alice, world.circle.pk)

    payloads = [
        '<img src=x onerror="window.__pwned=1">',
        "<script>window.__pwned=2</script>",
        '<a href="javascript:window.__pwned=3">click</a> &lt;b&gt;',
        "see https://example.org/a?b=<svg/onload=alert(1)>",
    ]
    for text in payloads:
        say(alice, text)
    for text in payloads:
        expect(room_log(fern).get_by_text(text, exact=True)).to_be_visible()
    log = room_log(fern)
    expect(log.locator("img, script, svg, b")).to_have_count(0)
    links = log.get_by_role("link")
    expect(links).to_have_count(1)
    assert links.first.get_attribute("href") == "https://example.org/a?b="
    assert fern.evaluate("window.__pwned") is None
    assert alice.evaluate("window.__pwned") is None
    shoot(fern, "room-xss-as-text")


def test_get_help_now_shows_the_crisis_resources_on_every_page(world: Any, new_page: Any) -> None:
    ensure_resources()
    page = new_page()
    page.goto("/login/")
    page.get_by_role("button", name="Get help now").click()
    dialog = page.get_by_role("dialog", name="Help, right now")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_text("Call or text 988, any time")).to_be_visible()
    expect(dialog.get_by_role("link", name="Text HOME to 741741")).to_be_visible()
    shoot(page, "help-dialog")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("button", name="Get help now")).to_be_focused()

    live_session(world.circle)
    sign_in(page, "alice")
    enter_room(page, world.circle.pk)
    say(page, "Still here.")
    page.get_by_role("button", name="Get help now").click()
    expect(dialog.get_by_text("Call or text 988, any time")).to_be_visible()
    dialog.get_by_role("button", name="Close").click()
    # The room was never left: same socket, same messages.
    expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible()
    expect(room_log(page).get_by_text("Still here.")).to_be_visible()
    assert page.url.endswith(f"/rooms/{world.circle.pk}/")


def test_a_background_tab_whose_timers_fire_once_a_minute_keeps_a_quiet_rooms_socket(
    world: Any, new_page: Any
) -> None:
    """A browser slows a background tab's timers to once a minute. In a quiet room nothing else
    arrives between them; the socket is healthy and must not be dropped and replaced."""
    live_session(world.circle)
    relay = Relay("/ws/rooms/")
    alice = new_page()
    alice.clock.install()
    relay.attach(alice)
    sign_in(alice, "alice")
    enter_room(alice, world.circle.pk)
    expect(alice.get_by_role("status").filter(has_text="Live")).to_be_visible()

    for _ in range(5):
        alice.clock.fast_forward(60_000)  # a minute passes; each due timer fires once
        alice.wait_for_timeout(1000)  # and the ping it sent is answered meanwhile
    assert len(relay.lines) == 1, "the healthy socket was dropped"
    expect(alice.get_by_role("status").filter(has_text="Live")).to_be_visible()
    assert relay.forwarded.count("pong") >= 5

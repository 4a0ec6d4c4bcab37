"""The room under a member's hands: a burst of messages faster than the rate limit, a phone's
small screen, held messages across a reload, a session cancelled while it is live, and the
keyboard."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import live_session, shoot, sign_in
from tests.services import Daphne

pytestmark = pytest.mark.django_db(transaction=True)


def room_log(page: Any) -> Any:
    return page.get_by_role("list", name="Messages")


def enter_room(page: Any, group_id: int) -> None:
    page.goto(f"/rooms/{group_id}/")
    expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible()


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

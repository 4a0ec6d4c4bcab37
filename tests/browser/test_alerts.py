"""Escalation rings the people it reaches, on whatever page they are: an emergency nobody
acknowledges reaches the group's other facilitators (one on the Alerts page, one on Home) and
then on-call (an admin on the Groups page) with the chime, an assertive announcement, the count
in the nav and the tab title, and a browser notification. Sound the browser blocks is said
plainly and turned on with one click; the acknowledged and resolved cards name who did it. An
alert raised while Redis was away rings on an open page once Redis is back.

The connection fails in the ways a facilitator's laptop sees (tests go between the page and the
server): a socket that dies without a word is replaced and rings for what it missed, an alert
raised in the room while its socket reconnects still rings, the room's catch-up drops what was
resolved meanwhile and never undoes a newer update, a half-written resolution survives the list
being rebuilt, and a long queue's later pages are merged and rung for like the first."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.browser.conftest import (
    Relay,
    ensure_resources,
    enter_room,
    live_session,
    shoot,
    sign_in,
)
from tests.factories import crisis_alert
from tests.services import start_redis

pytestmark = pytest.mark.django_db(transaction=True)

WORDS = "I have the pills ready"
EMERGENCY = "I want to kill myself tonight. I have the pills ready."
# A message long enough that about ten of its alerts fill the alert socket's page.
LONG = "I can't stop thinking about it. " * 125

# Counts the chime's notes and the notifications the page makes: spies on the browser's own
# Web Audio and Notification objects, which still do their work.
SPIES = """
window.__notes = 0;
window.__notifications = [];
const Ctx = window.AudioContext;
if (Ctx) {
  const make = Ctx.prototype.createOscillator;
  Ctx.prototype.createOscillator = function () { window.__notes += 1; return make.call(this); };
}
const Real = window.Notification;
if (Real) {
  window.Notification = class extends Real {
    constructor(title, options) {
      super(title, options);
      window.__notifications.push(title + " | " + (options && options.body));
    }
  };
}
window.__announced = [];
document.addEventListener("DOMContentLoaded", () => {
  const region = document.getElementById("announcer-urgent");
  new MutationObserver(() => {
    if (region.textContent) window.__announced.push([Date.now(), region.textContent]);
  }).observe(region, { childList: true, characterData: true, subtree: true });
});
"""


def staff_page(
    new_page: Any, username: str, notifications: bool = True, relay: Relay | None = None
) -> Any:
    page = new_page(permissions=["notifications"] if notifications else [])
    page.add_init_script(SPIES)
    if relay is not None:
        relay.attach(page)
    sign_in(page, username)
    return page


def act_as(new_page: Any, user: Any) -> Callable[..., Any]:
    """POSTs to the running server's API as this person (by token), as their own device would:
    what it changes is announced on the sockets, unlike a row the test writes itself."""
    from rest_framework.authtoken.models import Token

    token, _ = Token.objects.get_or_create(user=user)
    request = new_page().request

    def post(path: str, body: dict[str, Any] | None = None) -> Any:
        response = request.post(
            path, headers={"Authorization": f"Token {token.key}"}, data=body or {}
        )
        assert response.ok, response.text()
        return response.json()

    return post


def say(page: Any, text: str) -> None:
    page.get_by_label("Message", exact=True).fill(text)
    page.get_by_role("button", name="Send").click()


def room_alerts(page: Any) -> Any:
    return page.get_by_role("list", name="Open alerts in this room")


def announced(page: Any, pattern: str) -> Any:
    return page.locator("#announcer-urgent").filter(has_text=re.compile(pattern))


def alice_in_a_live_session(world: Any, new_page: Any) -> Any:
    """The circle in session with frank co-facilitating (so one facilitator leaving raises no
    alert of its own), and alice's page in its room."""
    from rooms.models import GroupFacilitator

    ensure_resources()
    live_session(world.circle)
    GroupFacilitator.objects.create(group=world.circle, user=world.frank)
    alice = new_page()
    sign_in(alice, "alice")
    enter_room(alice, world.circle.pk)
    return alice


def escalate_now(alert: Any) -> dt.datetime:
    """Brings the alert's deadline to now: the worker (a 0.2 s tick) escalates it."""
    from moderation.models import Alert

    now = timezone.now()
    Alert.objects.filter(pk=alert.pk).update(ack_deadline=now)
    return now


def test_an_unacknowledged_emergency_rings_every_tier_it_reaches_on_any_page(
    world: Any, new_page: Any
) -> None:
    from moderation.models import Alert, Tier
    from rooms.models import GroupFacilitator
    from server.accounts.services import account_create

    gwen = account_create(
        username="gwen", password="pw-gwen-long", role="facilitator", email="gwen@example.org"
    )
    GroupFacilitator.objects.create(group=world.circle, user=world.frank)
    GroupFacilitator.objects.create(group=world.circle, user=gwen)
    world.dave.on_call = True
    world.dave.save()
    # An urgent alert already waiting: each page's count shows it once its socket is live.
    crisis_alert(world.circle, world.alice)

    # frank on the Alerts page: the browser blocks sound until he clicks, and the page says so
    # instead of showing "Play a sound" ticked.
    frank = staff_page(new_page, "frank")
    frank.goto("/alerts/")
    expect(frank.get_by_role("status").filter(has_text="Live")).to_be_visible()
    sound_box = frank.get_by_label("Play a sound for urgent and emergency alerts")
    blocked = frank.get_by_text("Your browser is blocking sound on this page")
    expect(blocked).to_be_visible()
    expect(sound_box).not_to_be_checked()
    shoot(frank, "alerts-sound-blocked")
    frank.get_by_role("button", name="Turn on sound").click()
    expect(sound_box).to_be_checked()
    expect(blocked).to_be_hidden()

    # gwen on Home and dave (on call) on Groups: the site-wide bell, one click to turn it on.
    gwen_page = staff_page(new_page, "gwen")
    gwen_page.goto("/")  # a page opened afresh: no click on it yet
    expect(gwen_page.locator("#nav-alert-count")).to_have_text("1 waiting")
    expect(gwen_page).to_have_title(re.compile(r"^\(1\) Home"))
    expect(gwen_page.get_by_text("Alert sound is blocked by the browser")).to_be_visible()
    bell = gwen_page.get_by_role("button", name="Turn on alert sound")
    bell.click()
    expect(bell).to_be_hidden()
    # dave's browser does not allow notifications: the sound still comes on with one click.
    dave = staff_page(new_page, "dave", notifications=False)
    dave.goto("/groups/")
    expect(dave.locator("#nav-alert-count")).to_have_text("1 waiting")
    expect(dave.get_by_text("Alert sound is blocked by the browser")).to_be_visible()
    shoot(dave, "groups-turn-on-alerts")
    turn_on = dave.get_by_role("button", name=re.compile("^Turn on alert"))
    turn_on.click()
    expect(turn_on).to_be_hidden()

    # An emergency at the first tier (carol, in the session) that nobody acknowledges.
    alert = crisis_alert(world.circle, world.alice, level="emergency", body=WORDS)
    notes_before = frank.evaluate("window.__notes")
    escalate_now(alert)

    expect(announced(frank, "Emergency alert escalated to you")).to_be_visible(timeout=5000)
    expect(announced(frank, "Willow may need help now")).to_be_visible()
    card = frank.get_by_role("listitem", name=re.compile("Emergency Willow"))
    expect(card).to_contain_text("escalation tier 2")
    assert frank.evaluate("window.__notes") > notes_before  # the chime played
    expect(frank).to_have_title(re.compile(r"^\(2\) Alerts"))

    expect(announced(gwen_page, "Emergency alert escalated to you")).to_be_visible(timeout=5000)
    expect(gwen_page.locator("#nav-alert-count")).to_have_text("2 waiting")
    expect(gwen_page).to_have_title(re.compile(r"^\(2\) Home"))
    assert gwen_page.evaluate("window.__notes") > 0
    notified = gwen_page.evaluate("window.__notifications")
    assert notified and "emergency" in notified[0] and "Evening Circle" in notified[0]
    assert WORDS not in notified[0]  # a notification may show on a locked screen
    shoot(gwen_page, "home-alert-escalated")

    # How long from the escalation to the announcement on each page (same clock): printed for
    # the record, not asserted.
    escalated_at = Alert.objects.get(pk=alert.pk).escalated_at
    assert escalated_at is not None
    for who, page in (("frank/Alerts", frank), ("gwen/Home", gwen_page)):
        at = page.evaluate("window.__announced.find(([, t]) => t.includes('escalated'))[0]")
        print(f"{who}: announced {at - escalated_at.timestamp() * 1000:.0f} ms after escalating")

    # The next tier: on-call staff, on any page.
    expect(dave.locator("#nav-alert-count")).to_have_text("1 waiting")
    escalate_now(alert)
    expect(announced(dave, "Emergency alert escalated to you")).to_be_visible(timeout=5000)
    expect(dave.locator("#nav-alert-count")).to_have_text("2 waiting")
    assert Alert.objects.get(pk=alert.pk).tier == Tier.ON_CALL

    # Acknowledged and resolved: the cards name who, and keep the note.
    card.get_by_role("button", name=re.compile("^Acknowledge")).click()
    expect(card).to_contain_text("Acknowledged by frank")
    expect(gwen_page.locator("#nav-alert-count")).to_have_text("1 waiting")
    card.get_by_text("Resolve with an outcome").click()
    card.get_by_label("Outcome").select_option(label="Private check-in")
    card.get_by_label("Note (for the team)").fill("Called her sister; she is safe tonight.")
    card.get_by_role("button", name="Resolve").click()
    frank.get_by_text("Recently resolved").click()
    done = frank.get_by_role("list").filter(has=frank.get_by_text("Resolved by frank"))
    expect(done).to_contain_text("Private check-in")
    expect(done).to_contain_text("Called her sister; she is safe tonight.")
    shoot(frank, "alerts-resolved-with-note")


def test_the_link_in_an_alert_email_opens_that_alert(world: Any, new_page: Any) -> None:
    from moderation.models import OutboundEmail

    alert = crisis_alert(world.circle, world.alice, due_in=-dt.timedelta(seconds=1))
    # The server's worker escalates it and writes the e-mail.
    carol = new_page()
    sign_in(carol, "carol")
    expect(carol.locator("#nav-alert-count")).to_have_text("1 waiting")
    mail = OutboundEmail.objects.filter(to=world.carol.email).first()
    for _ in range(50):
        if mail is not None:
            break
        carol.wait_for_timeout(100)
        mail = OutboundEmail.objects.filter(to=world.carol.email).first()
    assert mail is not None
    link = re.search(r"https?://\S+", mail.body)
    assert link and link.group(0).endswith(f"/alerts/#alert-{alert.pk}")
    address = urlsplit(link.group(0))
    carol.goto(f"{address.path}#{address.fragment}")
    card = carol.locator(f"#alert-{alert.pk}")
    expect(card).to_be_focused()
    expect(card).to_contain_text("Willow")
    # The link's anchor is the card's alone: no other element on the page has its id.
    duplicates = carol.evaluate(
        "() => { const ids = [...document.querySelectorAll('[id]')].map((e) => e.id);"
        " return ids.filter((id, i) => ids.indexOf(id) !== i); }"
    )
    assert duplicates == []


@pytest.fixture
def redis_web(server_factory: Any, tmp_path: Any) -> Iterator[tuple[Any, Any]]:  # noqa: F811
    """A Redis of the test's own (it is restarted) and a web process on it."""
    redis = start_redis(str(tmp_path))
    web = server_factory(
        REDIS_URL=redis.url,
        RATE_LIMIT_PER_SECOND="0",
        PRESENCE_HEARTBEAT_SECONDS="1",
        DJANGO_ALLOW_ASYNC_UNSAFE="",
    )
    yield redis, web
    web.stop()
    redis.stop()


def test_an_alert_raised_while_redis_was_away_rings_on_the_open_alerts_page(
    world: Any, new_page: Any, redis_web: tuple[Any, Any]
) -> None:

    redis, web = redis_web
    carol = new_page(base_url=web.url, permissions=["notifications"])
    carol.add_init_script(SPIES)
    sign_in(carol, "carol")
    carol.goto("/alerts/")
    expect(carol.get_by_role("status").filter(has_text="Live")).to_be_visible()
    expect(carol.get_by_text("No open alerts")).to_be_visible()

    # Raised while no announcement could reach the page (the row alone, announced to no one),
    # then Redis comes back empty.
    crisis_alert(world.circle, world.alice, level="emergency", body=WORDS)
    redis.restart()

    # The open page rings for it and lists it, without a reload. (The page's own poll of the
    # REST API would list it too, within 15 s, but silently: the ringing, the count and the
    # title come from the socket alone.)
    expect(
        announced(carol, "Emergency alert in Evening Circle: Willow may need help now")
    ).to_be_visible(timeout=20_000)
    expect(carol).to_have_title(re.compile(r"^\(1\) Alerts"))
    expect(carol.locator("#nav-alert-count")).to_have_text("1 waiting")
    card = carol.get_by_role("listitem", name=re.compile("Emergency Willow"))
    expect(card).to_contain_text(WORDS)
    notified = carol.evaluate("window.__notifications")
    assert notified and WORDS not in notified[0]


def test_an_alerts_socket_that_dies_silently_is_replaced_and_rings_for_what_it_missed(
    world: Any, new_page: Any
) -> None:
    # The page's clock is the test's: 45 s without a frame pass in a moment.
    carol = new_page(permissions=["notifications"])
    carol.add_init_script(SPIES)
    carol.clock.install()
    alerts = Relay("/ws/alerts/")
    alerts.attach(carol)
    sign_in(carol, "carol")
    alerts.wait_for(carol, lambda: "hello" in alerts.forwarded, "the alerts socket's hello")

    # The link dies with no close (a laptop lid shut): the page still says "Live". An alert is
    # raised meanwhile; it reaches the page only once the page notices and connects again.
    alerts.go_silent()
    crisis_alert(world.circle, world.alice, body=WORDS)
    carol.clock.run_for(90_000)

    expect(
        announced(carol, "Urgent alert in Evening Circle: Willow may need help now")
    ).to_be_visible(timeout=20_000)
    expect(carol.locator("#nav-alert-count")).to_have_text("1 waiting")
    assert len(alerts.lines) == 2


def test_an_alert_raised_in_the_room_while_its_socket_reconnects_rings_once_it_is_back(
    world: Any, new_page: Any
) -> None:
    from moderation.models import Alert

    alice = alice_in_a_live_session(world, new_page)
    frank = new_page()  # he stays, so carol's leaving raises no alert of its own
    sign_in(frank, "frank")
    enter_room(frank, world.circle.pk)
    room = Relay("/ws/rooms/")
    carol = staff_page(new_page, "carol", relay=room)
    enter_room(carol, world.circle.pk)

    room.cut(block=True)
    expect(carol.get_by_role("status").filter(has_text="Reconnecting")).to_be_visible()
    say(alice, EMERGENCY)
    room.wait_for(carol, Alert.objects.exists, "the alert")

    room.blocked = False
    card = room_alerts(carol).get_by_role("listitem", name=re.compile("^Emergency Willow"))
    expect(card).to_be_visible(timeout=30_000)
    expect(announced(carol, "emergency alert: Willow may need help")).to_be_visible()
    rung = [text for _, text in carol.evaluate("window.__announced") if "Willow" in text]
    assert len(rung) == 1, rung


@pytest.mark.parametrize("newer", [0, 120], ids=["newest", "older-than-100-others"])
def test_an_alert_resolved_while_the_room_socket_was_away_leaves_the_room(
    world: Any, new_page: Any, newer: int
) -> None:
    """However many alerts the group had since: the catch-up reads every unresolved one."""
    from moderation.models import Alert

    alert = crisis_alert(world.circle, world.alice, body=WORDS)
    later = timezone.now() + dt.timedelta(minutes=1)
    Alert.objects.bulk_create(
        Alert(
            group=world.circle,
            member=world.alice,
            level="urgent",
            category="self_harm",
            status="resolved",
            outcome="not_a_crisis",
            resolved_at=later,
        )
        for _ in range(newer)
    )
    Alert.objects.exclude(pk=alert.pk).update(created_at=later)
    room = Relay("/ws/rooms/")
    carol = staff_page(new_page, "carol", relay=room)
    enter_room(carol, world.circle.pk)
    card = room_alerts(carol).get_by_role("listitem", name=re.compile("^Urgent Willow"))
    expect(card).to_be_visible()

    room.cut(block=True)
    expect(carol.get_by_role("status").filter(has_text="Reconnecting")).to_be_visible()
    # Resolved elsewhere while no frame could tell the room.
    Alert.objects.filter(pk=alert.pk).update(
        status="resolved", resolved_at=timezone.now(), outcome="resolved"
    )
    room.blocked = False
    expect(carol.get_by_role("status").filter(has_text="Live")).to_be_visible(timeout=30_000)
    expect(card).to_have_count(0)
    expect(carol.get_by_text("None open.")).to_be_visible()


def test_the_room_catch_up_does_not_undo_an_acknowledgement_that_came_after_it(
    world: Any, new_page: Any
) -> None:
    from moderation.models import Report

    alert = crisis_alert(world.circle, world.alice, body=WORDS)
    dave = act_as(new_page, world.dave)
    room = Relay("/ws/rooms/")
    carol = staff_page(new_page, "carol", relay=room)
    enter_room(carol, world.circle.pk)
    card = room_alerts(carol).get_by_role("listitem", name=re.compile("^Urgent Willow"))
    acknowledge = card.get_by_role("button", name=re.compile("^Acknowledge"))
    expect(acknowledge).to_be_visible()

    # The room's catch-up after the next reconnect reads the alert (still open) and is held
    # back on its way. It also brings a report that no frame announced: once that shows, the
    # catch-up has been applied.
    held: list[tuple[Any, Any]] = []
    carol.route(
        re.compile(rf"/api/alerts/\?group={world.circle.pk}&"),
        lambda route: held.append((route, route.fetch())),
    )
    Report.objects.create(
        group=world.circle, message=alert.message, reporter=world.alice, reason="harassment"
    )
    room.cut(block=False)
    # Its two reads: the open alerts and the acknowledged ones.
    room.wait_for(carol, lambda: len(held) == 2, "the room's catch-up")

    # Meanwhile dave acknowledges it, and the room hears so live.
    dave(f"/api/alerts/{alert.pk}/acknowledge/")
    expect(card).to_contain_text("Acknowledged by dave")
    for route, response in held:
        route.fulfill(response=response)

    reports = carol.get_by_role("list", name="Open reports").get_by_role("listitem")
    expect(reports).to_contain_text("harassment")
    expect(card).to_contain_text("Acknowledged by dave")
    expect(acknowledge).to_have_count(0)


@pytest.mark.parametrize("where", ["alerts page", "room"])
def test_a_half_written_resolution_stays_when_another_alert_comes_in(
    world: Any, new_page: Any, where: str
) -> None:
    from moderation.models import Alert

    alert = crisis_alert(world.circle, world.alice, body=WORDS)
    carol = staff_page(new_page, "carol")
    if where == "room":
        enter_room(carol, world.circle.pk)
        queue = room_alerts(carol)
    else:
        carol.goto("/alerts/")
        expect(carol.get_by_role("status").filter(has_text="Live")).to_be_visible()
        queue = carol.get_by_role("list", name="Open alerts, most urgent first")
    cards = queue.get_by_role("listitem", name=re.compile("Willow"))
    card = queue.get_by_role("listitem", name=re.compile("^Urgent Willow"))
    card.get_by_text("Resolve with an outcome").click()
    outcome = card.get_by_label("Outcome")
    outcome.select_option(label="Private check-in")
    note = card.get_by_label("Note (for the team)")
    note.fill("Called her sister;")

    # Another alert, past its deadline: the worker escalates it to carol, and the list is built
    # again with it.
    crisis_alert(world.circle, world.alice, level="emergency", due_in=-dt.timedelta(seconds=1))
    expect(cards).to_have_count(2, timeout=20_000)
    expect(note).to_be_visible()
    expect(note).to_be_focused()
    expect(note).to_have_value("Called her sister;")
    expect(outcome).to_have_value("private_checkin")

    note.press_sequentially(" she is safe tonight.")
    card.get_by_role("button", name="Resolve").click()
    expect(card).to_have_count(0)
    resolved = Alert.objects.get(pk=alert.pk)
    assert (resolved.outcome, resolved.note) == (
        "private_checkin",
        "Called her sister; she is safe tonight.",
    )


def more_than_a_page_of_alerts(world: Any) -> None:
    """Twelve emergencies with long messages: the alert socket's queue comes in two pages."""
    for _ in range(12):
        crisis_alert(world.circle, world.alice, level="emergency", body=LONG)


def test_an_alert_resolved_before_its_page_arrives_is_not_shown_as_open(
    world: Any, new_page: Any
) -> None:
    from moderation.models import Tier

    more_than_a_page_of_alerts(world)
    # Urgent, so after the emergencies: on the second page. At the group's tier, so carol's
    # alert socket hears what becomes of it.
    alert = crisis_alert(world.circle, world.alice, body=WORDS, tier=Tier.GROUP)
    dave = act_as(new_page, world.dave)
    alerts = Relay("/ws/alerts/", hold="alerts.page")
    carol = staff_page(new_page, "carol", relay=alerts)
    alerts.wait_for(carol, lambda: bool(alerts.held), "the second page")

    # Resolved after the server read the second page, before the page reached carol.
    dave(f"/api/alerts/{alert.pk}/resolve/", {"outcome": "resolved"})
    alerts.wait_for(carol, lambda: "alert.updated" in alerts.forwarded, "the resolution")
    alerts.release()

    expect(carol.locator("#nav-alert-count")).to_have_text("12 waiting")
    expect(carol).to_have_title(re.compile(r"^\(12\) Home"))


def test_an_alert_missed_while_away_rings_when_it_comes_on_a_later_page(
    world: Any, new_page: Any
) -> None:
    more_than_a_page_of_alerts(world)
    alerts = Relay("/ws/alerts/")
    carol = staff_page(new_page, "carol", relay=alerts)
    expect(carol.locator("#nav-alert-count")).to_have_text("12 waiting")

    alerts.cut(block=True)
    # Raised while she is away; urgent, so it comes after the emergencies, on the second page.
    crisis_alert(world.circle, world.alice, body=WORDS)
    alerts.blocked = False

    expect(
        announced(carol, "Urgent alert in Evening Circle: Willow may need help now")
    ).to_be_visible(timeout=30_000)
    expect(carol.locator("#nav-alert-count")).to_have_text("13 waiting")


def test_a_watch_entry_raised_to_urgent_rings_in_the_room_and_on_any_page(
    world: Any, new_page: Any
) -> None:
    from moderation.models import Alert

    alice = alice_in_a_live_session(world, new_page)
    carol = staff_page(new_page, "carol")
    enter_room(carol, world.circle.pk)
    # Her second tab, on the alert queue: the site-wide bell.
    queue = staff_page(new_page, "carol")
    queue.goto("/alerts/")
    expect(queue.get_by_role("status").filter(has_text="Live")).to_be_visible()

    say(alice, "Some days I feel hopeless about all of it")  # the rules' watch
    card = room_alerts(carol).get_by_role("listitem", name=re.compile("Willow"))
    expect(card).to_be_visible()
    alert = Alert.objects.get()
    assert alert.level == "watch"
    notes = carol.evaluate("window.__notes")

    # A co-facilitator (or the learned stage, a moment after delivery) judges it urgent: the
    # same alert, raised, is a new emergency for whoever hears it.
    act_as(new_page, world.frank)(
        f"/api/messages/{alert.message_id}/flag/", {"level": "urgent", "category": "self_harm"}
    )
    expect(announced(carol, "urgent alert: Willow may need help")).to_be_visible()
    assert carol.evaluate("window.__notes") > notes
    expect(announced(queue, "Willow")).to_be_visible()


def test_an_acknowledged_emergency_rings_again_when_whoever_acknowledged_it_leaves(
    world: Any, new_page: Any
) -> None:
    from moderation.models import Alert
    from rooms.models import RoomConnection

    alice = alice_in_a_live_session(world, new_page)  # frank stays in the room after carol
    frank = staff_page(new_page, "frank")
    enter_room(frank, world.circle.pk)
    carol = staff_page(new_page, "carol")
    enter_room(carol, world.circle.pk)

    say(alice, EMERGENCY)
    card = room_alerts(carol).get_by_role("listitem", name=re.compile("^Emergency Willow"))
    card.get_by_role("button", name=re.compile("^Acknowledge")).click()
    expect(card).to_contain_text("Acknowledged by carol")
    expect(card).to_contain_text("It opens again for everyone if they leave the room")
    franks_card = room_alerts(frank).get_by_role("listitem", name=re.compile("^Emergency Willow"))
    expect(franks_card).to_contain_text("Acknowledged by carol")
    notes = frank.evaluate("window.__notes")

    carol.close()  # her laptop shuts with the alert unresolved
    for _ in range(100):  # the server has seen her socket close
        if not RoomConnection.objects.filter(user=world.carol).exists():
            break
        frank.wait_for_timeout(100)
    # Her laptop shut with the alert unresolved. The worker finds her away at one look and
    # again at the next, a moment later (brought forward here).
    alert = Alert.objects.get()
    escalate_now(alert)
    for _ in range(100):
        if Alert.objects.filter(pk=alert.pk, ack_away_since__isnull=False).exists():
            break
        frank.wait_for_timeout(100)
    escalate_now(alert)
    expect(
        announced(frank, "Emergency alert open again in Evening Circle: whoever acknowledged it")
    ).to_be_visible(timeout=10_000)
    assert frank.evaluate("window.__notes") > notes  # the chime played
    expect(franks_card.get_by_role("button", name=re.compile("^Acknowledge"))).to_be_visible()
    expect(franks_card).not_to_contain_text("Acknowledged by")
    shoot(frank, "room-alert-open-again")


def test_an_alert_open_again_while_the_page_was_away_rings_when_it_is_back(
    world: Any, new_page: Any
) -> None:
    """Acknowledged when the page last heard of it, open again by the time it reconnects (its
    acknowledger left, or its level rose): the page's queue shows it and rings for it."""
    from moderation.models import Alert

    alert = crisis_alert(world.circle, world.alice, level="emergency", body=WORDS)
    Alert.objects.filter(pk=alert.pk).update(
        status="acknowledged", acknowledged_at=timezone.now(), acknowledged_by=world.dave
    )
    alerts = Relay("/ws/alerts/")
    carol = staff_page(new_page, "carol", relay=alerts)
    carol.goto("/alerts/")
    card = carol.get_by_role("listitem", name=re.compile("^Emergency Willow"))
    expect(card).to_contain_text("Acknowledged by dave")
    notes = carol.evaluate("window.__notes")

    alerts.cut(block=True)
    Alert.objects.filter(pk=alert.pk).update(
        status="open", acknowledged_at=None, acknowledged_by=None
    )
    alerts.blocked = False
    expect(
        announced(carol, "Emergency alert open again in Evening Circle, not acknowledged")
    ).to_be_visible(timeout=30_000)
    assert carol.evaluate("window.__notes") > notes
    expect(card.get_by_role("button", name=re.compile("^Acknowledge"))).to_be_visible()

"""Escalation rings the people it reaches, on whatever page they are: an emergency nobody
acknowledges reaches the group's other facilitators (one on the Alerts page, one on Home) and
then on-call (an admin on the Groups page) with the chime, an assertive announcement, the count
in the nav and the tab title, and a browser notification. Sound the browser blocks is said
plainly and turned on with one click; the acknowledged and resolved cards name who did it. An
alert raised while Redis was away rings on an open page once Redis is back."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.browser.conftest import shoot, sign_in
from tests.factories import crisis_alert
from tests.services import start_redis

pytestmark = pytest.mark.django_db(transaction=True)

WORDS = "I have the pills ready"

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


def staff_page(new_page: Any, username: str, notifications: bool = True) -> Any:
    page = new_page(permissions=["notifications"] if notifications else [])
    page.add_init_script(SPIES)
    sign_in(page, username)
    return page


def announced(page: Any, pattern: str) -> Any:
    return page.locator("#announcer-urgent").filter(has_text=re.compile(pattern))


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

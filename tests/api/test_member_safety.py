"""Safety for members: crisis lines for the member's own country with tap-to-call and
tap-to-text links, and discreet mode for calendars and reminder e-mails."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from icalendar import Calendar
from rest_framework.test import APIClient

from moderation.models import SupportResource
from moderation.services import support_resources_frame
from rooms.models import Session
from rooms.worker import reminders_send

pytestmark = pytest.mark.django_db


def names(resources: list[dict]) -> list[str]:
    return [r["name"] for r in resources]


def test_a_visitor_with_no_country_sees_the_default_countrys_lines_then_international():
    response = APIClient().get("/api/resources/")
    assert response.status_code == 200
    found = names(response.json())
    assert found[:4] == [
        "Emergency services",
        "988 Suicide & Crisis Lifeline",
        "Crisis Text Line",
        "National Domestic Violence Hotline",
    ]
    # The international list follows, without a second "call your emergency number".
    assert found[4:] == ["Find A Helpline"]


def test_each_line_has_tap_to_call_and_tap_to_text_links_labelled_as_shown():
    by_name = {r["name"]: r for r in APIClient().get("/api/resources/?country=US").json()}
    assert by_name["Emergency services"]["contacts"] == [
        {"kind": "call", "label": "Call 911", "href": "tel:911"}
    ]
    assert by_name["988 Suicide & Crisis Lifeline"]["contacts"] == [
        {"kind": "call", "label": "Call 988", "href": "tel:988"},
        {"kind": "text", "label": "Text 988", "href": "sms:988"},
    ]
    assert by_name["Crisis Text Line"]["contacts"] == [
        {"kind": "text", "label": "Text HOME to 741741", "href": "sms:741741?body=HOME"}
    ]
    assert by_name["National Domestic Violence Hotline"]["contacts"] == [
        {"kind": "call", "label": "Call 800-799-7233", "href": "tel:8007997233"},
        {"kind": "text", "label": "Text START to 88788", "href": "sms:88788?body=START"},
    ]


@pytest.mark.parametrize(
    ("country", "emergency", "line"),
    [
        ("GB", "tel:999", "Samaritans"),
        ("IE", "tel:112", "Samaritans Ireland"),
        ("CA", "tel:911", "9-8-8 Suicide Crisis Helpline"),
        ("AU", "tel:000", "Lifeline"),
        ("IN", "tel:112", "Tele-MANAS"),
    ],
)
def test_each_included_country_has_its_own_emergency_number_and_crisis_line(
    country, emergency, line
):
    found = APIClient().get(f"/api/resources/?country={country}").json()
    assert found[0]["name"] == "Emergency services"
    assert found[0]["country"] == country
    assert found[0]["contacts"][0]["href"] == emergency
    assert line in names(found)
    assert "988 Suicide & Crisis Lifeline" not in names(found)
    assert names(found)[-1] == "Find A Helpline"


def test_a_country_without_lines_of_its_own_gets_the_international_ones():
    found = APIClient().get("/api/resources/?country=DE").json()
    assert names(found) == ["Emergency services", "Find A Helpline"]
    assert found[0]["country"] == ""
    assert found[0]["contacts"] == [{"kind": "call", "label": "Call 112", "href": "tel:112"}]


def test_the_countries_with_lines_are_listed_for_the_member_to_choose():
    data = APIClient().get("/api/resources/countries/").json()
    assert data == {"countries": ["AU", "CA", "GB", "IE", "IN", "US"], "country": "US"}


def test_an_admin_adds_a_line_for_a_new_country_and_members_there_see_it(world):
    SupportResource.objects.create(
        name="Telefonseelsorge", how="Call 0800 111 0 111", phone="0800 111 0 111", country="DE"
    )
    found = APIClient().get("/api/resources/?country=de").json()
    assert names(found) == ["Telefonseelsorge", "Emergency services", "Find A Helpline"]
    assert found[0]["contacts"][0]["href"] == "tel:08001110111"
    assert "DE" in APIClient().get("/api/resources/countries/").json()["countries"]


def test_a_member_chooses_their_country_and_sees_its_lines_by_default(world):
    client = world.client(world.alice)
    me = client.get("/api/me/").json()
    assert me["country"] == "" and me["discreet"] is False
    response = client.patch("/api/me/", {"country": "in"}, format="json")
    assert response.status_code == 200
    assert response.json()["country"] == "IN"
    assert "Tele-MANAS" in names(client.get("/api/resources/").json())
    assert client.get("/api/resources/countries/").json()["country"] == "IN"


def test_a_country_that_is_not_a_code_is_refused_with_a_reason(world):
    response = world.client(world.alice).patch("/api/me/", {"country": "I1"}, format="json")
    assert response.status_code == 400
    assert "two-letter country code" in str(response.json())


def test_the_private_support_card_shows_the_authors_countrys_lines(world):
    world.alice.country = "GB"
    world.alice.save()
    frame = support_resources_frame("urgent", "self_harm", user_id=world.alice.pk)
    assert names(frame["resources"]) == [
        "Emergency services",
        "Samaritans",
        "Shout",
        "Find A Helpline",
    ]
    abuse = support_resources_frame("urgent", "abuse_danger", user_id=world.alice.pk)
    assert "National Domestic Abuse Helpline" in names(abuse["resources"])
    other = support_resources_frame("urgent", "self_harm", user_id=world.bob.pk)
    assert "988 Suicide & Crisis Lifeline" in names(other["resources"])


def calendar_events(content: bytes) -> list:
    return [c for c in Calendar.from_ical(content).walk() if c.name == "VEVENT"]


def test_discreet_mode_names_no_group_in_the_calendar_feeds(world):
    client = world.client(world.alice)
    assert client.patch("/api/me/", {"discreet": True}, format="json").json()["discreet"] is True
    feed = client.get("/api/me/").json()["calendar_feed_url"].removeprefix("http://testserver")
    for response in (
        APIClient().get(feed),
        client.get(f"/api/groups/{world.circle.pk}/calendar.ics/"),
    ):
        assert response.status_code == 200
        assert b"Evening Circle" not in response.content
        assert b"/groups/" not in response.content
        summaries = {str(e["summary"]) for e in calendar_events(response.content)}
        assert summaries == {"Haven session"}
    # Someone else's feed of the same group is unchanged.
    bob_group = world.client(world.carol).get(f"/api/groups/{world.circle.pk}/calendar.ics/")
    assert b"Evening Circle" in bob_group.content


def test_discreet_mode_reminders_name_no_group_or_topic(world):
    world.alice.discreet = True
    world.alice.save()
    session = Session.objects.filter(group=world.circle).earliest("starts_at")
    mail.outbox = []
    assert reminders_send(now=session.starts_at - dt.timedelta(minutes=30)) == 1
    alice = next(m for m in mail.outbox if m.to == ["alice@example.org"])
    assert alice.subject.startswith("Reminder: your Haven session at ")
    for word in ("Circle", "Evening", "support", "group"):
        assert word not in alice.subject and word not in alice.body
    others = [m for m in mail.outbox if m.to != ["alice@example.org"]]
    assert all("Evening Circle" in m.subject for m in others)

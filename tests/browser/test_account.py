"""A member exports and deletes their data from the web app."""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.sync_api import expect

from rooms.models import Message
from server.accounts.models import User
from tests.browser.conftest import shoot, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_member_downloads_their_data_and_deletes_their_account(world: Any, new_page: Any):
    Message.objects.create(group=world.circle, author=world.alice, body="words that are mine")
    page = new_page()
    sign_in(page, "alice")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Account").click()
    expect(page.get_by_role("heading", name="Your account", exact=True)).to_be_visible()
    shoot(page, "account")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download my data").click()
    data = json.loads(open(download.value.path()).read())  # noqa: SIM115
    assert data["profile"]["username"] == "alice"
    assert [m["text"] for m in data["messages"]] == ["words that are mine"]

    page.get_by_label("Your password, to confirm").fill("not my password")
    page.get_by_label("I understand my account and my words will be deleted.").check()
    page.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_role("status").filter(has_text="password")).to_be_visible()
    assert User.objects.get(pk=world.alice.pk).is_active

    page.get_by_label("Your password, to confirm").fill("pw-alice-long")
    page.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_role("heading", name="Your account is deleted", exact=True)).to_be_visible()
    assert not User.objects.get(pk=world.alice.pk).is_active
    assert not Message.objects.filter(author_id=world.alice.pk).exists()

    page.goto("/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("pw-alice-long")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()

"""Accounts: the create_account command, token and session sign-in with their throttles, the
WebSocket ticket and /api/me/."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from server.accounts.models import User, WsTicket
from server.accounts.services import ws_ticket_issue, ws_ticket_redeem

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("role", "staff"), [("member", False), ("facilitator", False), ("admin", True)]
)
def test_create_account_command_creates_each_role(role, staff, capsys):
    call_command("create_account", "newperson", "--password", "a-long-password", "--role", role)
    user = User.objects.get(username="newperson")
    assert user.role == role
    assert user.is_staff is staff
    assert user.check_password("a-long-password")
    assert f"Created {role} 'newperson'" in capsys.readouterr().out


def test_create_account_command_refuses_a_taken_name_clearly(world):
    with pytest.raises(CommandError, match="The name 'Alice' is already taken"):
        call_command("create_account", "Alice", "--password", "another-password")
    assert User.objects.filter(username__iexact="alice").count() == 1


def test_create_account_command_refuses_an_unknown_role():
    with pytest.raises(CommandError, match="invalid choice: 'superhero'"):
        call_command(
            "create_account", "newperson", "--password", "pw-long-1", "--role", "superhero"
        )
    assert not User.objects.filter(username="newperson").exists()


def test_token_endpoint_gives_a_token_for_the_right_password(world):
    response = APIClient().post(
        "/api/auth/token/", {"username": "alice", "password": "pw-alice-long"}, format="json"
    )
    assert response.status_code == 200
    token = response.json()["token"]
    me = APIClient(HTTP_AUTHORIZATION=f"Token {token}").get("/api/me/")
    assert me.status_code == 200
    assert me.json()["username"] == "alice"


def test_token_endpoint_refuses_a_wrong_password_with_a_detail(world):
    response = APIClient().post(
        "/api/auth/token/", {"username": "alice", "password": "guess"}, format="json"
    )
    assert response.status_code == 400
    assert "Unable to log in" in response.json()["detail"]
    assert "token" not in response.json()


def test_token_endpoint_reports_missing_fields_per_field(world):
    response = APIClient().post("/api/auth/token/", {}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["detail"]
    assert "username" in body and "password" in body


def test_token_endpoint_is_throttled_after_repeated_failures(world):
    client = APIClient()
    codes = [
        client.post(
            "/api/auth/token/", {"username": "alice", "password": f"guess{i}"}, format="json"
        ).status_code
        for i in range(12)
    ]
    assert codes[:10] == [400] * 10
    assert codes[10:] == [429, 429]
    refused = client.post(
        "/api/auth/token/", {"username": "alice", "password": "pw-alice-long"}, format="json"
    )
    assert refused.status_code == 429
    assert "throttled" in refused.json()["detail"]
    assert "Retry-After" in refused


def test_token_throttle_counts_per_username_even_from_many_addresses(world):
    """Spoofing X-Forwarded-For (or a botnet) must not reset the count for one account."""
    codes = [
        APIClient()
        .post(
            "/api/auth/token/",
            {"username": "alice", "password": f"guess{i}"},
            format="json",
            HTTP_X_FORWARDED_FOR=f"203.0.113.{i}",
            REMOTE_ADDR=f"198.51.100.{i}",
        )
        .status_code
        for i in range(11)
    ]
    assert codes[-1] == 429


def test_token_throttle_counts_per_address_across_usernames(world):
    codes = [
        APIClient()
        .post("/api/auth/token/", {"username": f"user{i}", "password": "guess"}, format="json")
        .status_code
        for i in range(11)
    ]
    assert codes[-1] == 429


def test_login_page_signs_in_with_the_right_password(world):
    client = Client()
    assert client.get("/login/").status_code == 200
    response = client.post("/login/", {"username": "alice", "password": "pw-alice-long"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_login_page_shows_a_clear_error_for_a_wrong_password(world):
    response = Client().post("/login/", {"username": "alice", "password": "guess"})
    assert response.status_code == 200
    page = response.content.decode()
    alert = page[page.index('role="alert"') :]
    assert "username" in alert[:400] and "password" in alert[:400]
    assert "_auth_user_id" not in Client().session


def test_login_page_is_throttled_after_repeated_failures(world):
    client = Client()
    for i in range(10):
        assert client.post("/login/", {"username": "alice", "password": f"g{i}"}).status_code == 200
    response = client.post("/login/", {"username": "alice", "password": "pw-alice-long"})
    assert response.status_code == 429
    assert b"Too many failed sign-ins. Wait five minutes, then try again." in response.content
    assert "_auth_user_id" not in client.session


def test_ws_ticket_needs_a_signed_in_user(world):
    response = APIClient().post("/api/ws-ticket/")
    assert response.status_code == 401
    assert response.json()["detail"]


def test_ws_ticket_is_redeemed_once(world):
    response = world.client(world.alice).post("/api/ws-ticket/")
    assert response.status_code == 201
    ticket = response.json()["ticket"]
    assert len(ticket) >= 32
    assert ws_ticket_redeem(key=ticket) == world.alice
    assert ws_ticket_redeem(key=ticket) is None


def test_expired_or_unknown_ws_ticket_gives_nothing(world):
    key = ws_ticket_issue(user=world.alice)
    WsTicket.objects.filter(key=key).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert ws_ticket_redeem(key=key) is None
    assert ws_ticket_redeem(key="no-such-ticket") is None


def test_ws_ticket_lives_thirty_seconds(world):
    key = ws_ticket_issue(user=world.alice)
    ticket = WsTicket.objects.get(key=key)
    assert ticket.expires_at - ticket.created_at == pytest.approx(
        dt.timedelta(seconds=30), abs=dt.timedelta(seconds=1)
    )


def test_ws_ticket_of_a_deactivated_user_gives_nothing(world):
    key = ws_ticket_issue(user=world.alice)
    User.objects.filter(pk=world.alice.pk).update(is_active=False)
    assert ws_ticket_redeem(key=key) is None


def test_me_describes_the_signed_in_account(world, settings):
    response = world.client(world.carol).get("/api/me/")
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "id": world.carol.pk,
        "username": "carol",
        "email": "carol@example.org",
        "role": "facilitator",
        "on_call": False,
        "calendar_feed_url": f"http://testserver/calendar/{world.carol.calendar_token}.ics",
        "country": "",
        "discreet": False,
    }


def test_me_needs_a_signed_in_user():
    response = APIClient().get("/api/me/")
    assert response.status_code == 401

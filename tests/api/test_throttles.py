"""Per-person limits on the REST requests that open sockets or move seats (docs/api.md,
"Limits"): WebSocket tickets, and joins and leaves together. Over the limit the answer is 429
with Retry-After, and nobody else is slowed."""

from __future__ import annotations

import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db


def per_minute(scope: str) -> int:
    count, period = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"][scope].split("/")
    assert period.startswith("m")
    return int(count)


def test_minting_websocket_tickets_is_limited_per_person(world):
    alice = world.client(world.alice)
    for _ in range(per_minute("ws_ticket")):
        assert alice.post("/api/ws-ticket/").status_code == 201
    refused = alice.post("/api/ws-ticket/")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert "Expected available in" in refused.json()["detail"]
    assert world.client(world.bob).post("/api/ws-ticket/").status_code == 201


def test_joining_and_leaving_are_limited_together_per_person(world):
    charlie = world.client(world.charlie)
    join = f"/api/groups/{world.other.pk}/join/"
    leave = f"/api/groups/{world.other.pk}/leave/"
    for i in range(per_minute("enrollment")):
        if i % 2 == 0:
            response = charlie.post(join, {"alias": "Maple", "agreement_accepted": True}, "json")
        else:
            response = charlie.post(leave)
        assert response.status_code in (200, 201), response.json()
    refused = charlie.post(leave)
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    other = world.client(world.alice).post(
        join, {"alias": "Fern", "agreement_accepted": True}, "json"
    )
    assert other.status_code == 201

"""A server with the embedded worker and short deadlines, and sockets to it (rooms and alerts)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings

from tests.live.conftest import Socket, greeted_sockets
from tests.services import Daphne


@pytest.fixture(scope="session")
def alert_server(server_factory: Callable[..., Daphne]) -> Daphne:
    """One process with the embedded worker and deadlines short enough to watch."""
    return server_factory(
        EMBEDDED_WORKER="1",
        WORKER_TICK_SECONDS="0.2",
        ALERT_ACK_SECONDS_EMERGENCY="2",
        ALERT_ACK_SECONDS_URGENT="3",
        UNATTENDED_GRACE_SECONDS="2",
        # An acknowledgement is looked at again every second: it holds only while its giver
        # stays in the room.
        ALERT_ACK_HOLD_SECONDS="1",
        RATE_LIMIT_PER_SECOND="0",
        PRESENCE_HEARTBEAT_SECONDS="2",
    )


@pytest.fixture
def sockets(alert_server: Daphne) -> Iterator[Callable[..., Socket]]:
    with greeted_sockets(alert_server) as open_socket:
        yield open_socket


# The characters that cost the most bytes in a JSON frame: a 4-byte emoji (12 bytes when a
# serializer escapes it as a \ud83d\ude00 pair), control characters (\u0001: 6 bytes), quotes
# and backslashes (escaped), a line separator and HTML's special characters.
WORST = {
    "emoji": ("\U0001f600",),
    "control": ("\x01",),
    "mixed": ("\U0001f600", '"', "\\", "\x01", "\x1f", "\u2028", "<", "&", "\n"),
    # HTML escapes a quote as &quot; in the safe `body`, and JSON escapes it in `text`.
    "quotes": ('"',),
    # Every few characters a web address, which the safe `body` turns into a link.
    "links": tuple("http://a.bc "),
}


def largest(prefix: str, chars: tuple[str, ...], length: int | None = None) -> str:
    """The prefix, then the filler characters up to the longest valid message."""
    length = length or settings.MESSAGE_MAX_CHARS
    fill = "".join(chars[i % len(chars)] for i in range(length - len(prefix) - 1))
    text = f"{prefix} {fill}"
    assert len(text) == length
    return text


def largest_alerts(group: Any, author: Any, crisis: str, rounds: int = 3) -> list[int]:
    """Alerts on crisis messages of the longest valid length, `rounds` of each worst-case
    character set, as the send path raises them; their ids in the order made."""
    from moderation.crisis import assess
    from moderation.services import alert_for_message
    from rooms.models import Message

    raised = []
    for i, chars in enumerate(list(WORST.values()) * rounds):
        body = largest(f"{crisis} {i}", chars)
        message = Message.objects.create(group=group, author=author, body=body)
        alert = alert_for_message(message=message, assessment=assess(body))
        assert alert is not None
        raised.append(alert.pk)
    return raised


def whole_queue(sock: Socket, first: dict[str, Any]) -> list[dict[str, Any]]:
    """The alerts of a queue frame (`hello`) and of every `alerts.page` after it, paged with
    its cursors; each page holds alerts and says truly whether more follow."""
    got = list(first["alerts"])
    cursor = first["next"]
    while cursor is not None:
        sock.send({"type": "alerts.page", "cursor": cursor})
        page = sock.recv_type_of(("alerts.page",))
        assert page["alerts"]
        got += page["alerts"]
        cursor = page["next"]
        assert page["has_more"] is (cursor is not None)
    return got

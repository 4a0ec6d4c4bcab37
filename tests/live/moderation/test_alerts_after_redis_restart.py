"""A facilitator's open alerts page after Redis restarts empty: the socket stays open, hears of
the alerts raised while Redis was away, and goes on hearing of new ones, without reconnecting.
And rights taken away while Redis is away still close the sockets they opened."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from moderation.models import Alert
from server.accounts.models import User
from tests.live.conftest import Socket, database_url, greeted_sockets, open_room
from tests.live.moderation.conftest import WORST, largest, largest_alerts, whole_queue
from tests.services import Daphne, Redis, service_env, start_redis

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

CRISIS = "I want to end my life. I have the pills counted out for tonight."
AGAIN = "I still want to die tonight, I have the rope ready"


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Redis]:
    """A Redis of this module's own, since the test restarts it."""
    redis = start_redis(str(tmp_path_factory.mktemp("redis-restarted")))
    yield redis
    redis.stop()


@pytest.fixture(scope="module")
def web(
    django_db_setup,  # noqa: ANN001
    redis: Redis,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Daphne]:
    """A web process of its own on that Redis, with the production channel layer."""
    server = Daphne(
        service_env(
            DATABASE_URL=database_url(),
            REDIS_URL=redis.url,
            RATE_LIMIT_PER_SECOND="0",
            PRESENCE_HEARTBEAT_SECONDS="1",
            RIGHTS_SWEEP_SECONDS="1",
        ),
        Path(tmp_path_factory.mktemp("logs")) / "daphne.log",
    ).start()
    yield server
    server.stop()


@pytest.fixture
def sockets(web: Daphne) -> Iterator[Callable[..., Socket]]:
    with greeted_sockets(web) as open_socket:
        yield open_socket


def queue_with(sock: Socket, alert_id: int, timeout: float = 20) -> dict[str, Any]:
    """The next fresh queue (`hello`) the open socket is sent that lists this alert."""
    while True:
        hello = sock.recv_type_of(("hello",), timeout)
        if any(a["id"] == alert_id for a in hello["alerts"]):
            return hello


def shown(sock: Socket, alert_id: int, timeout: float = 20) -> dict[str, Any]:
    """The alert as the open socket is first given it: its `alert.new`, or a fresh queue that
    lists it (the layer may still be subscribing again when it is raised, and then the queue
    sent a few seconds after the restart has it)."""
    while True:
        frame = sock.recv_type_of(("alert.new", "hello"), timeout)
        alerts = [frame["alert"]] if frame["type"] == "alert.new" else frame["alerts"]
        for alert in alerts:
            if alert["id"] == alert_id:
                return alert


def test_an_open_alerts_page_gets_the_alerts_raised_while_redis_was_away_and_the_new_ones(
    world, redis, sockets
):
    open_room(world.circle)
    sockets(world.carol, f"/ws/rooms/{world.circle.pk}/")  # in the room: the alerts are hers
    carol_alerts = sockets(world.carol, "/ws/alerts/")
    alice = sockets(world.alice, f"/ws/rooms/{world.circle.pk}/")
    assert carol_alerts.hello["alerts"] == []

    # Redis goes away; a member in crisis writes meanwhile. The message and its alert are
    # stored, but the alert's announcement has nowhere to go.
    redis.stop()
    during = alice.say(CRISIS)
    assert during["type"] == "message.ack"
    raised = Alert.objects.get(message_id=during["id"])

    # Redis comes back empty. The open alerts socket is sent the queue afresh, with that alert.
    redis.start()
    hello = queue_with(carol_alerts, raised.pk)
    assert hello["you"]["username"] == "carol"
    assert hello["has_more"] is False

    # And it goes on hearing of new alerts.
    after = alice.say(AGAIN)
    assert after["type"] == "message.ack"
    alert = shown(carol_alerts, Alert.objects.get(message_id=after["id"]).pk)
    assert alert["message_id"] == after["id"]
    assert alert["status"] == "open"


def test_rights_taken_away_while_redis_is_away_still_close_the_sockets(world, redis, sockets):
    """The revocation event has no layer to travel on; the web process's own sweep of its open
    sockets (rooms/rights.py) closes them, and leaving the groups on a dead layer must not keep
    them open."""
    open_room(world.circle)
    in_room = sockets(world.carol, f"/ws/rooms/{world.circle.pk}/")
    queue = sockets(world.carol, "/ws/alerts/")
    redis.stop()
    try:
        User.objects.filter(pk=world.carol.pk).update(is_active=False)
        frames, code = in_room.closed(timeout=15)
        assert code == 4403
        assert [f["detail"] for f in frames if f["type"] == "error"] == [
            "This account is no longer active."
        ]
        assert queue.closed(timeout=15)[1] == 4403
    finally:
        redis.start()


def test_a_full_queue_of_the_largest_alerts_is_resent_in_pages_that_fit_after_redis_restarts(
    world, redis, sockets
):
    """The fresh queue sent after a restart is built like the first hello: a page that fits in
    a frame (daphne closes a socket with 1011 for a frame over 64 KiB), and a cursor for the
    rest, which the socket then pages through, the alert raised during the outage included."""
    open_room(world.circle)
    raised = largest_alerts(world.circle, world.alice, CRISIS)
    carol_alerts = sockets(world.carol, "/ws/alerts/")
    assert carol_alerts.hello["has_more"] is True
    alice = sockets(world.alice, f"/ws/rooms/{world.circle.pk}/")

    redis.stop()
    during = alice.say(largest(CRISIS, WORST["emoji"]))
    assert during["type"] == "message.ack"
    raised.append(Alert.objects.get(message_id=during["id"]).pk)
    redis.start()

    hello = carol_alerts.recv_type_of(("hello",), 20)
    assert hello["has_more"] is True and hello["alerts"]
    got = whole_queue(carol_alerts, hello)
    ids = [a["id"] for a in got]
    assert sorted(ids) == sorted(raised) and len(set(ids)) == len(ids)
    carol_alerts.send({"type": "ping"})
    assert carol_alerts.recv_type_of(("pong",))["type"] == "pong"

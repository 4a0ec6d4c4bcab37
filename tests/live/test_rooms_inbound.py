"""What one socket may ask of the server, over real sockets (rooms/inbound.py; docs/protocol.md,
"Limits"): every frame type has a rate, refused frames are answered with `rate_limited`, work
waiting per socket is bounded (`queue_full`), a socket that keeps flooding is closed with 4429
without the server's memory growing with the flood, and each person's sockets are capped. A
flood costs nobody else a message."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import psutil
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from rooms.frames import FLOODING
from rooms.inbound import RATES
from rooms.models import Message
from tests.live.conftest import Socket, open_socket, refusal, session_cookie

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def strict(server_factory):
    """Production's limits, with three sockets per person so the cap is quick to reach."""
    return server_factory(
        RATE_LIMIT_BURST="5",
        RATE_LIMIT_PER_SECOND="1",
        FRAME_RATE_LIMITS="1",
        MAX_SOCKETS_PER_USER="3",
        PRESENCE_HEARTBEAT_SECONDS="2",
    )


def burst(sock: Socket, frames: list[dict[str, Any] | str]) -> None:
    """Sends the frames in one write, as a script would, before the server reads any."""
    ws = sock.ws
    with ws.protocol_mutex:
        for frame in frames:
            text = frame if isinstance(frame, str) else json.dumps(frame)
            ws.protocol.send_text(text.encode())
        ws.send_data()


def until(sock: Socket, kind: str) -> list[dict[str, Any]]:
    """The frames before the next one of this type (presence and typing left out)."""
    seen = []
    while True:
        frame = sock.recv(10)
        if frame["type"] == kind:
            return seen
        if frame["type"] not in ("presence", "typing", "room.state"):
            seen.append(frame)


# One valid frame per type, what it is answered with when accepted (None: nothing), and who
# sends it (frank moderates the other group, bob is a member of it).
FLOODS = {
    "history": ({"type": "history", "limit": 1}, "history", "bob"),
    "typing": ({"type": "typing"}, None, "bob"),
    "ping": ({"type": "ping"}, "pong", "bob"),
    "hide": ({"type": "hide", "author": "nobody"}, "error", "bob"),
    "unhide": ({"type": "unhide", "author": "nobody"}, "error", "bob"),
    "report": ({"type": "report", "message_id": 0, "reason": "unkind"}, "error", "bob"),
    "flag": (
        {"type": "flag", "message_id": 0, "level": "watch", "category": "self_harm"},
        "error",
        "frank",
    ),
    "mute": ({"type": "mute", "member": "nobody", "minutes": 5}, "error", "frank"),
    "unknown": ({"type": "no.such.type"}, "error", "bob"),
    "not json": ("{not json", "error", "bob"),
}
RATE_OF = {"flag": "moderation", "mute": "moderation", "unknown": "other", "not json": "other"}


@pytest.mark.parametrize("name", sorted(FLOODS))
def test_a_flood_of_each_frame_type_is_refused_and_the_socket_keeps_working(
    world, strict, enter, name
):
    frame, answer, who = FLOODS[name]
    rate = RATES[RATE_OF.get(name, name)]
    action = frame["type"] if isinstance(frame, dict) and name != "unknown" else "other"
    flooder = enter(getattr(world, who), world.other, strict)
    count = int(rate.burst) + 10
    barrier = ("history", {"type": "history", "limit": 1}) if name == "ping" else ("pong", None)
    burst(flooder, [frame] * count + [barrier[1] or {"type": "ping"}])
    replies = until(flooder, barrier[0])
    refused = [r for r in replies if r.get("code") == "rate_limited"]
    answered = [r for r in replies if r.get("code") != "rate_limited"]
    assert refused, replies
    assert {r["action"] for r in refused} == {action}
    assert all(r["retry_after"] > 0 and "Wait" in r["detail"] for r in refused)
    if answer is not None:
        assert len(refused) + len(answered) == count
        assert {r["type"] for r in answered} == {answer}
    assert len(answered) >= rate.burst or answer is None
    # The limit lifts after the wait it named.
    time.sleep(refused[-1]["retry_after"] + 0.05)
    burst(flooder, [frame, {"type": "ping"}] if name != "ping" else [frame])
    after = until(flooder, "pong")
    assert not any(r.get("code") == "rate_limited" for r in after), after


def test_a_message_flood_answers_every_message_and_delivers_every_acknowledged_one(
    world, strict, enter
):
    bob = enter(world.bob, world.other, strict)
    frank = enter(world.frank, world.other, strict)
    ids = [str(uuid.uuid4()) for _ in range(40)]
    # Plain words: a body carrying the random id could look like a phone number and be held
    # (message.held) for its contact details, which is not what this test is about.
    burst(bob, [{"type": "message.send", "client_id": c, "body": "flood"} for c in ids])
    replies: dict[str, dict[str, Any]] = {}
    while len(replies) < len(ids):
        reply = bob.recv_type_of(("message.ack", "error"), 10)
        assert reply["client_id"] not in replies, reply
        replies[reply["client_id"]] = reply
    acked = [r["id"] for r in replies.values() if r["type"] == "message.ack"]
    assert {r["code"] for r in replies.values() if r["type"] == "error"} == {"rate_limited"}
    assert sorted(Message.objects.filter(author=world.bob).values_list("pk", flat=True)) == sorted(
        acked
    )
    for message_id in sorted(acked):
        assert frank.recv_message(message_id)
    assert frank.say("frank was never limited")["type"] == "message.ack"


def test_a_socket_that_keeps_sending_refused_frames_is_told_and_closed_with_4429(
    world, strict, enter
):
    bob = enter(world.bob, world.other, strict)
    burst(bob, [{"type": "typing"}] * 300)
    frames, code = bob.closed()
    assert code == FLOODING
    codes = [f.get("code") for f in bob.backlog + frames if f["type"] == "error"]
    assert codes[-1] == "flooding"
    assert set(codes[:-1]) == {"rate_limited"}
    assert len(codes) < 300  # closed before the rest were even answered


def test_a_big_flood_is_cut_off_and_the_server_does_not_keep_it(world, strict, enter):
    frank = enter(world.frank, world.other, strict)
    bob = enter(world.bob, world.other, strict)
    first = bob.say("before the flood")
    assert first["type"] == "message.ack"
    server = psutil.Process(strict.proc.pid)
    before = server.memory_info().rss
    frame = json.dumps({"type": "history", "limit": 200, "pad": "x" * 60_000})
    sent = 0
    with pytest.raises(ConnectionClosed):
        for _ in range(3000):  # 180 MB, if the server read it all
            bob.ws.send(frame)
            sent += 1
    # A client that is still writing may miss the close frame (the socket is reset under it);
    # the server says why it closed.
    assert "socket closed for flooding" in strict.log_path.read_text()
    assert sent < 3000
    grown = server.memory_info().rss - before
    assert grown < 64 * 2**20, f"the server grew by {grown / 2**20:.0f} MiB"
    # Nobody else lost anything: the room goes on, and the message before the flood stands.
    assert frank.recv_message(first["id"])["text"] == "before the flood"
    assert frank.say("still here")["type"] == "message.ack"
    again = enter(world.bob, world.other, strict)
    assert again.say("back after the flood")["type"] == "message.ack"


@pytest.fixture(scope="module")
def one_slot(server_factory):
    """No rates, and room for one frame of waiting work per socket."""
    return server_factory(
        RATE_LIMIT_PER_SECOND="0", INBOUND_QUEUE_FRAMES="1", PRESENCE_HEARTBEAT_SECONDS="2"
    )


def test_work_beyond_the_sockets_queue_is_refused_with_queue_full(world, one_slot, enter):
    bob = enter(world.bob, world.other, one_slot)
    burst(bob, [{"type": "history", "limit": 200}] * 30)
    replies = [bob.recv_type_of(("history", "error"), 10) for _ in range(30)]
    full = [r for r in replies if r["type"] == "error"]
    assert full, "thirty requests at once, one waiting at a time"
    assert {(r["code"], r["action"]) for r in full} == {("queue_full", "history")}
    assert len(full) + sum(r["type"] == "history" for r in replies) == 30
    bob.send({"type": "ping"})
    assert bob.recv_type_of(("pong",))["type"] == "pong"


def test_each_person_has_at_most_the_allowed_sockets(world, strict, enter):
    for _ in range(3):
        enter(world.bob, world.other, strict)
    frames, code = refusal(strict, world.other.pk, world.bob)
    assert code == FLOODING
    assert frames[0]["code"] == "too_many_sockets"
    assert enter(world.frank, world.other, strict).say("others still get in")["type"] == (
        "message.ack"
    )


def test_a_closed_socket_frees_its_place(world, strict):
    socks = [Socket(open_socket(strict, world.other.pk, world.bob)) for _ in range(3)]
    for sock in socks:
        assert sock.recv()["type"] == "hello"
    socks[0].close()
    deadline = time.monotonic() + 10
    while True:  # the server notices the close a moment later
        ws = open_socket(strict, world.other.pk, world.bob)
        hello = json.loads(ws.recv(timeout=5))
        ws.close()
        if hello["type"] == "hello" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert hello["type"] == "hello"
    for sock in socks[1:]:
        sock.close()


def test_a_flood_on_the_alerts_socket_is_refused(world, strict):
    with connect(
        f"{strict.ws_url}/ws/alerts/",
        origin=strict.url,
        additional_headers={"Cookie": session_cookie(world.frank)},
        open_timeout=10,
    ) as ws:
        sock = Socket(ws)
        assert sock.recv()["type"] == "hello"
        count = int(RATES["ping"].burst) + 10
        burst(sock, [{"type": "ping"}] * count)
        replies = [sock.recv(10) for _ in range(count)]
        refused = [r for r in replies if r.get("code") == "rate_limited"]
        assert refused and {r["action"] for r in refused} == {"ping"}
        assert len(refused) + sum(r["type"] == "pong" for r in replies) == count

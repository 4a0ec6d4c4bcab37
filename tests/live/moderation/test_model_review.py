"""The learned stage over real sockets against running servers: the rules answer at once, the
model reads each message after it was acknowledged and delivered, and what it finds reaches the
facilitators and the member a moment later. The messages are chosen by what rules and model say
of them, checked first, so a retrained model that reads them otherwise fails loudly here."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from moderation.crisis import assess
from moderation.crisis.combine import assess_both
from moderation.models import Alert, AuditEntry
from rooms.models import Message
from tests.live.conftest import open_room
from tests.live.http import api
from tests.services import Daphne

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

# The rules find nothing; rules and model together find a crisis.
ONLY_THE_MODEL = [
    "I have the rope in the garage",
    "I want to sleep and never wake up",
]
# The rules say watch; rules and model together say urgent.
WATCH_TO_URGENT = "I just want the pain to stop forever"
ORDINARY = "Work was long. I made soup and went to bed early."


def room(group: Any) -> str:
    return f"/ws/rooms/{group.pk}/"


def only_the_model(text: str) -> str:
    assert assess(text).level == "none", f"the rules now read {text!r} as a crisis"
    assert assess_both(text).level in ("urgent", "emergency"), f"the model now passes {text!r}"
    return text


def readyz(server: Daphne) -> dict[str, Any]:
    with urllib.request.urlopen(f"{server.url}/readyz", timeout=10) as response:
        return dict(json.loads(response.read()))


def wait_for(check: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def model_ready(server: Daphne) -> None:
    """The scoring process loads the model while the server starts: seconds on a busy machine.
    Messages sent before are reviewed once it has loaded; these tests watch for them in a few
    seconds, so they start when it is ready."""
    wait_for(lambda: readyz(server)["crisis_model"] == "loaded", 120)


def test_a_crisis_only_the_model_reads_reaches_carol_as_an_alert_and_alice_as_a_support_card(
    world, sockets, alert_server
):
    text = only_the_model(ONLY_THE_MODEL[0])
    model_ready(alert_server)
    open_room(world.circle)
    carol_alerts = sockets(world.carol, "/ws/alerts/")
    carol_room = sockets(world.carol, room(world.circle))
    alice = sockets(world.alice, room(world.circle))
    started = time.monotonic()
    alice.send(
        {"type": "message.send", "client_id": "0d9b6f0e-5b1e-4f43-9f57-2b6b2f1c0a11", "body": text}
    )
    # The ack comes first, before anything the model found: it never waits for the model.
    first = alice.recv_type_of(("message.ack", "support.resources", "error"))
    assert first["type"] == "message.ack", first
    assert carol_room.recv_message(first["id"])["text"] == text

    alert = carol_alerts.recv_type("alert.new")["alert"]
    card = alice.recv_type_of(("support.resources",))
    assert time.monotonic() - started < 5  # generous for a noisy machine; bench/ measures it
    assert alert["message_id"] == first["id"]
    assert alert["level"] in ("urgent", "emergency") and alert["ack_deadline"]
    assert "model:" in alert["explanation"]
    assert alert["tier"] == 1  # carol is in the room
    assert (card["level"], card["category"]) == (alert["level"], alert["category"])
    assert any("988" in r["how"] for r in card["resources"])
    assert carol_room.recv_type_of(("alert.new",))["alert"]["id"] == alert["id"]
    assert AuditEntry.objects.get(action="alert.raised").data["raised_by"] == "model"
    assert readyz(alert_server)["crisis_model"] == "loaded"


def test_a_support_card_raised_while_the_member_was_away_comes_in_her_next_hello_until_resolved(
    world, sockets, alert_server
):
    from rooms.services import enrollment_join

    text = only_the_model(ONLY_THE_MODEL[1])
    model_ready(alert_server)
    open_room(world.circle)
    alice = sockets(world.alice, room(world.circle))
    assert "support" not in alice.hello
    ack = alice.say(text)
    assert ack["type"] == "message.ack", ack
    # Her phone loses its network right after the ack, before the model has read the message.
    alice.close()
    wait_for(lambda: Alert.objects.filter(message_id=ack["id"]).exists())
    alert = Alert.objects.get(message_id=ack["id"])

    back = sockets(world.alice, room(world.circle))
    card = back.hello["support"]
    assert card["type"] == "support.resources"
    assert card["message_id"] == ack["id"]
    assert (card["level"], card["category"]) == (alert.level, alert.category)
    assert any("988" in r["how"] for r in card["resources"])
    # Only hers: nobody else's hello in the room carries it.
    enrollment_join(group=world.circle, user=world.charlie, alias="Fern", agreement_accepted=True)
    assert "support" not in sockets(world.charlie, room(world.circle)).hello
    assert "support" not in sockets(world.carol, room(world.circle)).hello

    status, body = api(
        alert_server.url,
        world.carol,
        "POST",
        f"/api/alerts/{alert.pk}/resolve/",
        {"outcome": "resolved", "note": "talked with her"},
    )
    assert status == 200, body
    assert "support" not in sockets(world.alice, room(world.circle)).hello


def test_the_model_raising_a_watch_message_to_urgent_updates_the_alert_carol_already_has(
    world, sockets, alert_server
):
    assert assess(WATCH_TO_URGENT).level == "watch"
    assert assess_both(WATCH_TO_URGENT).level == "urgent"
    model_ready(alert_server)
    open_room(world.circle)
    carol_alerts = sockets(world.carol, "/ws/alerts/")
    sockets(world.carol, room(world.circle))
    alice = sockets(world.alice, room(world.circle))
    ack = alice.say(WATCH_TO_URGENT)
    assert ack["type"] == "message.ack"
    watch = carol_alerts.recv_type("alert.new")["alert"]
    assert (watch["message_id"], watch["level"]) == (ack["id"], "watch")
    updated = carol_alerts.recv_type_of(("alert.updated",))["alert"]
    assert (updated["id"], updated["level"]) == (watch["id"], "urgent")
    assert updated["status"] == "open" and updated["ack_deadline"]
    assert "by the model: " in updated["explanation"]
    assert alice.recv_type_of(("support.resources",))["level"] == "urgent"
    assert Alert.objects.filter(message_id=ack["id"]).count() == 1


# A crisis typed in two messages: the first a watch sign to the rules, the second nothing;
# the model reads each below urgent alone, and the two together as urgent or above.
TOLD_IN_TWO = ("I can't do this anymore.", "Don't worry about me after tonight.")


def test_a_crisis_told_in_two_messages_reaches_carol_as_an_alert_on_the_second(
    world, sockets, alert_server
):
    from moderation.crisis.model import default

    found = default()
    assert found is not None
    alone = [v.level for v in found.predict(list(TOLD_IN_TWO))]
    joint = found.predict(["\n".join(TOLD_IN_TWO)])[0].level
    assert alone[0] in ("none", "watch") and alone[1] in ("none", "watch"), alone
    assert joint in ("urgent", "emergency"), f"the model now reads the two together as {joint}"
    assert assess(TOLD_IN_TWO[0]).level == "watch" and assess(TOLD_IN_TWO[1]).level == "none"
    model_ready(alert_server)
    open_room(world.circle)
    carol_alerts = sockets(world.carol, "/ws/alerts/")
    sockets(world.carol, room(world.circle))
    alice = sockets(world.alice, room(world.circle))
    first = alice.say(TOLD_IN_TWO[0])
    second = alice.say(TOLD_IN_TWO[1])
    assert first["type"] == second["type"] == "message.ack"
    watch = carol_alerts.recv_type("alert.new")["alert"]
    assert (watch["message_id"], watch["level"]) == (first["id"], "watch")
    alert = carol_alerts.recv_type("alert.new")["alert"]
    assert alert["message_id"] == second["id"] and alert["level"] in ("urgent", "emergency")
    assert alert["ack_deadline"]
    assert "model, with the member's message before it: " in alert["explanation"]
    card = alice.recv_type_of(("support.resources",))
    assert card["level"] == alert["level"]
    # The second reading named only in the explanation: the first message's own watch stands.
    assert Alert.objects.get(pk=watch["id"]).level == "watch"


def test_the_scoring_process_of_a_web_process_killed_hard_exits_too(server_factory):
    server = server_factory(RATE_LIMIT_PER_SECOND="0")
    model_ready(server)
    [scorer] = scoring_processes(server)
    assert server.proc is not None
    server.proc.kill()  # no chance to stop its children
    server.proc.wait()

    def gone() -> bool:
        try:
            status = Path(f"/proc/{scorer}/status").read_text()
        except OSError:
            return True
        return "State:\tZ" in status  # exited, not yet reaped by whoever adopted it

    wait_for(gone, 15)


@pytest.fixture(scope="session")
def server_without_model(server_factory: Callable[..., Daphne]) -> Daphne:
    return server_factory(
        CRISIS_MODEL="off", RATE_LIMIT_PER_SECOND="0", PRESENCE_HEARTBEAT_SECONDS="2"
    )


def test_with_the_model_off_messages_are_delivered_and_nothing_is_reviewed(
    world, server_without_model, enter
):
    text = only_the_model(ONLY_THE_MODEL[1])
    open_room(world.circle)
    carol = enter(world.carol, world.circle, server_without_model)
    alice = enter(world.alice, world.circle, server_without_model)
    ack = alice.say(text)
    assert ack["type"] == "message.ack"
    assert carol.recv_message(ack["id"])["text"] == text
    alice.quiet(("support.resources",), timeout=1.0)  # the model would have answered by now
    # The rules alone still raise alerts and give the card, as before the model.
    crisis = alice.say("I want to end my life. I have the pills counted out for tonight.")
    assert carol.recv_type_of(("alert.new",))["alert"]["message_id"] == crisis["id"]
    assert alice.recv_type_of(("support.resources",))["level"] == "emergency"
    assert not Alert.objects.filter(message_id=ack["id"]).exists()
    assert not Message.objects.filter(reviewed_at__isnull=False).exists()
    assert readyz(server_without_model)["crisis_model"] == "off"


def test_the_web_reviewer_and_a_worker_sweeping_at_once_raise_each_alert_once(
    world, server, enter, worker_factory
):
    """A worker that sweeps every message at once (REVIEW_SWEEP_SECONDS=0) races the web
    process's reviewer for each one; the claim lets exactly one of them raise its alert."""
    texts = [only_the_model(t) for t in ONLY_THE_MODEL]
    open_room(world.circle)
    workers = [
        worker_factory(REVIEW_SWEEP_SECONDS="0", WORKER_TICK_SECONDS="0.02") for _ in range(2)
    ]
    wait_for(lambda: all("crisis model loaded" in w.log_path.read_text() for w in workers), 30)
    alice = enter(world.alice, world.circle, server)
    # A burst of a second or two: while the reviewer writes the alerts of one batch, the
    # workers' sweeps find the next messages unreviewed and race it for them.
    for i in range(60):
        alice.send({"type": "message.send", "client_id": str(uuid.uuid4()), "body": texts[i % 2]})
    ids = [alice.recv_type_of(("message.ack",))["id"] for _ in range(60)]
    wait_for(lambda: Message.objects.filter(pk__in=ids, reviewed_at__isnull=True).count() == 0)
    time.sleep(0.5)  # anything still racing has had its turn
    for message_id in ids:
        assert Alert.objects.filter(message_id=message_id).count() == 1, message_id
    assert AuditEntry.objects.filter(action="alert.raised").count() == len(ids)


def test_an_ordinary_message_is_marked_reviewed_by_the_web_process_with_no_alert(
    world, server, enter
):
    assert assess_both(ORDINARY).level == "none"
    model_ready(server)
    open_room(world.circle)
    alice = enter(world.alice, world.circle, server)
    ack = alice.say(ORDINARY)
    assert ack["type"] == "message.ack"
    # Nobody waits for these marks: they are written together, within MARK_SECONDS.
    wait_for(lambda: Message.objects.filter(pk=ack["id"], reviewed_at__isnull=False).exists(), 5)
    message = Message.objects.get(pk=ack["id"])
    assert message.model_score["level"] == "none" and message.level == "none"
    assert not Alert.objects.exists()
    alice.quiet(("support.resources",), timeout=0.2)


@pytest.fixture(scope="session")
def sweeping_server(server_factory: Callable[..., Daphne]) -> Daphne:
    return server_factory(
        EMBEDDED_WORKER="1",
        WORKER_TICK_SECONDS="0.2",
        REVIEW_SWEEP_SECONDS="2",
        RATE_LIMIT_PER_SECOND="0",
        PRESENCE_HEARTBEAT_SECONDS="2",
    )


def scoring_processes(server: Daphne) -> list[int]:
    """The web process's children that score messages (not multiprocessing's resource tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        parent = next(int(x.split()[1]) for x in status.splitlines() if x.startswith("PPid:"))
        if parent == server.proc.pid and "spawn_main" in cmdline:
            found.append(int(entry.name))
    return found


def test_when_the_scoring_process_dies_a_crisis_only_the_model_reads_still_reaches_carol(
    world, sweeping_server, enter
):
    """The model scores in a process of its own, so the analyzers never hold the web process's
    interpreter lock. If that process dies (killed for memory, say), the web process starts
    another, and the messages of the batch it lost are reviewed by the sweep."""
    texts = [only_the_model(t) for t in ONLY_THE_MODEL]
    model_ready(sweeping_server)
    [scorer] = scoring_processes(sweeping_server)
    os.kill(scorer, signal.SIGKILL)
    open_room(world.circle)
    carol = enter(world.carol, world.circle, sweeping_server)
    alice = enter(world.alice, world.circle, sweeping_server)
    for text in texts:
        ack = alice.say(text)
        assert ack["type"] == "message.ack"
        alert = carol.recv_type_of(("alert.new",), timeout=60)["alert"]
        # The second may be read with the first: "model, with the member's message before it".
        assert alert["message_id"] == ack["id"] and alert["explanation"].startswith("model")
        assert alice.recv_type_of(("support.resources",), timeout=10)["level"] == alert["level"]
    wait_for(lambda: readyz(sweeping_server)["crisis_model"] == "loaded", 60)
    assert scoring_processes(sweeping_server) not in ([], [scorer])

"""Learning from facilitators: their judgements of messages become labelled examples for the
crisis detector. Services for each source, the flag action over REST for every persona, the
admins' export, and the examples leaving with the words they were made of."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.utils import timezone

from moderation import actions, services
from moderation.models import Alert, AlertStatus, AuditEntry, DetectorExample, Tier
from rooms.events import user_group
from rooms.models import Enrollment, Message, MessageStatus
from rooms.worker import messages_purge
from server.accounts.privacy import account_delete

EXPORT_FIELDS = {
    "id",
    "text",
    "level",
    "category",
    "source",
    "rule_ids",
    "model_score",
    "detector_level",
}
ORDINARY = "Work was long. I made soup and went to bed early."


@dataclass(frozen=True)
class Verdict:
    """What the detector says of a message, fixed here so the tests do not hang on its rules."""

    level: str
    category: str = "self_harm"
    rule_ids: tuple[str, ...] = ()
    explanation: str = "test verdict"


def said(world: Any, body: str = ORDINARY, verdict: Verdict | None = None, **extra: Any) -> Message:
    """Alice's message in the circle, as the send path stores it, with its alert if any."""
    verdict = verdict or Verdict("none", "none")
    message = Message.objects.create(
        group=world.circle,
        author=world.alice,
        body=body,
        level=verdict.level,
        category=verdict.category,
        rule_ids=list(verdict.rule_ids),
        **extra,
    )
    services.alert_for_message(message=message, assessment=verdict)
    return message


def alert_of(message: Message) -> Alert:
    return Alert.objects.get(message=message)


@pytest.fixture
def member_frames() -> Iterator[Any]:
    """Reads the private frames the services send to a person's sockets, from the real
    (in-memory) channel layer, after the transaction's on-commit callbacks have run."""
    layer = get_channel_layer()
    joined: list[tuple[str, str]] = []

    def listen(user: Any) -> Any:
        channel = async_to_sync(layer.new_channel)()
        async_to_sync(layer.group_add)(user_group(user.pk), channel)
        joined.append((user_group(user.pk), channel))

        def frames() -> list[dict[str, Any]]:
            async def drain() -> list[dict[str, Any]]:
                out = []
                while True:
                    try:
                        event = await asyncio.wait_for(layer.receive(channel), 0.05)
                    except TimeoutError:
                        return out
                    out.append(event.get("frame", event))

            return async_to_sync(drain)()

        return frames

    yield listen
    for group, channel in joined:
        async_to_sync(layer.group_discard)(group, channel)


# ---------------------------------------------------------------- not a crisis


def test_resolving_an_alert_as_not_a_crisis_keeps_the_words_as_a_none_example(world):
    message = said(world, "I could kill for a coffee", Verdict("watch", "harm_others", ("x.kill",)))
    services.alert_resolve(alert=alert_of(message), by=world.carol, outcome="not_a_crisis")
    example = DetectorExample.objects.get()
    assert (example.source, example.level, example.category) == ("not_a_crisis", "none", "none")
    assert example.text == "I could kill for a coffee"
    assert example.rule_ids == ["x.kill"] and example.detector_level == "watch"
    assert example.created_by == world.carol and example.model_score is None


@pytest.mark.parametrize(
    "outcome", ["supported_in_room", "private_checkin", "referred", "emergency_services"]
)
def test_resolving_an_alert_with_another_outcome_keeps_no_example(world, outcome):
    message = said(world, "I want to die", Verdict("urgent"))
    services.alert_resolve(alert=alert_of(message), by=world.carol, outcome=outcome)
    assert not DetectorExample.objects.exists()


# ---------------------------------------------------------------- flagged


def test_flagging_a_message_the_detector_let_pass_raises_an_alert_as_the_detector_would(world):
    message = said(world)
    before = timezone.now()
    alert = actions.message_flag(
        by=world.carol, message=message, level="urgent", category="self_harm", note="context"
    )
    assert (alert.level, alert.category, alert.status) == ("urgent", "self_harm", "open")
    assert alert.member == world.alice and alert.message == message
    assert alert.explanation == "Flagged by a facilitator."
    assert alert.ack_deadline is not None and alert.ack_deadline > before
    assert alert.tier == Tier.ON_CALL  # nobody who can moderate is in the room
    entry = AuditEntry.objects.get(action="alert.flagged")
    assert entry.actor == world.carol and entry.alert == alert and entry.reason == "context"
    assert entry.data["from_level"] == "none" and entry.data["level"] == "urgent"
    example = DetectorExample.objects.get()
    assert (example.source, example.level, example.category) == ("flagged", "urgent", "self_harm")
    assert example.detector_level == "none" and example.text == ORDINARY


def test_a_message_flagged_at_watch_waits_in_the_groups_queue_without_a_deadline(world):
    alert = actions.message_flag(
        by=world.dave, message=said(world), level="watch", category="abuse_danger"
    )
    assert alert.tier == Tier.GROUP and alert.ack_deadline is None
    assert DetectorExample.objects.get().source == "flagged"


def test_flagging_again_at_the_same_level_and_category_changes_nothing(world):
    message = said(world)
    first = actions.message_flag(
        by=world.carol, message=message, level="urgent", category="self_harm"
    )
    again = actions.message_flag(
        by=world.carol, message=message, level="urgent", category="self_harm"
    )
    assert again.pk == first.pk and Alert.objects.count() == 1
    assert AuditEntry.objects.filter(action__startswith="alert.flagged").count() == 1
    assert DetectorExample.objects.count() == 1


def test_a_message_whose_alert_was_resolved_gets_a_new_alert_when_flagged(world):
    message = said(world, "I want to disappear", Verdict("watch"))
    services.alert_resolve(alert=alert_of(message), by=world.carol, outcome="supported_in_room")
    alert = actions.message_flag(
        by=world.carol, message=message, level="urgent", category="self_harm"
    )
    assert Alert.objects.filter(message=message).count() == 2 and alert.status == "open"
    assert DetectorExample.objects.get().source == "flagged"


# ---------------------------------------------------------------- upgraded


def test_raising_a_watch_alert_to_urgent_gives_it_a_fresh_deadline(world):
    message = said(world, "I feel hopeless", Verdict("watch", rule_ids=("hopeless.general",)))
    watch = alert_of(message)
    assert watch.ack_deadline is None
    alert = actions.message_flag(
        by=world.carol, message=message, level="urgent", category="self_harm"
    )
    assert alert.pk == watch.pk and Alert.objects.count() == 1
    assert (alert.level, alert.status) == ("urgent", "open")
    window = dt.timedelta(seconds=30)
    expected = timezone.now() + services.ack_window("urgent")  # type: ignore[operator]
    assert abs(alert.ack_deadline - expected) < window
    assert "Raised from watch by a facilitator." in alert.explanation
    entry = AuditEntry.objects.get(action="alert.upgraded")
    assert entry.actor == world.carol and entry.data["from_level"] == "watch"
    example = DetectorExample.objects.get()
    assert (example.source, example.level) == ("upgraded", "urgent")
    assert example.detector_level == "watch" and example.rule_ids == ["hopeless.general"]


def test_raising_an_acknowledged_alert_to_emergency_opens_it_again_for_a_person_to_answer(world):
    message = said(world, "I want to die", Verdict("urgent"))
    services.alert_acknowledge(alert=alert_of(message), by=world.carol)
    alert = actions.message_flag(
        by=world.carol, message=message, level="emergency", category="self_harm"
    )
    assert alert.status == AlertStatus.OPEN and alert.ack_deadline is not None
    assert alert.acknowledged_at is None


def test_another_category_at_the_same_level_is_an_upgrade_without_a_new_deadline(world):
    message = said(world, "I want to hurt him", Verdict("urgent", "harm_others"))
    held = services.alert_acknowledge(alert=alert_of(message), by=world.carol)
    alert = actions.message_flag(
        by=world.carol, message=message, level="urgent", category="abuse_danger"
    )
    # Still acknowledged; its deadline stays the acknowledgement's next look, not a new one.
    assert (alert.category, alert.status, alert.ack_deadline) == (
        "abuse_danger",
        "acknowledged",
        held.ack_deadline,
    )
    assert DetectorExample.objects.get().source == "upgraded"


def test_a_flag_lower_than_the_open_alert_is_refused_and_changes_nothing(world):
    message = said(world, "I want to die", Verdict("urgent"))
    with pytest.raises(ValidationError) as refused:
        actions.message_flag(by=world.carol, message=message, level="watch", category="self_harm")
    assert "resolve that alert" in str(refused.value)
    assert alert_of(message).level == "urgent" and not DetectorExample.objects.exists()


def test_the_latest_judgement_replaces_the_earlier_example(world):
    message = said(world)
    alert = actions.message_flag(
        by=world.carol, message=message, level="urgent", category="self_harm"
    )
    services.alert_resolve(alert=alert, by=world.dave, outcome="not_a_crisis")
    example = DetectorExample.objects.get()
    assert (example.source, example.level, example.created_by) == (
        "not_a_crisis",
        "none",
        world.dave,
    )


# ---------------------------------------------------------------- the member's support card


def test_the_author_gets_the_support_card_when_a_flag_first_makes_a_message_urgent(
    world, member_frames, django_capture_on_commit_callbacks
):
    alice = member_frames(world.alice)
    carol = member_frames(world.carol)
    message = said(world, "I feel hopeless", Verdict("watch"))
    with django_capture_on_commit_callbacks(execute=True):
        actions.message_flag(by=world.carol, message=message, level="urgent", category="self_harm")
    cards = [f for f in alice() if f["type"] == "support.resources"]
    assert len(cards) == 1
    assert (cards[0]["level"], cards[0]["category"]) == ("urgent", "self_harm")
    assert any("988" in r["how"] for r in cards[0]["resources"])
    assert not [f for f in carol() if f.get("type") == "support.resources"]


def test_no_second_card_when_the_detector_already_sent_one_or_for_watch(
    world, member_frames, django_capture_on_commit_callbacks
):
    alice = member_frames(world.alice)
    urgent = said(world, "I want to die", Verdict("urgent"))
    ordinary = said(world)
    with django_capture_on_commit_callbacks(execute=True):
        actions.message_flag(
            by=world.carol, message=urgent, level="emergency", category="self_harm"
        )
    with django_capture_on_commit_callbacks(execute=True):
        actions.message_flag(by=world.carol, message=ordinary, level="watch", category="self_harm")
    assert not [f for f in alice() if f["type"] == "support.resources"]


# ---------------------------------------------------------------- who may flag, and what


@pytest.mark.parametrize("who", ["alice", "bob", "charlie", "frank"])
def test_only_the_groups_facilitators_and_admins_may_flag(world, who):
    message = said(world)
    with pytest.raises(PermissionDenied):
        actions.message_flag(
            by=getattr(world, who), message=message, level="urgent", category="self_harm"
        )
    assert not Alert.objects.exists() and not DetectorExample.objects.exists()


@pytest.mark.parametrize(
    ("level", "category", "field"),
    [
        ("none", "self_harm", "level"),
        ("severe", "self_harm", "level"),
        ("urgent", "none", "category"),
        ("urgent", "sadness", "category"),
    ],
)
def test_a_flag_names_a_crisis_level_and_category(world, level, category, field):
    with pytest.raises(ValidationError) as refused:
        actions.message_flag(by=world.carol, message=said(world), level=level, category=category)
    assert field in refused.value.message_dict


@pytest.mark.parametrize("status", [MessageStatus.DELETED, MessageStatus.HELD])
def test_a_message_not_shown_in_the_room_cannot_be_flagged(world, status):
    message = said(world, status=status)
    with pytest.raises(ValidationError):
        actions.message_flag(by=world.carol, message=message, level="urgent", category="self_harm")
    assert not Alert.objects.exists()


# ---------------------------------------------------------------- REST: flag


FLAG = {"level": "urgent", "category": "self_harm", "note": "She said more in the last session."}


@pytest.mark.parametrize(
    ("persona", "status"),
    [
        ("anonymous", 401),
        ("charlie", 403),
        ("alice", 403),
        ("bob", 403),
        # A facilitator of another group is told what an unknown id would tell her.
        ("frank", 404),
        ("carol", 200),
        ("dave", 200),
    ],
)
def test_flag_over_rest_for_every_persona(world, persona, status):
    message = said(world)
    client = world.client(None if persona == "anonymous" else getattr(world, persona))
    response = client.post(f"/api/messages/{message.pk}/flag/", FLAG, format="json")
    assert response.status_code == status, response.content
    if status == 200:
        body = response.json()
        assert (body["level"], body["category"], body["message_id"]) == (
            "urgent",
            "self_harm",
            message.pk,
        )
        assert body["status"] == "open" and body["ack_deadline"]
        assert DetectorExample.objects.get().source == "flagged"
    else:
        assert response.json()["detail"]
        assert not Alert.objects.exists() and not DetectorExample.objects.exists()


def test_flag_over_rest_checks_its_input_and_the_message(world):
    carol = world.client(world.carol)
    message = said(world)
    response = carol.post(f"/api/messages/{message.pk}/flag/", {"level": "none"}, format="json")
    assert response.status_code == 400
    assert set(response.json()) >= {"detail", "level", "category"}
    assert carol.post("/api/messages/999999/flag/", FLAG, format="json").status_code == 404
    assert not Alert.objects.exists()


# ---------------------------------------------------------------- REST: export


def exported_lines(response: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in response.content.decode().splitlines()]


@pytest.mark.parametrize(
    ("persona", "status"),
    [
        ("anonymous", 401),
        ("charlie", 403),
        ("alice", 403),
        ("bob", 403),
        ("frank", 403),
        ("carol", 403),
        ("dave", 200),
    ],
)
def test_only_admins_export_the_examples(world, persona, status):
    actions.message_flag(by=world.carol, message=said(world), level="urgent", category="self_harm")
    client = world.client(None if persona == "anonymous" else getattr(world, persona))
    response = client.get("/api/detector/examples/")
    assert response.status_code == status
    if status != 200:
        assert response["Content-Type"].startswith("application/json")
        assert response.json()["detail"]


def test_the_export_is_json_lines_of_words_and_labels_with_nothing_about_anyone(world):
    message = said(world, "Willow here. I keep thinking about the pills.", Verdict("none", "none"))
    actions.message_flag(by=world.carol, message=message, level="urgent", category="self_harm")
    watch = said(world, "I could kill for a coffee", Verdict("watch", "harm_others", ("x.kill",)))
    services.alert_resolve(alert=alert_of(watch), by=world.carol, outcome="not_a_crisis")

    response = world.client(world.dave).get("/api/detector/examples/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/x-ndjson")
    lines = exported_lines(response)
    assert [set(line) for line in lines] == [EXPORT_FIELDS, EXPORT_FIELDS]
    first, second = lines
    assert first["id"].startswith("fb-") and first["text"] == message.body
    assert (first["level"], first["category"], first["source"]) == (
        "urgent",
        "self_harm",
        "flagged",
    )
    assert (second["level"], second["category"], second["source"]) == (
        "none",
        "none",
        "not_a_crisis",
    )
    assert second["rule_ids"] == ["x.kill"] and second["detector_level"] == "watch"

    raw = response.content.decode()
    enrollment = Enrollment.objects.get(user=world.alice, group=world.circle)
    # The member's own words may name her alias; nothing the export adds may.
    for secret in ("alice", "carol", "dave", "example.org", world.circle.name, "River"):
        assert secret not in raw, secret
    assert raw.count(enrollment.alias) == 1  # only inside the text she wrote
    assert str(world.alice.pk) not in {str(v) for line in lines for v in line.values()}


def test_the_export_can_also_be_read_as_one_json_list(world):
    actions.message_flag(by=world.carol, message=said(world), level="watch", category="self_harm")
    dave = world.client(world.dave)
    listed = dave.get("/api/detector/examples/", HTTP_ACCEPT="application/json").json()
    lines = exported_lines(dave.get("/api/detector/examples/"))
    assert listed == lines and len(listed) == 1
    assert dave.get("/api/detector/examples/?format=json").json() == listed


def test_the_export_command_writes_the_same_lines_as_the_api(world, tmp_path: Path):
    actions.message_flag(by=world.carol, message=said(world), level="urgent", category="self_harm")
    out = tmp_path / "examples.jsonl"
    call_command("export_detector_examples", str(out))
    written = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert written == exported_lines(world.client(world.dave).get("/api/detector/examples/"))
    assert os.stat(out).st_mode & 0o077 == 0  # members' words: the owner's eyes only


def test_the_exported_file_reads_as_labelled_data_for_the_detector(world, tmp_path: Path):
    from moderation.crisis.eval import evaluate, load

    actions.message_flag(by=world.carol, message=said(world), level="urgent", category="self_harm")
    message = said(world, "I could kill for a coffee", Verdict("watch", "harm_others"))
    services.alert_resolve(alert=alert_of(message), by=world.carol, outcome="not_a_crisis")
    out = tmp_path / "examples.jsonl"
    call_command("export_detector_examples", str(out))
    items = load(out)
    assert [(i["level"], i["category"]) for i in items] == [
        ("urgent", "self_harm"),
        ("none", "none"),
    ]
    assert len(evaluate(items).rows) == 2


# ---------------------------------------------------------------- the words leave with the message


def test_deleting_the_message_removes_its_example(world):
    message = said(world)
    actions.message_flag(by=world.carol, message=message, level="urgent", category="self_harm")
    message.delete()
    assert not DetectorExample.objects.exists()


def test_a_moderators_delete_removes_the_example_though_the_audit_keeps_the_words(world):
    message = said(world)
    actions.message_flag(by=world.carol, message=message, level="urgent", category="self_harm")
    actions.message_delete(by=world.carol, message=message, reason="shared too much")
    assert not DetectorExample.objects.exists()
    assert Message.objects.get(pk=message.pk).body == ORDINARY


def test_retention_removes_examples_with_their_messages(world):
    message = said(world)
    actions.message_flag(by=world.carol, message=message, level="urgent", category="self_harm")
    messages_purge(timezone.now() + dt.timedelta(days=world.circle.retention_days + 1))
    assert not Message.objects.filter(pk=message.pk).exists()
    assert not DetectorExample.objects.exists()


@pytest.mark.parametrize("policy", ["remove", "anonymize"])
def test_deleting_the_account_removes_the_members_examples(world, policy):
    type(world.circle).objects.filter(pk=world.circle.pk).update(on_member_delete=policy)
    mine = said(world)
    actions.message_flag(by=world.carol, message=mine, level="urgent", category="self_harm")
    theirs = Message.objects.create(group=world.circle, author=world.carol, body="Take care.")
    actions.message_flag(by=world.dave, message=theirs, level="watch", category="self_harm")
    account_delete(user=world.alice, by=world.alice)
    assert Message.objects.filter(pk=mine.pk).exists() == (policy == "anonymize")
    assert list(DetectorExample.objects.values_list("message_id", flat=True)) == [theirs.pk]

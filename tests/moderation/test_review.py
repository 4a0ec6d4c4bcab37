"""The learned stage after delivery: what the web process's reviewer and the worker's sweep
write, on the real shipped model. The messages are chosen by what rules and model say of them,
and each test checks that first, so a retrained model that reads them otherwise fails loudly
here rather than quietly testing nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.test import override_settings
from django.utils import timezone

from moderation import actions, review, services
from moderation.crisis import assess, batch
from moderation.crisis.combine import assess_both
from moderation.models import Alert, AlertStatus, AuditEntry, DetectorExample
from rooms.access import room_access
from rooms.actions import SendRequest, SendResult, message_send_many
from rooms.events import user_group
from rooms.models import Message, MessageStatus, SupportGroup
from rooms.services import enrollment_join

ORDINARY = "Work was long. I made soup and went to bed early."
# The rules find nothing; rules and model together find a crisis.
ONLY_THE_MODEL = "I have the rope in the garage"
# The rules say watch; rules and model together say urgent.
WATCH_TO_URGENT = "I just want the pain to stop forever"
# Contact details (held by the group's policy) and a crisis only the model reads.
HELD_AND_ONLY_THE_MODEL = "I want to sleep and never wake up. text me at 555-123-4567"
# A crisis typed in two messages: the rules say watch, then none; the model reads each below
# urgent alone, and the two together as urgent or above.
TOLD_IN_TWO = ("I can't do this anymore.", "Don't worry about me after tonight.")
# Each none to the rules; the model reads the first as none, the second as urgent, the two
# together as an emergency.
URGENT_IN_TWO = ("Saved up my prescriptions for weeks.", "I'm ready to be done with all of it.")
# An emergency alone, then a thank-you.
EMERGENCY_THEN_THANKS = ("I already took them all, about an hour ago", "Thanks for listening.")


def reads(text: str, rules: str, combined: tuple[str, ...]) -> str:
    assert assess(text).level == rules, f"the rules now read {text!r} otherwise"
    assert assess_both(text).level in combined, f"the model now reads {text!r} otherwise"
    return text


@pytest.fixture(autouse=True)
def open_circle(world: Any) -> None:
    SupportGroup.objects.filter(pk=world.circle.pk).update(drop_in=True)


def sent(world: Any, body: str, by: Any = None, group: Any = None) -> Message:
    """Alice's message (or `by`'s) in the circle (or `group`), stored by the send path as the
    room socket stores it (rules, alert)."""
    access = room_access(user=by or world.alice, group_id=(group or world.circle).pk)
    (result,) = message_send_many([SendRequest(access, uuid.uuid4(), body)])
    assert isinstance(result, SendResult) and result.stored is not None
    return result.stored


def reviewed_live(*messages: Message) -> int:
    """What the web process's reviewer does with a batch: score it, then write the findings."""
    found = review.detector()
    assert found is not None, "the shipped model must load in tests"
    return review.apply(review.judge([review.Pending.of(m) for m in messages], found), "live")


def reviewed_in_turn(*messages: Message) -> list[Any]:
    """What one web process's reviewer does with messages reviewed one batch each, as they
    are sent seconds apart: each read with the member's messages before it that it remembers,
    and what each review found remembered for the next. Returns the findings."""
    found = review.detector()
    assert found is not None, "the shipped model must load in tests"
    recent = review.Recent()
    findings = []
    for message in messages:
        (finding,) = review.judge([recent.pending(message)], found)
        recent.read([finding])
        review.apply([finding], "live")
        findings.append(finding)
    return findings


def alone(text: str, rules: str, combined: tuple[str, ...]) -> str:
    """A message's reading on its own, checked first (``reads``), and that the model alone also
    stays below urgent, so what the test finds comes from reading the messages together."""
    found = review.detector()
    assert found is not None
    assert found.predict([text])[0].level in combined, f"the model now reads {text!r} otherwise"
    return reads(text, rules, combined)


def together(*texts: str, model: tuple[str, ...]) -> None:
    found = review.detector()
    assert found is not None
    joint = found.predict(["\n".join(texts)])[0].level
    assert joint in model, f"the model now reads {texts!r} together as {joint}"


def later(seconds: float = 11) -> dt.datetime:
    return timezone.now() + dt.timedelta(seconds=seconds)


@pytest.fixture
def private_frames() -> Iterator[Any]:
    """The frames the services send to a person's own sockets, read from the in-memory layer."""
    layer = get_channel_layer()
    joined: list[tuple[str, str]] = []

    def listen(user: Any) -> Any:
        channel = async_to_sync(layer.new_channel)()
        async_to_sync(layer.group_add)(user_group(user.pk), channel)
        joined.append((user_group(user.pk), channel))

        async def drain() -> list[dict[str, Any]]:
            out = []
            while True:
                try:
                    event = await asyncio.wait_for(layer.receive(channel), 0.05)
                except TimeoutError:
                    return out
                out.append(event.get("frame", event))

        return async_to_sync(drain)

    yield listen
    for group, channel in joined:
        async_to_sync(layer.group_discard)(group, channel)


def test_a_message_the_model_does_not_raise_gets_no_alert_and_is_marked_reviewed(world):
    message = sent(world, reads(ORDINARY, "none", ("none",)))
    assert message.reviewed_at is None
    assert reviewed_live(message) == 0
    message.refresh_from_db()
    assert message.reviewed_at is not None and message.level == "none"
    assert set(message.model_score) >= {"level", "p_watch", "p_urgent", "p_emergency"}
    assert not Alert.objects.exists()


def _marks_each_message_with_its_own_score(world: Any) -> None:
    messages = [sent(world, f"{ORDINARY} Day {i}.") for i in range(5)]
    claimed = messages[2]
    claimed_at = timezone.now() - dt.timedelta(seconds=5)
    Message.objects.filter(pk=claimed.pk).update(reviewed_at=claimed_at, model_score={"by": 1})
    scores = {m.pk: {"level": "none", "p_watch": i / 10} for i, m in enumerate(messages)}
    scores[messages[4].pk] = None
    before = timezone.now()
    assert services.messages_mark_reviewed(scores=scores) == 4
    after = timezone.now()
    for i, m in enumerate(messages):
        m.refresh_from_db()
        if m == claimed:
            assert (m.reviewed_at, m.model_score) == (claimed_at, {"by": 1})
        else:
            assert before <= m.reviewed_at <= after, i
            assert m.model_score == scores[m.pk], i
    # No score is SQL NULL, as every other writer leaves it, not the JSON value null.
    assert Message.objects.filter(pk=messages[4].pk, model_score__isnull=True).exists()
    assert services.messages_mark_reviewed(scores={}) == 0


def test_marking_a_batch_reviewed_writes_each_message_its_own_score_and_skips_claimed_ones(world):
    _marks_each_message_with_its_own_score(world)


@pytest.mark.postgres
def test_on_postgresql_a_batch_marked_reviewed_gets_each_its_own_score_and_skips_claimed_ones(
    world, require_postgres
):
    _marks_each_message_with_its_own_score(world)


def test_a_crisis_only_the_model_reads_gets_an_alert_naming_the_model_and_the_support_card(
    world, private_frames, django_capture_on_commit_callbacks
):
    alice = private_frames(world.alice)
    message = sent(world, reads(ONLY_THE_MODEL, "none", ("urgent", "emergency")))
    assert not Alert.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert reviewed_live(message) == 1
    alert = Alert.objects.get()
    assert alert.message_id == message.pk and alert.level in ("urgent", "emergency")
    assert alert.explanation.startswith("model: ") and alert.ack_deadline is not None
    message.refresh_from_db()
    assert (message.level, message.category) == (alert.level, alert.category)
    assert message.model_score["level"] == alert.level
    entry = AuditEntry.objects.get(action="alert.raised")
    assert entry.alert == alert and entry.data["raised_by"] == "model"
    cards = [f for f in alice() if f.get("type") == "support.resources"]
    assert [c["level"] for c in cards] == [alert.level]


def test_the_model_raising_a_watch_message_to_urgent_upgrades_its_alert_instead_of_adding_one(
    world, private_frames, django_capture_on_commit_callbacks
):
    alice = private_frames(world.alice)
    message = sent(world, reads(WATCH_TO_URGENT, "watch", ("urgent",)))
    watch = Alert.objects.get()
    assert (watch.level, watch.ack_deadline) == ("watch", None)
    with django_capture_on_commit_callbacks(execute=True):
        assert reviewed_live(message) == 1
    alert = Alert.objects.get()  # one alert, not two
    assert alert.pk == watch.pk and alert.level == "urgent"
    assert alert.status == AlertStatus.OPEN and alert.ack_deadline is not None
    # Both stages: the rules' words first, then what the model added.
    assert alert.explanation.startswith(watch.explanation)
    assert "Raised from watch by the model: " in alert.explanation
    entry = AuditEntry.objects.get(action="alert.upgraded")
    assert entry.actor is None and entry.data["raised_by"] == "model"
    assert entry.data["from_level"] == "watch"
    # The member had no card at watch: now she has one.
    assert [f["level"] for f in alice() if f.get("type") == "support.resources"] == ["urgent"]


def test_a_crisis_told_in_two_messages_is_raised_on_the_second_naming_the_one_before_it(
    world, private_frames, django_capture_on_commit_callbacks
):
    alice = private_frames(world.alice)
    first = sent(world, alone(TOLD_IN_TWO[0], "watch", ("none", "watch")))
    second = sent(world, alone(TOLD_IN_TWO[1], "none", ("none", "watch")))
    together(*TOLD_IN_TWO, model=("urgent", "emergency"))
    watch = Alert.objects.get()
    assert (watch.message_id, watch.level) == (first.pk, "watch")
    with django_capture_on_commit_callbacks(execute=True):
        findings = reviewed_in_turn(first, second)
    assert findings[0].raised is None, "the first alone stays a watch entry"
    alert = Alert.objects.exclude(pk=watch.pk).get()
    assert alert.message_id == second.pk and alert.level in ("urgent", "emergency")
    assert alert.ack_deadline is not None
    assert alert.explanation.startswith("model, with the member's message before it: ")
    second.refresh_from_db()
    assert second.level == alert.level and second.model_score["earlier"] == 1
    assert AuditEntry.objects.get(action="alert.raised", alert=alert).data["raised_by"] == "model"
    assert [f["level"] for f in alice() if f.get("type") == "support.resources"] == [alert.level]


def test_an_urgent_message_read_with_the_one_before_it_becomes_an_emergency(world):
    first = sent(world, alone(URGENT_IN_TWO[0], "none", ("none", "watch")))
    second = sent(world, reads(URGENT_IN_TWO[1], "none", ("urgent",)))
    together(*URGENT_IN_TWO, model=("emergency",))
    reviewed_in_turn(first, second)
    alert = Alert.objects.get()
    assert (alert.message_id, alert.level) == (second.pk, "emergency")
    assert "with the member's message before it" in alert.explanation


def test_messages_in_one_batch_are_read_together_too(world):
    first = sent(world, TOLD_IN_TWO[0])
    second = sent(world, TOLD_IN_TWO[1])
    found = review.detector()
    assert found is not None
    recent = review.Recent()
    batch_of_both = [recent.pending(first), recent.pending(second)]
    assert batch_of_both[1].earlier[0].message_id == first.pk
    review.apply(review.judge(batch_of_both, found), "live")
    assert Alert.objects.get(message_id=second.pk).level in ("urgent", "emergency")


def test_messages_further_apart_than_the_window_are_read_alone(world):
    first = sent(world, TOLD_IN_TWO[0])
    Message.objects.filter(pk=first.pk).update(
        created_at=timezone.now() - dt.timedelta(seconds=batch.CONTEXT_SECONDS + 5)
    )
    first.refresh_from_db()
    second = sent(world, TOLD_IN_TWO[1])
    findings = reviewed_in_turn(first, second)
    assert [f.raised for f in findings] == [None, None]
    assert list(Alert.objects.values_list("message_id", flat=True)) == [first.pk]


def test_another_members_message_is_not_read_with_hers(world):
    enrollment_join(group=world.circle, user=world.bob, alias="River", agreement_accepted=True)
    bobs = sent(world, TOLD_IN_TWO[0], by=world.bob)
    hers = sent(world, TOLD_IN_TWO[1])
    findings = reviewed_in_turn(bobs, hers)
    assert [f.raised for f in findings] == [None, None]
    assert not Alert.objects.filter(message_id=hers.pk).exists()


def test_a_crisis_already_raised_is_not_raised_again_by_the_message_after_it(world):
    first = sent(world, alone(EMERGENCY_THEN_THANKS[0], "emergency", ("emergency",)))
    second = sent(world, alone(EMERGENCY_THEN_THANKS[1], "none", ("none",)))
    findings = reviewed_in_turn(first, second)
    assert findings[1].raised is None
    assert list(Alert.objects.values_list("message_id", flat=True)) == [first.pk]


def test_plain_chat_is_read_alone_and_never_twice(world, monkeypatch):
    first = sent(world, reads(ORDINARY, "none", ("none",)))
    second = sent(world, reads("Thanks for listening.", "none", ("none",)))
    found = review.detector()
    assert found is not None
    read: list[str] = []
    real = found.predict
    monkeypatch.setattr(found, "predict", lambda texts: read.extend(texts) or real(texts))
    findings = reviewed_in_turn(first, second)
    assert [f.raised for f in findings] == [None, None]
    # No sign in either message: each was read once, alone.
    assert read == [ORDINARY, "Thanks for listening."]
    # With a sign in the first, the second is also read with it.
    read.clear()
    reviewed_in_turn(sent(world, TOLD_IN_TWO[0]), sent(world, "Thanks for listening."))
    assert read[-1] == f"{TOLD_IN_TWO[0]}\nThanks for listening."


def test_the_sweep_reads_a_message_with_the_members_messages_before_it(world):
    first = sent(world, TOLD_IN_TWO[0])
    second = sent(world, TOLD_IN_TWO[1])
    assert review.review_sweep(now=later()) == 2
    alert = Alert.objects.get(message_id=second.pk)
    assert alert.level in ("urgent", "emergency")
    assert alert.explanation.startswith("model, with the member's message before it: ")
    assert Alert.objects.get(message_id=first.pk).level == "watch"


def test_a_crisis_raised_in_a_batch_is_not_raised_again_by_the_next_message_in_it(world):
    # The sweep reviews a backlog in one batch: the third message, read with the two before
    # it, reads as urgent as well, but the second already raised that crisis.
    thanks = "Thanks everyone."
    together(*TOLD_IN_TWO, thanks, model=("urgent",))
    first, second, third = (sent(world, text) for text in (*TOLD_IN_TWO, thanks))
    assert review.review_sweep(now=later()) == 3
    levels = dict(Alert.objects.values_list("message_id", "level"))
    assert levels.keys() == {first.pk, second.pk}, "one alert for the crisis, not one each"
    assert levels[second.pk] == "urgent"
    third.refresh_from_db()
    assert third.level == "none" and third.reviewed_at is not None


def test_the_sweep_reads_only_the_members_own_earlier_messages_in_that_room(world):
    enrollment_join(group=world.circle, user=world.bob, alias="River", agreement_accepted=True)
    enrollment_join(group=world.other, user=world.alice, alias="Fern", agreement_accepted=True)
    SupportGroup.objects.filter(pk=world.other.pk).update(drop_in=True)
    sent(world, TOLD_IN_TWO[0], by=world.bob)  # another member, the same room
    sent(world, TOLD_IN_TWO[0], group=world.other)  # the same member, another room
    old = sent(world, TOLD_IN_TWO[0])  # the same member and room, too long ago
    Message.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - dt.timedelta(seconds=batch.CONTEXT_SECONDS + 5)
    )
    hers = sent(world, TOLD_IN_TWO[1])
    (pending,) = [p for p in review.with_earlier([hers]) if p.message_id == hers.pk]
    assert pending.earlier == ()
    review.review_sweep(now=later())
    assert not Alert.objects.filter(message_id=hers.pk).exists()


def test_a_message_waiting_in_the_queue_is_read_with_what_the_review_before_it_found():
    recent = review.Recent()
    now = timezone.now()
    first = Message(pk=1, group_id=1, author_id=7, body="a", level="none", created_at=now)
    second = Message(pk=2, group_id=1, author_id=7, body="b", level="none", created_at=now)
    recent.pending(first)
    waiting = recent.pending(second)
    assert [e.level for e in waiting.earlier] == ["none"]
    # The first is read (and raised) while the second waits in the queue.
    recent.read([batch.Finding(1, now, {}, None, level="urgent")])
    assert [e.level for e in recent.current(waiting).earlier] == ["urgent"]


def test_the_largest_messages_are_read_together_within_the_bound(world, monkeypatch):
    # Three messages of the largest size the rooms accept (4,000 characters), a sign in the
    # first: the second reading carries the earlier ones' last 600 characters, not 8,000.
    sign = TOLD_IN_TWO[0] + " "
    longest = (sign * (4_000 // len(sign) + 1))[:3_999] + "."
    messages = [sent(world, longest), sent(world, "word " * 799 + "words"), sent(world, longest)]
    assert all(len(m.body) == 4_000 for m in messages)
    found = review.detector()
    assert found is not None
    read: list[str] = []
    real = found.predict
    monkeypatch.setattr(found, "predict", lambda texts: read.extend(texts) or real(texts))
    findings = reviewed_in_turn(*messages)
    joint = [t for t in read if t not in {m.body for m in messages}]
    assert joint, "the messages after a sign are read with it"
    assert max(len(t) for t in joint) == batch.CONTEXT_CHARS + 1 + 4_000
    assert [f.message_id for f in findings] == [m.pk for m in messages]


def test_the_window_holds_a_message_sent_exactly_its_length_before_and_not_a_second_more():
    recent = review.Recent()
    now = timezone.now()
    window = dt.timedelta(seconds=batch.CONTEXT_SECONDS)

    def message(pk: int, author: int, at: dt.datetime) -> Message:
        return Message(pk=pk, group_id=1, author_id=author, body="b", level="none", created_at=at)

    recent.pending(message(1, author=7, at=now))
    assert [e.message_id for e in recent.pending(message(2, 7, now + window)).earlier] == [1]
    recent.pending(message(3, author=8, at=now))
    late = recent.pending(message(4, 8, now + window + dt.timedelta(seconds=1)))
    assert late.earlier == ()


def test_an_edited_message_is_read_with_the_ones_before_it_and_keeps_its_place():
    recent = review.Recent()
    now = timezone.now()

    def message(pk: int, body: str) -> Message:
        return Message(pk=pk, group_id=1, author_id=7, body=body, level="none", created_at=now)

    recent.pending(message(1, "first"))
    recent.pending(message(2, "second"))
    edited = recent.pending(message(2, "second, edited"))
    assert [e.body for e in edited.earlier] == ["first"], "not with its own words before"
    after = recent.pending(message(3, "third"))
    assert [e.body for e in after.earlier] == ["first", "second, edited"]


@override_settings(CRISIS_MODEL_CONTEXT=False)
def test_with_reading_together_off_each_message_is_read_alone(world):
    first = sent(world, TOLD_IN_TWO[0])
    second = sent(world, TOLD_IN_TWO[1])
    assert review.review_sweep(now=later()) == 2
    assert list(Alert.objects.values_list("message_id", flat=True)) == [first.pk]
    second.refresh_from_db()
    assert second.level == "none" and second.reviewed_at is not None


def test_a_reviewer_remembers_a_bounded_few_messages_of_a_bounded_number_of_members():
    recent = review.Recent(members=3)
    now = timezone.now()

    def message(pk: int, author: int, body: str = "hello") -> Message:
        return Message(pk=pk, group_id=1, author_id=author, body=body, level="none", created_at=now)

    longest = "x" * 3_999 + "y"  # the largest message the rooms accept (4,000 characters)
    for pk in range(1, 6):
        recent.pending(message(pk, author=7, body=longest))
    pending = recent.pending(message(6, author=7))
    assert [e.message_id for e in pending.earlier] == [1, 2, 3, 4, 5][-batch.CONTEXT_MESSAGES :]
    assert all(len(e.body) == batch.CONTEXT_CHARS and e.body.endswith("y") for e in pending.earlier)
    assert len(pending.together()) <= batch.CONTEXT_CHARS + 1 + len("hello")
    for author in range(8, 12):
        recent.pending(message(100 + author, author=author))
    assert len(recent.by_member) == 3 and (1, 7) not in recent.by_member
    assert set(recent.entry_of) == {e[0] for v in recent.by_member.values() for e in v}
    # Hers is forgotten, so her next message is read alone.
    assert recent.pending(message(200, author=7)).earlier == ()
    # Whoever has not written for longer than the window is forgotten at the next message.
    later_on = now + dt.timedelta(seconds=batch.CONTEXT_SECONDS + 1)
    recent.pending(
        Message(pk=300, group_id=1, author_id=99, body="hi", level="none", created_at=later_on)
    )
    assert list(recent.by_member) == [(1, 99)] and list(recent.entry_of) == [300]


def test_the_worker_reviews_a_message_left_unreviewed_and_raises_its_alert_once(world):
    message = sent(world, reads(ONLY_THE_MODEL, "none", ("urgent", "emergency")))
    assert review.review_sweep() == 0, "a web process has REVIEW_SWEEP_SECONDS to review it"
    assert review.review_sweep(now=later()) == 1
    assert review.review_sweep(now=later()) == 0
    assert Alert.objects.get().message_id == message.pk
    assert AuditEntry.objects.filter(action="alert.raised").count() == 1
    assert reviewed_live(message) == 0, "the web reviewer comes too late: nothing twice"
    assert Alert.objects.count() == 1


def test_the_sweep_leaves_messages_older_than_a_day(world):
    message = sent(world, ONLY_THE_MODEL)
    Message.objects.filter(pk=message.pk).update(
        created_at=timezone.now() - dt.timedelta(days=1, minutes=1)
    )
    assert review.review_sweep(now=later()) == 0
    assert not Alert.objects.exists()


def test_the_reviewer_and_the_sweep_judging_the_same_message_raise_one_alert(world):
    message = sent(world, ONLY_THE_MODEL)
    found = review.detector()
    assert found is not None
    # Both scored it before either wrote: the claim decides which one raises the alert.
    by_web = review.judge([review.Pending.of(message)], found)
    by_worker = review.judge([review.Pending.of(message)], found)
    assert review.apply(by_web, "live") == 1
    assert review.apply(by_worker, "sweep") == 0
    assert Alert.objects.count() == 1
    assert AuditEntry.objects.filter(action="alert.raised").count() == 1


def test_a_held_message_stays_held_and_still_gets_its_alert(world):
    message = sent(world, reads(HELD_AND_ONLY_THE_MODEL, "none", ("urgent", "emergency")))
    assert message.status == MessageStatus.HELD
    assert reviewed_live(message) == 1
    message.refresh_from_db()
    assert message.status == MessageStatus.HELD
    assert Alert.objects.get().message_id == message.pk


def test_approving_a_held_message_carries_its_alert_and_its_review_along(world):
    held = sent(world, HELD_AND_ONLY_THE_MODEL)
    reviewed_live(held)
    delivered = actions.held_approve(by=world.carol, message=held)
    assert Alert.objects.get().message_id == delivered.pk
    assert delivered.reviewed_at is not None and delivered.model_score is not None
    assert review.review_sweep(now=later()) == 0


def test_a_facilitators_judgement_after_review_keeps_the_model_score(world):
    message = sent(world, ORDINARY)
    reviewed_live(message)
    message.refresh_from_db()
    actions.message_flag(by=world.carol, message=message, level="watch", category="self_harm")
    example = DetectorExample.objects.get()
    assert example.model_score == message.model_score and example.model_score is not None


def test_an_alert_a_facilitator_already_resolved_is_not_raised_again_by_the_model(world):
    message = sent(world, WATCH_TO_URGENT)
    services.alert_resolve(alert=Alert.objects.get(), by=world.carol, outcome="supported_in_room")
    assert reviewed_live(message) == 0
    assert Alert.objects.count() == 1
    message.refresh_from_db()
    assert message.reviewed_at is not None


def test_words_edited_after_a_facilitator_resolved_the_alert_are_read_as_new(world):
    from rooms.member_messages import message_edit

    message = sent(world, WATCH_TO_URGENT)
    reviewed_live(message)
    earlier = Alert.objects.get()
    services.alert_resolve(alert=earlier, by=world.carol, outcome="supported_in_room")
    # Within the edit window, she changes her words into a crisis only the model reads.
    message_edit(
        user=world.alice, group_id=message.group_id, message_id=message.pk, body=ONLY_THE_MODEL
    )
    message.refresh_from_db()
    assert message.reviewed_at is None
    assert reviewed_live(message) == 1
    raised = Alert.objects.exclude(pk=earlier.pk).get()
    assert raised.level in ("urgent", "emergency") and raised.status == AlertStatus.OPEN
    earlier.refresh_from_db()
    assert earlier.status == AlertStatus.RESOLVED


def test_a_model_that_fails_to_load_is_logged_once_and_the_rules_go_on(world, monkeypatch, caplog):
    from moderation.crisis import model

    def missing() -> None:
        raise model.ArtifactError("No crisis model here.")

    monkeypatch.setattr(batch, "_state", {"status": "not loaded", "detector": None})
    monkeypatch.setattr(model, "_LOADED", {})
    monkeypatch.setattr(model, "load", missing)
    sent(world, ONLY_THE_MODEL)
    assert review.detector() is None and review.detector() is None
    assert review.model_status() == "failed"
    assert [r.levelname for r in caplog.records if r.name == "moderation.review"] == ["ERROR"]
    assert review.review_sweep(now=later()) == 0
    crisis = sent(world, "I want to end my life tonight")
    assert Alert.objects.get().message_id == crisis.pk  # the rules, as before the model


@override_settings(CRISIS_MODEL=False)
def test_with_the_model_off_nothing_is_reviewed_and_messages_still_send(world):
    message = sent(world, ONLY_THE_MODEL)
    assert review.detector() is None and review.model_status() == "off"
    assert review.review_sweep(now=later()) == 0
    message.refresh_from_db()
    assert message.reviewed_at is None and message.model_score is None
    assert not Alert.objects.exists()
    crisis = sent(world, "I want to end my life tonight")
    assert Alert.objects.get().message_id == crisis.pk  # the rules alone, as before


def test_admins_read_the_learned_stage_in_the_metrics_and_readyz(world, client):
    sent(world, ONLY_THE_MODEL)
    assert review.review_sweep(now=later()) == 1
    review.detector()
    client.force_login(world.dave)
    text = client.get("/metrics").content.decode()
    assert 'haven_model_alerts_total{action="new"} 1.0' in text
    assert "haven_review_backlog 0.0" in text
    assert 'haven_review_seconds_count{path="sweep"}' in text
    assert client.get("/readyz").json()["crisis_model"] == "loaded"

"""Members' own messages over real sockets: edit within a few minutes (assessed again),
delete at any time, supportive reactions, replies that quote, and asking for a private
check-in. The protocol is in docs/protocol.md, "Members' own messages"."""

import datetime as dt
import uuid

import pytest

from moderation.models import Alert, AuditEntry
from rooms.models import GroupFacilitator, Message, Reaction, SupportGroup
from rooms.services import enrollment_join
from tests.live.conftest import open_room

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def next_of(sock, kind):
    """The next frame of this kind, skipping the room's other traffic (one's own message.new,
    presence) but never an error when an error is not what is awaited."""
    while True:
        frame = sock.recv()
        if frame["type"] == kind:
            return frame
        assert frame["type"] != "error", frame


@pytest.fixture
def room(world, enter):
    """Willow (alice) and Fern (charlie) in the circle's open room, carol facilitating."""
    open_room(world.circle)
    enrollment_join(group=world.circle, user=world.charlie, alias="Fern", agreement_accepted=True)
    return {
        "alice": enter(world.alice, world.circle),
        "charlie": enter(world.charlie, world.circle),
        "carol": enter(world.carol, world.circle),
    }


def test_a_member_edits_their_message_and_everyone_sees_the_new_words(world, room):
    alice, charlie = room["alice"], room["charlie"]
    ack = alice.say("I feel a bit better todya")
    next_of(charlie, "message.new")
    alice.send({"type": "message.edit", "message_id": ack["id"], "body": "I feel better today"})
    done = next_of(alice, "action.done")
    assert done["action"] == "message.edit" and done["id"] == ack["id"]
    edited = next_of(charlie, "message.edited")["message"]
    assert edited["id"] == ack["id"]
    assert edited["text"] == "I feel better today"
    assert edited["edited_at"]
    # Moderators see the words before the edit in the audit log.
    entry = AuditEntry.objects.get(action="message.edited", message_id_ref=ack["id"])
    assert entry.reason == "I feel a bit better todya"
    # History says the same after a reload.
    charlie.send({"type": "history", "limit": 10})
    shown = next_of(charlie, "history")["messages"][-1]
    assert shown["text"] == "I feel better today" and shown["edited_at"]


def test_an_edit_into_crisis_language_raises_an_alert_and_the_support_card(world, room):
    alice, carol = room["alice"], room["carol"]
    ack = alice.say("Long week.")
    alice.send({"type": "message.edit", "message_id": ack["id"], "body": "I want to die"})
    card = next_of(alice, "support.resources")
    assert card["level"] in ("urgent", "emergency")
    alert = next_of(carol, "alert.new")["alert"]
    assert alert["message_id"] == ack["id"]
    assert Message.objects.get(pk=ack["id"]).level in ("urgent", "emergency")


def test_an_edit_that_would_be_held_is_refused_and_the_message_keeps_its_words(world, room):
    SupportGroup.objects.filter(pk=world.circle.pk).update(held_categories=["contact_details"])
    alice = room["alice"]
    ack = alice.say("Happy to talk more.")
    alice.send(
        {
            "type": "message.edit",
            "message_id": ack["id"],
            "body": "Happy to talk more, email me at willow@example.org",
        }
    )
    error = next_of(alice, "error")
    assert error["code"] == "invalid" and error["action"] == "message.edit"
    assert "held" in error["detail"]
    assert Message.objects.get(pk=ack["id"]).body == "Happy to talk more."


def test_editing_is_refused_after_the_window_and_for_someone_elses_message(world, room):
    alice, charlie = room["alice"], room["charlie"]
    ack = alice.say("Thank you all.")
    charlie.send({"type": "message.edit", "message_id": ack["id"], "body": "changed"})
    assert next_of(charlie, "error")["code"] == "forbidden"
    Message.objects.filter(pk=ack["id"]).update(
        created_at=Message.objects.get(pk=ack["id"]).created_at - dt.timedelta(minutes=6)
    )
    alice.send({"type": "message.edit", "message_id": ack["id"], "body": "changed"})
    error = next_of(alice, "error")
    assert "can be edited for 5 minutes" in error["detail"]
    assert Message.objects.get(pk=ack["id"]).body == "Thank you all."


def test_a_member_deletes_their_own_message_and_it_is_gone_for_everyone(world, room):
    alice, charlie = room["alice"], room["charlie"]
    ack = alice.say("Something I regret saying")
    next_of(charlie, "message.new")
    alice.send({"type": "message.delete", "message_id": ack["id"], "ref": 7})
    assert next_of(alice, "action.done") == {
        "type": "action.done",
        "action": "message.delete",
        "id": ack["id"],
        "ref": 7,
    }
    assert next_of(charlie, "message.deleted") == {
        "type": "message.deleted",
        "id": ack["id"],
        "by": "author",
    }
    charlie.send({"type": "history", "limit": 10})
    tomb = next_of(charlie, "history")["messages"][-1]
    assert tomb["deleted"] and tomb["text"] == ""
    entry = AuditEntry.objects.get(action="message.deleted_by_author")
    assert entry.reason == "Something I regret saying"
    # Another member cannot delete it.
    other = room["charlie"].say("mine")
    alice.send({"type": "message.delete", "message_id": other["id"]})
    assert next_of(alice, "error")["code"] == "forbidden"


def test_reactions_are_counted_once_per_person_and_taken_back(world, room):
    alice, charlie = room["alice"], room["charlie"]
    ack = alice.say("I finally told my sister.")
    charlie.send({"type": "reaction", "message_id": ack["id"], "reaction": "heart"})
    update = next_of(alice, "message.reactions")
    assert update["message_id"] == ack["id"]
    assert update["reactions"] == {"heart": 1}
    assert update["on"] is True and update["reaction"] == "heart"
    charlie.send({"type": "reaction", "message_id": ack["id"], "reaction": "heart", "on": True})
    assert next_of(alice, "message.reactions")["reactions"] == {"heart": 1}
    room["carol"].send({"type": "reaction", "message_id": ack["id"], "reaction": "metoo"})
    assert next_of(alice, "message.reactions")["reactions"] == {"heart": 1, "metoo": 1}
    charlie.send({"type": "history", "limit": 10})
    shown = next_of(charlie, "history")["messages"][-1]
    assert shown["reactions"] == {"heart": 1, "metoo": 1}
    assert shown["my_reactions"] == ["heart"]
    charlie.send({"type": "reaction", "message_id": ack["id"], "reaction": "heart"})
    assert next_of(alice, "message.reactions")["reactions"] == {"metoo": 1}
    charlie.send({"type": "reaction", "message_id": ack["id"], "reaction": "thumbsdown"})
    assert next_of(charlie, "error")["code"] == "invalid"
    assert Reaction.objects.count() == 1


def test_a_reply_quotes_a_snippet_of_the_message_it_answers(world, room):
    alice, charlie = room["alice"], room["charlie"]
    first = alice.say("Does anyone else lie awake replaying the conversations? " * 5)
    charlie.send(
        {
            "type": "message.send",
            "client_id": str(uuid.uuid4()),
            "body": "Every night. You're not alone.",
            "reply_to": first["id"],
        }
    )
    reply = next_of(alice, "message.new")
    while reply["message"]["id"] == first["id"]:
        reply = next_of(alice, "message.new")
    quoted = reply["message"]["reply_to"]
    assert quoted["id"] == first["id"] and quoted["alias"] == "Willow"
    assert quoted["snippet"].startswith("Does anyone else lie awake")
    assert len(quoted["snippet"]) <= 140 and quoted["snippet"].endswith("…")
    # When the quoted message is deleted, the reply says so and quotes nothing.
    alice.send({"type": "message.delete", "message_id": first["id"]})
    next_of(alice, "action.done")
    charlie.send({"type": "history", "limit": 10})
    shown = next_of(charlie, "history")["messages"][-1]
    assert shown["reply_to"] == {
        "id": first["id"],
        "alias": "Willow",
        "author_id": quoted["author_id"],
        "snippet": "",
        "deleted": True,
    }


def test_a_member_asks_to_talk_privately_and_the_facilitators_are_alerted(world, room):
    alice, carol = room["alice"], room["carol"]
    alice.send({"type": "checkin.request", "ref": "r1"})
    done = next_of(alice, "action.done")
    assert done["action"] == "checkin.request" and done["ref"] == "r1"
    checkin = SupportGroup.objects.get(pk=done["group_id"])
    assert checkin.kind == "checkin" and checkin.checkin_of_id == world.circle.pk
    assert set(
        GroupFacilitator.objects.filter(group=checkin).values_list("user_id", flat=True)
    ) == {world.carol.pk}
    alert = next_of(carol, "alert.new")["alert"]
    assert alert["kind"] == "checkin"
    assert alert["checkin_group_id"] == checkin.pk
    assert alert["member"]["alias"] == "Willow"
    assert alert["ack_deadline"]
    # Asking again opens nothing new.
    alice.send({"type": "checkin.request"})
    assert next_of(alice, "action.done")["group_id"] == checkin.pk
    assert Alert.objects.filter(kind="checkin").count() == 1

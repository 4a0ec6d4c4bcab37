"""History and catch-up over real sockets: a client that drops and comes back misses nothing."""

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from rooms.models import Message, MessageStatus, SupportGroup

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def history(sock, **params):
    sock.send({"type": "history", **params})
    return sock.recv_type_of(("history",))


def ids(page):
    return [m["id"] for m in page["messages"]]


def stored(group, author, count, prefix="m"):
    """Messages written straight to the database: the record the history pages through."""
    return [
        Message.objects.create(
            group=group, author=author, client_id=uuid.uuid4(), body=f"{prefix} {i}"
        ).pk
        for i in range(count)
    ]


def test_a_member_who_reconnects_gets_exactly_the_messages_missed_in_order(world, enter):
    bob = enter(world.bob, world.other)
    frank = enter(world.frank, world.other)
    seen = bob.say("before the tunnel")["id"]
    bob.recv_type("message.new")
    frank.recv_type("message.new")
    bob.close()

    missed = [frank.say(f"while you were away {i}")["id"] for i in range(7)]
    bob = enter(world.bob, world.other)
    assert bob.hello["last_message_id"] == missed[-1]
    assert bob.hello["last_message_id"] > seen

    page = history(bob, after_id=seen)
    assert ids(page) == missed
    assert page["has_more"] is False
    assert [m["text"] for m in page["messages"]] == [f"while you were away {i}" for i in range(7)]
    assert {m["author"]["role"] for m in page["messages"]} == {"facilitator"}
    # Asking again from the newest id yields nothing: no duplicates at the seam.
    assert ids(history(bob, after_id=missed[-1])) == []


def test_catch_up_pages_forward_with_has_more_when_more_than_a_page_was_missed(world, enter):
    bob = enter(world.bob, world.other)
    seen = bob.hello["last_message_id"]
    missed = stored(world.other, world.frank, 25)
    got, after = [], seen
    pages = 0
    while True:
        page = history(bob, after_id=after, limit=10)
        pages += 1
        got += ids(page)
        if not page["has_more"]:
            break
        after = page["messages"][-1]["id"]
    assert got == missed
    assert pages == 3


def test_history_pages_backwards_with_before_id(world, enter):
    all_ids = stored(world.other, world.frank, 12)
    bob = enter(world.bob, world.other)
    newest = history(bob, limit=5)
    assert ids(newest) == all_ids[-5:]
    assert newest["has_more"] is True
    older = history(bob, before_id=ids(newest)[0], limit=5)
    assert ids(older) == all_ids[-10:-5]
    assert older["has_more"] is True
    oldest = history(bob, before_id=ids(older)[0], limit=5)
    assert ids(oldest) == all_ids[:2]
    assert oldest["has_more"] is False


def test_a_page_holds_at_most_200_messages(world, enter):
    all_ids = stored(world.other, world.frank, 205)
    bob = enter(world.bob, world.other)
    page = history(bob, after_id=0, limit=1000)
    assert ids(page) == all_ids[:200]
    assert page["has_more"] is True
    rest = history(bob, after_id=ids(page)[-1], limit=1000)
    assert ids(rest) == all_ids[200:]
    assert rest["has_more"] is False


def test_history_without_limit_gives_the_newest_50(world, enter):
    all_ids = stored(world.other, world.frank, 60)
    bob = enter(world.bob, world.other)
    assert ids(history(bob)) == all_ids[-50:]


def test_history_serves_only_this_rooms_messages(world, enter):
    SupportGroup.objects.filter(pk=world.circle.pk).update(drop_in=True)
    circle_ids = stored(world.circle, world.carol, 3, "circle")
    other_ids = stored(world.other, world.frank, 3, "other")
    bob = enter(world.bob, world.other)
    page = history(bob, after_id=0)
    assert ids(page) == other_ids
    assert not set(circle_ids) & set(ids(page))
    assert all(m["text"].startswith("other") for m in page["messages"])


def test_messages_older_than_the_groups_retention_are_never_served(world, enter):
    SupportGroup.objects.filter(pk=world.other.pk).update(retention_days=7)
    old = stored(world.other, world.frank, 3, "old")
    Message.objects.filter(pk__in=old).update(created_at=timezone.now() - dt.timedelta(days=8))
    recent = stored(world.other, world.frank, 2, "recent")
    bob = enter(world.bob, world.other)
    assert ids(history(bob, after_id=0)) == recent
    assert ids(history(bob)) == recent
    assert ids(history(bob, before_id=recent[0])) == []


def test_a_members_own_held_and_rejected_messages_come_back_to_them_alone(world, enter):
    visible = stored(world.other, world.frank, 1)[0]
    held, rejected, others_held = stored(world.other, world.bob, 3, prefix="mine")
    Message.objects.filter(pk=held).update(status=MessageStatus.HELD, held_reason="contact_details")
    Message.objects.filter(pk=rejected).update(status=MessageStatus.REJECTED)
    Message.objects.filter(pk=others_held).update(
        status=MessageStatus.HELD, author=world.frank, held_reason="harassment"
    )
    bob = enter(world.bob, world.other)
    page = history(bob)
    assert ids(page) == [visible, held, rejected]
    by_id = {m["id"]: m for m in page["messages"]}
    assert (by_id[held]["status"], by_id[held]["reason"]) == ("held", "contact_details")
    assert by_id[held]["text"] == "mine 0"
    assert by_id[rejected]["status"] == "rejected"
    assert "status" not in by_id[visible]
    assert ids(history(bob, after_id=visible)) == [held, rejected]


def test_held_messages_are_not_served_and_deleted_ones_come_as_tombstones(world, enter):
    visible, held, deleted = stored(world.other, world.frank, 3)
    Message.objects.filter(pk=held).update(status=MessageStatus.HELD)
    Message.objects.filter(pk=deleted).update(status=MessageStatus.DELETED)
    bob = enter(world.bob, world.other)
    page = history(bob, after_id=0)
    assert ids(page) == [visible, deleted]
    tombstone = page["messages"][1]
    assert tombstone["deleted"] is True
    assert tombstone["body"] == ""

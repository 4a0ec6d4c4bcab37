"""Reminder emails: once per session, to enrolled members only, without anything said in the
room."""

from __future__ import annotations

import datetime as dt
import smtplib

import pytest
from django.core import mail
from django.core.mail.backends import locmem
from django.test import override_settings

from rooms.models import Message, Session
from rooms.services import (
    enrollment_end,
    enrollment_join,
    group_update,
    session_cancel,
    session_move,
)
from rooms.worker import reminders_send
from tests.api.helpers import member

pytestmark = pytest.mark.django_db


@pytest.fixture
def upcoming(world):
    """The circle's next session. Alice and `seated` have seats, `waiting` is on the waitlist,
    `gone` left, carol facilitates; a message was said in the room."""
    group_update(group=world.circle, fields={"capacity": 2})
    for name in ("seated", "waiting", "gone"):
        enrollment_join(
            group=world.circle, user=member(name), alias=name.title(), agreement_accepted=True
        )
    enrollment_end(enrollment=world.circle.enrollments.get(user__username="gone"))
    assert world.circle.enrollments.get(user__username="waiting").status == "waitlisted"
    Message.objects.create(
        group=world.circle, author=world.alice, body="something very private about my marriage"
    )
    mail.outbox = []
    return Session.objects.filter(group=world.circle).earliest("starts_at")


def recipients() -> list[str]:
    return sorted(address for message in mail.outbox for address in message.to)


def test_reminder_goes_once_to_enrolled_members_only(world, upcoming):
    now = upcoming.starts_at - dt.timedelta(minutes=30)
    assert reminders_send(now=now) == 1
    assert recipients() == ["alice@example.org", "seated@example.org"]
    assert all(len(m.to) == 1 for m in mail.outbox), "members must not see each other's address"
    assert reminders_send(now=now + dt.timedelta(minutes=5)) == 0
    assert len(mail.outbox) == 2
    upcoming.refresh_from_db()
    assert upcoming.reminder_sent_at == now


def test_reminder_says_when_and_where_but_nothing_said_in_the_room(world, upcoming):
    reminders_send(now=upcoming.starts_at - dt.timedelta(minutes=30))
    message = mail.outbox[0]
    assert message.subject == "Reminder: Evening Circle meets at 19:00 (America/Los_Angeles)"
    assert "19:00" in message.body
    assert "private" not in message.body and "marriage" not in message.body
    assert "Willow" not in message.body and "alice" not in message.body.lower()


def test_a_session_further_away_gets_no_reminder_yet(world, upcoming):
    assert reminders_send(now=upcoming.starts_at - dt.timedelta(hours=2)) == 0
    assert mail.outbox == []
    assert reminders_send(now=upcoming.starts_at - dt.timedelta(minutes=59)) == 1


def test_a_session_that_already_started_gets_no_reminder(world, upcoming):
    assert reminders_send(now=upcoming.starts_at + dt.timedelta(minutes=1)) == 0
    assert mail.outbox == []


def test_a_cancelled_session_gets_no_reminder(world, upcoming):
    session_cancel(session=upcoming)
    assert reminders_send(now=upcoming.starts_at - dt.timedelta(minutes=30)) == 0
    assert mail.outbox == []


def test_a_moved_session_gets_a_fresh_reminder(world, upcoming, clock):
    clock.set(upcoming.starts_at - dt.timedelta(minutes=30))
    reminders_send()
    assert len(mail.outbox) == 2

    later = upcoming.starts_at + dt.timedelta(days=1)
    session_move(session=upcoming, starts_at=later)
    clock.set(later - dt.timedelta(minutes=30))
    assert reminders_send() == 1
    assert len(mail.outbox) == 4


def test_a_deleted_groups_sessions_get_no_reminder(world, upcoming):
    world.client(world.dave).delete(f"/api/groups/{world.circle.pk}/")
    assert reminders_send(now=upcoming.starts_at - dt.timedelta(minutes=30)) == 0


@pytest.mark.django_db(transaction=True)
def test_a_stalled_mail_relay_holds_no_database_lock_and_the_reminder_goes_later(world, upcoming):
    """The relay accepts the connection and then says nothing, as a hung mail server does.
    Meanwhile the rooms must go on storing messages: the reminder waits on the relay holding
    a claim on its session, not a database lock. When the relay fails, it goes out later."""
    import socket
    import threading

    from django.db import connection, connections
    from django.test import override_settings

    now = upcoming.starts_at - dt.timedelta(minutes=30)
    relay = socket.socket()
    relay.bind(("127.0.0.1", 0))
    relay.listen(8)
    relay.settimeout(30)
    done: list[int] = []

    def remind() -> None:
        try:
            done.append(reminders_send(now=now))
        finally:
            connections.close_all()

    with override_settings(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=relay.getsockname()[1],
        EMAIL_TIMEOUT=30,
    ):
        sender = threading.Thread(target=remind)
        sender.start()
        try:
            hung, _ = relay.accept()  # the reminder waits for the relay's greeting
            if connection.vendor == "sqlite":
                # A lock held elsewhere fails this write at once instead of waiting for it.
                with connection.cursor() as cursor:
                    cursor.execute("PRAGMA busy_timeout = 500")
            said = Message.objects.create(group=world.circle, author=world.alice, body="still here")
            assert said.pk
            upcoming.refresh_from_db()
            assert upcoming.reminder_claimed_until is not None
            assert upcoming.reminder_sent_at is None
            hung.close()
        finally:
            relay.close()
            sender.join(60)
    assert done == [0] and mail.outbox == []
    upcoming.refresh_from_db()
    assert upcoming.reminder_claimed_until is None and upcoming.reminder_sent_at is None
    # The relay is back: the next tick sends it, once.
    assert reminders_send(now=now) == 1
    assert recipients() == ["alice@example.org", "seated@example.org"]
    assert reminders_send(now=now) == 0


class RelayThatRefusesTheSecond(locmem.EmailBackend):
    """A mail relay that takes the first e-mail of a connection and refuses the next."""

    def send_messages(self, messages):  # type: ignore[no-untyped-def]
        if getattr(self, "taken", 0) >= 1:
            raise smtplib.SMTPRecipientsRefused({messages[0].to[0]: (550, b"mailbox full")})
        self.taken = getattr(self, "taken", 0) + 1
        return super().send_messages(messages)


class RelayDuringAMove(locmem.EmailBackend):
    """A relay that takes its time: the session is moved while the old time is being sent."""

    def send_messages(self, messages):  # type: ignore[no-untyped-def]
        session = Session.objects.filter(moved=False, reminder_claimed_until__isnull=False).first()
        if session is not None:
            session_move(session=session, starts_at=session.starts_at + dt.timedelta(days=1))
        return super().send_messages(messages)


def test_a_relay_that_fails_part_way_does_not_send_the_others_theirs_again(world, upcoming):
    now = upcoming.starts_at - dt.timedelta(minutes=30)
    with override_settings(EMAIL_BACKEND=f"{__name__}.RelayThatRefusesTheSecond"):
        assert reminders_send(now=now) == 1
        assert len(mail.outbox) == 1  # one of the two went; the other was refused
        assert reminders_send(now=now + dt.timedelta(minutes=1)) == 0
    assert len(mail.outbox) == 1
    upcoming.refresh_from_db()
    assert upcoming.reminder_sent_at == now and upcoming.reminder_claimed_until is None


def test_a_session_moved_while_its_reminder_goes_out_gets_one_for_its_new_time(world, upcoming):
    now = upcoming.starts_at - dt.timedelta(minutes=30)
    with override_settings(EMAIL_BACKEND=f"{__name__}.RelayDuringAMove"):
        assert reminders_send(now=now) == 0  # what went out named the old time
    assert len(mail.outbox) == 2
    upcoming.refresh_from_db()
    assert upcoming.moved and upcoming.reminder_sent_at is None
    assert reminders_send(now=upcoming.starts_at - dt.timedelta(minutes=30)) == 1
    assert len(mail.outbox) == 4

"""Alert e-mails: one per person per alert per tier, with a link to the alert; whatever would
have e-mailed someone again waits for one digest per person, which lists only the alerts still
waiting for someone."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from moderation.models import Alert, AlertEmail, OutboundEmail, Tier
from moderation.services import alert_acknowledge, alert_digests_send, alerts_escalate

pytestmark = pytest.mark.django_db

WINDOW = dt.timedelta(seconds=60)  # the emergency deadline


@pytest.fixture
def on_call(world: Any) -> Any:
    for person in (world.dave, world.frank):
        person.on_call = True
        person.save()
    return world


def emergency(world: Any, tier: int = Tier.SESSION) -> Alert:
    return Alert.objects.create(
        group=world.circle,
        member=world.alice,
        level="emergency",
        category="self_harm",
        tier=tier,
        ack_deadline=timezone.now() - dt.timedelta(seconds=1),
    )


def mail_to(person: Any) -> list[OutboundEmail]:
    return list(OutboundEmail.objects.filter(to=person.email).order_by("id"))


@override_settings(
    ALERT_ACK_SECONDS_EMERGENCY=60, ALERT_EMAIL_DIGEST_SECONDS=900, SITE_URL="https://haven.example"
)
def test_each_person_gets_one_email_per_alert_per_tier_however_often_it_escalates(on_call):
    world = on_call
    alert = emergency(world)
    now = timezone.now()
    assert alerts_escalate(now) == 1  # to the group's facilitators
    assert [m.subject for m in mail_to(world.carol)] == [
        "[EMERGENCY] A member in Evening Circle has not been acknowledged"
    ]
    assert f"https://haven.example/alerts/#alert-{alert.pk}" in mail_to(world.carol)[0].body
    # Then on-call, then on-call again at every deadline, five times; after that it never goes
    # quiet, but reminds only as often as the digest goes out.
    for step in range(1, 7):
        alerts_escalate(now + step * WINDOW)
    alert.refresh_from_db()
    assert alert.tier == Tier.ON_CALL and alert.escalations == 6
    slower = now + 5 * WINDOW + dt.timedelta(seconds=900)  # the sixth, at 5 x WINDOW
    assert alert.ack_deadline == slower
    assert alerts_escalate(now + 8 * WINDOW) == 0
    assert alerts_escalate(slower) == 1
    alert.refresh_from_db()
    assert alert.escalations == 7 and alert.ack_deadline == slower + dt.timedelta(seconds=900)
    assert len(mail_to(world.carol)) == 1
    assert len(mail_to(world.dave)) == 1 and len(mail_to(world.frank)) == 1
    assert len(mail_to(world.bob)) == 0  # nobody outside the tiers
    # The repeats (four at the deadline, one at the digest's pace) wait for the digest.
    assert AlertEmail.objects.filter(user=world.dave, digest=True).count() == 5


@override_settings(ALERT_ACK_SECONDS_EMERGENCY=60, ALERT_EMAIL_DIGEST_SECONDS=900)
def test_the_repeats_go_out_as_one_digest_per_person_once_it_is_due(on_call):
    world = on_call
    first, second = emergency(world, Tier.ON_CALL), emergency(world, Tier.ON_CALL)
    now = timezone.now()
    for step in range(3):
        alerts_escalate(now + step * WINDOW)
    assert len(mail_to(world.dave)) == 0  # raised at on-call by hand here: only repeats
    assert alert_digests_send(now + dt.timedelta(seconds=600)) == 0  # not yet due
    later = now + dt.timedelta(seconds=1000)
    assert alert_digests_send(later) == 3  # carol (the group's), dave and frank (on call)
    (digest,) = mail_to(world.dave)
    assert digest.subject == "2 alerts still not acknowledged"
    assert (
        f"/alerts/#alert-{first.pk}" in digest.body and f"/alerts/#alert-{second.pk}" in digest.body
    )
    assert alert_digests_send(later) == 0  # sent once


@override_settings(ALERT_ACK_SECONDS_EMERGENCY=60, ALERT_EMAIL_DIGEST_SECONDS=900)
def test_a_digest_leaves_out_alerts_acknowledged_meanwhile(on_call):
    world = on_call
    alert = emergency(world, Tier.ON_CALL)
    now = timezone.now()
    alerts_escalate(now)
    alert_acknowledge(alert=alert, by=world.carol)
    assert alert_digests_send(now + dt.timedelta(seconds=1000)) == 0
    assert mail_to(world.dave) == [] and mail_to(world.frank) == []
    assert not AlertEmail.objects.filter(digest=True, digested_at__isnull=True).exists()


@override_settings(ALERT_ACK_SECONDS_EMERGENCY=60)
def test_a_walk_of_many_alerts_sends_one_email_per_alert_and_person(on_call):
    """The walk that sent 68 e-mails in an hour: ten emergencies nobody acknowledged, each
    climbing every tier and repeating at on-call until it gives up."""
    world = on_call
    for _ in range(10):
        emergency(world)
    now = timezone.now()
    for step in range(8):
        alerts_escalate(now + step * WINDOW)
    # carol at the group's tier, dave and frank at on-call: once per alert each.
    assert len(mail_to(world.carol)) == 10
    assert len(mail_to(world.dave)) == 10 and len(mail_to(world.frank)) == 10
    alert_digests_send(now + dt.timedelta(hours=1))
    assert len(mail_to(world.dave)) == 11  # and one digest of all of them


@override_settings(ALERT_ACK_SECONDS_EMERGENCY=60)
def test_a_tier_that_tells_nobody_new_is_passed_over(on_call):
    from rooms.models import ProcessHeartbeat, RoomConnection

    world = on_call
    # Carol, the circle's only facilitator, is in the room and has not answered: the group's
    # tier would tell nobody new, so on-call hears at the first deadline, not a deadline later.
    ProcessHeartbeat.objects.create(process="web-1", last_seen=timezone.now())
    RoomConnection.objects.create(
        channel_name="carol-1", group=world.circle, user=world.carol, process="web-1"
    )
    alert = emergency(world)
    assert alerts_escalate(timezone.now()) == 1
    alert.refresh_from_db()
    assert alert.tier == Tier.ON_CALL
    assert len(mail_to(world.dave)) == 1 and len(mail_to(world.frank)) == 1


@override_settings(ALERT_ACK_SECONDS_EMERGENCY=60)
def test_with_nobody_on_call_every_admin_hears_the_top_tier(world):
    alert = emergency(world, Tier.GROUP)
    assert alerts_escalate(timezone.now()) == 1
    alert.refresh_from_db()
    assert alert.tier == Tier.ON_CALL
    assert [m.subject for m in mail_to(world.dave)] == [
        "[EMERGENCY] A member in Evening Circle has not been acknowledged"
    ]
    assert mail_to(world.frank) == []  # a facilitator of another group, not on call


def test_an_email_a_dead_worker_was_sending_goes_out_once_its_lease_ends():
    from django.core import mail

    from moderation.services import outbox_send

    now = timezone.now()
    held = OutboundEmail.objects.create(
        to="carol@example.org",
        subject="held",
        body="-",
        claimed_until=now + dt.timedelta(minutes=1),
    )
    dropped = OutboundEmail.objects.create(
        to="dave@example.org",
        subject="dropped",
        body="-",
        claimed_until=now - dt.timedelta(seconds=1),
    )
    assert outbox_send() == 1  # another worker still holds the first
    assert [m.subject for m in mail.outbox] == ["dropped"]
    dropped.refresh_from_db()
    held.refresh_from_db()
    assert dropped.sent_at is not None and dropped.claimed_until is None
    assert held.sent_at is None
    assert outbox_send() == 0


@pytest.mark.django_db(transaction=True)
def test_a_stalled_mail_relay_never_holds_up_an_escalation(world):
    """The relay accepts the connection and then says nothing, as a hung mail server does: the
    worker's e-mail waits on it on a thread of its own, and the emergency escalates meanwhile."""
    import socket

    from moderation.jobs import worker_jobs
    from rooms.worker import Worker

    relay = socket.socket()
    relay.bind(("127.0.0.1", 0))
    relay.listen(8)
    relay.settimeout(30)
    worker = Worker(jobs=worker_jobs(), tick=0.1)
    outbox = next(job for job in worker.jobs if job.name == "outbox")
    try:
        with override_settings(
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=relay.getsockname()[1],
            EMAIL_TIMEOUT=60,
            ALERT_ACK_SECONDS_EMERGENCY=60,
        ):
            OutboundEmail.objects.create(to="dave@example.org", subject="earlier", body="-")
            alert = emergency(world, Tier.GROUP)
            worker.run_once()
            hung, _ = relay.accept()  # the outbox's thread waits for the relay's greeting
            assert outbox.thread is not None and outbox.thread.is_alive()
            alert.refresh_from_db()
            assert alert.tier == Tier.ON_CALL and alert.escalations == 1
            worker.run_once()  # the next tick does not start a second sender
            # The relay goes away: this e-mail, and the one the escalation wrote, are tried
            # again later.
            hung.close()
            relay.close()
            outbox.thread.join(30)
    finally:
        relay.close()
    assert not outbox.thread.is_alive()
    mail_row = OutboundEmail.objects.get(subject="earlier")
    assert mail_row.sent_at is None and mail_row.attempts == 1 and mail_row.claimed_until is None

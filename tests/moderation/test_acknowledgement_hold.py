"""An acknowledgement holds while whoever gave it is with the member: an acknowledged urgent or
emergency alert whose acknowledger is away from its room (and from any private check-in with the
member) at two looks of the worker, a moment apart, is open again, and everyone at its tier hears
about it."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.utils import timezone

from moderation.models import Alert, AlertKind, AlertStatus, AuditEntry, OutboundEmail, Tier
from moderation.services import alert_acknowledge, alert_resolve, alerts_group, alerts_reclaim
from rooms.models import GroupFacilitator, ProcessHeartbeat, RoomConnection
from tests.factories import crisis_alert

pytestmark = pytest.mark.django_db

HOLD = dt.timedelta(seconds=120)
GRACE = dt.timedelta(seconds=30)


@pytest.fixture(autouse=True)
def _settings(settings: Any) -> None:
    settings.ALERT_ACK_HOLD_SECONDS = 120
    settings.ALERT_ACK_SECONDS_EMERGENCY = 60
    settings.ALERT_ACK_SECONDS_URGENT = 300


def enter(user: Any, group: Any) -> RoomConnection:
    """A live socket of `user` in `group`'s room, as a web process records it."""
    ProcessHeartbeat.objects.update_or_create(
        process="web-1", defaults={"last_seen": timezone.now()}
    )
    return RoomConnection.objects.create(
        channel_name=f"{user.username}-{group.pk}", group=group, user=user, process="web-1"
    )


def reopened(alert: Alert) -> int:
    return AuditEntry.objects.filter(alert=alert, action="alert.reopened").count()


def looks(after: dt.timedelta) -> tuple[int, dt.datetime]:
    """The worker's look `after` from now, and the second one a grace later, as the worker's
    ticks would make them: how many alerts they opened again, and when the second one was."""
    first = timezone.now() + after + dt.timedelta(seconds=1)
    second = first + GRACE + dt.timedelta(seconds=1)
    return alerts_reclaim(first) + alerts_reclaim(second), second


def test_an_acknowledgement_holds_while_its_giver_stays_in_the_room(world):
    enter(world.carol, world.circle)
    alert = crisis_alert(world.circle, world.alice, level="emergency")
    alert = alert_acknowledge(alert=alert, by=world.carol)
    assert alert.status == AlertStatus.ACKNOWLEDGED
    # The deadline is now when the worker looks again, a hold after the acknowledgement.
    assert alert.ack_deadline is not None
    assert abs(alert.ack_deadline - (alert.acknowledged_at + HOLD)) < dt.timedelta(seconds=1)
    for minutes in (2, 4, 6):
        later = timezone.now() + dt.timedelta(minutes=minutes, seconds=1)
        assert alerts_reclaim(later) == 0
        alert.refresh_from_db()
        assert alert.status == AlertStatus.ACKNOWLEDGED
        assert alert.acknowledged_by_id == world.carol.pk
        assert alert.ack_deadline == later + HOLD  # looked at again a hold later
    assert reopened(alert) == 0
    assert not OutboundEmail.objects.exists()


def test_an_acknowledged_emergency_whose_giver_left_is_open_again_for_everyone(
    world, django_capture_on_commit_callbacks
):
    world.dave.on_call = True
    world.dave.save()
    GroupFacilitator.objects.create(group=world.circle, user=world.frank)
    seat = enter(world.carol, world.circle)
    alert = crisis_alert(world.circle, world.alice, level="emergency")
    alert_acknowledge(alert=alert, by=world.carol)
    seat.delete()  # her laptop closed
    assert alerts_reclaim(timezone.now() + dt.timedelta(seconds=60)) == 0  # not yet due
    first = timezone.now() + HOLD + dt.timedelta(seconds=1)
    assert alerts_reclaim(first) == 0  # away once: one more look decides
    alert.refresh_from_db()
    assert alert.status == AlertStatus.ACKNOWLEDGED and alert.ack_away_since == first
    assert alert.ack_deadline == first + GRACE
    later = first + GRACE + dt.timedelta(seconds=1)
    layer = get_channel_layer()
    dave_alerts = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(alerts_group(world.dave.pk), dave_alerts)
    with django_capture_on_commit_callbacks(execute=True):
        assert alerts_reclaim(later) == 1
    # Dave's pages ring for it: open again, marked so, as an escalation is.
    frame = json.loads(async_to_sync(layer.receive)(dave_alerts)["text"])
    assert frame["type"] == "alert.updated"
    assert frame["reopened"] is True and frame["escalated"] is True
    assert frame["alert"]["status"] == "open" and frame["alert"]["acknowledged_by"] is None
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN and alert.ack_away_since is None
    assert alert.acknowledged_by_id is None and alert.acknowledged_at is None
    # A fresh emergency deadline: unanswered, it escalates again from here.
    assert alert.ack_deadline == later + dt.timedelta(seconds=60)
    # Nobody who can moderate is in the room: on-call hears at once, as for a new alert.
    assert alert.tier == Tier.ON_CALL
    told = set(OutboundEmail.objects.values_list("to", flat=True))
    assert {world.carol.email, world.frank.email, world.dave.email} <= told
    subject = OutboundEmail.objects.filter(to=world.dave.email).get().subject
    assert subject == (
        "[EMERGENCY] A member in Evening Circle needs someone again: whoever acknowledged the "
        "alert has left"
    )
    entry = AuditEntry.objects.get(alert=alert, action="alert.reopened")
    assert entry.data == {"left": world.carol.pk}
    # Once is enough: the next look finds it open, not acknowledged.
    assert alerts_reclaim(later + HOLD) == 0
    assert reopened(alert) == 1


def test_someone_else_in_the_room_keeps_it_at_its_tier_and_can_take_it_over(world):
    GroupFacilitator.objects.create(group=world.circle, user=world.frank)
    enter(world.frank, world.circle)
    alert = crisis_alert(world.circle, world.alice, level="urgent")
    alert_acknowledge(alert=alert, by=world.carol)  # from the alert page: never in the room
    assert looks(HOLD)[0] == 1
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN and alert.tier == Tier.SESSION
    # Frank, who is with her, acknowledges it; now it holds on him.
    alert = alert_acknowledge(alert=alert, by=world.frank)
    assert alert.status == AlertStatus.ACKNOWLEDGED and alert.acknowledged_by_id == world.frank.pk
    assert looks(HOLD)[0] == 0
    alert.refresh_from_db()
    assert alert.status == AlertStatus.ACKNOWLEDGED


def test_a_check_in_holds_while_its_facilitator_is_in_the_check_in_room(world):
    from rooms.models import GroupKind, SupportGroup

    checkin = SupportGroup.objects.create(
        name="Check-in: Willow", kind=GroupKind.CHECKIN, checkin_of=world.circle, timezone="UTC"
    )
    alert = Alert.objects.create(
        kind=AlertKind.CHECKIN,
        group=world.circle,
        member=world.alice,
        level="urgent",
        explanation="Asked to talk to a facilitator privately.",
        ack_deadline=timezone.now() + dt.timedelta(minutes=5),
        checkin=checkin,
    )
    alert_acknowledge(alert=alert, by=world.carol)
    seat = enter(world.carol, checkin)  # she is talking with her, not in the group's room
    assert looks(HOLD)[0] == 0
    seat.delete()
    assert looks(3 * HOLD)[0] == 1
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN


def test_a_resolved_alert_a_watch_entry_and_an_unattended_room_are_left_alone(world):
    resolved = crisis_alert(world.circle, world.alice, level="emergency")
    alert_acknowledge(alert=resolved, by=world.carol)
    alert_resolve(alert=resolved, by=world.carol, outcome="supported_in_room")
    watch = crisis_alert(world.circle, world.alice, level="watch")
    watch = alert_acknowledge(alert=watch, by=world.carol)
    assert watch.ack_deadline is None  # a watch entry pages nobody, so it has nothing to hold
    unattended = Alert.objects.create(
        kind=AlertKind.UNATTENDED,
        group=world.circle,
        level="urgent",
        tier=Tier.ON_CALL,
        ack_deadline=timezone.now() + dt.timedelta(seconds=120),
    )
    alert_acknowledge(alert=unattended, by=world.dave)
    assert alerts_reclaim(timezone.now() + dt.timedelta(hours=1)) == 0
    for alert, status in (
        (resolved, AlertStatus.RESOLVED),
        (watch, AlertStatus.ACKNOWLEDGED),
        (unattended, AlertStatus.ACKNOWLEDGED),
    ):
        alert.refresh_from_db()
        assert alert.status == status


def test_each_opening_again_is_e_mailed_at_once_but_not_twice_within_the_digest_period(world):
    """Escalated to on-call (dave had his one e-mail at that tier), then acknowledged by someone
    who left, twice over: the first time it opens again he gets an e-mail at once; the second,
    within the digest period, goes in his digest (it still rings on every page)."""
    from moderation.models import AlertEmail
    from moderation.services import alerts_escalate

    world.dave.on_call = True
    world.dave.save()
    alert = crisis_alert(
        world.circle, world.alice, level="emergency", tier=Tier.GROUP, due_in=-dt.timedelta(1)
    )
    assert alerts_escalate(timezone.now()) == 1
    assert OutboundEmail.objects.filter(to=world.dave.email).count() == 1
    for mails in (2, 2):
        alert.refresh_from_db()
        alert_acknowledge(alert=alert, by=world.carol)
        assert looks(HOLD)[0] == 1
        alert.refresh_from_db()
        assert alert.status == AlertStatus.OPEN and alert.tier == Tier.ON_CALL
        assert OutboundEmail.objects.filter(to=world.dave.email).count() == mails
    assert reopened(alert) == 2
    assert AlertEmail.objects.filter(alert=alert, user=world.dave, digest=True).count() == 1


def test_a_facilitator_back_by_the_second_look_keeps_it(world):
    """A phone changing networks, a page moving to the check-in: away at one look, back at the
    next, and nobody is paged."""
    seat = enter(world.carol, world.circle)
    alert = crisis_alert(world.circle, world.alice, level="emergency")
    alert_acknowledge(alert=alert, by=world.carol)
    seat.delete()
    first = timezone.now() + HOLD + dt.timedelta(seconds=1)
    assert alerts_reclaim(first) == 0
    enter(world.carol, world.circle)  # reconnected
    assert alerts_reclaim(first + GRACE + dt.timedelta(seconds=1)) == 0
    alert.refresh_from_db()
    assert alert.status == AlertStatus.ACKNOWLEDGED and alert.ack_away_since is None
    assert alert.ack_deadline == first + GRACE + dt.timedelta(seconds=1) + HOLD
    assert reopened(alert) == 0 and not OutboundEmail.objects.exists()


def test_an_on_call_facilitator_of_another_group_acknowledges_for_good(world):
    """Frank, on call, facilitates another group: he cannot enter this room, and acts by other
    means (a call). His acknowledgement holds until he resolves it."""
    world.frank.on_call = True
    world.frank.save()
    alert = crisis_alert(world.circle, world.alice, level="emergency", tier=Tier.ON_CALL)
    alert = alert_acknowledge(alert=alert, by=world.frank)
    assert alert.status == AlertStatus.ACKNOWLEDGED and alert.ack_deadline is None
    assert looks(HOLD)[0] == 0 and looks(10 * HOLD)[0] == 0
    alert.refresh_from_db()
    assert alert.status == AlertStatus.ACKNOWLEDGED and alert.acknowledged_by_id == world.frank.pk


def test_it_holds_while_she_talks_with_the_member_in_a_private_check_in(world):
    """The facilitator who acknowledged an emergency takes the member to a private check-in,
    as she should: she has left the group's room, but she is with her."""
    from moderation.actions import checkin_open

    enter(world.carol, world.circle)
    alert = crisis_alert(world.circle, world.alice, level="emergency")
    alert_acknowledge(alert=alert, by=world.carol)
    enrollment = world.circle.enrollments.get(user=world.alice)
    room = checkin_open(by=world.carol, group=world.circle, member=enrollment.pk)
    RoomConnection.objects.filter(user=world.carol).delete()
    enter(world.carol, room)
    assert alerts_reclaim(timezone.now() + HOLD + dt.timedelta(seconds=1)) == 0
    alert.refresh_from_db()
    assert alert.status == AlertStatus.ACKNOWLEDGED


def test_an_acknowledged_alert_the_worker_has_not_looked_at_shows_in_its_lag(world, client):
    """The metric that says the worker has stopped: it counts acknowledged alerts whose look is
    overdue as well as open alerts whose escalation is."""
    import re

    alert = crisis_alert(world.circle, world.alice, level="emergency")
    alert_acknowledge(alert=alert, by=world.carol)
    client.force_login(world.dave)

    def lag() -> float:
        text = client.get("/metrics").content.decode()
        return float(re.search(r"^haven_worker_lag_seconds (\S+)$", text, re.M).group(1))

    assert lag() == 0.0
    Alert.objects.filter(pk=alert.pk).update(ack_deadline=timezone.now() - dt.timedelta(minutes=5))
    assert lag() >= 300
    alerts_reclaim(timezone.now())  # the worker looks (she is away: once more, later)
    assert lag() == 0.0


def test_a_facilitator_taken_off_the_group_no_longer_holds_it_though_her_socket_is_open(world):
    """Her right to moderate the group is taken away while she is in the room: the room closes
    her socket within seconds, but her acknowledgement stops counting at once."""
    enter(world.carol, world.circle)
    alert = crisis_alert(world.circle, world.alice, level="emergency")
    alert_acknowledge(alert=alert, by=world.carol)
    GroupFacilitator.objects.filter(group=world.circle, user=world.carol).delete()
    assert RoomConnection.objects.filter(user=world.carol).exists()  # not yet closed
    assert looks(HOLD)[0] == 1
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN

"""Documented answers the schema fuzz does not reach on its own (tests/api/test_schema_fuzz.py,
REACHED_ELSEWHERE): each needs a persona and a state that a generated request does not bring, a
valid moderation command on a member of the group, an account deleting itself, a session that
is over. Every test asserts the exact status and that the body matches what the schema
documents for it."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from moderation.models import Alert, AlertKind, AuditEntry, HiddenAuthor
from rooms.models import Enrollment, EnrollmentStatus, GroupKind, Session, SupportGroup
from rooms.services import enrollment_join
from server.accounts.models import User
from tests.api.helpers import assert_documented, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def erin(world) -> User:
    """A second member of the circle, for alice to hide and carol to moderate."""
    user = member("erin")
    enrollment_join(group=world.circle, user=user, alias="Fern", agreement_accepted=True)
    return user


def key(group: SupportGroup, user: User) -> str:
    """A member's room id, as the tools name them."""
    return f"m{Enrollment.objects.get(group=group, user=user).pk}"


def crisis_alert(world, about: User) -> Alert:
    return Alert.objects.create(
        kind=AlertKind.CRISIS,
        group=world.circle,
        member=about,
        level="urgent",
        category="self_harm",
        ack_deadline=timezone.now() + dt.timedelta(minutes=5),
    )


# ---------------------------------------------------------------- accounts


def test_a_member_deletes_her_own_account_with_her_password(world):
    response = world.client(world.alice).post(
        "/api/me/delete/", {"password": "pw-alice-long"}, format="json"
    )
    assert response.status_code == 204
    assert response.content == b""
    assert_documented(response, "POST", "/api/me/delete/")
    alice = User.objects.get(pk=world.alice.pk)
    assert not alice.is_active and alice.username.startswith("deleted-")


def test_an_admin_cannot_delete_her_own_account_from_the_people_list(world):
    response = world.client(world.dave).delete(f"/api/users/{world.dave.pk}/")
    assert response.status_code == 400
    assert response.json() == {"detail": "Delete your own account from your account page."}
    assert_documented(response, "DELETE", "/api/users/{id}/")
    assert User.objects.get(pk=world.dave.pk).is_active


# ---------------------------------------------------------------- sessions


def test_a_session_that_is_over_cannot_be_cancelled(world):
    now = timezone.now()
    over = Session.objects.create(
        group=world.circle,
        starts_at=now - dt.timedelta(hours=3),
        ends_at=now - dt.timedelta(hours=2),
    )
    response = world.client(world.carol).post(f"/api/sessions/{over.pk}/cancel/")
    assert response.status_code == 400
    assert response.json() == {"detail": "This session is already over."}
    assert_documented(response, "POST", "/api/sessions/{id}/cancel/")
    over.refresh_from_db()
    assert over.status != "cancelled"


# ---------------------------------------------------------------- alerts


def test_checking_in_on_an_alert_whose_member_deleted_her_account_is_refused(world):
    alert = crisis_alert(world, about=world.alice)
    deleted = world.client(world.alice).post(
        "/api/me/delete/", {"password": "pw-alice-long"}, format="json"
    )
    assert deleted.status_code == 204
    response = world.client(world.carol).post(f"/api/alerts/{alert.pk}/checkin/")
    assert response.status_code == 400
    assert response.json() == {"detail": "This alert has no member to check in with."}
    assert_documented(response, "POST", "/api/alerts/{id}/checkin/")
    assert not SupportGroup.objects.filter(kind=GroupKind.CHECKIN).exists()


@pytest.mark.parametrize(
    ("action", "body"),
    [("acknowledge", None), ("resolve", {"outcome": "resolved"}), ("checkin", None)],
)
def test_a_member_is_refused_every_alert_action_whatever_the_id(world, action, body):
    """A member never handles alerts: the same 403 for an alert about her own words and for
    an id that names none, so the answer tells nothing about which alerts exist."""
    alert = crisis_alert(world, about=world.alice)
    client = world.client(world.alice)
    answers = [
        client.post(f"/api/alerts/{pk}/{action}/", body, format="json") for pk in (alert.pk, 999999)
    ]
    assert [a.status_code for a in answers] == [403, 403]
    assert answers[0].json() == answers[1].json()
    assert answers[0].json() == {"detail": "Only facilitators and admins handle alerts."}
    assert_documented(answers[0], "POST", f"/api/alerts/{{id}}/{action}/")
    alert.refresh_from_db()
    assert alert.status == "open"


# ---------------------------------------------------------------- the room's tools


def tool(world, user: User, name: str, body: dict):  # noqa: ANN201
    response = world.client(user).post(
        f"/api/groups/{world.circle.pk}/{name}/", body, format="json"
    )
    assert_documented(response, "POST", f"/api/groups/{{id}}/{name}/")
    return response


def test_a_facilitator_mutes_a_member_for_some_minutes_with_a_reason(world, erin):
    response = tool(
        world,
        world.carol,
        "mute",
        {"member": key(world.circle, erin), "minutes": 10, "reason": "Pause"},
    )
    assert response.status_code == 200
    assert response.json() == {"action": "mute"}
    enrollment = Enrollment.objects.get(group=world.circle, user=erin)
    assert enrollment.muted_until > timezone.now() + dt.timedelta(minutes=9)
    assert enrollment.mute_reason == "Pause"


def test_a_facilitator_lifts_a_mute(world, erin):
    Enrollment.objects.filter(group=world.circle, user=erin).update(
        muted_until=timezone.now() + dt.timedelta(minutes=10), mute_reason="Pause"
    )
    response = tool(world, world.carol, "unmute", {"member": key(world.circle, erin)})
    assert response.status_code == 200
    assert response.json() == {"action": "unmute"}
    assert Enrollment.objects.get(group=world.circle, user=erin).muted_until is None


def test_a_facilitator_removes_a_member_from_the_current_session(world, erin):
    response = tool(world, world.carol, "remove", {"member": key(world.circle, erin)})
    assert response.status_code == 200
    assert response.json() == {"action": "remove"}
    enrollment = Enrollment.objects.get(group=world.circle, user=erin)
    assert enrollment.removed_until > timezone.now()
    assert enrollment.status == EnrollmentStatus.ACTIVE  # still in the group


def test_an_admin_bans_a_member_with_a_reason(world, erin):
    response = tool(
        world, world.dave, "ban", {"member": key(world.circle, erin), "reason": "threats"}
    )
    assert response.status_code == 200
    assert response.json() == {"action": "ban"}
    assert Enrollment.objects.get(group=world.circle, user=erin).status == EnrollmentStatus.BANNED
    assert AuditEntry.objects.filter(action="member.banned", target_user=erin).exists()


def test_a_facilitator_opens_a_private_checkin_with_a_member(world, erin):
    response = tool(world, world.carol, "checkin", {"member": key(world.circle, erin)})
    assert response.status_code == 201
    room = SupportGroup.objects.get(kind=GroupKind.CHECKIN, checkin_of=world.circle)
    assert response.json() == {"action": "checkin.open", "group_id": room.pk}
    assert set(room.enrollments.values_list("user_id", flat=True)) == {erin.pk}


def test_a_member_hides_another_members_messages_in_her_own_view(world, erin):
    fern = key(world.circle, erin)
    response = tool(world, world.alice, "hide", {"author": fern})
    assert response.status_code == 200
    assert response.json() == {"hidden": [fern]}
    shown = tool(world, world.alice, "hide", {"author": fern, "hidden": False})
    assert shown.status_code == 200
    assert shown.json() == {"hidden": []}


def test_someone_outside_the_group_cannot_hide_its_authors(world, erin):
    response = tool(world, world.bob, "hide", {"author": key(world.circle, erin)})
    assert response.status_code == 403
    assert response.json() == {"detail": "You can hide authors only in groups you take part in."}
    assert not HiddenAuthor.objects.exists()

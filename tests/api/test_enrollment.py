"""Joining, approval, the waitlist and leaving, through the API."""

from __future__ import annotations

import pytest

from rooms.models import Enrollment
from rooms.services import enrollment_end, enrollment_join, group_update
from tests.api.helpers import member

pytestmark = pytest.mark.django_db


def join(world, user, group, alias, accepted=True):
    return world.client(user).post(
        f"/api/groups/{group.pk}/join/",
        {"alias": alias, "agreement_accepted": accepted},
        format="json",
    )


def status_of(user, group) -> str:
    return Enrollment.objects.get(user=user, group=group).status


def test_joining_an_open_group_with_a_free_seat_makes_an_active_member(world):
    response = join(world, world.charlie, world.circle, "Maple")
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "active"
    assert body["alias"] == "Maple"
    assert body["waitlist_position"] is None
    assert body["agreement_accepted"] is True


def test_joining_an_approval_group_waits_for_a_facilitator(world):
    group_update(group=world.circle, fields={"join_policy": "approval"})
    response = join(world, world.charlie, world.circle, "Maple")
    assert response.status_code == 201
    assert response.json()["status"] == "pending"
    pending = Enrollment.objects.get(user=world.charlie)
    listed = world.client(world.carol).get(
        f"/api/groups/{world.circle.pk}/enrollments/?status=pending"
    )
    assert [e["alias"] for e in listed.json()["results"]] == ["Maple"]

    approved = world.client(world.carol).post(f"/api/enrollments/{pending.pk}/approve/")
    assert approved.status_code == 200
    assert approved.json()["status"] == "active"
    again = world.client(world.carol).post(f"/api/enrollments/{pending.pk}/approve/")
    assert again.status_code == 400
    assert again.json()["detail"] == "This request is active, not pending."


def test_approving_when_the_group_is_full_puts_the_member_on_the_waitlist(world):
    group_update(group=world.circle, fields={"join_policy": "approval", "capacity": 1})
    join(world, world.charlie, world.circle, "Maple")
    pending = Enrollment.objects.get(user=world.charlie)
    response = world.client(world.dave).post(f"/api/enrollments/{pending.pk}/approve/")
    assert response.status_code == 200
    assert response.json()["status"] == "waitlisted"
    assert response.json()["waitlist_position"] == 1


def test_declining_a_request_keeps_the_member_out(world):
    group_update(group=world.circle, fields={"join_policy": "approval"})
    join(world, world.charlie, world.circle, "Maple")
    pending = Enrollment.objects.get(user=world.charlie)
    response = world.client(world.carol).post(f"/api/enrollments/{pending.pk}/decline/")
    assert response.status_code == 200
    assert response.json()["status"] == "declined"
    assert status_of(world.charlie, world.circle) == "declined"
    active = world.client(world.carol).post(f"/api/enrollments/{pending.pk}/decline/")
    assert active.status_code == 400


def test_member_of_another_group_cannot_approve_enrollments(world):
    group_update(group=world.circle, fields={"join_policy": "approval"})
    join(world, world.charlie, world.circle, "Maple")
    pending = Enrollment.objects.get(user=world.charlie)
    # Members are refused; a facilitator of another group is told there is no such request.
    for outsider, status in ((world.bob, 403), (world.alice, 403), (world.frank, 404)):
        response = world.client(outsider).post(f"/api/enrollments/{pending.pk}/approve/")
        assert response.status_code == status
    assert status_of(world.charlie, world.circle) == "pending"


def test_joining_again_returns_the_current_status(world):
    response = join(world, world.alice, world.circle, "Someone Else")
    assert response.status_code == 200
    assert response.json()["status"] == "active"
    assert response.json()["alias"] == "Willow"


def test_joining_again_records_acceptance_of_a_new_agreement(world):
    group_update(group=world.circle, fields={"agreement_text": "Be kind. Keep it here."})
    mine = world.client(world.alice).get(f"/api/groups/{world.circle.pk}/").json()
    assert mine["agreement_version"] == 2
    assert mine["my_enrollment"]["agreement_accepted"] is False
    response = join(world, world.alice, world.circle, "Willow")
    assert response.status_code == 200
    assert response.json()["agreement_accepted"] is True
    assert Enrollment.objects.get(user=world.alice, group=world.circle).agreement_version == 2


def test_an_alias_taken_in_the_group_is_refused_with_a_field_error(world):
    response = join(world, world.charlie, world.circle, "  wILLOW ")
    assert response.status_code == 400
    body = response.json()
    assert body["alias"] == ["That alias is taken in this group; choose another."]
    assert body["detail"]
    assert not Enrollment.objects.filter(user=world.charlie).exists()


@pytest.mark.parametrize(
    "alias",
    [
        "Willоw",  # a Cyrillic о
        "Wil\u200blow",  # a zero-width space
        "\u2060Willow\u200d",  # a word joiner and a zero-width joiner
        "W\u00adillow",  # a soft hyphen
        "Ｗｉｌｌｏｗ",  # fullwidth letters
        "WILLOW",
        "Wi\u200e\u200fllow",  # direction marks
        "Willow\ufe0f",  # a variation selector
    ],
)
def test_an_alias_that_looks_like_one_taken_in_the_group_is_refused(world, alias):
    response = join(world, world.charlie, world.circle, alias)
    assert response.status_code == 400, response.json()
    assert response.json()["alias"] == ["That alias is taken in this group; choose another."]
    assert not Enrollment.objects.filter(user=world.charlie).exists()


@pytest.mark.parametrize("alias", ["carol", "caroI", "саrol", "Carol\u200b", "dave", "Moderator"])
def test_an_alias_that_looks_like_a_facilitators_name_or_the_rooms_own_is_refused(world, alias):
    response = join(world, world.charlie, world.circle, alias)
    assert response.status_code == 400, response.json()
    assert "choose another" in response.json()["alias"][0]
    assert not Enrollment.objects.filter(user=world.charlie).exists()


def test_an_alias_of_invisible_characters_only_is_refused(world):
    response = join(world, world.charlie, world.circle, "\u200b\u200b\u3164\u2800")
    assert response.status_code == 400
    assert response.json()["alias"] == ["Choose an alias of 2 to 40 characters."]


def test_an_alias_is_stored_without_its_invisible_characters(world):
    response = join(world, world.charlie, world.circle, "Ma\u200bple\u200d")
    assert response.status_code == 201, response.json()
    assert Enrollment.objects.get(user=world.charlie).alias == "Maple"


def test_an_alias_with_accents_is_not_taken_for_the_plain_one(world):
    response = join(world, world.charlie, world.circle, "Willów")
    assert response.status_code == 201, response.json()


def test_the_same_alias_may_be_used_in_another_group(world):
    response = join(world, world.charlie, world.other, "Willow")
    assert response.status_code == 201


def test_joining_without_accepting_the_agreement_is_refused(world):
    response = join(world, world.charlie, world.circle, "Maple", accepted=False)
    assert response.status_code == 400
    assert response.json()["agreement_accepted"] == ["Read and accept the group agreement to join."]
    missing = world.client(world.charlie).post(
        f"/api/groups/{world.circle.pk}/join/", {"alias": "Maple"}, format="json"
    )
    assert missing.status_code == 400
    assert "agreement_accepted" in missing.json()
    assert not Enrollment.objects.filter(user=world.charlie).exists()


def test_too_short_alias_is_refused(world):
    response = join(world, world.charlie, world.circle, " x ")
    assert response.status_code == 400
    assert response.json()["alias"] == ["Choose an alias of 2 to 40 characters."]


def test_over_capacity_members_are_waitlisted_in_order_and_see_their_place(world):
    # The circle seats 3 and alice has one seat.
    seated = [member(f"seated{i}") for i in range(2)]
    waiting = [member(f"waiting{i}") for i in range(3)]
    for i, user in enumerate(seated):
        assert join(world, user, world.circle, f"Seated {i}").json()["status"] == "active"
    positions = []
    for i, user in enumerate(waiting):
        body = join(world, user, world.circle, f"Waiting {i}").json()
        assert body["status"] == "waitlisted"
        positions.append(body["waitlist_position"])
    assert positions == [1, 2, 3]
    group = world.client(world.dave).get(f"/api/groups/{world.circle.pk}/").json()
    assert (group["seats_taken"], group["waitlist_length"]) == (3, 3)
    mine = world.client(waiting[2]).get(f"/api/groups/{world.circle.pk}/").json()
    assert mine["my_enrollment"]["waitlist_position"] == 3


def test_leaving_frees_the_seat_for_the_first_on_the_waitlist(world):
    for i in range(2):
        join(world, member(f"seated{i}"), world.circle, f"Seated {i}")
    first, second = member("first"), member("second")
    join(world, first, world.circle, "First")
    join(world, second, world.circle, "Second")

    response = world.client(world.alice).post(f"/api/groups/{world.circle.pk}/leave/")
    assert response.status_code == 200
    assert response.json()["status"] == "left"
    assert status_of(first, world.circle) == "active"
    assert status_of(second, world.circle) == "waitlisted"
    again = world.client(second).get(f"/api/groups/{world.circle.pk}/").json()
    assert again["my_enrollment"]["waitlist_position"] == 1


def test_leaving_the_waitlist_moves_the_others_up(world):
    group_update(group=world.circle, fields={"capacity": 1})
    first, second = member("first"), member("second")
    join(world, first, world.circle, "First")
    join(world, second, world.circle, "Second")
    world.client(first).post(f"/api/groups/{world.circle.pk}/leave/")
    assert status_of(second, world.circle) == "waitlisted"
    assert (
        world.client(second)
        .get(f"/api/groups/{world.circle.pk}/")
        .json()["my_enrollment"]["waitlist_position"]
        == 1
    )


def test_raising_the_capacity_promotes_the_waitlist(world):
    group_update(group=world.circle, fields={"capacity": 1})
    waiting = member("waiting")
    join(world, waiting, world.circle, "Waiting")
    assert status_of(waiting, world.circle) == "waitlisted"
    response = world.client(world.carol).patch(
        f"/api/groups/{world.circle.pk}/", {"capacity": 2}, format="json"
    )
    assert response.status_code == 200
    assert status_of(waiting, world.circle) == "active"


def test_a_member_who_left_can_join_again(world):
    world.client(world.alice).post(f"/api/groups/{world.circle.pk}/leave/")
    response = join(world, world.alice, world.circle, "Willow")
    assert response.status_code == 201
    assert response.json()["status"] == "active"


@pytest.mark.parametrize("persona", ["carol", "frank", "dave"])
def test_facilitators_and_admins_cannot_join_as_members(world, persona):
    response = join(world, getattr(world, persona), world.circle, "Helper")
    assert response.status_code == 403
    assert "Facilitators and admins" in response.json()["detail"]
    assert not Enrollment.objects.filter(user=getattr(world, persona)).exists()


@pytest.mark.parametrize("status", ["banned", "removed"])
def test_a_banned_or_removed_member_cannot_rejoin(world, status):
    enrollment = Enrollment.objects.get(user=world.alice, group=world.circle)
    enrollment_end(enrollment=enrollment, status=status)
    response = join(world, world.alice, world.circle, "Willow Again")
    assert response.status_code == 403
    assert "removed you from this group" in response.json()["detail"]
    assert status_of(world.alice, world.circle) == status


def test_leaving_a_group_you_are_not_in_is_a_clear_error(world):
    response = world.client(world.charlie).post(f"/api/groups/{world.circle.pk}/leave/")
    assert response.status_code == 400
    assert response.json() == {"detail": "You are not in this group."}


def test_joining_a_deleted_group_is_not_found(world):
    world.client(world.dave).delete(f"/api/groups/{world.circle.pk}/")
    response = join(world, world.charlie, world.circle, "Maple")
    assert response.status_code == 404


def test_enrollment_join_service_refuses_facilitators_directly(world):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        enrollment_join(
            group=world.circle, user=world.carol, alias="Carol", agreement_accepted=True
        )

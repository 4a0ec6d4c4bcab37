"""Rights taken away while a socket is open close it at once, whatever path made the change: the
Django admin, the REST API, a service, or a plain `save()`. The change is made in this test
process, as the admin site and the API make it in theirs; the event reaches the server's sockets
through the shared Redis channel layer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from rooms.models import Enrollment, EnrollmentStatus
from server.accounts.models import User
from tests.live.conftest import Socket, greeted_sockets, open_room
from tests.services import Daphne

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def alerts(redis_daphne: Daphne) -> Iterator[Callable[[Any], Socket]]:
    with greeted_sockets(redis_daphne) as open_socket:
        yield lambda user: open_socket(user, "/ws/alerts/")


def admin_site_save(by: User, user: User, **changes: Any) -> None:
    """Saves the user's change form in the Django admin, as an admin does in the browser."""
    user.refresh_from_db()
    values = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_active": user.is_active,
        "is_staff": user.is_staff,
        "is_superuser": user.is_superuser,
        "role": user.role,
        "on_call": user.on_call,
        **changes,
    }
    data = {k: v for k, v in values.items() if not isinstance(v, bool)}
    data.update({k: "on" for k, v in values.items() if v is True})
    data.update(
        {
            "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
            "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
            "last_login_0": "",
            "last_login_1": "",
        }
    )
    client = Client()
    client.force_login(by)
    response = client.post(reverse("admin:accounts_user_change", args=[user.pk]), data)
    assert response.status_code == 302, response.content.decode()[:2000]


def test_deactivating_a_facilitator_in_the_django_admin_closes_their_sockets(
    world, redis_daphne, shared_layer, enter, alerts
):
    open_room(world.circle)
    in_room = enter(world.carol, world.circle, redis_daphne)
    queue = alerts(world.carol)
    alice = enter(world.alice, world.circle, redis_daphne)
    admin_site_save(world.dave, world.carol, is_active=False)
    frames, code = in_room.closed()
    assert code == 4403
    assert [f["detail"] for f in frames if f["type"] == "error"] == [
        "This account is no longer active."
    ]
    frames, code = queue.closed()
    assert code == 4403
    assert alice.say("The room goes on")["type"] == "message.ack"


def test_demoting_an_admin_in_the_django_admin_closes_their_sockets(
    world, redis_daphne, shared_layer, enter, alerts
):
    open_room(world.circle)
    in_room = enter(world.dave, world.circle, redis_daphne)
    queue = alerts(world.dave)
    boss = User.objects.create_superuser("boss", "boss@example.org", "pw-boss-long", role="admin")
    admin_site_save(boss, world.dave, role="member", is_staff=False, is_superuser=False)
    assert in_room.closed()[1] == 4403
    assert queue.closed()[1] == 4403


def test_taking_a_facilitator_off_the_group_over_rest_closes_their_room_socket(
    world, redis_daphne, shared_layer, enter, alerts
):
    open_room(world.circle)
    in_room = enter(world.carol, world.circle, redis_daphne)
    queue = alerts(world.carol)
    reply = world.client(world.dave).patch(
        f"/api/groups/{world.circle.pk}/", {"facilitators": [world.frank.pk]}, format="json"
    )
    assert reply.status_code == 200, reply.content
    frames, code = in_room.closed()
    assert code == 4403
    assert {f["code"] for f in frames if f["type"] == "error"} <= {"forbidden"}
    assert not [f for f in frames if f["type"] in ("held.new", "alert.new", "message.new")]
    # What she may see on the alerts socket changed: it asks the client to reconnect.
    frames, code = queue.closed()
    assert code == 4205
    assert [f["type"] for f in frames if f["type"] != "presence"] == ["access.changed"]


def test_removing_a_facilitator_with_the_orm_closes_their_room_socket(
    world, redis_daphne, shared_layer, enter
):
    open_room(world.circle)
    in_room = enter(world.carol, world.circle, redis_daphne)
    world.circle.facilitators.remove(world.carol)
    assert in_room.closed()[1] == 4403


def test_an_enrollment_saved_as_removed_closes_the_members_socket(
    world, redis_daphne, shared_layer, enter
):
    open_room(world.circle)
    alice = enter(world.alice, world.circle, redis_daphne)
    enrollment = Enrollment.objects.get(group=world.circle, user=world.alice)
    enrollment.status = EnrollmentStatus.REMOVED
    enrollment.save()
    assert alice.closed()[1] == 4403


def test_an_admin_who_now_only_facilitates_the_group_reconnects_as_its_facilitator(
    world, redis_daphne, shared_layer, enter
):
    from rooms.models import GroupFacilitator
    from server.accounts.services import account_set_role

    open_room(world.circle)
    dave = enter(world.dave, world.circle, redis_daphne)
    assert dave.hello["you"]["role"] == "admin"
    GroupFacilitator.objects.create(group=world.circle, user=world.dave)
    account_set_role(user=world.dave, role="facilitator")
    frames, code = dave.closed()
    assert code == 4205
    assert [f["type"] for f in frames if f["type"] != "presence"] == ["access.changed"]
    again = enter(world.dave, world.circle, redis_daphne)
    assert again.hello["you"]["role"] == "facilitator"


def test_a_change_that_keeps_the_rights_leaves_the_socket_open(
    world, redis_daphne, shared_layer, enter
):
    open_room(world.circle)
    carol = enter(world.carol, world.circle, redis_daphne)
    carol_user = User.objects.get(pk=world.carol.pk)
    carol_user.on_call = True
    carol_user.save()
    carol.quiet(("error", "access.changed"))
    assert carol.say("Still facilitating")["type"] == "message.ack"

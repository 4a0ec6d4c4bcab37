"""Who may be in a room, decided when a socket opens and re-checked while it stays open."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from rooms import hooks, permissions
from rooms.display import member_author_id, staff_author_id
from rooms.frames import CLOSED, FORBIDDEN, NOT_FOUND, UNAUTHENTICATED, Code
from rooms.models import Enrollment, EnrollmentStatus, GroupFacilitator, SupportGroup
from rooms.permissions import is_admin
from rooms.refusals import NO_LONGER_MEMBER, NO_LONGER_MODERATOR, REMOVED, Refusal
from rooms.room import room_state
from server.accounts.models import Role, User


@dataclass
class Access:
    """Who is in the room, as the room sees them. Members are known only by their alias."""

    user_id: int
    group_id: int
    role: str
    alias: str
    author_id: str
    moderator: bool
    enrollment_id: int | None = None
    hidden_authors: set[str] = field(default_factory=set)

    @property
    def author(self) -> dict[str, Any]:
        return {"id": self.author_id, "alias": self.alias, "role": self.role}


def room_access(*, user: User, group_id: int) -> Access:
    """Decides whether this user may be in the room now. Raises Refusal with a close code."""
    if not user.is_authenticated or not user.is_active:
        raise Refusal(UNAUTHENTICATED, Code.UNAUTHENTICATED, "Sign in to enter the room.")
    group = SupportGroup.objects.filter(pk=group_id, deleted_at__isnull=True).first()
    if group is None:
        raise Refusal(NOT_FOUND, Code.NOT_FOUND, "There is no such group.")
    facilitates = permissions.facilitates(user, group)
    if is_admin(user) or facilitates:
        role = Role.ADMIN if is_admin(user) and not facilitates else Role.FACILITATOR
        return Access(
            user_id=user.pk,
            group_id=group.pk,
            role=role,
            alias=user.username,
            author_id=staff_author_id(user.pk),
            moderator=True,
        )
    enrollment = Enrollment.objects.filter(group=group, user=user).first()
    if enrollment is None or enrollment.status != EnrollmentStatus.ACTIVE:
        messages: dict[str | None, str] = {
            None: "You are not a member of this group. Join it from the group page first.",
            EnrollmentStatus.PENDING: "Your request to join is waiting for a facilitator.",
            EnrollmentStatus.WAITLISTED: "You are on the waitlist; you can enter once seated.",
        }
        detail = messages.get(
            str(enrollment.status) if enrollment else None, "You are not a member of this group."
        )
        raise Refusal(FORBIDDEN, Code.NOT_MEMBER, detail)
    if enrollment.removed_until and enrollment.removed_until > timezone.now():
        raise Refusal(
            FORBIDDEN,
            Code.REMOVED,
            REMOVED,
        )
    if enrollment.agreement_version != group.agreement_version:
        raise Refusal(
            FORBIDDEN,
            Code.AGREEMENT_REQUIRED,
            "The group agreement has changed. Read and accept it on the group page to enter.",
        )
    state = room_state(group)
    if not state.open:
        # `opens_at` lets a client say when in the reader's own time zone; the detail is for
        # clients that show it as it is.
        when = f" It opens at {state.opens_at:%Y-%m-%d %H:%M} UTC." if state.opens_at else ""
        raise Refusal(
            CLOSED,
            Code.ROOM_CLOSED,
            "The room is closed." + when,
            opens_at=state.opens_at.isoformat() if state.opens_at else None,
        )
    hidden = _hidden_authors(user_id=user.pk, group_id=group.pk)
    return Access(
        user_id=user.pk,
        group_id=group.pk,
        role=Role.MEMBER,
        alias=enrollment.alias,
        author_id=member_author_id(enrollment.pk),
        moderator=False,
        enrollment_id=enrollment.pk,
        hidden_authors=hidden,
    )


def access_recheck(*, access: Access) -> tuple[User, bool]:
    """The socket's person as the database has them now, read before each command (one or two
    indexed queries): a socket keeps only the rights its person still holds, whatever path took
    them away and whether or not the revocation event arrived. Raises Refusal when this socket's
    access is gone; otherwise returns the fresh user, and whether the rights the socket was
    opened with changed (an admin who now facilitates the group only: still allowed, shown
    differently)."""
    user = User.objects.filter(pk=access.user_id).first()
    if user is None or not user.is_active:
        raise Refusal(FORBIDDEN, Code.FORBIDDEN, "This account is no longer active.")
    if access.moderator:
        if user.role == Role.ADMIN:
            return user, access.role != Role.ADMIN and not _facilitates(user.pk, access.group_id)
        if user.role == Role.FACILITATOR and _facilitates(user.pk, access.group_id):
            return user, access.role != Role.FACILITATOR
        raise Refusal(FORBIDDEN, Code.FORBIDDEN, NO_LONGER_MODERATOR)
    row = (
        Enrollment.objects.filter(pk=access.enrollment_id or 0)
        .values_list("status", "removed_until")
        .first()
    )
    if row is None or row[0] != EnrollmentStatus.ACTIVE:
        raise Refusal(FORBIDDEN, Code.FORBIDDEN, NO_LONGER_MEMBER)
    if row[1] and row[1] > timezone.now():
        raise Refusal(
            FORBIDDEN,
            Code.REMOVED,
            REMOVED,
        )
    return user, False


def accesses_lost(accesses: list[Access]) -> set[int]:
    """Which of these sockets' rights are gone, as indexes into the list: two queries for all
    the sockets of a process (rooms.rights sweeps them every few seconds, a net under a
    revocation event the layer dropped or a change that sent none)."""
    still = moderating({(a.group_id, a.user_id) for a in accesses if a.moderator})
    enrollment_ids = sorted(
        {a.enrollment_id for a in accesses if not a.moderator and a.enrollment_id}
    )
    now = timezone.now()
    seated: set[int] = set()
    for start in range(0, len(enrollment_ids), 500):  # within any database's parameter limit
        seated.update(
            Enrollment.objects.filter(
                pk__in=enrollment_ids[start : start + 500],
                status=EnrollmentStatus.ACTIVE,
                user__is_active=True,
            )
            .exclude(removed_until__gt=now)
            .values_list("pk", flat=True)
        )
    return {
        i
        for i, a in enumerate(accesses)
        if ((a.group_id, a.user_id) not in still if a.moderator else a.enrollment_id not in seated)
    }


def _facilitates(user_id: int, group_id: int) -> bool:
    return GroupFacilitator.objects.filter(group_id=group_id, user_id=user_id).exists()


def moderating(staff: set[tuple[int, int]]) -> set[tuple[int, int]]:
    """Those of these (group id, user id) pairs whose user moderates that group now: an active
    admin, or an active facilitator of the group."""
    if not staff:
        return set()
    user_ids = {user_id for _, user_id in staff}
    admins = set(
        User.objects.filter(pk__in=user_ids, is_active=True, role=Role.ADMIN).values_list(
            "pk", flat=True
        )
    )
    facilitating = set(
        GroupFacilitator.objects.filter(
            user_id__in=user_ids - admins,
            group_id__in={group_id for group_id, _ in staff},
            user__is_active=True,
            user__role=Role.FACILITATOR,
        ).values_list("group_id", "user_id")
    )
    return {(g, u) for g, u in staff if u in admins or (g, u) in facilitating}


def _hidden_authors(*, user_id: int, group_id: int) -> set[str]:
    """The authors this person hid in this room (the moderation app keeps the list)."""
    hidden: set[str] = set()
    for hook in hooks.get_hooks(hooks.HIDDEN_AUTHORS):
        hidden |= hook(user_id=user_id, group_id=group_id)
    return hidden

"""Reads. Views use these so that visibility rules live in one place."""

import datetime as dt

from django.db.models import Count, Prefetch, Q, QuerySet

from rooms.models import (
    Enrollment,
    EnrollmentStatus,
    GroupFacilitator,
    GroupKind,
    Session,
    SessionStatus,
    SupportGroup,
)
from server.accounts.models import User

CURRENT_STATUSES = (EnrollmentStatus.ACTIVE, EnrollmentStatus.PENDING, EnrollmentStatus.WAITLISTED)


def groups_seen(user: User) -> QuerySet[SupportGroup]:
    """The live groups this person may know exist: every group of the catalogue, and the private
    check-ins they are one of the two people in. Any other id answers as one that names no
    group."""
    # A private check-in is seen only by its two people, never in the catalogue.
    return SupportGroup.objects.filter(deleted_at__isnull=True).exclude(
        Q(kind=GroupKind.CHECKIN)
        & ~Q(pk__in=Enrollment.objects.filter(user_id=user.pk).values("group_id"))
        & ~Q(pk__in=GroupFacilitator.objects.filter(user_id=user.pk).values("group_id"))
    )


def groups_visible(
    user: User, *, facilitator_id: int | None = None, mine: bool = False
) -> QuerySet[SupportGroup]:
    """Every signed-in person sees the catalogue of live groups, with seat counts; members get
    their own enrollment prefetched as `my_enrollments`.

    `facilitator_id` keeps the groups that person facilitates; `mine` keeps the groups the user
    is enrolled in (active, pending or waitlisted) or facilitates. Both filter through subqueries
    so that the seat counts are not multiplied by extra joins."""
    qs = groups_seen(user)
    if facilitator_id is not None:
        qs = qs.filter(
            pk__in=GroupFacilitator.objects.filter(user_id=facilitator_id).values("group_id")
        )
    if mine:
        enrolled = Enrollment.objects.filter(user_id=user.pk, status__in=CURRENT_STATUSES)
        facilitated = GroupFacilitator.objects.filter(user_id=user.pk)
        qs = qs.filter(
            Q(pk__in=enrolled.values("group_id")) | Q(pk__in=facilitated.values("group_id"))
        )
    return qs.annotate(
        seats_taken=Count("enrollments", filter=Q(enrollments__status=EnrollmentStatus.ACTIVE)),
        waitlist_length=Count(
            "enrollments", filter=Q(enrollments__status=EnrollmentStatus.WAITLISTED)
        ),
    ).prefetch_related(
        Prefetch(
            "groupfacilitator_set",
            queryset=GroupFacilitator.objects.select_related("user"),
        ),
        Prefetch(
            "enrollments",
            queryset=Enrollment.objects.filter(user_id=user.pk),
            to_attr="my_enrollments",
        ),
    )


def waitlist_position(enrollment: Enrollment) -> int | None:
    if enrollment.status != EnrollmentStatus.WAITLISTED or enrollment.waitlisted_at is None:
        return None
    ahead = Enrollment.objects.filter(
        group_id=enrollment.group_id, status=EnrollmentStatus.WAITLISTED
    ).filter(
        Q(waitlisted_at__lt=enrollment.waitlisted_at)
        | Q(waitlisted_at=enrollment.waitlisted_at, id__lt=enrollment.pk)
    )
    return ahead.count() + 1


def sessions_between(
    group_ids: QuerySet | list[int], start: dt.datetime | None, end: dt.datetime | None
) -> QuerySet[Session]:
    qs = Session.objects.filter(group_id__in=group_ids, group__deleted_at__isnull=True)
    if start:
        qs = qs.filter(ends_at__gt=start)
    if end:
        qs = qs.filter(starts_at__lt=end)
    return qs.select_related("group").order_by("starts_at", "id")


def next_session(group: SupportGroup, now: dt.datetime) -> Session | None:
    return (
        Session.objects.filter(group=group, status=SessionStatus.SCHEDULED, ends_at__gt=now)
        .order_by("starts_at")
        .first()
    )


def calendar_groups_for(user: User) -> list[int]:
    enrolled = Enrollment.objects.filter(user=user, status=EnrollmentStatus.ACTIVE).values_list(
        "group_id", flat=True
    )
    facilitated = user.facilitated_groups.values_list("pk", flat=True)
    return sorted(set(enrolled) | set(facilitated))

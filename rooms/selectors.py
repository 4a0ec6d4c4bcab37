"""Reads. Views use these so that visibility rules live in one place."""

import datetime as dt

from django.db.models import Count, Prefetch, Q, QuerySet

from rooms.models import Enrollment, EnrollmentStatus, Session, SessionStatus, SupportGroup
from server.accounts.models import User


def groups_visible(user: User) -> QuerySet[SupportGroup]:
    """Every signed-in person sees the catalogue of live groups, with seat counts; members get
    their own enrollment prefetched as `my_enrollments`."""
    return (
        SupportGroup.objects.filter(deleted_at__isnull=True)
        .annotate(
            seats_taken=Count("enrollments", filter=Q(enrollments__status=EnrollmentStatus.ACTIVE)),
            waitlist_length=Count(
                "enrollments", filter=Q(enrollments__status=EnrollmentStatus.WAITLISTED)
            ),
        )
        .prefetch_related(
            "groupfacilitator_set",
            Prefetch(
                "enrollments",
                queryset=Enrollment.objects.filter(user_id=user.pk),
                to_attr="my_enrollments",
            ),
        )
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

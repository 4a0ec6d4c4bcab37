"""Recurrence rules to sessions.

A group's rule is an RFC 5545 RRULE whose start is a wall-clock time in the group's timezone, so
a weekly 19:00 meeting stays at 19:00 local across daylight-saving changes and its UTC time moves.
Sessions are materialized a few weeks ahead and re-materialized when the rule changes; sessions
that already started are history and never touched.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass

from dateutil.rrule import rrule, rrulestr
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from rooms.models import Session, SessionStatus, SupportGroup

_UTC_UNTIL = re.compile(r"UNTIL=(\d{8})(?:T(\d{6}))?Z", re.IGNORECASE)


def _until_to_local(value: str, tz_name: str) -> str:
    """RFC 5545 wants UNTIL in UTC (with Z) when the start has a timezone; the rule here runs on
    local wall-clock times, so a UTC UNTIL becomes the same instant in local time."""

    def local(match: re.Match[str]) -> str:
        moment = dt.datetime.strptime(match.group(1) + (match.group(2) or "000000"), "%Y%m%d%H%M%S")
        moment = moment.replace(tzinfo=dt.UTC).astimezone(zoneinfo.ZoneInfo(tz_name))
        return f"UNTIL={moment:%Y%m%dT%H%M%S}"

    return _UTC_UNTIL.sub(local, value)


def parse_rrule(text: str, dtstart: dt.datetime, tz_name: str = "UTC") -> rrule:
    """Parses a bare RRULE ("FREQ=WEEKLY;BYDAY=TU" or "RRULE:FREQ=...") against a local start
    (naive, wall-clock time in `tz_name`)."""
    value = text.strip()
    if value.upper().startswith("RRULE:"):
        value = value[6:]
    if not value or "DTSTART" in value.upper() or "\n" in value:
        raise ValidationError(
            {"rrule": "Give one RRULE such as 'FREQ=WEEKLY;BYDAY=TU'; the start goes in dtstart."}
        )
    value = _until_to_local(value, tz_name)
    try:
        rule = rrulestr(value, dtstart=dtstart)
    except (ValueError, TypeError) as exc:
        raise ValidationError(
            {"rrule": f"Not a valid RRULE ({exc}). Write one such as FREQ=WEEKLY;BYDAY=TU."}
        ) from exc
    if not isinstance(rule, rrule):
        raise ValidationError({"rrule": "Give a single RRULE, not a set."})
    return rule


def local_to_utc(local: dt.datetime, tz_name: str) -> dt.datetime:
    # fold=0 takes the first of an ambiguous hour; a wall time inside a DST gap is moved forward.
    aware = local.replace(tzinfo=zoneinfo.ZoneInfo(tz_name), fold=0)
    return aware.astimezone(dt.UTC)


@dataclass(frozen=True)
class Occurrence:
    occurrence: dt.datetime  # UTC start from the rule
    starts_at: dt.datetime
    ends_at: dt.datetime


def occurrences(group: SupportGroup, *, since: dt.datetime, until: dt.datetime) -> list[Occurrence]:
    if group.drop_in or not group.rrule or not group.start_date or not group.start_time:
        return []
    tz = zoneinfo.ZoneInfo(group.timezone)
    dtstart = dt.datetime.combine(group.start_date, group.start_time)
    rule = parse_rrule(group.rrule, dtstart, group.timezone)
    duration = dt.timedelta(minutes=group.duration_minutes)
    local_since = since.astimezone(tz).replace(tzinfo=None)
    local_until = until.astimezone(tz).replace(tzinfo=None)
    result = []
    for local in rule.between(local_since - duration, local_until, inc=True):
        start = local_to_utc(local, group.timezone)
        if start + duration <= since:
            continue
        result.append(Occurrence(start, start, start + duration))
        if len(result) > 500:  # a rule like FREQ=MINUTELY must not flood the table
            raise ValidationError(
                {"rrule": "The rule gives too many sessions; groups meet at most daily."}
            )
    return result


def materialize_window(now: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
    now = now or timezone.now()
    return now, now + dt.timedelta(weeks=settings.SESSION_MATERIALIZE_WEEKS)


def facilitator_conflicts(
    group: SupportGroup, planned: list[tuple[dt.datetime, dt.datetime]], facilitator_ids: list[int]
) -> list[str]:
    """Describes each planned slot that overlaps a session another group has for one of these
    facilitators."""
    if not planned or not facilitator_ids:
        return []
    lo = min(start for start, _ in planned)
    hi = max(end for _, end in planned)
    others = (
        Session.objects.filter(
            group__facilitators__in=facilitator_ids,
            group__deleted_at__isnull=True,
            status=SessionStatus.SCHEDULED,
            starts_at__lt=hi,
            ends_at__gt=lo,
        )
        .exclude(group_id=group.pk)
        .select_related("group")
        .prefetch_related("group__facilitators")
        .distinct()
    )
    problems = []
    for other in others:
        for start, end in planned:
            if start < other.ends_at and other.starts_at < end:
                names = sorted(
                    f.username for f in other.group.facilitators.all() if f.pk in facilitator_ids
                )
                problems.append(
                    f"{', '.join(names)} already facilitates '{other.group.name}' "
                    f"{other.starts_at:%Y-%m-%d %H:%M}-{other.ends_at:%H:%M} UTC, which overlaps "
                    f"the session at {start:%Y-%m-%d %H:%M} UTC."
                )
                break
    return problems


def sessions_materialize(
    *, group: SupportGroup, now: dt.datetime | None = None, strict: bool = True
) -> int:
    """Makes the group's future sessions match its rule. Returns how many were created.

    Sessions that already started are kept. Future sessions whose occurrence left the rule are
    removed, unless a facilitator moved them by hand. With `strict`, a facilitator double-booking
    raises ValidationError; the worker passes strict=False and skips the clashing occurrences.
    """
    now = now or timezone.now()
    since, until = materialize_window(now)
    planned = occurrences(group, since=since, until=until)
    with transaction.atomic():
        future = {
            s.occurrence: s
            for s in Session.objects.select_for_update().filter(
                group=group, starts_at__gt=now, occurrence__isnull=False
            )
        }
        wanted = {o.occurrence for o in planned}
        stale = [s.pk for occ, s in future.items() if occ not in wanted and not s.moved]
        Session.objects.filter(pk__in=stale).delete()
        new = [o for o in planned if o.occurrence not in future and o.starts_at > now]
        duration = dt.timedelta(minutes=group.duration_minutes)
        for occ, session in future.items():
            if (
                occ in wanted
                and not session.moved
                and session.ends_at - session.starts_at != duration
            ):
                session.ends_at = session.starts_at + duration
                session.save(update_fields=["ends_at", "updated_at"])
        facilitator_ids = list(group.facilitators.values_list("pk", flat=True))
        slots = [(o.starts_at, o.ends_at) for o in new]
        if strict:
            # The kept sessions count too: a change of facilitators must not double-book the
            # newcomers at times this group already meets.
            slots += [
                (s.starts_at, s.ends_at)
                for s in Session.objects.filter(
                    group=group, starts_at__gt=now, status=SessionStatus.SCHEDULED
                )
            ]
        conflicts = facilitator_conflicts(group, slots, facilitator_ids)
        if conflicts and strict:
            raise ValidationError({"facilitators": conflicts[:3]})
        if conflicts:
            clashing = set()
            for o in new:
                if facilitator_conflicts(group, [(o.starts_at, o.ends_at)], facilitator_ids):
                    clashing.add(o.occurrence)
            new = [o for o in new if o.occurrence not in clashing]
        Session.objects.bulk_create(
            [
                Session(
                    group=group, starts_at=o.starts_at, ends_at=o.ends_at, occurrence=o.occurrence
                )
                for o in new
            ],
            ignore_conflicts=True,
        )
    return len(new)


def sessions_materialize_all(now: dt.datetime | None = None) -> int:
    created = 0
    for group in SupportGroup.objects.filter(deleted_at__isnull=True, drop_in=False).exclude(
        rrule=""
    ):
        created += sessions_materialize(group=group, now=now, strict=False)
    return created

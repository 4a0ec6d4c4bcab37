"""Recurrence rules to sessions.

A group's rule is an RFC 5545 RRULE whose start is a wall-clock time in the group's timezone, so
a weekly 19:00 meeting stays at 19:00 local across daylight-saving changes and its UTC time moves.
Sessions are rows, so that one can be cancelled, moved, reminded of and met in. They are made
for the next SESSION_MATERIALIZE_WEEKS, or as many weeks from the group's first session when it
is further out (the worker tops them up), and on demand for any range a reader asks for
(`sessions_ensure`); a change of the rule re-makes the
future ones. Sessions that already started are history and never touched. The calendar feeds do
not depend on how far rows reach: they carry the rule itself (rooms/calendar.py).

A rule is an admin's (or a lead facilitator's) input that the server expands: it is held to a
small grammar and a calendar from 2000 to 2100, and its expansion to a time budget, so that no
rule can loop, exhaust memory, or keep SQLite's single write lock for seconds (docs/api.md,
"Limits").
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
import time
import zoneinfo
from dataclasses import dataclass
from typing import Any

from dateutil.rrule import rrule, rrulestr
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from rooms.models import Session, SessionStatus, SupportGroup

log = logging.getLogger(__name__)

# Every date the scheduler takes in (a rule's start and UNTIL, a moved session, a list's from
# and to) falls in these years: far from the limits of datetime, and wide enough for any group.
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2101, 1, 1, tzinfo=dt.UTC)
RANGE_MESSAGE = "Use a date between 2000 and 2100."
FREQUENCIES = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
PARTS = (
    "FREQ",
    "INTERVAL",
    "COUNT",
    "UNTIL",
    "BYDAY",
    "BYMONTHDAY",
    "BYMONTH",
    "BYSETPOS",
    "BYWEEKNO",
    "BYYEARDAY",
    "WKST",
)
MAX_INTERVAL = 100
MAX_COUNT = 1000
# A rule must give its first session within this long after its start.
FIRST_SESSION_WITHIN = dt.timedelta(days=5 * 366)
# The longest one rule may take to expand, in seconds of CPU on the request's thread.
EXPANSION_BUDGET_SECONDS = 0.5
MAX_SESSION_LENGTH = dt.timedelta(minutes=600)
MAX_SESSIONS_PER_WINDOW = 500

_UTC_UNTIL = re.compile(r"UNTIL=(\d{8})(?:T(\d{6}))?Z", re.IGNORECASE)
_UNTIL = re.compile(r"(\d{4})\d{4}(?:T\d{6}Z?)?", re.IGNORECASE)


class ExpansionTooLongError(Exception):
    """A rule took longer than its budget to expand."""


class _BudgetedRule(rrule):
    """An rrule that gives up when its time is up.

    dateutil's iterator hands back control only when an occurrence matches, so a rule that never
    matches (FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30) walks day by day to the year 9999, about six
    seconds, and no loop around it can stop it. The iterator reads `_byweekno` each time it
    starts a new year (`_iterinfo.rebuild`), so the clock is checked there; a test pins that
    behaviour (tests/api/test_hardening.py)."""

    _deadline = math.inf

    @property  # type: ignore[override]
    def _byweekno(self) -> Any:
        if time.monotonic() > self._deadline:
            raise ExpansionTooLongError
        return self.__dict__["_byweekno"]

    @_byweekno.setter
    def _byweekno(self, value: Any) -> None:
        self.__dict__["_byweekno"] = value


def with_budget(rule: rrule, *, seconds: float = EXPANSION_BUDGET_SECONDS) -> rrule:
    """The same rule, raising ExpansionTooLongError once `seconds` have passed from now."""
    budgeted = _BudgetedRule.__new__(_BudgetedRule)
    budgeted.__dict__.update(rule.__dict__)
    budgeted._deadline = time.monotonic() + seconds
    return budgeted


def in_range(moment: dt.datetime) -> bool:
    """Whether an aware moment (or a naive local one) falls in the scheduler's years."""
    if moment.tzinfo is None:
        return EARLIEST.replace(tzinfo=None) <= moment < LATEST.replace(tzinfo=None)
    try:
        return EARLIEST <= moment.astimezone(dt.UTC) < LATEST
    except OverflowError:
        return False


def _until_to_local(value: str, tz_name: str) -> str:
    """RFC 5545 wants UNTIL in UTC (with Z) when the start has a timezone; the rule here runs on
    local wall-clock times, so a UTC UNTIL becomes the same instant in local time."""

    def local(match: re.Match[str]) -> str:
        moment = dt.datetime.strptime(match.group(1) + (match.group(2) or "000000"), "%Y%m%d%H%M%S")
        moment = moment.replace(tzinfo=dt.UTC).astimezone(zoneinfo.ZoneInfo(tz_name))
        return f"UNTIL={moment:%Y%m%dT%H%M%S}"

    return _UTC_UNTIL.sub(local, value)


def _whole_number(parts: dict[str, str], name: str, low: int, high: int, meaning: str) -> None:
    raw = parts.get(name)
    if raw is not None and not (raw.isascii() and raw.isdigit() and low <= int(raw) <= high):
        raise ValidationError(
            {"rrule": f"{name} must be a whole number from {low} to {high}{meaning}."}
        )


def _check_parts(value: str) -> None:
    """The grammar: NAME=VALUE parts from PARTS, daily or slower, numbers and UNTIL bounded."""
    parts: dict[str, str] = {}
    for piece in value.split(";"):
        name, sep, part = piece.partition("=")
        name = name.strip().upper()
        if not sep or not name:
            raise ValidationError(
                {
                    "rrule": "Write the rule as NAME=VALUE parts joined by ';', "
                    "e.g. FREQ=WEEKLY;BYDAY=TU."
                }
            )
        if name in ("BYHOUR", "BYMINUTE", "BYSECOND"):
            raise ValidationError(
                {"rrule": f"{name} is not used here: the time of day comes from dtstart."}
            )
        if name not in PARTS:
            raise ValidationError(
                {"rrule": f"{name} is not supported here; use {', '.join(PARTS)}."}
            )
        parts[name] = part.strip()
    freq = parts.get("FREQ", "").upper()
    if freq in ("HOURLY", "MINUTELY", "SECONDLY"):
        raise ValidationError(
            {"rrule": "Groups meet at most daily: use FREQ=DAILY, WEEKLY, MONTHLY or YEARLY."}
        )
    _whole_number(
        parts, "INTERVAL", 1, MAX_INTERVAL, " (2 is every other day, week, month or year)"
    )
    _whole_number(parts, "COUNT", 1, MAX_COUNT, "")
    until = parts.get("UNTIL")
    if until is not None:
        match = _UNTIL.fullmatch(until)
        if match is None or not 2000 <= int(match.group(1)) <= 2100:
            raise ValidationError(
                {
                    "rrule": "UNTIL must be a date such as 20271231 or 20271231T235959Z "
                    "between 2000 and 2100."
                }
            )


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
    _check_parts(value)
    value = _until_to_local(value, tz_name)
    try:
        rule = rrulestr(value, dtstart=dtstart)
    except (ValueError, TypeError, OverflowError, IndexError, KeyError) as exc:
        raise ValidationError(
            {"rrule": f"Not a valid RRULE ({exc}). Write one such as FREQ=WEEKLY;BYDAY=TU."}
        ) from exc
    if not isinstance(rule, rrule):
        raise ValidationError({"rrule": "Give a single RRULE, not a set."})
    return rule


def check_dtstart(dtstart: dt.datetime) -> None:
    if not in_range(dtstart):
        raise ValidationError({"dtstart": "The schedule must start between 2000 and 2100."})


def recurrence_check(text: str, dtstart: dt.datetime, tz_name: str = "UTC") -> rrule:
    """The whole rule against its start: in range, parsed, and giving a first session within
    FIRST_SESSION_WITHIN, worked out within the budget. Raises ValidationError on `dtstart` or
    `rrule`."""
    check_dtstart(dtstart)
    rule = parse_rrule(text, dtstart, tz_name)
    try:
        first = with_budget(rule).after(dtstart, inc=True)
    except (ExpansionTooLongError, ValueError, OverflowError):
        first = None
    if first is None or first > dtstart + FIRST_SESSION_WITHIN:
        raise ValidationError(
            {
                "rrule": "This rule gives no session in the five years after dtstart; check its "
                "BYMONTH, BYMONTHDAY, BYDAY, BYSETPOS and UNTIL."
            }
        )
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


def occurrences(
    group: SupportGroup, *, since: dt.datetime, until: dt.datetime, limit: int | None = None
) -> list[Occurrence]:
    """The rule's sessions that overlap [since, until]. Raises ValidationError on `rrule` for a
    rule that gives too many or takes longer than its budget to work out; with `limit`, stops
    after that many instead of raising for too many."""
    if group.drop_in or not group.rrule or not group.start_date or not group.start_time:
        return []
    tz = zoneinfo.ZoneInfo(group.timezone)
    dtstart = dt.datetime.combine(group.start_date, group.start_time)
    rule = with_budget(parse_rrule(group.rrule, dtstart, group.timezone))
    duration = dt.timedelta(minutes=group.duration_minutes)
    local_since = since.astimezone(tz).replace(tzinfo=None)
    local_until = until.astimezone(tz).replace(tzinfo=None)
    result = []
    try:
        for local in rule.xafter(local_since - duration, inc=True):
            if local > local_until:
                break
            start = local_to_utc(local, group.timezone)
            if start + duration <= since:
                continue
            result.append(Occurrence(start, start, start + duration))
            if limit is not None and len(result) >= limit:
                break
            if len(result) > MAX_SESSIONS_PER_WINDOW:
                raise ValidationError(
                    {"rrule": "The rule gives too many sessions; groups meet at most daily."}
                )
    except ExpansionTooLongError:
        raise ValidationError(
            {"rrule": "This rule takes too long to work out; simplify it (fewer BY parts)."}
        ) from None
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


@dataclass(frozen=True)
class Plan:
    """What the rule wants, worked out before any transaction opens."""

    since: dt.datetime
    until: dt.datetime
    occurrences: list[Occurrence]
    # After a change of the rule: which sessions past `until` (made on demand for a range someone
    # asked for) the new rule still gives, by occurrence. None leaves them all as they are.
    kept_beyond: frozenset[dt.datetime] | None = None


def rule_gives(group: SupportGroup, moments: list[dt.datetime]) -> frozenset[dt.datetime]:
    """Which of these UTC occurrences the group's rule gives. Walks the rule once from the
    earliest to the latest, within the expansion budget; what the budget does not reach counts
    as not given."""
    if not moments or group.drop_in or not group.rrule or not group.start_date:
        return frozenset()
    if not group.start_time:
        return frozenset()
    tz = zoneinfo.ZoneInfo(group.timezone)
    dtstart = dt.datetime.combine(group.start_date, group.start_time)
    try:
        rule = with_budget(parse_rrule(group.rrule, dtstart, group.timezone))
    except ValidationError:
        return frozenset()
    targets = set(moments)
    first = min(moments).astimezone(tz).replace(tzinfo=None) - dt.timedelta(hours=3)
    last = max(moments)
    given = set()
    try:
        for local in rule.xafter(first, inc=True):
            start = local_to_utc(local, group.timezone)
            if start > last:
                break
            if start in targets:
                given.add(start)
    except (ExpansionTooLongError, ValueError, OverflowError):
        pass
    return frozenset(given)


def first_local_start(group: SupportGroup) -> dt.datetime | None:
    """The rule's first session as a wall-clock time in the group's timezone: `dtstart` itself
    only when the rule gives it (a Wednesday start for a Tuesday rule first meets the Tuesday
    after). None when there is none within the budget."""
    if group.drop_in or not group.rrule or not group.start_date or not group.start_time:
        return None
    dtstart = dt.datetime.combine(group.start_date, group.start_time)
    try:
        rule = with_budget(parse_rrule(group.rrule, dtstart, group.timezone))
        first: dt.datetime | None = rule.after(dtstart, inc=True)
    except (ValidationError, ExpansionTooLongError, ValueError, OverflowError):
        return None
    return first


def sessions_plan(
    *, group: SupportGroup, now: dt.datetime | None = None, rule_changed: bool = False
) -> Plan:
    """The sessions the rule wants in the next SESSION_MATERIALIZE_WEEKS, or in as many weeks from
    its next session when that is further out, so that a group that first meets in five months
    has its first weeks too. Call it
    before opening a transaction: expanding a rule is the slow part, and must not hold the write
    lock. With `rule_changed`, also works out which sessions past the window survive the change."""
    since, until = materialize_window(now)
    ahead = until - since
    upcoming = occurrences(group, since=since, until=LATEST - ahead, limit=1)
    if upcoming and upcoming[0].starts_at > until:
        until = upcoming[0].starts_at + ahead
    kept_beyond = None
    if rule_changed and group.pk is not None:
        beyond = [
            occurrence
            for occurrence in Session.objects.filter(
                group_id=group.pk, occurrence__gt=until, starts_at__gt=since, moved=False
            ).values_list("occurrence", flat=True)
            if occurrence is not None
        ]
        kept_beyond = rule_gives(group, beyond)
    return Plan(since, until, occurrences(group, since=since, until=until), kept_beyond)


def sessions_materialize(
    *,
    group: SupportGroup,
    now: dt.datetime | None = None,
    strict: bool = True,
    planned: Plan | None = None,
) -> int:
    """Makes the group's future sessions in the plan's window match its rule. Returns how many
    were created.

    Sessions that already started are kept. Future sessions whose occurrence left the rule are
    removed, unless a facilitator moved them by hand; past the window, only a plan made for a
    change of the rule removes any. With `strict`, a facilitator double-booking raises
    ValidationError; the worker passes strict=False and skips the clashing occurrences.
    Callers inside a transaction pass `planned` (sessions_plan, worked out before it opened).
    """
    now = now or timezone.now()
    if planned is None:
        planned = sessions_plan(group=group, now=now)
    with transaction.atomic():
        future = {
            s.occurrence: s
            for s in Session.objects.select_for_update().filter(
                group=group, starts_at__gt=now, occurrence__isnull=False
            )
        }
        wanted = {o.occurrence for o in planned.occurrences}
        kept_beyond = planned.kept_beyond

        def stale(occurrence: dt.datetime | None, session: Session) -> bool:
            if session.moved or occurrence is None:
                return False
            if occurrence <= planned.until:
                return occurrence not in wanted
            return kept_beyond is not None and occurrence not in kept_beyond

        Session.objects.filter(pk__in=[s.pk for o, s in future.items() if stale(o, s)]).delete()
        new = [o for o in planned.occurrences if o.occurrence not in future and o.starts_at > now]
        duration = dt.timedelta(minutes=group.duration_minutes)
        for occ, session in future.items():
            if (
                not stale(occ, session)
                and not session.moved
                and session.ends_at - session.starts_at != duration
            ):
                session.ends_at = session.starts_at + duration
                session.save(update_fields=["ends_at", "updated_at"])
        new = _without_clashes(group, new, now=now, strict=strict)
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


def _without_clashes(
    group: SupportGroup, new: list[Occurrence], *, now: dt.datetime, strict: bool
) -> list[Occurrence]:
    """The new occurrences that double-book none of the group's facilitators. Strict raises
    ValidationError on a clash instead; the kept sessions count too, so that a change of
    facilitators must not double-book the newcomers at times this group already meets."""
    facilitator_ids = list(group.facilitators.values_list("pk", flat=True))
    slots = [(o.starts_at, o.ends_at) for o in new]
    if strict:
        slots += [
            (s.starts_at, s.ends_at)
            for s in Session.objects.filter(
                group=group, starts_at__gt=now, status=SessionStatus.SCHEDULED
            )
        ]
    conflicts = facilitator_conflicts(group, slots, facilitator_ids)
    if conflicts and strict:
        raise ValidationError({"facilitators": conflicts[:3]})
    if not conflicts:
        return new
    return [
        o
        for o in new
        if not facilitator_conflicts(group, [(o.starts_at, o.ends_at)], facilitator_ids)
    ]


def sessions_ensure(
    *,
    group: SupportGroup,
    since: dt.datetime,
    until: dt.datetime | None,
    count: int = MAX_SESSIONS_PER_WINDOW,
    now: dt.datetime | None = None,
) -> int:
    """Makes the rule's sessions in [since, until] (open-ended: None) exist, so that any range a
    reader asks for has its sessions however far ahead it is. Returns how many were created.

    Bounded: the first `count` (at most MAX_SESSIONS_PER_WINDOW) from max(since, now), worked
    out within the expansion budget and before any transaction; the write transaction opens only
    when some are missing, and never removes or changes a session. A facilitator's clash with
    another group skips that occurrence, as the worker does."""
    now = now or timezone.now()
    since = max(since, now)
    until = min(until or LATEST, LATEST)
    count = max(0, min(count, MAX_SESSIONS_PER_WINDOW))
    if until <= since or not count or group.drop_in or not group.rrule or group.deleted_at:
        return 0
    try:
        wanted = occurrences(group, since=since, until=until, limit=count)
    except ValidationError:
        log.warning("group %s: its recurrence rule cannot be expanded; skipped", group.pk)
        return 0
    wanted = [o for o in wanted if o.starts_at > now]
    if not wanted:
        return 0
    have = set(
        Session.objects.filter(
            group=group,
            occurrence__gte=wanted[0].occurrence,
            occurrence__lte=wanted[-1].occurrence,
        ).values_list("occurrence", flat=True)
    )
    missing = [o for o in wanted if o.occurrence not in have]
    if not missing:
        return 0
    with transaction.atomic():
        missing = _without_clashes(group, missing, now=now, strict=False)
        Session.objects.bulk_create(
            [
                Session(
                    group=group, starts_at=o.starts_at, ends_at=o.ends_at, occurrence=o.occurrence
                )
                for o in missing
            ],
            ignore_conflicts=True,
        )
    return len(missing)


def sessions_materialize_all(now: dt.datetime | None = None) -> int:
    created = 0
    for group in SupportGroup.objects.filter(deleted_at__isnull=True, drop_in=False).exclude(
        rrule=""
    ):
        try:
            created += sessions_materialize(group=group, now=now, strict=False)
        except ValidationError:
            # A rule saved before the limits (or written straight to the database) must not
            # stop every other group's sessions; its group keeps the sessions it has.
            log.warning("group %s: its recurrence rule cannot be expanded; skipped", group.pk)
    return created

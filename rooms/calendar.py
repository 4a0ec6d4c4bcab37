"""iCalendar feeds that carry each group's recurrence itself, so that a calendar app shows every
future session however far ahead, not only the rows made so far.

Per group with a rule, one recurring event: DTSTART in the group's timezone (TZID, with its
VTIMEZONE), the group's RRULE (UNTIL in UTC, as RFC 5545 wants with a TZID start), an EXDATE per
cancelled session, and an override (same UID, RECURRENCE-ID) per moved session. A session the
rule does not give (a one-off, or one left from an earlier rule) is an event of its own, marked
cancelled when it was."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable

from django.conf import settings
from django.db.models import Q
from icalendar import Calendar, Event, vRecur
from rest_framework.renderers import BaseRenderer

from rooms.models import Session, SessionStatus, SupportGroup
from rooms.scheduling import first_local_start, local_to_utc, rule_gives

_UNTIL = re.compile(r"UNTIL=(\d{8})(?:T(\d{6}))?(Z?)", re.IGNORECASE)


def rrule_for_feed(group: SupportGroup) -> str:
    """The group's rule with UNTIL as a UTC date-time. The scheduler reads a bare date or a
    local date-time as the group's wall-clock time (a date as its midnight), and so does this."""

    def utc(match: re.Match[str]) -> str:
        if match.group(3):
            return f"UNTIL={match.group(1)}T{match.group(2) or '000000'}Z"
        local = dt.datetime.strptime(match.group(1) + (match.group(2) or "000000"), "%Y%m%d%H%M%S")
        return f"UNTIL={local_to_utc(local, group.timezone):%Y%m%dT%H%M%SZ}"

    text = group.rrule.strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    return _UNTIL.sub(utc, text)


def _stamp(moment: dt.datetime) -> int:
    # SEQUENCE grows with each change so clients apply moves and cancellations.
    return int(moment.timestamp()) // 60 % 2_000_000_000


def _host() -> str:
    return settings.SITE_URL.split("://", 1)[-1].split("/", 1)[0].split(":")[0] or "haven"


# Discreet mode (a member's setting): entries that name no group or topic, for a calendar that
# someone else may read.
DISCREET_SUMMARY = "Haven session"
DISCREET_NAME = "Haven"


def _event(group: SupportGroup, uid: str, changed: dt.datetime, discreet: bool = False) -> Event:
    event = Event()
    event.add("uid", uid)
    event.add("summary", DISCREET_SUMMARY if discreet else group.name)
    event.add("dtstamp", changed)
    event.add("last-modified", changed)
    event.add("sequence", _stamp(changed))
    group_page = f"{settings.SITE_URL}/groups/{group.pk}/"
    event.add("url", f"{settings.SITE_URL}/" if discreet else group_page)
    return event


def _group_components(
    group: SupportGroup, sessions: list[Session], discreet: bool = False
) -> list[Event]:
    tz = zoneinfo.ZoneInfo(group.timezone)
    has_rule = bool(group.rrule and group.start_date and group.start_time and not group.drop_in)
    given = (
        rule_gives(group, [s.occurrence for s in sessions if s.occurrence is not None])
        if has_rule
        else frozenset()
    )
    duration = dt.timedelta(minutes=group.duration_minutes)
    events = []
    exdates = []
    changed = group.updated_at
    for session in sessions:
        if session.occurrence in given:
            assert session.occurrence is not None
            recurrence_id = session.occurrence.astimezone(tz)
            if session.status == SessionStatus.CANCELLED:
                exdates.append(recurrence_id)
                changed = max(changed, session.updated_at)
            elif session.moved or session.ends_at - session.starts_at != duration:
                override = _event(
                    group, f"group-{group.pk}@{_host()}", session.updated_at, discreet
                )
                override.add("recurrence-id", recurrence_id)
                override.add("dtstart", session.starts_at.astimezone(tz))
                override.add("dtend", session.ends_at.astimezone(tz))
                override.add("status", "CONFIRMED")
                events.append(override)
            continue
        single = _event(group, f"session-{session.pk}@{_host()}", session.updated_at, discreet)
        single.add("dtstart", session.starts_at.astimezone(tz))
        single.add("dtend", session.ends_at.astimezone(tz))
        cancelled = session.status == SessionStatus.CANCELLED
        single.add("status", "CANCELLED" if cancelled else "CONFIRMED")
        events.append(single)
    # RFC 5545 counts DTSTART as the first instance even where the rule would not give it, so
    # the feed starts at the rule's first session, not at the group's dtstart.
    first = first_local_start(group) if has_rule else None
    if first is not None:
        start = first.replace(tzinfo=tz)
        master = _event(group, f"group-{group.pk}@{_host()}", changed, discreet)
        master.add("dtstart", start)
        master.add("duration", duration)
        master.add("rrule", vRecur.from_ical(rrule_for_feed(group)))
        if exdates:
            master.add("exdate", sorted(exdates))
        master.add("status", "CONFIRMED")
        events.insert(0, master)
    return events


def feed_sessions(group_ids: Iterable[int], *, now: dt.datetime) -> dict[int, list[Session]]:
    """The rows a feed needs: every cancelled or moved session (each is an exception to a rule,
    however old), and the others of the last 30 days (one-offs and those of an earlier rule)."""
    rows = Session.objects.filter(
        group_id__in=list(group_ids), group__deleted_at__isnull=True
    ).filter(
        Q(ends_at__gt=now - dt.timedelta(days=30))
        | Q(status=SessionStatus.CANCELLED)
        | Q(moved=True)
    )
    by_group: dict[int, list[Session]] = defaultdict(list)
    for session in rows.order_by("starts_at", "id"):
        by_group[session.group_id].append(session)
    return by_group


def groups_to_ics(
    groups: Iterable[SupportGroup], *, name: str, now: dt.datetime, discreet: bool = False
) -> bytes:
    groups = list(groups)
    sessions = feed_sessions([g.pk for g in groups], now=now)
    cal = Calendar()
    cal.add("prodid", "-//Haven//Support groups//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", DISCREET_NAME if discreet else name)
    for group in groups:
        for component in _group_components(group, sessions.get(group.pk, []), discreet):
            cal.add_component(component)
    # One VTIMEZONE per TZID used, built from the same tz database the server schedules with.
    cal.add_missing_timezones()
    return cal.to_ical()


class ICalendarRenderer(BaseRenderer):
    """Lets calendar apps that send `Accept: text/calendar` through content negotiation. The
    feeds return ready-made bytes; an error (a dict) becomes its plain-text detail."""

    media_type = "text/calendar"
    format = "ics"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):  # type: ignore[no-untyped-def]
        if isinstance(data, bytes):
            return data
        if isinstance(data, dict) and "detail" in data:
            return str(data["detail"]).encode()
        return str(data or "").encode()

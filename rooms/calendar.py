"""iCalendar feeds. Cancelled sessions stay in the feed as cancelled so calendar apps remove
them instead of keeping a stale event."""

from collections.abc import Iterable

from django.conf import settings
from icalendar import Calendar, Event
from rest_framework.renderers import BaseRenderer

from rooms.models import Session, SessionStatus


def sessions_to_ics(sessions: Iterable[Session], *, name: str) -> bytes:
    cal = Calendar()
    cal.add("prodid", "-//Haven//Support groups//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", name)
    host = settings.SITE_URL.split("://", 1)[-1].split("/", 1)[0].split(":")[0] or "haven"
    for session in sessions:
        event = Event()
        event.add("uid", f"session-{session.pk}@{host}")
        event.add("summary", session.group.name)
        event.add("dtstart", session.starts_at)
        event.add("dtend", session.ends_at)
        event.add("dtstamp", session.updated_at)
        event.add("last-modified", session.updated_at)
        # SEQUENCE grows with each change so clients apply moves and cancellations.
        event.add("sequence", int(session.updated_at.timestamp()) // 60 % 2_000_000_000)
        event.add("url", f"{settings.SITE_URL}/groups/{session.group_id}/")
        cancelled = session.status == SessionStatus.CANCELLED
        event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
        cal.add_component(event)
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

"""Timed work: session materialization, reminders (and, later, escalation deadlines and
retention). Every job reads its due work from the database and claims each item with a
conditional update (inside a transaction, or as a lease where the item's work talks to a mail
relay), so two workers never do the same item twice and a worker that dies mid-item leaves it to
be retried."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import socket
import sys
import threading
import time
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import close_old_connections, connections
from django.db.models import Q
from django.utils import timezone

from rooms import hooks
from rooms.models import (
    EnrollmentStatus,
    Message,
    ProcessHeartbeat,
    Session,
    SessionStatus,
    SupportGroup,
)
from rooms.presence import connections_sweep
from rooms.scheduling import sessions_materialize_all

log = logging.getLogger(__name__)


def reminders_send(now: dt.datetime | None = None) -> int:
    """Emails enrolled members once per session, REMINDER_BEFORE ahead. Returns sessions done.

    Each session's reminder is claimed for a while (a lease) and sent outside any transaction,
    so a mail relay that is slow or stalls holds no database lock (on SQLite that would stop
    every message in every room). A relay that fails before the first e-mail, or a worker that
    dies mid-send, leaves it to go again once the lease ends, while the session is still ahead;
    one that fails after some went out marks it done (a few members without a reminder, rather
    than the others getting it again every tick). A session moved meanwhile keeps its claim
    cleared: what this worker sent was the old time, and the new one goes too."""
    now = now or timezone.now()
    due = Session.objects.filter(
        Q(reminder_claimed_until__isnull=True) | Q(reminder_claimed_until__lt=now),
        status=SessionStatus.SCHEDULED,
        reminder_sent_at__isnull=True,
        starts_at__gt=now,
        starts_at__lte=now + settings.REMINDER_BEFORE,
        group__deleted_at__isnull=True,
    ).values_list("pk", flat=True)
    done = 0
    for session_id in list(due):
        session = Session.objects.select_related("group").get(pk=session_id)
        recipients = [
            (email, discreet)
            for email, discreet in session.group.enrollments.filter(
                status=EnrollmentStatus.ACTIVE, user__is_active=True
            ).values_list("user__email", "user__discreet")
            if email
        ]
        # Long enough for each step of every e-mail (connect, greet, sender, recipient, data)
        # to wait out the relay's timeout once; from the clock, not the job's start.
        at = max(now, timezone.now())
        until = at + dt.timedelta(seconds=settings.EMAIL_TIMEOUT * (4 * len(recipients) + 6) + 30)
        claimed = Session.objects.filter(
            Q(reminder_claimed_until__isnull=True) | Q(reminder_claimed_until__lt=at),
            pk=session_id,
            reminder_sent_at__isnull=True,
        ).update(reminder_claimed_until=until)
        if not claimed:
            continue  # another worker has it, or it went meanwhile
        mine = Session.objects.filter(pk=session_id, reminder_claimed_until=until)
        starts = session.starts_at.astimezone(zoneinfo.ZoneInfo(session.group.timezone))
        sent = 0
        try:
            with get_connection(fail_silently=False) as relay:
                for address, discreet in recipients:
                    subject, body = reminder_text(session, starts, discreet)
                    sent += relay.send_messages(
                        [EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [address])]
                    )
        except Exception:
            if not sent:
                log.exception("reminder failed session=%s; trying again later", session_id)
                mine.update(reminder_claimed_until=None)
                continue
            log.exception(
                "reminder failed part way session=%s sent=%d of %d",
                session_id,
                sent,
                len(recipients),
            )
        if not mine.update(reminder_sent_at=now, reminder_claimed_until=None):
            log.info("session moved while its reminder went out session=%s", session_id)
            continue
        log.info("reminder sent session=%s recipients=%d", session_id, sent)
        done += 1
    return done


def reminder_text(session: Session, starts: dt.datetime, discreet: bool) -> tuple[str, str]:
    """Subject and body. A discreet member's reminder names no group or topic: it may be read
    over their shoulder or in a shared inbox."""
    zone = session.group.timezone
    if discreet:
        return (
            f"Reminder: your Haven session at {starts:%H:%M} ({zone})",
            f"Your Haven session is on {starts:%A %d %B at %H:%M} ({zone}).\n\n"
            f"{settings.SITE_URL}/\n",
        )
    return (
        f"Reminder: {session.group.name} meets at {starts:%H:%M} ({zone})",
        f"Your support group {session.group.name} meets on {starts:%A %d %B at %H:%M} "
        f"({zone}). The room opens a few minutes before.\n\n{settings.SITE_URL}/\n",
    )


def messages_purge(now: dt.datetime | None = None) -> int:
    """Deletes messages older than their group's retention: removed from the database, not
    hidden. Held, rejected and deleted messages go with them."""
    now = now or timezone.now()
    removed = 0
    for group_id, days in SupportGroup.objects.values_list("pk", "retention_days"):
        count, _ = Message.objects.filter(
            group_id=group_id, created_at__lt=now - dt.timedelta(days=days)
        ).delete()
        removed += count
    if removed:
        log.info("retention removed %d messages", removed)
    return removed


@dataclass
class Job:
    name: str
    every: float
    run: Callable[[], object]
    last: float = field(default=float("-inf"))
    # Runs on a thread of its own: it waits on another server (the mail relay), which may be
    # slow or stall, and the escalation deadlines must never wait behind it. One run at a time.
    apart: bool = False
    thread: threading.Thread | None = field(default=None, repr=False)


def _run_apart(job: Job) -> None:
    try:
        close_old_connections()
        job.run()
    except Exception:
        log.exception("worker job failed: %s", job.name)
    finally:
        connections.close_all()  # this thread's own connections end with it


def default_jobs() -> list[Job]:
    return [
        Job("materialize", 600, sessions_materialize_all),
        Job("reminders", 15, reminders_send, apart=True),
        Job("presence-sweep", 10, connections_sweep),
        Job("retention", 300, messages_purge),
        # The apps above rooms add theirs (moderation: escalation, unattended rooms, alert
        # e-mail, the learned stage's sweep, the audit log's retention).
        *(job for hook in hooks.get_hooks(hooks.WORKER_JOBS) for job in hook()),
    ]


class Worker:
    def __init__(self, jobs: list[Job] | None = None, tick: float | None = None) -> None:
        self.jobs = jobs if jobs is not None else default_jobs()
        self.tick = tick if tick is not None else settings.WORKER_TICK_SECONDS
        self.stopping = False

    def run_once(self) -> None:
        try:
            close_old_connections()
            ProcessHeartbeat.objects.update_or_create(
                process=f"worker:{socket.gethostname()}", defaults={"last_seen": timezone.now()}
            )
        except Exception:
            log.exception("worker heartbeat failed")
        now = time.monotonic()
        for job in self.jobs:
            if now - job.last < job.every:
                continue
            if job.apart:
                if job.thread is not None and job.thread.is_alive():
                    continue  # still waiting on the mail relay: the others go on
                job.last = now
                job.thread = threading.Thread(
                    target=_run_apart, args=(job,), name=f"worker-{job.name}", daemon=True
                )
                job.thread.start()
                continue
            job.last = now
            try:
                close_old_connections()
                job.run()
            except Exception:  # one failing job must not stop escalations
                log.exception("worker job failed: %s", job.name)

    def run_forever(self) -> None:
        log.info("worker started, tick %.1fs", self.tick)
        while not self.stopping:
            started = time.monotonic()
            self.run_once()
            time.sleep(max(0.0, self.tick - (time.monotonic() - started)))
        log.info("worker stopped")


async def run_embedded(worker: Worker) -> None:
    """The worker inside a web process, for the one-process set-up (in-memory channel layer):
    jobs run in a thread, and the events they publish reach this process's sockets."""
    from asgiref.sync import sync_to_async

    log.info("embedded worker started, tick %.1fs", worker.tick)
    while not worker.stopping:
        started = time.monotonic()
        await sync_to_async(worker.run_once, thread_sensitive=False)()
        await asyncio.sleep(max(0.0, worker.tick - (time.monotonic() - started)))


def start_embedded_worker() -> None:
    """Starts the embedded worker when daphne's reactor runs (no ASGI lifespan in daphne)."""
    reactor = sys.modules.get("twisted.internet.reactor")
    if reactor is None:
        log.warning(
            "embedded worker not started: not running under daphne; run manage.py run_worker"
        )
        return

    def spawn() -> None:
        asyncio.get_event_loop().create_task(run_embedded(Worker()))

    reactor.callWhenRunning(spawn)  # type: ignore[attr-defined]

"""Moderation's periodic jobs, which the worker runs beside the rooms' own
(rooms.hooks.WORKER_JOBS, registered in moderation/apps.py)."""

from __future__ import annotations

from moderation.actions import unattended_enforce
from moderation.review import review_sweep
from moderation.services import (
    alert_digests_send,
    alerts_escalate,
    alerts_reclaim,
    audit_text_purge,
    outbox_send,
)
from rooms.worker import Job


def worker_jobs() -> list[Job]:
    """Fresh jobs for each worker (a job remembers when it last ran)."""
    return [
        Job("escalate", 1, alerts_escalate),
        # Acknowledged alerts whose acknowledger left (ALERT_ACK_HOLD_SECONDS).
        Job("reclaim", 1, alerts_reclaim),
        Job("unattended", 1, unattended_enforce),
        Job("alert-digests", 30, alert_digests_send),
        Job("outbox", 2, outbox_send, apart=True),
        # Messages no web process reviewed with the learned model (it died, its queue was full).
        Job("review", 1, review_sweep),
        Job("audit-retention", 300, audit_text_purge),
    ]

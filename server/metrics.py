"""Prometheus metrics. Per-process counters (messages, deliveries, sockets) come from this web
process; alert, escalation, acknowledge-time and worker-lag figures are read from the database at
scrape time, so every process reports the same totals whichever one the proxy picks."""

from __future__ import annotations

import datetime as dt
import hmac
import os
import socket

from django.conf import settings
from django.db.models import Count, Sum
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

REGISTRY = CollectorRegistry(auto_describe=True)
PROCESS = f"{socket.gethostname()}:{os.getpid()}"

MESSAGES = Counter(
    "haven_messages",
    "Messages stored by this process, by outcome",
    ["outcome"],
    registry=REGISTRY,
)
MESSAGE_SECONDS = Histogram(
    "haven_message_seconds",
    "From a message.send frame arriving to its ack being sent (store, assess, alert)",
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
    registry=REGISTRY,
)
DELIVERIES = Counter(
    "haven_deliveries", "Room frames written to sockets by this process", registry=REGISTRY
)
SOCKETS = Gauge(
    "haven_open_sockets", "Open WebSockets in this process", ["kind"], registry=REGISTRY
)
REVIEW_SECONDS = Histogram(
    "haven_review_seconds",
    "From a message stored to the learned crisis model's review of it written, by path (live: "
    "this web process's reviewer; sweep: the worker's safety net)",
    ["path"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60),
    registry=REGISTRY,
)
MODEL_LOADED = Gauge(
    "haven_crisis_model_loaded",
    "1 when this process has loaded the learned crisis model; 0 while it is off, loading or "
    "failed to load (the rules alone then assess messages)",
    registry=REGISTRY,
)
# Every series exists from the start, so a fresh process reports zeros rather than nothing.
for _kind in ("room", "alerts"):
    SOCKETS.labels(_kind)
for _outcome in ("delivered", "held"):
    MESSAGES.labels(_outcome)
for _path in ("live", "sweep"):
    REVIEW_SECONDS.labels(_path)
ACK_BUCKETS = (5, 15, 30, 60, 120, 300, 600, 1800)


class DatabaseCollector:
    def describe(self):  # type: ignore[no-untyped-def]
        # Registering must not query the database (it may not exist yet, e.g. in `check`).
        return []

    def collect(self):  # type: ignore[no-untyped-def]
        from moderation.models import Alert, AlertKind, AlertStatus, AuditEntry
        from moderation.review import unreviewed
        from rooms.models import ProcessHeartbeat

        now = timezone.now()
        alerts = CounterMetricFamily(
            "haven_alerts", "Alerts raised, by level and kind", labels=["level", "kind"]
        )
        for row in Alert.objects.values("level", "kind").annotate(n=Count("id")):
            alerts.add_metric([row["level"], row["kind"]], row["n"])
        yield alerts
        escalations = Alert.objects.aggregate(n=Sum("escalations"))["n"] or 0
        yield CounterMetricFamily(
            "haven_escalations", "Alert escalations to a next tier", value=escalations
        )
        open_alerts = GaugeMetricFamily(
            "haven_open_alerts", "Alerts not yet acknowledged", labels=["level"]
        )
        for row in (
            Alert.objects.filter(status=AlertStatus.OPEN).values("level").annotate(n=Count("id"))
        ):
            open_alerts.add_metric([row["level"]], row["n"])
        yield open_alerts

        waits = [
            (acked - created).total_seconds()
            for created, acked in Alert.objects.filter(
                kind=AlertKind.CRISIS,
                acknowledged_at__isnull=False,
                created_at__gte=now - dt.timedelta(days=30),
            ).values_list("created_at", "acknowledged_at")
        ]
        buckets = [(str(b), sum(1 for w in waits if w <= b)) for b in ACK_BUCKETS]
        buckets.append(("+Inf", len(waits)))
        ack = HistogramMetricFamily(
            "haven_alert_ack_seconds", "Seconds from alert to acknowledgement (last 30 days)"
        )
        ack.add_metric([], buckets, sum_value=sum(waits))
        yield ack

        # Open alerts wait for their escalation, acknowledged ones for the look whether whoever
        # acknowledged them is still with the member: the worker does both every tick.
        overdue = (
            Alert.objects.filter(
                kind__in=[AlertKind.CRISIS, AlertKind.CHECKIN],
                status__in=[AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED],
                ack_deadline__lt=now,
            )
            .order_by("ack_deadline")
            .values_list("ack_deadline", flat=True)
            .first()
        )
        yield GaugeMetricFamily(
            "haven_worker_lag_seconds",
            "How far past its deadline the most overdue alert the worker has not handled is "
            "(0 when none)",
            value=(now - overdue).total_seconds() if overdue else 0.0,
        )
        beat = (
            ProcessHeartbeat.objects.filter(process__startswith="worker:")
            .order_by("-last_seen")
            .values_list("last_seen", flat=True)
            .first()
        )
        yield GaugeMetricFamily(
            "haven_worker_heartbeat_age_seconds",
            "Seconds since a worker last ran its jobs",
            value=(now - beat).total_seconds() if beat else -1.0,
        )

        by_model = CounterMetricFamily(
            "haven_model_alerts",
            "Alerts the learned crisis model raised (new) or raised to a graver level or another "
            "category (upgraded), after the rules had assessed the message",
            labels=["action"],
        )
        counts = dict(
            AuditEntry.objects.filter(
                action__in=["alert.raised", "alert.upgraded"], data__raised_by="model"
            )
            .values_list("action")
            .annotate(n=Count("id"))
        )
        by_model.add_metric(["new"], counts.get("alert.raised", 0))
        by_model.add_metric(["upgraded"], counts.get("alert.upgraded", 0))
        yield by_model
        yield GaugeMetricFamily(
            "haven_review_backlog",
            "Messages of the last day the learned model has not read REVIEW_SWEEP_SECONDS after "
            "they were stored (the worker's sweep takes them); 0 with the model off",
            value=unreviewed(now).count() if settings.CRISIS_MODEL else 0,
        )


REGISTRY.register(DatabaseCollector())


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text format. Admins (session or token) or a scraper with METRICS_TOKEN."""
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    by_token = bool(token) and hmac.compare_digest(header, f"Bearer {token}")
    user = getattr(request, "user", None)
    if not by_token and not (
        user is not None and user.is_authenticated and getattr(user, "role", "") == "admin"
    ):
        if header.startswith("Token "):
            from rest_framework.authtoken.models import Token

            found = Token.objects.select_related("user").filter(key=header[6:].strip()).first()
            if found is not None and found.user.role == "admin" and found.user.is_active:
                by_token = True
        if not by_token:
            return HttpResponse(
                "Metrics are for admins or a scraper with METRICS_TOKEN.\n",
                status=403,
                content_type="text/plain",
            )
    body = generate_latest(REGISTRY)
    return HttpResponse(body, content_type="text/plain; version=0.0.4; charset=utf-8")

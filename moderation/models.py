from django.conf import settings
from django.db import models


class AlertKind(models.TextChoices):
    CRISIS = "crisis", "Crisis language"
    UNATTENDED = "unattended", "Room without a facilitator"
    CHECKIN = "checkin", "A member asked to talk privately"


class AlertStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


class Tier(models.IntegerChoices):
    SESSION = 1, "Facilitators in the session"
    GROUP = 2, "All of the group's facilitators"
    ON_CALL = 3, "On-call facilitators and admins"


class Outcome(models.TextChoices):
    SUPPORTED_IN_ROOM = "supported_in_room", "Supported in the room"
    PRIVATE_CHECKIN = "private_checkin", "Private check-in"
    REFERRED = "referred", "Referred to crisis services"
    EMERGENCY_SERVICES = "emergency_services", "Emergency services contacted"
    NOT_A_CRISIS = "not_a_crisis", "Not a crisis"
    RESOLVED = "resolved", "Resolved"


class Alert(models.Model):
    """A person who may need a human now. Deadlines live here so the worker fires them after
    any restart; the message text is not copied here, only referenced."""

    kind = models.CharField(max_length=16, choices=AlertKind.choices, default=AlertKind.CRISIS)
    group = models.ForeignKey("rooms.SupportGroup", on_delete=models.CASCADE, related_name="alerts")
    message = models.ForeignKey(
        "rooms.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="alerts_about",
    )
    level = models.CharField(max_length=16)
    category = models.CharField(max_length=16, default="none")
    explanation = models.CharField(max_length=500, blank=True)
    rule_ids = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=16, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    tier = models.PositiveSmallIntegerField(choices=Tier.choices, default=Tier.SESSION)
    ack_deadline = models.DateTimeField(null=True, blank=True, db_index=True)
    escalations = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # When the worker last found whoever acknowledged it away from the member (one look more,
    # a moment later, decides: a reconnect is not leaving). Cleared when they are back.
    ack_away_since = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    outcome = models.CharField(max_length=24, choices=Outcome.choices, blank=True)
    note = models.TextField(blank=True)
    # For a member's request to talk privately: the check-in room opened for it.
    checkin = models.ForeignKey(
        "rooms.SupportGroup", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "ack_deadline"])]

    def __str__(self) -> str:
        return f"{self.level} {self.kind} alert {self.pk} in group {self.group_id}"


class SupportResource(models.Model):
    """Where a member in crisis can get help. Configuration, not template text: a deployment
    elsewhere edits these in the admin."""

    name = models.CharField(max_length=120)
    how = models.CharField(max_length=200, help_text="e.g. 'Call or text 988'")
    url = models.URLField(blank=True)
    country = models.CharField(
        max_length=2,
        blank=True,
        db_index=True,
        help_text="ISO 3166 code (US, GB, IN…); empty means every country (the international "
        "lines shown after a country's own).",
    )
    phone = models.CharField(
        max_length=32,
        blank=True,
        help_text="A number to call, as people write it: '988', '116 123'.",
    )
    text_number = models.CharField(
        max_length=32, blank=True, help_text="A number to text, e.g. '741741'."
    )
    text_keyword = models.CharField(
        max_length=32, blank=True, help_text="The word to text, e.g. 'HOME'; may be empty."
    )
    categories = models.JSONField(
        default=list, blank=True, help_text="Crisis categories it serves; empty means all."
    )
    immediate_danger = models.BooleanField(
        default=False, help_text="Shown first for emergencies (e.g. 911)."
    )
    order = models.PositiveIntegerField(default=0)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return self.name


class AuditEntry(models.Model):
    """Append-only record of every alert change, moderation action and held-message decision,
    with the real actor (members only ever see "Moderator")."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=40, db_index=True)
    group = models.ForeignKey(
        "rooms.SupportGroup", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    target_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    message_id_ref = models.BigIntegerField(null=True, blank=True)
    alert = models.ForeignKey(Alert, null=True, blank=True, on_delete=models.SET_NULL)
    reason = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"

    def save(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        # The invariant of an audit log: rows are written once and never changed.
        if self.pk is not None and AuditEntry.objects.filter(pk=self.pk).exists():
            raise PermissionError("Audit entries cannot be changed.")
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_id} at {self.created_at:%Y-%m-%d %H:%M}"


class ReportStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"


class Report(models.Model):
    message = models.ForeignKey(
        "rooms.Message", null=True, on_delete=models.SET_NULL, related_name="reports"
    )
    group = models.ForeignKey("rooms.SupportGroup", on_delete=models.CASCADE, related_name="+")
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reports_made"
    )
    reason = models.CharField(max_length=40)
    note = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=ReportStatus.choices, default="open")
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["message", "reporter"], name="one_report_per_message")
        ]


class HiddenAuthor(models.Model):
    """A member chose not to see another member's messages (only in their own view)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    group = models.ForeignKey("rooms.SupportGroup", on_delete=models.CASCADE, related_name="+")
    author_key = models.CharField(max_length=24)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "group", "author_key"], name="unique_hidden")
        ]


class OutboundEmail(models.Model):
    """An e-mail written in the same transaction as the change that causes it, and sent by the
    worker: a crash between the two never loses it (one mid-send may send it twice)."""

    to = models.EmailField()
    subject = models.CharField(max_length=200)
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    # A worker sending it holds it until then, outside any transaction (a relay that stalls
    # must not hold a database lock); one that died mid-send leaves it to be sent again after.
    claimed_until = models.DateTimeField(null=True, blank=True)


class AlertEmail(models.Model):
    """Who was told about an alert by e-mail, at which tier. One e-mail per person per alert per
    tier (the unique constraint); anything more about that alert for that person (on-call hears
    again at the top tier, a raised level) is a digest entry, sent with the others in one
    e-mail (`moderation.services.alert_digests_send`)."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="emails")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    tier = models.PositiveSmallIntegerField(choices=Tier.choices)
    digest = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    digested_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["alert", "user", "tier"],
                condition=models.Q(digest=False),
                name="one_alert_email_per_person_and_tier",
            )
        ]
        indexes = [models.Index(fields=["digest", "digested_at"])]


class CrisisLevel(models.TextChoices):
    NONE = "none", "None"
    WATCH = "watch", "Watch"
    URGENT = "urgent", "Urgent"
    EMERGENCY = "emergency", "Emergency"


class CrisisCategory(models.TextChoices):
    NONE = "none", "None"
    SELF_HARM = "self_harm", "Self-harm"
    HARM_OTHERS = "harm_others", "Harm to others"
    ABUSE_DANGER = "abuse_danger", "Abuse or danger"


class ExampleSource(models.TextChoices):
    NOT_A_CRISIS = "not_a_crisis", "Alert resolved as not a crisis"
    FLAGGED = "flagged", "Flagged by a facilitator where the detector let it pass"
    UPGRADED = "upgraded", "Alert raised to a higher level or another category"


class DetectorExample(models.Model):
    """A facilitator's judgement of one message, kept as a labelled example for the crisis
    detector. Only the words and the label: no member, alias, group or time leaves in the export.
    The row lives and dies with its message (retention, account deletion, a moderator's delete),
    and a message has at most one: the latest judgement replaces an earlier one."""

    message = models.ForeignKey(
        "rooms.Message", on_delete=models.CASCADE, related_name="detector_examples"
    )
    text = models.TextField()
    level = models.CharField(max_length=16, choices=CrisisLevel.choices)
    category = models.CharField(max_length=16, choices=CrisisCategory.choices)
    source = models.CharField(max_length=16, choices=ExampleSource.choices)
    rule_ids = models.JSONField(default=list, blank=True)
    model_score = models.JSONField(null=True, blank=True)
    detector_level = models.CharField(max_length=16, choices=CrisisLevel.choices, default="none")
    created_at = models.DateTimeField(auto_now_add=True)
    # Who judged, for the audit only; never exported.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["message"], name="one_detector_example_per_message")
        ]

    def __str__(self) -> str:
        return f"{self.source} example {self.pk}: {self.level}/{self.category}"

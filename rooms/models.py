import uuid
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"'{value}' is not an IANA timezone such as 'America/Los_Angeles'.")


class JoinPolicy(models.TextChoices):
    OPEN = "open", "Open"
    APPROVAL = "approval", "Approval"


class RoomOverride(models.TextChoices):
    AUTO = "auto", "Follows the schedule"
    OPEN = "open", "Opened by a facilitator"
    CLOSED = "closed", "Closed by a facilitator"


class HeldCategory(models.TextChoices):
    HARASSMENT = "harassment", "Harassment of another member"
    CONTACT_DETAILS = "contact_details", "Contact details"


def default_held_categories() -> list[str]:
    return [HeldCategory.HARASSMENT, HeldCategory.CONTACT_DETAILS]


class GroupKind(models.TextChoices):
    GROUP = "group", "Support group"
    CHECKIN = "checkin", "Private check-in"


# What a new group's agreement says until its admin writes another (the group form, the demo).
DEFAULT_AGREEMENT = (
    "What is shared here stays here. Speak from your own experience. No advice unless asked. "
    "No contact details. If you are in danger, use the Get help now button."
)


class SupportGroup(models.Model):
    name = models.CharField(max_length=120)
    # A private check-in is a one-to-one room (a facilitator and one member) with every guarantee
    # of a group room; it never appears in the catalogue.
    kind = models.CharField(max_length=8, choices=GroupKind.choices, default=GroupKind.GROUP)
    checkin_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="checkins"
    )
    description = models.TextField(blank=True)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    capacity = models.PositiveIntegerField(default=12)
    join_policy = models.CharField(max_length=16, choices=JoinPolicy.choices, default="open")
    drop_in = models.BooleanField(default=False, help_text="The room is always open.")
    agreement_text = models.TextField(blank=True)
    agreement_version = models.PositiveIntegerField(default=1)
    retention_days = models.PositiveIntegerField(default=30)
    # When a member deletes their account: remove their messages, or keep them as "Former
    # member" so a conversation still reads.
    on_member_delete = models.CharField(
        max_length=10,
        choices=[("remove", "Remove their messages"), ("anonymize", "Keep, anonymized")],
        default="remove",
    )
    held_categories = models.JSONField(default=default_held_categories, blank=True)
    slow_mode_seconds = models.PositiveIntegerField(default=0)
    typing_indicators = models.BooleanField(default=False)
    # Recurrence: an RFC 5545 RRULE whose DTSTART is a wall-clock time in `timezone`.
    rrule = models.CharField(max_length=500, blank=True)
    start_date = models.DateField(null=True, blank=True)
    start_time = models.TimeField(null=True, blank=True)
    duration_minutes = models.PositiveIntegerField(default=90)
    room_override = models.CharField(
        max_length=8, choices=RoomOverride.choices, default=RoomOverride.AUTO
    )
    # A facilitator's open/close lasts until this time, then the schedule rules again.
    override_until = models.DateTimeField(null=True, blank=True)
    locked = models.BooleanField(default=False)
    # Why the room is read-only: "facilitator" (a facilitator locked it) or "unattended" (no
    # facilitator came back within the grace period; unlocks when one returns).
    locked_reason = models.CharField(max_length=16, blank=True)
    facilitators = models.ManyToManyField(  # type: ignore[var-annotated]
        settings.AUTH_USER_MODEL, through="GroupFacilitator", related_name="facilitated_groups"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class GroupFacilitator(models.Model):
    group = models.ForeignKey(SupportGroup, on_delete=models.CASCADE)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    is_lead = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "user"], name="unique_group_facilitator")
        ]


class SessionStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    CANCELLED = "cancelled", "Cancelled"


class Session(models.Model):
    group = models.ForeignKey(SupportGroup, on_delete=models.CASCADE, related_name="sessions")
    starts_at = models.DateTimeField(db_index=True)
    ends_at = models.DateTimeField()
    status = models.CharField(
        max_length=16, choices=SessionStatus.choices, default=SessionStatus.SCHEDULED
    )
    # The recurrence occurrence this session came from; stays put when the session is moved so
    # re-materialization recognises it. Null for a one-off session.
    occurrence = models.DateTimeField(null=True, blank=True)
    moved = models.BooleanField(default=False)
    reminder_sent_at = models.DateTimeField(null=True, blank=True)
    # A worker sending the reminder holds it until then, outside any transaction (a mail relay
    # that stalls must hold no database lock); one that died mid-send leaves it to go after.
    reminder_claimed_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["starts_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["group", "occurrence"], name="unique_session_occurrence"
            )
        ]

    def __str__(self) -> str:
        return f"{self.group} at {self.starts_at:%Y-%m-%d %H:%M} UTC"


class EnrollmentStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    PENDING = "pending", "Pending approval"
    WAITLISTED = "waitlisted", "Waitlisted"
    DECLINED = "declined", "Declined"
    LEFT = "left", "Left"
    REMOVED = "removed", "Removed"
    BANNED = "banned", "Banned"


class Enrollment(models.Model):
    group = models.ForeignKey(SupportGroup, on_delete=models.CASCADE, related_name="enrollments")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="enrollments"
    )
    alias = models.CharField(max_length=40)
    status = models.CharField(max_length=16, choices=EnrollmentStatus.choices)
    agreement_version = models.PositiveIntegerField(default=0)
    waitlisted_at = models.DateTimeField(null=True, blank=True)
    muted_until = models.DateTimeField(null=True, blank=True)
    mute_reason = models.CharField(max_length=200, blank=True)
    # Removed from the current session by a facilitator: may not re-enter before this time.
    removed_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["group", "user"], name="unique_enrollment"),
            models.UniqueConstraint("group", Lower("alias"), name="unique_alias_per_group"),
        ]
        indexes = [models.Index(fields=["group", "status"])]

    def __str__(self) -> str:
        return f"{self.alias} in {self.group_id} ({self.status})"


class Attendance(models.Model):
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="attendance")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="attendance"
    )
    first_joined_at = models.DateTimeField()
    last_left_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["session", "user"], name="unique_attendance")
        ]


class MessageStatus(models.TextChoices):
    VISIBLE = "visible", "Visible"
    HELD = "held", "Held for review"
    REJECTED = "rejected", "Rejected"
    DELETED = "deleted", "Deleted"


class Message(models.Model):
    group = models.ForeignKey(SupportGroup, on_delete=models.CASCADE, related_name="messages")
    session = models.ForeignKey(Session, null=True, blank=True, on_delete=models.SET_NULL)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="messages"
    )
    client_id = models.UUIDField(default=uuid.uuid4)
    body = models.TextField()
    status = models.CharField(
        max_length=16, choices=MessageStatus.choices, default=MessageStatus.VISIBLE
    )
    held_reason = models.CharField(max_length=32, blank=True)
    level = models.CharField(max_length=16, default="none")
    category = models.CharField(max_length=16, default="none")
    rule_ids = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    # The learned stage reads each message after delivery (moderation/review.py). Set once, by
    # whichever reviewer claims the message first: the web process's, or the worker's sweep.
    reviewed_at = models.DateTimeField(null=True, blank=True)
    # The model's probabilities for this message (Verdict.to_dict()); the facilitators'
    # judgements of the message keep them as DetectorExample.model_score.
    model_score = models.JSONField(null=True, blank=True)
    # Members' own messages: an edit within MESSAGE_EDIT_SECONDS (the words before it are in the
    # audit log), and a reply's quoted message (shown as a snippet of what it says now).
    edited_at = models.DateTimeField(null=True, blank=True)
    reply_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["author", "client_id"], name="unique_client_message")
        ]
        indexes = [
            models.Index(fields=["group", "status", "id"]),
            # The sweep reads only the few messages still waiting for the model.
            models.Index(
                fields=["created_at"],
                condition=models.Q(reviewed_at__isnull=True),
                name="message_unreviewed",
            ),
        ]

    def __str__(self) -> str:
        return f"message {self.pk} in group {self.group_id}"


class ReactionKind(models.TextChoices):
    """A small fixed set: support, not a popularity count."""

    HEART = "heart", "❤️"
    HUG = "hug", "🤗"
    PRAY = "pray", "🙏"
    ME_TOO = "metoo", "Me too"


class Reaction(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="reactions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=8, choices=ReactionKind.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message", "user", "kind"], name="one_reaction_each")
        ]


class RoomConnection(models.Model):
    """One open socket in a room. Presence is read from here so that every web process agrees;
    rows of a process that stopped heartbeating are ignored and swept."""

    channel_name = models.CharField(max_length=200, unique=True)
    group = models.ForeignKey(SupportGroup, on_delete=models.CASCADE, related_name="connections")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    process = models.CharField(max_length=64, db_index=True)
    connected_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["group", "user"])]


class ProcessHeartbeat(models.Model):
    process = models.CharField(max_length=64, primary_key=True)
    last_seen = models.DateTimeField(db_index=True)

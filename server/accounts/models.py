import secrets

from django.contrib.auth.models import AbstractUser
from django.db import models


def new_calendar_token() -> str:
    return secrets.token_urlsafe(24)


class Role(models.TextChoices):
    MEMBER = "member", "Member"
    FACILITATOR = "facilitator", "Facilitator"
    ADMIN = "admin", "Admin"


class User(AbstractUser):
    """A person with one role. Admins are also Django staff (kept in step by the services)."""

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    on_call = models.BooleanField(
        default=False, help_text="Receives escalated crisis alerts outside their own groups."
    )
    calendar_token = models.CharField(max_length=64, unique=True, default=new_calendar_token)
    # Safety settings a member chooses (docs/privacy.md, "Members who may be watched").
    country = models.CharField(
        max_length=2, blank=True, help_text="Where the member is, for the crisis lines they see."
    )
    discreet = models.BooleanField(
        default=False,
        help_text="Calendar entries and e-mail subjects name no group or topic.",
    )

    class Meta:
        indexes = [models.Index(fields=["role", "on_call"])]

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def is_facilitator(self) -> bool:
        return self.role == Role.FACILITATOR


class WsTicket(models.Model):
    """A single-use credential for WebSocket clients that cannot send a cookie."""

    key = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="ws_tickets")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"ticket for user {self.user_id}"

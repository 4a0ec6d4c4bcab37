"""Writes to accounts. Views and commands call these; nothing else creates users or tickets."""

import secrets

from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from server.accounts.models import Role, User, WsTicket, new_calendar_token
from server.accounts.signals import staff_action_record


def account_create(
    *, username: str, password: str, role: str = Role.MEMBER, email: str = "", on_call: bool = False
) -> User:
    if role not in Role.values:
        raise ValidationError({"role": f"Role must be one of: {', '.join(Role.values)}."})
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError({"username": f"The name '{username}' is already taken."})
    user = User(username=username, email=email, role=role, on_call=on_call)
    user.is_staff = role == Role.ADMIN
    user.is_superuser = role == Role.ADMIN
    try:
        # Django's validators (AUTH_PASSWORD_VALIDATORS): length, common, like the username.
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from exc
    user.set_password(password)
    user.full_clean(exclude=["password", "calendar_token"])
    user.save()
    return user


def account_set_role(*, user: User, role: str, by: User | None = None) -> User:
    if role not in Role.values:
        raise ValidationError({"role": f"Role must be one of: {', '.join(Role.values)}."})
    was = user.role
    with transaction.atomic():
        user.role = role
        user.is_staff = user.is_superuser = role == Role.ADMIN
        user.save(update_fields=["role", "is_staff", "is_superuser"])
        if role == Role.MEMBER:
            # A member facilitates nothing: drop them from every group's facilitators.
            user.groupfacilitator_set.all().delete()
            user.on_call = False
            user.save(update_fields=["on_call"])
        if was != role:
            staff_action_record(
                action="account.role_changed",
                actor=by,
                target_user=user.pk,
                username=user.username,
                role=[was, role],
            )
    return user


def account_set_on_call(*, user: User, on_call: bool, by: User | None = None) -> User:
    """On call: escalated alerts reach this facilitator or admin, live and by e-mail."""
    with transaction.atomic():
        changed = user.on_call != on_call
        user.on_call = on_call
        user.save(update_fields=["on_call"])
        if changed:
            staff_action_record(
                action="account.on_call_changed",
                actor=by,
                target_user=user.pk,
                username=user.username,
                on_call=on_call,
            )
    return user


def calendar_token_reset(*, user: User) -> str:
    user.calendar_token = new_calendar_token()
    user.save(update_fields=["calendar_token"])
    return user.calendar_token


def account_settings_update(
    *, user: User, country: str | None = None, discreet: bool | None = None
) -> User:
    """A member's own safety settings: the country of the crisis lines they see, and discreet
    mode (calendar entries and e-mail subjects that name no group or topic)."""
    fields = []
    if country is not None:
        code = country.strip().upper()
        if code and not (len(code) == 2 and code.isascii() and code.isalpha()):
            raise ValidationError({"country": "Use a two-letter country code such as US or GB."})
        user.country = code
        fields.append("country")
    if discreet is not None:
        user.discreet = discreet
        fields.append("discreet")
    if fields:
        user.save(update_fields=fields)
    return user


def ws_ticket_issue(*, user: User) -> str:
    key = secrets.token_urlsafe(32)
    now = timezone.now()
    WsTicket.objects.create(key=key, user=user, expires_at=now + settings.WS_TICKET_TTL)
    # Expired tickets are useless; sweep them here rather than in a separate job.
    WsTicket.objects.filter(expires_at__lt=now - settings.WS_TICKET_TTL).delete()
    return key


def ws_ticket_redeem(*, key: str) -> User | None:
    """Returns the ticket's user once; a used, expired or unknown ticket gives None."""
    now = timezone.now()
    with transaction.atomic():
        claimed = WsTicket.objects.filter(key=key, used_at__isnull=True, expires_at__gt=now).update(
            used_at=now
        )
        if not claimed:
            return None
        ticket = WsTicket.objects.select_related("user").get(key=key)
    user = ticket.user
    return user if user.is_active else None

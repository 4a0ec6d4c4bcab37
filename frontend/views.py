"""The web app's pages. Each page is a template with a skeleton and one JavaScript module that
fills it from the REST API and the room sockets; nothing a member writes is put into a template."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone

from rooms import selectors
from rooms.models import DEFAULT_AGREEMENT, HeldCategory
from rooms.room import room_state
from server.accounts.models import Role

LOGIN_ATTEMPTS = 10
LOGIN_WINDOW_SECONDS = 300

# The zones offered first in the group editor; every IANA zone is still available below them.
COMMON_ZONES = [
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
    "Europe/London",
    "Europe/Berlin",
    "Australia/Sydney",
    "UTC",
]


def _client_ip(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "")


class SignInForm(AuthenticationForm):
    error_messages = {
        "invalid_login": (
            "That username and password don't match. Check them and try again "
            "(both are case-sensitive)."
        ),
        "inactive": "This account is switched off. Ask an admin of your group to turn it back on.",
    }


class ThrottledLoginView(auth_views.LoginView):
    """Django's login page, with failed attempts counted per address and per username so a
    password cannot be guessed by brute force."""

    template_name = "frontend/login.html"
    authentication_form = SignInForm
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:  # type: ignore[no-untyped-def]
        username = request.POST.get("username", "").lower()[:150]
        keys = [f"login-fail:ip:{_client_ip(request)}", f"login-fail:user:{username}"]
        if any(cache.get(key, 0) >= LOGIN_ATTEMPTS for key in keys):
            form = self.get_form()
            form.add_error(None, "Too many failed sign-ins. Wait five minutes, then try again.")
            return self.render_to_response(self.get_context_data(form=form), status=429)
        response = super().post(request, *args, **kwargs)
        if response.status_code != 302:
            for key in keys:
                cache.add(key, 0, LOGIN_WINDOW_SECONDS)
                cache.incr(key)
        return response


class LogoutView(auth_views.LogoutView):
    template_name = "frontend/logged_out.html"


def role_required(*roles: str) -> Callable:
    """A page for some roles only; others get a plain 403 page that says why."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        @login_required
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.user.role not in roles:  # type: ignore[union-attr]
                return render(request, "frontend/forbidden.html", status=403)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def _page(request: HttpRequest, template: str, **context: Any) -> HttpResponse:
    return render(request, f"frontend/{template}", context)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return _page(request, "home.html", page="home")


@login_required
def account(request: HttpRequest) -> HttpResponse:
    return _page(request, "account.html", page="account")


def account_deleted(request: HttpRequest) -> HttpResponse:
    return _page(request, "account_deleted.html")


@login_required
def catalogue(request: HttpRequest) -> HttpResponse:
    return _page(request, "groups.html", page="groups")


def _visible_group(request: HttpRequest, group_id: int) -> Any:
    group = selectors.groups_visible(request.user).filter(pk=group_id).first()  # type: ignore[arg-type]
    if group is None:
        raise Http404("No such group.")
    return group


@login_required
def group_detail(request: HttpRequest, group_id: int) -> HttpResponse:
    group = _visible_group(request, group_id)
    return _page(request, "group.html", page="groups", group=group)


@login_required
def room(request: HttpRequest, group_id: int) -> HttpResponse:
    group = _visible_group(request, group_id)
    return _page(
        request,
        "room.html",
        page="room",
        group=group,
        opens_before_minutes=int(settings.ROOM_OPENS_BEFORE.total_seconds() // 60),
        edit_seconds=settings.MESSAGE_EDIT_SECONDS,
    )


@role_required(Role.FACILITATOR, Role.ADMIN)
def alerts(request: HttpRequest) -> HttpResponse:
    return _page(request, "alerts.html", page="alerts")


@role_required(Role.ADMIN)
def manage(request: HttpRequest) -> HttpResponse:
    return _page(request, "manage.html", page="manage")


@role_required(Role.ADMIN)
def group_edit(request: HttpRequest, group_id: int | None = None) -> HttpResponse:
    if group_id is not None:
        _visible_group(request, group_id)
    others = sorted(z for z in zoneinfo.available_timezones() if z not in COMMON_ZONES)
    return _page(
        request,
        "group_edit.html",
        page="manage",
        group_id=group_id or "",
        common_zones=COMMON_ZONES,
        other_zones=[z for z in others if "/" in z and not z.startswith(("Etc/", "SystemV/"))],
        held_categories=HeldCategory.choices,
        # A new group's form starts with the default agreement; an existing one loads its own.
        agreement="" if group_id is not None else DEFAULT_AGREEMENT,
    )


@role_required(Role.ADMIN)
def people(request: HttpRequest) -> HttpResponse:
    return _page(request, "people.html", page="people")


@role_required(Role.FACILITATOR, Role.ADMIN)
def audit(request: HttpRequest) -> HttpResponse:
    return _page(request, "audit.html", page="audit")


@login_required
def room_states(request: HttpRequest) -> JsonResponse:
    """Whether the rooms of my groups are open now (a facilitator may have opened one early),
    which no REST resource says; the home page uses it for its "Join room" buttons."""
    now = timezone.now()
    out = {}
    for group in selectors.groups_visible(request.user, mine=True):  # type: ignore[arg-type]
        state = room_state(group, now)
        out[str(group.pk)] = {
            "open": state.open,
            "locked": state.locked,
            "opens_at": state.opens_at.isoformat() if state.opens_at else None,
            "kind": group.kind,
        }
    return JsonResponse({"rooms": out, "now": now.isoformat()})

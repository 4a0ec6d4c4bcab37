import math

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.forms.utils import ErrorDict
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse

from server.accounts.api import LOGIN_THROTTLES
from server.accounts.models import User, WsTicket


def throttled_admin_login(request: HttpRequest) -> HttpResponse:
    """The Django admin's sign-in behind the token endpoint's throttles, per address and per
    username, counted in the same buckets: guesses spread over the two paths add up."""
    if request.method == "POST":
        throttles = [throttle() for throttle in LOGIN_THROTTLES]
        refused = [t for t in throttles if not t.allow_request(request, None)]  # type: ignore[arg-type]
        if refused:
            return _too_many_attempts(request, wait=max(t.wait() or 1 for t in refused))
    return admin.site.login(request)


class _RefusedLoginForm(AdminAuthenticationForm):
    """The admin's sign-in form with the throttle's message, and no password checked."""

    def full_clean(self) -> None:
        self._errors = ErrorDict()
        self.cleaned_data = {}
        self.add_error(None, "Too many sign-in attempts. Wait a minute, then try again.")


def _too_many_attempts(request: HttpRequest, *, wait: float) -> HttpResponse:
    form = _RefusedLoginForm(request, data={"username": request.POST.get("username", "")})
    context = {
        **admin.site.each_context(request),
        "title": "Log in",
        "app_path": request.get_full_path(),
        "form": form,
        "next": request.GET.get("next") or reverse("admin:index"),
    }
    response = TemplateResponse(request, "admin/login.html", context, status=429)
    response["Retry-After"] = str(math.ceil(wait))
    return response


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "email", "role", "on_call", "is_active", "last_login")
    list_filter = ("role", "on_call", "is_active", "is_staff")
    fieldsets = (*BaseUserAdmin.fieldsets, ("Haven", {"fields": ("role", "on_call")}))  # type: ignore[misc]
    search_fields = ("username", "email")


@admin.register(WsTicket)
class WsTicketAdmin(admin.ModelAdmin):
    list_display = ("user", "created_at", "expires_at", "used_at")
    readonly_fields = ("key", "user", "created_at", "expires_at", "used_at")

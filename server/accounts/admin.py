from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from server.accounts.models import User, WsTicket


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

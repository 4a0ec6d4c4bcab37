from django.contrib import admin

from moderation.models import (
    Alert,
    AuditEntry,
    HiddenAuthor,
    OutboundEmail,
    Report,
    SupportResource,
)


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "kind",
        "level",
        "category",
        "group",
        "status",
        "tier",
        "created_at",
        "acknowledged_at",
        "outcome",
    )
    list_filter = ("kind", "level", "category", "status", "tier", "outcome")
    readonly_fields = [f.name for f in Alert._meta.fields]
    date_hierarchy = "created_at"


@admin.register(SupportResource)
class SupportResourceAdmin(admin.ModelAdmin):
    list_display = ("name", "how", "categories", "immediate_danger", "order", "active")
    list_editable = ("order", "active")
    list_filter = ("active", "immediate_danger")


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ("created_at", "action", "actor", "group", "target_user", "alert")
    list_filter = ("action", "group")
    search_fields = ("action", "actor__username")
    date_hierarchy = "created_at"

    # Append-only: the admin can read the log but never change or delete it.
    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    list_display = ("id", "group", "reason", "status", "created_at", "resolved_at")
    list_filter = ("status", "reason", "group")


@admin.register(HiddenAuthor)
class HiddenAuthorAdmin(admin.ModelAdmin):
    list_display = ("user", "group", "author_key")


@admin.register(OutboundEmail)
class OutboundEmailAdmin(admin.ModelAdmin):
    list_display = ("to", "subject", "created_at", "sent_at", "attempts")
    list_filter = ("sent_at",)

from django.contrib import admin

from rooms.models import Attendance, Enrollment, GroupFacilitator, Message, Session, SupportGroup


class FacilitatorInline(admin.TabularInline):
    model = GroupFacilitator
    extra = 0


@admin.register(SupportGroup)
class SupportGroupAdmin(admin.ModelAdmin):
    list_display = ("name", "timezone", "capacity", "join_policy", "drop_in", "rrule", "deleted_at")
    list_filter = ("join_policy", "drop_in", "timezone")
    search_fields = ("name",)
    inlines = [FacilitatorInline]


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
    list_display = ("group", "starts_at", "ends_at", "status", "moved", "reminder_sent_at")
    list_filter = ("status", "moved", "group")
    date_hierarchy = "starts_at"


@admin.register(Enrollment)
class EnrollmentAdmin(admin.ModelAdmin):
    list_display = ("alias", "user", "group", "status", "waitlisted_at", "created_at")
    list_filter = ("status", "group")
    search_fields = ("alias", "user__username")


@admin.register(Attendance)
class AttendanceAdmin(admin.ModelAdmin):
    list_display = ("session", "user", "first_joined_at", "last_left_at")
    list_filter = ("session__group",)


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    # Bodies are members' private words: the list shows metadata only.
    list_display = ("id", "group", "author", "status", "level", "category", "created_at")
    list_filter = ("status", "level", "category", "group")
    readonly_fields = ("client_id", "created_at")

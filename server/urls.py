from typing import Any

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path, register_converter
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from moderation import api as moderation_api
from rooms import api as rooms_api
from rooms import messages_api
from server import health, metrics
from server.accounts import admin as accounts_admin
from server.accounts import api as accounts_api
from server.accounts import users_api
from server.api import IdConverter

register_converter(IdConverter, "id")


class Router(DefaultRouter):
    """Every object of the API has a numeric id: lookups use the `id` path converter, so a
    path with another id matches no route and is a JSON 404 (server.api.JsonNotFoundMiddleware).
    No `.json` suffix routes: `?format=json` (or an Accept header) chooses the format."""

    include_format_suffixes = False

    def __init__(self) -> None:
        super().__init__(trailing_slash=True, use_regex_path=False)

    def get_lookup_regex(self, viewset: Any, lookup_prefix: str = "") -> str:
        name = getattr(viewset, "lookup_url_kwarg", None) or getattr(viewset, "lookup_field", "pk")
        return f"<id:{lookup_prefix}{name}>"


router = Router()
router.register("groups", rooms_api.GroupViewSet, basename="group")
router.register("sessions", rooms_api.SessionViewSet, basename="session")
router.register("enrollments", rooms_api.EnrollmentViewSet, basename="enrollment")
router.register("alerts", moderation_api.AlertViewSet, basename="alert")
router.register("groups", moderation_api.GroupModerationViewSet, basename="group-moderation")
router.register("messages", moderation_api.MessageModerationViewSet, basename="message")
router.register("reports", moderation_api.ReportViewSet, basename="report")
router.register("audit", moderation_api.AuditViewSet, basename="audit")
router.register("users", users_api.UserViewSet, basename="user")

api_patterns: list[URLPattern | URLResolver] = [
    path("auth/token/", accounts_api.TokenView.as_view(), name="api-token"),
    path("ws-ticket/", accounts_api.WsTicketView.as_view(), name="api-ws-ticket"),
    path("me/", accounts_api.MeView.as_view(), name="api-me"),
    path("me/export/", users_api.MeExportView.as_view(), name="api-me-export"),
    path("me/delete/", users_api.MeDeleteView.as_view(), name="api-me-delete"),
    path("me/calendar/reset/", accounts_api.CalendarResetView.as_view(), name="api-calendar-reset"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("detector-feedback/", moderation_api.DetectorFeedbackView.as_view()),
    path(
        "detector/examples/",
        moderation_api.DetectorExamplesView.as_view(),
        name="api-detector-examples",
    ),
    path("resources/", moderation_api.ResourcesView.as_view(), name="api-resources"),
    path(
        "resources/countries/",
        moderation_api.ResourceCountriesView.as_view(),
        name="api-resource-countries",
    ),
    # The contract's path has no trailing slash; calendar apps do not all follow redirects.
    path(
        "groups/<id:pk>/calendar.ics",
        rooms_api.GroupViewSet.as_view({"get": "calendar"}),
        name="group-calendar",
    ),
    # Members' own messages (docs/api.md); before the router, which has no such routes.
    path("messages/<id:pk>/", messages_api.OwnMessageView.as_view(), name="own-message"),
    path(
        "messages/<id:pk>/reactions/",
        messages_api.ReactionView.as_view(),
        name="message-reactions",
    ),
    path(
        "groups/<id:pk>/checkin-request/",
        messages_api.CheckinRequestView.as_view(),
        name="checkin-request",
    ),
    path("", include(router.urls)),
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("api/", include(api_patterns)),
    path(
        "calendar/<str:token>.ics",
        rooms_api.MemberCalendarView.as_view(),
        name="member-calendar",
    ),
    # Before the admin's own login route: the same sign-in throttles as the API and login page.
    path("admin/login/", accounts_admin.throttled_admin_login, name="admin-login"),
    path("admin/", admin.site.urls),
    path("", include("frontend.urls")),
]

"""Shared API plumbing: one error shape for every endpoint."""

from typing import Any, cast

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiResponse, extend_schema_serializer
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler

from server.accounts.models import User


@extend_schema_serializer(component_name="Error")
class ErrorOut(serializers.Serializer):
    """The body of every error response. Validation errors add a list of messages per field
    (nested objects for nested input, such as `recurrence.rrule`)."""

    detail = serializers.CharField(help_text="What went wrong and what to do.")


# The documented error responses, shared by every view.
ERRORS = {
    400: OpenApiResponse(ErrorOut, description="Invalid input: `detail` plus messages per field."),
    401: OpenApiResponse(ErrorOut, description="Not signed in."),
    403: OpenApiResponse(ErrorOut, description="Signed in but not allowed (role or group)."),
    404: OpenApiResponse(ErrorOut, description="No such object, or not visible to you."),
}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Errors are `{"detail": "..."}` plus a list of messages per field where there are any.
    Service-layer (Django) validation errors and refusals map onto 400 and 403."""
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail=as_serializer_error(exc))
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(detail=str(exc) or None)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(data, list):
        response.data = {"detail": " ".join(str(d) for d in data)}
    elif isinstance(data, dict) and "detail" not in data:
        non_field = data.pop("non_field_errors", None)
        if non_field:
            detail = " ".join(str(m) for m in non_field)
        else:
            detail = "Some fields are not valid: " + ", ".join(sorted(data)) + "."
        response.data = {"detail": detail, **data}
    elif isinstance(data, dict) and isinstance(data.get("detail"), list):
        data["detail"] = " ".join(str(m) for m in data["detail"])
    return response


def drop_alias_routes(endpoints: list[tuple]) -> list[tuple]:
    """The schema lists each operation once: routes kept only as aliases (the calendar feed
    without its trailing slash, for calendar apps) are left out."""
    return [e for e in endpoints if not e[0].endswith("calendar.ics")]


def current_user(request: Any) -> User:
    """The signed-in user of a request that passed IsAuthenticated (typed for mypy)."""
    return cast(User, request.user)

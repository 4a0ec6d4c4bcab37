"""Shared API plumbing: one error shape for every endpoint, ids, query parameters and pages
within documented limits (docs/api.md, "Limits")."""

from collections.abc import Callable
from typing import Any, cast

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema_serializer
from rest_framework import exceptions, serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.throttling import SimpleRateThrottle
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


def errors(*statuses: int) -> dict[int, OpenApiResponse]:
    """The documented error responses an operation can give, for those that cannot give all of
    ERRORS (a 400 on an operation with nothing to validate is a promise the server never keeps;
    tests/api/test_schema_fuzz.py holds every documented status to a request that gets it)."""
    return {status: ERRORS[status] for status in statuses}


THROTTLED = OpenApiResponse(ErrorOut, description="Too many requests; wait `Retry-After` seconds.")


class PerUserThrottle(SimpleRateThrottle):
    """A rate per signed-in person for one kind of request (`scope`, with its rate in
    REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]); answered 429 with Retry-After over it."""

    def get_cache_key(self, request: Request, view: Any) -> str | None:  # type: ignore[override]
        if not request.user or not request.user.is_authenticated:
            return None  # refused as not signed in before this counts
        return f"throttle_{self.scope}_{request.user.pk}"


class WsTicketThrottle(PerUserThrottle):
    scope = "ws_ticket"


class EnrollmentThrottle(PerUserThrottle):
    """Joins and leaves together: each can move a waitlist and send e-mail."""

    scope = "enrollment"


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


def document_generic_errors(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Schema post-processing: the errors any operation can give by its shape are documented
    on every operation of that shape, so the schema never leaves out a status the server
    returns (the schema fuzzing in tests/api/test_schema_fuzz.py checks it): a body can be
    invalid (400) or of a type no parser reads (415), a query parameter invalid (400), an id
    unknown (404), and a secured operation called without credentials (401). And the reverse:
    an operation with no id in its path (nor a `format` parameter) never answers 404, so none
    is documented there; and `format`, whose unknown values DRF answers with 404, is not a
    query parameter that can make a 400."""
    error = {"$ref": "#/components/schemas/Error"}

    def add(responses: dict[str, Any], status: int, description: str) -> None:
        responses.setdefault(
            str(status),
            {"description": description, "content": {"application/json": {"schema": error}}},
        )

    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            parameters = operation.get("parameters", [])
            if "requestBody" in operation:
                add(responses, 400, "Invalid input: `detail` plus messages per field.")
                add(responses, 415, "A body of a type the operation does not read.")
            if any(p.get("in") == "query" and p.get("name") != "format" for p in parameters):
                add(responses, 400, "A query parameter outside its documented values.")
            if any(p.get("in") == "path" for p in parameters):
                add(responses, 404, "No such object, or not visible to you.")
            elif not any(p.get("name") == "format" for p in parameters):
                # Only an id in the path can name an object that is not there (or a `?format=`
                # with no renderer, where DRF answers 404).
                responses.pop("404", None)
            if operation.get("security") and {} not in operation["security"]:
                add(responses, 401, "Not signed in.")
    return result


def drop_alias_routes(endpoints: list[tuple]) -> list[tuple]:
    """The schema lists each operation once: routes kept only as aliases (the calendar feed
    without its trailing slash, for calendar apps) are left out."""
    return [e for e in endpoints if not e[0].endswith("calendar.ics")]


def current_user(request: Any) -> User:
    """The signed-in user of a request that passed IsAuthenticated (typed for mypy)."""
    return cast(User, request.user)


# Object ids in paths and query parameters: at most 18 digits, so every id fits the 64-bit
# integer columns of SQLite and PostgreSQL.
MAX_ID = 10**18 - 1
PAGE_MAX = 200
# An offset past every row gives an empty page; past this it is read as this.
OFFSET_MAX = 1_000_000


class IdConverter:
    """The `id` path converter: `/api/messages/abc/delete/` is a 404 that never reaches a
    view, and no id overflows the database's integers."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int | str) -> str:
        return str(value)


class IdField(serializers.IntegerField):
    """An object id in a query parameter or body."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)


def query_params(request: Request, serializer_class: type[serializers.Serializer]) -> dict:
    """A view's query parameters, validated: a value outside what the schema documents is a 400
    naming the parameter, never a silently empty filter or a 500. Unknown parameters are
    ignored. Document them with `extend_schema(parameters=[serializer_class])`."""
    data = serializer_class(data=request.query_params)
    data.is_valid(raise_exception=True)
    return dict(data.validated_data)


class Pagination(LimitOffsetPagination):
    """`limit` (default PAGE_SIZE) is capped at PAGE_MAX; a larger value gives PAGE_MAX rows."""

    max_limit = PAGE_MAX

    def get_offset(self, request: Request) -> int:
        return min(super().get_offset(request), OFFSET_MAX)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.limit_query_param:
                parameter["schema"]["minimum"] = 1
                parameter["schema"]["maximum"] = PAGE_MAX
                parameter["description"] = f"Number of results per page (at most {PAGE_MAX})."
            elif parameter["name"] == self.offset_query_param:
                parameter["schema"]["minimum"] = 0
        return parameters


class JsonNotFoundMiddleware:
    """A 404 under /api/ is JSON like every other API error, whether no route matched (an
    unknown path, an id that is not a number) or a view raised Http404, and with DEBUG on."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code == 404
            and request.path.startswith("/api/")
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            return JsonResponse(
                {"detail": "Nothing here: check the path and id against /api/docs/."}, status=404
            )
        return response

"""Scheduling REST API: groups, sessions, enrollment, calendars. Thin: parse, authorize, call one
service, reply."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from rooms import permissions, scheduling, selectors, services
from rooms.calendar import ICalendarRenderer, groups_to_ics
from rooms.models import (
    Enrollment,
    EnrollmentStatus,
    HeldCategory,
    Session,
    SupportGroup,
    validate_timezone,
)
from server.accounts.models import User
from server.api import (
    ERRORS,
    THROTTLED,
    EnrollmentThrottle,
    IdField,
    current_user,
    errors,
    query_params,
)


class RecurrenceField(serializers.Serializer):
    rrule = serializers.CharField(help_text="RFC 5545 RRULE, e.g. FREQ=WEEKLY;BYDAY=TU")
    dtstart = serializers.CharField(
        help_text="Local start in the group's timezone, without offset: 2026-12-01T19:00:00"
    )
    duration_minutes = serializers.IntegerField(min_value=15, max_value=600)

    def validate_rrule(self, value: str) -> str:
        # The grammar and limits; GroupIn.validate checks the rule against its start.
        try:
            scheduling.parse_rrule(value, dt.datetime(2026, 1, 1))
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict["rrule"]) from exc
        return value.strip()

    def validate_dtstart(self, value: str) -> dt.datetime:
        try:
            parsed = parse_datetime(value)
        except ValueError:
            parsed = None
        if parsed is None:
            raise serializers.ValidationError("Use ISO 8601 local time, e.g. 2026-12-01T19:00:00.")
        if parsed.tzinfo is not None:
            raise serializers.ValidationError(
                "Give the local wall-clock time without an offset; the group's timezone applies."
            )
        try:
            scheduling.check_dtstart(parsed)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict["dtstart"]) from exc
        return parsed


class GroupIn(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    description = serializers.CharField(required=False, allow_blank=True)
    timezone = serializers.CharField(required=False, max_length=64)
    capacity = serializers.IntegerField(required=False, min_value=1, max_value=500)
    join_policy = serializers.ChoiceField(choices=["open", "approval"], required=False)
    drop_in = serializers.BooleanField(required=False)
    facilitators = serializers.ListField(child=IdField(), required=False, max_length=50)
    lead_facilitator = IdField(required=False, allow_null=True)
    agreement_text = serializers.CharField(required=False, allow_blank=True)
    retention_days = serializers.IntegerField(required=False, min_value=1, max_value=3650)
    on_member_delete = serializers.ChoiceField(
        choices=["remove", "anonymize"],
        required=False,
        help_text="When a member deletes their account: remove their messages, or keep them "
        "as 'Former member'.",
    )
    held_categories = serializers.ListField(
        child=serializers.ChoiceField(choices=HeldCategory.values), required=False
    )
    slow_mode_seconds = serializers.IntegerField(required=False, min_value=0, max_value=3600)
    typing_indicators = serializers.BooleanField(required=False)
    recurrence = RecurrenceField(required=False, allow_null=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """The rule against its start, in the group's timezone: what this request sends over
        what the group (`context["group"]` on PATCH) already has."""
        group: SupportGroup | None = self.context.get("group")
        recurrence = attrs.get("recurrence")
        drop_in = attrs.get("drop_in", group.drop_in if group else False)
        if not recurrence or drop_in:
            return attrs
        rule = recurrence.get("rrule", group.rrule if group else "")
        dtstart = recurrence.get("dtstart")
        if dtstart is None and group is not None and group.start_date and group.start_time:
            dtstart = dt.datetime.combine(group.start_date, group.start_time)
        if not rule or dtstart is None:
            return attrs
        tz_name = attrs.get("timezone", group.timezone if group else "UTC")
        try:
            validate_timezone(tz_name)
        except DjangoValidationError:
            tz_name = "UTC"  # the service reports the timezone itself
        try:
            scheduling.recurrence_check(rule, dtstart, tz_name)
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"recurrence": exc.message_dict}) from exc
        return attrs

    def to_service_args(self) -> dict[str, Any]:
        data = dict(self.validated_data)
        facilitator_ids = data.pop("facilitators", None)
        lead_id = data.pop("lead_facilitator", None)
        if "recurrence" in data:
            rec = data.pop("recurrence")
            if rec is None:
                data.update(rrule="", start_date=None, start_time=None)
            else:
                # A PATCH may send only the parts of the recurrence that change.
                if "rrule" in rec:
                    data["rrule"] = rec["rrule"]
                if "dtstart" in rec:
                    data.update(start_date=rec["dtstart"].date(), start_time=rec["dtstart"].time())
                if "duration_minutes" in rec:
                    data["duration_minutes"] = rec["duration_minutes"]
        return {"fields": data, "facilitator_ids": facilitator_ids, "lead_id": lead_id}


class EnrollmentBrief(serializers.Serializer):
    id = serializers.IntegerField()
    alias = serializers.CharField()
    status = serializers.CharField()
    waitlist_position = serializers.IntegerField(allow_null=True)
    agreement_accepted = serializers.BooleanField()


class SessionOut(serializers.ModelSerializer):
    starts_at_local = serializers.SerializerMethodField()

    class Meta:
        model = Session
        fields = ["id", "group", "starts_at", "ends_at", "status", "moved", "starts_at_local"]

    def get_starts_at_local(self, obj: Session) -> str:
        import zoneinfo  # noqa: PLC0415

        return obj.starts_at.astimezone(zoneinfo.ZoneInfo(obj.group.timezone)).isoformat()


def enrollment_brief(enrollment: Enrollment, group: SupportGroup) -> dict[str, Any]:
    return {
        "id": enrollment.pk,
        "alias": enrollment.alias,
        "status": enrollment.status,
        "waitlist_position": selectors.waitlist_position(enrollment),
        "agreement_accepted": enrollment.agreement_version == group.agreement_version,
    }


class GroupOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    timezone = serializers.CharField()
    capacity = serializers.IntegerField()
    join_policy = serializers.CharField()
    drop_in = serializers.BooleanField()
    facilitators = serializers.ListField(child=serializers.IntegerField())
    facilitator_names = serializers.ListField(
        child=serializers.CharField(), help_text="usernames, the lead first"
    )
    lead_facilitator = serializers.IntegerField(allow_null=True)
    agreement_text = serializers.CharField()
    agreement_version = serializers.IntegerField()
    retention_days = serializers.IntegerField()
    on_member_delete = serializers.CharField()
    held_categories = serializers.ListField(child=serializers.CharField())
    slow_mode_seconds = serializers.IntegerField()
    typing_indicators = serializers.BooleanField()
    recurrence = serializers.DictField(allow_null=True)
    seats_taken = serializers.IntegerField()
    waitlist_length = serializers.IntegerField()
    next_session = SessionOut(allow_null=True)
    my_enrollment = EnrollmentBrief(allow_null=True)

    def to_representation(self, group: SupportGroup) -> dict[str, Any]:
        links = list(group.groupfacilitator_set.all())
        mine = getattr(group, "my_enrollments", None)
        recurrence = None
        if group.rrule and group.start_date and group.start_time:
            recurrence = {
                "rrule": group.rrule,
                "dtstart": dt.datetime.combine(group.start_date, group.start_time).isoformat(),
                "duration_minutes": group.duration_minutes,
            }
        upcoming = selectors.next_session(group, timezone.now())
        return {
            "id": group.pk,
            "name": group.name,
            "description": group.description,
            "timezone": group.timezone,
            "capacity": group.capacity,
            "join_policy": group.join_policy,
            "drop_in": group.drop_in,
            "facilitators": [link.user_id for link in links],
            "facilitator_names": [
                link.user.username for link in sorted(links, key=lambda link: not link.is_lead)
            ],
            "lead_facilitator": next((link.user_id for link in links if link.is_lead), None),
            "agreement_text": group.agreement_text,
            "agreement_version": group.agreement_version,
            "retention_days": group.retention_days,
            "on_member_delete": group.on_member_delete,
            "held_categories": list(group.held_categories),
            "slow_mode_seconds": group.slow_mode_seconds,
            "typing_indicators": group.typing_indicators,
            "recurrence": recurrence,
            "seats_taken": getattr(group, "seats_taken", 0),
            "waitlist_length": getattr(group, "waitlist_length", 0),
            "next_session": SessionOut(upcoming).data if upcoming else None,
            "my_enrollment": enrollment_brief(mine[0], group) if mine else None,
        }


class JoinIn(serializers.Serializer):
    alias = serializers.CharField(max_length=40)
    agreement_accepted = serializers.BooleanField()


class WaitlistMoveIn(serializers.Serializer):
    position = serializers.IntegerField(min_value=1, max_value=100000, help_text="1 is next")


class EnrollmentOut(serializers.Serializer):
    id = serializers.IntegerField()
    group = serializers.IntegerField()
    user = serializers.IntegerField()
    username = serializers.CharField()
    alias = serializers.CharField()
    status = serializers.CharField()
    waitlist_position = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()

    def to_representation(self, e: Enrollment) -> dict[str, Any]:
        return {
            "id": e.pk,
            "group": e.group_id,
            "user": e.user_id,
            "username": e.user.username,
            "alias": e.alias,
            "status": e.status,
            "waitlist_position": selectors.waitlist_position(e),
            "created_at": e.created_at.isoformat(),
        }


class SessionMoveIn(serializers.Serializer):
    starts_at = serializers.DateTimeField(
        required=False, help_text="New start; the session keeps its length unless ends_at comes."
    )
    ends_at = serializers.DateTimeField(required=False, help_text="New end (at most 10 hours).")


def _parse_time_param(request: Request, name: str) -> dt.datetime | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        value = parse_datetime(raw)
        if value is None:
            value = dt.datetime.combine(dt.date.fromisoformat(raw), dt.time())
    except ValueError:
        raise ValidationError({name: ["Use an ISO 8601 date or date-time."]}) from None
    if timezone.is_naive(value):
        value = timezone.make_aware(value, dt.UTC)
    if not scheduling.in_range(value):
        raise ValidationError({name: [scheduling.RANGE_MESSAGE]})
    return value


class GroupQuery(serializers.Serializer):
    facilitator = IdField(required=False, help_text="Groups this user facilitates")
    mine = serializers.BooleanField(
        required=False, help_text="Groups I am enrolled in (or waiting for) or facilitate"
    )


class EnrollmentQuery(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=EnrollmentStatus.values, required=False, allow_blank=True
    )


class SessionQuery(serializers.Serializer):
    group = IdField(required=False)
    facilitator = IdField(required=False)
    upcoming = serializers.BooleanField(
        required=False, help_text="Only sessions that have not ended"
    )


@extend_schema_view(
    list=extend_schema(
        summary="List support groups (the catalogue)",
        parameters=[GroupQuery],
        responses={200: GroupOut(many=True), 400: ERRORS[400], 401: ERRORS[401]},
    ),
    retrieve=extend_schema(
        summary="One support group", responses={200: GroupOut, 401: ERRORS[401], 404: ERRORS[404]}
    ),
    create=extend_schema(
        summary="Create a group (admins)", request=GroupIn, responses={201: GroupOut, **ERRORS}
    ),
    partial_update=extend_schema(
        summary="Edit a group (admins, lead facilitator)",
        request=GroupIn,
        responses={200: GroupOut, **ERRORS},
    ),
    # Nothing to validate: an admin's delete of a group that exists always succeeds.
    destroy=extend_schema(
        summary="Delete (archive) a group (admins)",
        responses={204: None, **errors(401, 403, 404)},
    ),
)
class GroupViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = GroupOut
    filterset_fields = ["join_policy", "drop_in"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[SupportGroup]:
        params = query_params(self.request, GroupQuery) if self.action == "list" else {}
        qs = selectors.groups_visible(
            current_user(self.request),
            facilitator_id=params.get("facilitator"),
            mine=params.get("mine", False),
        )
        return qs.order_by("name", "id")

    def _fresh(self, pk: int) -> dict[str, Any]:
        return GroupOut(selectors.groups_visible(current_user(self.request)).get(pk=pk)).data

    def create(self, request: Request) -> Response:
        if not permissions.is_admin(current_user(request)):
            raise PermissionDenied("Only admins create groups.")
        data = GroupIn(data=request.data)
        data.is_valid(raise_exception=True)
        group = services.group_create(**data.to_service_args(), by=current_user(request))
        return Response(self._fresh(group.pk), status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        group = self.get_object()
        if not permissions.can_manage(current_user(request), group):
            raise PermissionDenied("Only admins and the group's lead facilitator edit a group.")
        data = GroupIn(data=request.data, partial=True, context={"group": group})
        data.is_valid(raise_exception=True)
        args = data.to_service_args()
        if args["facilitator_ids"] is None and args["lead_id"] is not None:
            raise ValidationError({"lead_facilitator": "Send facilitators with the lead."})
        services.group_update(group=group, **args, by=current_user(request))
        return Response(self._fresh(group.pk))

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        group = self.get_object()
        if not permissions.is_admin(current_user(request)):
            raise PermissionDenied("Only admins delete groups.")
        services.group_delete(group=group, by=current_user(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Sessions of a group between two times (UTC ISO 8601)",
        parameters=[
            OpenApiParameter(
                "from",
                str,
                description="Start, a date or date-time from 2000 to 2100 (default: now)",
            ),
            OpenApiParameter(
                "to", str, description="End, a date or date-time from 2000 to 2100 (default: open)"
            ),
        ],
        # Any signed-in person reads the sessions of a group they can see; one they cannot is 404.
        responses={200: SessionOut(many=True), **errors(400, 401, 404)},
    )
    @action(detail=True, methods=["get"])
    def sessions(self, request: Request, pk: str | None = None) -> Response:
        group = self.get_object()
        start = _parse_time_param(request, "from") or timezone.now()
        end = _parse_time_param(request, "to")
        # Sessions are rows made some weeks ahead; a range further out gets its rows now, up to
        # the page asked for (an open range) or the scheduler's bound.
        paginator = self.paginator
        assert isinstance(paginator, LimitOffsetPagination)
        wanted = paginator.get_offset(request) + (paginator.get_limit(request) or 0)
        scheduling.sessions_ensure(group=group, since=start, until=end, count=wanted)
        qs = selectors.sessions_between([group.pk], start, end)
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(SessionOut(page, many=True).data)

    @extend_schema(
        summary="Join, request to join, or join the waitlist",
        request=JoinIn,
        responses={200: EnrollmentBrief, 201: EnrollmentBrief, **ERRORS, 429: THROTTLED},
    )
    @action(detail=True, methods=["post"], throttle_classes=[EnrollmentThrottle])
    def join(self, request: Request, pk: str | None = None) -> Response:
        group = self.get_object()
        data = JoinIn(data=request.data)
        data.is_valid(raise_exception=True)
        existed = Enrollment.objects.filter(
            group=group, user=current_user(request), status__in=services.CURRENT
        ).exists()
        enrollment = services.enrollment_join(
            group=group, user=current_user(request), **data.validated_data
        )
        group.refresh_from_db()
        code = status.HTTP_200_OK if existed else status.HTTP_201_CREATED
        return Response(enrollment_brief(enrollment, group), status=code)

    @extend_schema(
        summary="Leave the group (frees the seat)",
        request=None,
        # Anyone may leave a group they are in; someone who is not gets the 400 that says so.
        responses={200: EnrollmentBrief, **errors(400, 401, 404), 429: THROTTLED},
    )
    @action(detail=True, methods=["post"], throttle_classes=[EnrollmentThrottle])
    def leave(self, request: Request, pk: str | None = None) -> Response:
        group = self.get_object()
        enrollment = Enrollment.objects.filter(
            group=group, user=current_user(request), status__in=services.CURRENT
        ).first()
        if enrollment is None:
            raise ValidationError({"detail": "You are not in this group."})
        services.enrollment_end(enrollment=enrollment)
        return Response(enrollment_brief(enrollment, group))

    @extend_schema(
        summary="Enrollments of a group (facilitators and admins)",
        parameters=[EnrollmentQuery],
        responses={200: EnrollmentOut(many=True), **ERRORS},
    )
    @action(detail=True, methods=["get"])
    def enrollments(self, request: Request, pk: str | None = None) -> Response:
        group = self.get_object()
        if not permissions.can_moderate(current_user(request), group):
            raise PermissionDenied("Only the group's facilitators and admins see its members.")
        qs = Enrollment.objects.filter(group=group).select_related("user")
        wanted = query_params(request, EnrollmentQuery).get("status")
        if wanted:
            qs = qs.filter(status=wanted)
        page = self.paginate_queryset(qs.order_by("status", "waitlisted_at", "id"))
        return self.get_paginated_response(EnrollmentOut(page, many=True).data)

    @extend_schema(
        summary="The group's sessions as iCalendar",
        responses={(200, "text/calendar"): bytes, 401: ERRORS[401], 404: ERRORS[404]},
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="calendar.ics",
        renderer_classes=[JSONRenderer, ICalendarRenderer],
    )
    def calendar(self, request: Request, pk: str | None = None) -> HttpResponse:
        group = self.get_object()
        return HttpResponse(
            groups_to_ics(
                [group],
                name=group.name,
                now=timezone.now(),
                discreet=getattr(request.user, "discreet", False),
            ),
            content_type="text/calendar",
        )


class EnrollmentViewSet(viewsets.GenericViewSet):
    queryset = Enrollment.objects.select_related("group", "user")
    serializer_class = EnrollmentOut

    def _moderated(self, pk: str | None) -> Enrollment:
        """The enrollment a decision names. Members never decide: 403 whatever the id. For
        staff, one in a group they do not moderate answers exactly as an id that names none
        (404, the same body): who asked to join a group is not told to other groups."""
        user = current_user(self.request)
        if not permissions.has_staff_role(user):
            raise PermissionDenied("Only facilitators and admins decide on requests.")
        enrollment = self.get_queryset().filter(pk=pk or 0, group__deleted_at__isnull=True).first()
        if enrollment is None or not permissions.can_moderate(user, enrollment.group):
            raise NotFound("There is no such request in your groups.")
        return enrollment

    @extend_schema(
        summary="Approve a pending request", request=None, responses={200: EnrollmentOut, **ERRORS}
    )
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str | None = None) -> Response:
        enrollment = services.enrollment_approve(
            enrollment=self._moderated(pk), by=current_user(request)
        )
        return Response(EnrollmentOut(enrollment).data)

    @extend_schema(
        summary="Seat a waitlisted or pending member now (even when the group is full)",
        request=None,
        responses={200: EnrollmentOut, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def seat(self, request: Request, pk: str | None = None) -> Response:
        enrollment = services.enrollment_seat(
            enrollment=self._moderated(pk), by=current_user(request)
        )
        return Response(EnrollmentOut(enrollment).data)

    @extend_schema(
        summary="Move a waitlisted member to another place on the waitlist (1 is next)",
        request=WaitlistMoveIn,
        responses={200: EnrollmentOut, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def move(self, request: Request, pk: str | None = None) -> Response:
        enrollment = self._moderated(pk)  # who may, before what they sent
        data = WaitlistMoveIn(data=request.data)
        data.is_valid(raise_exception=True)
        enrollment = services.enrollment_waitlist_move(
            enrollment=enrollment,
            position=data.validated_data["position"],
            by=current_user(request),
        )
        return Response(EnrollmentOut(enrollment).data)

    @extend_schema(
        summary="Decline a pending or waitlisted request",
        request=None,
        responses={200: EnrollmentOut, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def decline(self, request: Request, pk: str | None = None) -> Response:
        enrollment = services.enrollment_decline(
            enrollment=self._moderated(pk), by=current_user(request)
        )
        return Response(EnrollmentOut(enrollment).data)


@extend_schema_view(
    list=extend_schema(
        summary="Sessions across groups",
        parameters=[SessionQuery],
        responses={200: SessionOut(many=True), 400: ERRORS[400], 401: ERRORS[401]},
    ),
    retrieve=extend_schema(
        summary="One session", responses={200: SessionOut, 401: ERRORS[401], 404: ERRORS[404]}
    ),
)
class SessionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = SessionOut
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self) -> QuerySet[Session]:
        qs = Session.objects.filter(group__deleted_at__isnull=True).select_related("group")
        params = query_params(self.request, SessionQuery) if self.action == "list" else {}
        if params.get("group"):
            qs = qs.filter(group_id=params["group"])
        if params.get("facilitator"):
            qs = qs.filter(group__facilitators__id=params["facilitator"])
        if params.get("upcoming"):
            qs = qs.filter(ends_at__gt=timezone.now())
        return qs.order_by("starts_at", "id")

    def _managed(self, pk: str | None) -> Session:
        session = get_object_or_404(self.get_queryset(), pk=pk)
        if not permissions.can_manage(current_user(self.request), session.group):
            raise PermissionDenied("Only admins and the group's lead facilitator change sessions.")
        return session

    @extend_schema(
        summary="Move one session", request=SessionMoveIn, responses={200: SessionOut, **ERRORS}
    )
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        session = self._managed(pk)
        data = SessionMoveIn(data=request.data)
        data.is_valid(raise_exception=True)
        session = services.session_move(
            session=session, **data.validated_data, by=current_user(request)
        )
        return Response(SessionOut(session).data)

    @extend_schema(
        summary="Cancel one session", request=None, responses={200: SessionOut, **ERRORS}
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        session = services.session_cancel(session=self._managed(pk), by=current_user(request))
        return Response(SessionOut(session).data)


class MemberCalendarView(APIView):
    """The per-member feed. Calendar apps cannot send headers, so the secret is in the URL;
    members can reset it from their account."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    # Calendar apps ask for text/calendar; errors still go out as JSON to other clients.
    renderer_classes = [JSONRenderer, ICalendarRenderer]

    @extend_schema(
        summary="A member's calendar feed at their secret URL",
        responses={(200, "text/calendar"): bytes, 404: ERRORS[404]},
    )
    def get(self, request: Request, token: str) -> HttpResponse:
        user = User.objects.filter(calendar_token=token, is_active=True).first()
        if user is None or len(token) < 16:
            raise NotFound(
                "This calendar link is not valid; copy the current one from your account."
            )
        groups = SupportGroup.objects.filter(
            pk__in=selectors.calendar_groups_for(user), deleted_at__isnull=True
        ).order_by("name", "id")
        return HttpResponse(
            groups_to_ics(
                groups, name="My support groups", now=timezone.now(), discreet=user.discreet
            ),
            content_type="text/calendar",
        )

"""REST for alerts, facilitator tools, reports, hiding, the audit log and support resources.
The same actions as the room socket's frames; views parse, authorize (in the action), reply."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from moderation import actions, resources, services
from moderation.models import (
    Alert,
    AlertKind,
    AlertStatus,
    AuditEntry,
    CrisisCategory,
    CrisisLevel,
    ExampleSource,
    Outcome,
    Report,
    ReportStatus,
)
from rooms import selectors
from rooms.display import authors_for
from rooms.models import Message, MessageStatus, RoomOverride, SupportGroup
from rooms.permissions import active_enrollment, can_moderate, has_staff_role, is_admin
from server.accounts.models import Role
from server.api import ERRORS, IdField, current_user, errors, query_params


class ActionOut(serializers.Serializer):
    action = serializers.CharField()
    id = serializers.IntegerField(required=False)
    group_id = serializers.IntegerField(required=False)


class ContactOut(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["call", "text"])
    # The output field is called "label"; DRF's Field also has a `label` attribute.
    label = serializers.CharField(  # type: ignore[assignment]
        help_text="The link's visible text, e.g. 'Text HOME to 741741'."
    )
    href = serializers.CharField(help_text="A tel: or sms: address.")


class ResourceOut(serializers.Serializer):
    name = serializers.CharField()
    how = serializers.CharField()
    url = serializers.CharField()
    country = serializers.CharField(help_text="ISO 3166 code; empty for the international lines.")
    categories = serializers.ListField(child=serializers.CharField())
    immediate_danger = serializers.BooleanField()
    contacts = ContactOut(many=True)


class ResourceQuery(serializers.Serializer):
    country = serializers.CharField(required=False, allow_blank=True, max_length=8)


class CountriesOut(serializers.Serializer):
    countries = serializers.ListField(child=serializers.CharField())
    country = serializers.CharField(help_text="The country this visitor sees by default.")


class FeedbackOut(serializers.Serializer):
    rule_id = serializers.CharField()
    count = serializers.IntegerField()
    levels = serializers.DictField(child=serializers.IntegerField())


class HiddenOut(serializers.Serializer):
    hidden = serializers.ListField(child=serializers.CharField())


class AlertOut(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    level = serializers.CharField()
    category = serializers.CharField()
    message_id = serializers.IntegerField(allow_null=True)
    message_text = serializers.CharField()
    group_id = serializers.IntegerField()
    group_name = serializers.CharField()
    member = serializers.DictField(allow_null=True)
    explanation = serializers.CharField()
    status = serializers.CharField()
    tier = serializers.IntegerField()
    created_at = serializers.CharField()
    ack_deadline = serializers.CharField(allow_null=True)
    acknowledged_at = serializers.CharField(allow_null=True)
    acknowledged_by = serializers.CharField(allow_null=True, help_text="username")
    resolved_at = serializers.CharField(allow_null=True)
    resolved_by = serializers.CharField(allow_null=True, help_text="username")
    outcome = serializers.CharField()
    note = serializers.CharField(help_text="the resolution note, for the team")
    checkin_group_id = serializers.IntegerField(
        allow_null=True, help_text="For a member's request to talk privately: its check-in room."
    )

    def to_representation(self, instance: Alert) -> dict[str, Any]:
        return services.alert_dict(instance)


class ResolveIn(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=Outcome.choices)
    note = serializers.CharField(required=False, allow_blank=True, max_length=4000)


class AlertQuery(serializers.Serializer):
    status = serializers.ChoiceField(choices=AlertStatus.values, required=False, allow_blank=True)
    level = serializers.ChoiceField(
        choices=list(actions.FLAG_LEVELS), required=False, allow_blank=True
    )
    kind = serializers.ChoiceField(choices=AlertKind.values, required=False, allow_blank=True)
    group = IdField(required=False)


class AlertViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = AlertOut
    queryset = Alert.objects.none()  # for the schema; get_queryset decides what you see

    def get_queryset(self) -> QuerySet[Alert]:
        if getattr(self, "swagger_fake_view", False):
            return Alert.objects.none()
        qs = services.alerts_visible(current_user(self.request))
        if self.action != "list":
            return qs
        params = query_params(self.request, AlertQuery)
        for name in ("status", "level", "kind"):
            if params.get(name):
                qs = qs.filter(**{name: params[name]})
        if params.get("group"):
            qs = qs.filter(group_id=params["group"])
        return qs

    @extend_schema(
        parameters=[AlertQuery],
        summary="Alerts you may handle (facilitators: your groups, plus on-call escalations)",
        responses={200: AlertOut(many=True), 400: ERRORS[400], 401: ERRORS[401]},
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # One query for the members' aliases of the whole page, not one per alert.
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(services.alert_dicts(list(page or [])))

    def _to_handle(self) -> Alert:
        """The alert an action names. Members never handle alerts: they get 403 whatever the id,
        so the answer tells nothing about which alerts exist; staff get the alert if they may
        see it, and the same 404 for one they may not as for one that does not exist."""
        if not has_staff_role(current_user(self.request)):
            raise PermissionDenied("Only facilitators and admins handle alerts.")
        return self.get_object()

    @extend_schema(
        summary="Acknowledge an alert (stops escalation)",
        request=None,
        # Nothing to validate: acknowledging again returns the alert as it is.
        responses={200: AlertOut, **errors(401, 403, 404)},
    )
    @action(detail=True, methods=["post"])
    def acknowledge(self, request: Request, pk: str | None = None) -> Response:
        alert = services.alert_acknowledge(alert=self._to_handle(), by=current_user(request))
        return Response(AlertOut(alert).data)

    @extend_schema(
        summary="Resolve an alert with an outcome and a note",
        request=ResolveIn,
        responses={200: AlertOut, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str | None = None) -> Response:
        alert = self._to_handle()
        data = ResolveIn(data=request.data)
        data.is_valid(raise_exception=True)
        alert = services.alert_resolve(alert=alert, by=current_user(request), **data.validated_data)
        return Response(AlertOut(alert).data)

    @extend_schema(
        summary="Open a private check-in room with the alert's member",
        request=None,
        responses={201: ActionOut, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def checkin(self, request: Request, pk: str | None = None) -> Response:
        alert = self._to_handle()
        # No member: an alert about the room, or one whose member deleted their account.
        enrollment = (
            alert.group.enrollments.filter(user_id=alert.member_id).first()
            if alert.member_id is not None
            else None
        )
        if enrollment is None:
            return Response({"detail": "This alert has no member to check in with."}, status=400)
        room = actions.checkin_open(
            by=current_user(request), group=alert.group, member=enrollment.pk, alert=alert
        )
        return Response(
            {"action": "checkin.open", "group_id": room.pk}, status=status.HTTP_201_CREATED
        )


class DetectorFeedbackView(APIView):
    @extend_schema(
        summary="Rules behind alerts judged 'not a crisis' (admins)",
        responses={200: FeedbackOut(many=True), **errors(401, 403)},
    )
    def get(self, request: Request) -> Response:
        if not is_admin(current_user(request)):
            raise PermissionDenied("Only admins see the detector feedback report.")
        return Response(services.detector_feedback())


class DetectorExampleOut(serializers.Serializer):
    id = serializers.CharField(help_text="'fb-' and the example's number.")
    text = serializers.CharField(help_text="The message's words when it was judged.")
    # Plain strings in the schema: enums named "level" and "category" exist with other values.
    level = serializers.CharField(help_text=", ".join(CrisisLevel.values))
    category = serializers.CharField(help_text=", ".join(CrisisCategory.values))
    # A field named like Field.source: DRF takes declared fields off the class, mypy cannot know.
    source = serializers.ChoiceField(choices=ExampleSource.values)  # type: ignore[assignment]
    rule_ids = serializers.ListField(child=serializers.CharField())
    model_score = serializers.DictField(allow_null=True)
    detector_level = serializers.CharField(help_text="What the detector said of the message.")


class JSONLinesRenderer(BaseRenderer):
    """One JSON object per line: the file the detector's training reads with --include."""

    media_type = "application/x-ndjson"
    format = "jsonl"
    charset = "utf-8"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        rows = data if isinstance(data, list) else [data]
        return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()


class JSONLinesResponse(Response):
    """An export with no examples is an empty file that still has its type (DRF drops the
    Content-Type of an empty body)."""

    @property
    def rendered_content(self) -> Any:
        content = super().rendered_content
        if not content:
            self["Content-Type"] = f"{self.accepted_renderer.media_type}; charset=utf-8"
        return content


class DetectorExamplesView(APIView):
    renderer_classes = [JSONLinesRenderer, JSONRenderer]

    @extend_schema(
        summary="Facilitators' judgements as labelled examples for the detector (admins)",
        description="JSON lines by default; `Accept: application/json` gives a JSON list.",
        responses={
            (200, "application/x-ndjson"): DetectorExampleOut(many=True),
            (200, "application/json"): DetectorExampleOut(many=True),
            (401, "application/json"): ERRORS[401],
            (403, "application/json"): ERRORS[403],
            # DRF's answer to a `?format=` it has no renderer for.
            (404, "application/json"): ERRORS[404],
        },
    )
    def get(self, request: Request) -> Response:
        if not is_admin(current_user(request)):
            raise PermissionDenied("Only admins export the detector examples.")
        return JSONLinesResponse(list(services.detector_examples_export()))

    def handle_exception(self, exc: Exception) -> Response:
        # Errors keep the API's one shape, JSON {"detail": ...}, whatever the client accepts.
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return super().handle_exception(exc)


class ResourcesView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        summary="Crisis resources shown by 'Get help now'",
        description=(
            "The lines of one country (`country`, an ISO 3166 code; by default the one the "
            "signed-in member chose, else the deployment's default), then the international ones."
        ),
        parameters=[ResourceQuery],
        responses={200: ResourceOut(many=True)},
    )
    def get(self, request: Request) -> Response:
        params = query_params(request, ResourceQuery)
        if "country" in params:
            country = resources.normalize_country(params["country"])
        else:
            country = resources.country_for(request.user)
        return Response(services.all_resources(country))


class ResourceCountriesView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        summary="The countries that have crisis lines of their own",
        responses={200: CountriesOut},
    )
    def get(self, request: Request) -> Response:
        return Response(
            {"countries": resources.countries(), "country": resources.country_for(request.user)}
        )


# ---------------------------------------------------------------- facilitator tools


class MemberIn(serializers.Serializer):
    member = serializers.CharField(help_text="The member's room id ('m12') or enrollment id.")
    reason = serializers.CharField(required=False, allow_blank=True, max_length=200)


class MuteIn(MemberIn):
    minutes = serializers.IntegerField(min_value=1, max_value=actions.MAX_MUTE_MINUTES)
    reason = serializers.CharField(max_length=200, help_text="The member sees it.")


class BanIn(MemberIn):
    reason = serializers.CharField(max_length=200, help_text="Kept in the audit log.")


class RoomIn(serializers.Serializer):
    slow_mode_seconds = serializers.IntegerField(required=False, min_value=0, max_value=3600)
    locked = serializers.BooleanField(required=False)
    open = serializers.ChoiceField(choices=RoomOverride.values, required=False)


class ReasonIn(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class ReportIn(serializers.Serializer):
    reason = serializers.CharField(max_length=40)
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class FlagIn(serializers.Serializer):
    level = serializers.ChoiceField(choices=list(actions.FLAG_LEVELS))
    category = serializers.ChoiceField(choices=list(actions.FLAG_CATEGORIES))
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class HideIn(serializers.Serializer):
    author = serializers.CharField(max_length=24)
    hidden = serializers.BooleanField(default=True)


class HeldOut(serializers.Serializer):
    id = serializers.IntegerField()
    group_id = serializers.IntegerField()
    author = serializers.DictField()
    text = serializers.CharField()
    reason = serializers.CharField()
    created_at = serializers.DateTimeField()


NO_SUCH_GROUP = "There is no such group: check its id."
NO_SUCH_MESSAGE = "There is no such message in your groups."


def _group(request: Request, pk: str | None, *, tool: bool = True) -> SupportGroup:
    """The group a room tool names (`tool`: one of the moderation tools, not hiding). Members
    never use those: 403 whatever the id. Then a group the caller may not know exists (someone
    else's private check-in) answers exactly as an id that names no group; a group of the
    catalogue they do not moderate is refused by the action (403)."""
    user = current_user(request)
    if tool and not has_staff_role(user):
        raise PermissionDenied("Only facilitators and admins use the room's tools.")
    groups = (
        SupportGroup.objects.filter(deleted_at__isnull=True)
        if is_admin(user)
        else selectors.groups_seen(user)
    )
    group = groups.filter(pk=pk or 0).first()
    if group is None:
        raise NotFound(NO_SUCH_GROUP)
    return group


@extend_schema(parameters=[OpenApiParameter("id", int, OpenApiParameter.PATH)])
class GroupModerationViewSet(viewsets.ViewSet):
    """/api/groups/{id}/<tool>/: the room's tools for its facilitators and admins."""

    def _done(self, kind: str, **extra: Any) -> Response:
        return Response({"action": kind, **extra})

    @extend_schema(
        summary="Mute a member for some minutes, with a reason they see",
        request=MuteIn,
        responses={200: ActionOut, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def mute(self, request: Request, pk: str | None = None) -> Response:
        group = _group(request, pk)
        data = MuteIn(data=request.data)
        data.is_valid(raise_exception=True)
        actions.member_mute(by=current_user(request), group=group, **data.validated_data)
        return self._done("mute")

    @extend_schema(summary="Lift a mute", request=MemberIn, responses={200: ActionOut, **ERRORS})
    @action(detail=True, methods=["post"])
    def unmute(self, request: Request, pk: str | None = None) -> Response:
        group = _group(request, pk)
        data = MemberIn(data=request.data)
        data.is_valid(raise_exception=True)
        actions.member_unmute(
            by=current_user(request), group=group, member=data.validated_data["member"]
        )
        return self._done("unmute")

    @extend_schema(
        summary="Remove a member from the current session",
        request=MemberIn,
        responses={200: ActionOut, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def remove(self, request: Request, pk: str | None = None) -> Response:
        group = _group(request, pk)
        data = MemberIn(data=request.data)
        data.is_valid(raise_exception=True)
        actions.member_remove(by=current_user(request), group=group, **data.validated_data)
        return self._done("remove")

    @extend_schema(
        summary="Ban a member from the group",
        request=BanIn,
        responses={200: ActionOut, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def ban(self, request: Request, pk: str | None = None) -> Response:
        group = _group(request, pk)
        data = BanIn(data=request.data)
        data.is_valid(raise_exception=True)
        actions.member_ban(
            by=current_user(request),
            group=group,
            member=data.validated_data["member"],
            reason=data.validated_data.get("reason", ""),
        )
        return self._done("ban")

    @extend_schema(
        summary="Slow mode, lock or unlock, open or close the room",
        request=RoomIn,
        responses={200: ActionOut, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def room(self, request: Request, pk: str | None = None) -> Response:
        group = _group(request, pk)
        data = RoomIn(data=request.data)
        data.is_valid(raise_exception=True)
        actions.room_update(by=current_user(request), group=group, **data.validated_data)
        return self._done("room.update")

    @extend_schema(
        summary="Open a private check-in with a member",
        request=MemberIn,
        responses={201: ActionOut, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def checkin(self, request: Request, pk: str | None = None) -> Response:
        group = _group(request, pk)
        data = MemberIn(data=request.data)
        data.is_valid(raise_exception=True)
        room = actions.checkin_open(
            by=current_user(request), group=group, member=data.validated_data["member"]
        )
        return Response({"action": "checkin.open", "group_id": room.pk}, status=201)

    @extend_schema(
        summary="Messages held for review",
        responses={200: HeldOut(many=True), **errors(401, 403, 404)},
    )
    @action(detail=True, methods=["get"])
    def held(self, request: Request, pk: str | None = None) -> Response:
        group = _group(request, pk)
        if not can_moderate(current_user(request), group):
            raise PermissionDenied("Only this group's facilitators and admins review messages.")
        held = list(Message.objects.filter(group=group, status=MessageStatus.HELD).order_by("id"))
        authors = authors_for(group.pk, {m.author_id for m in held})
        return Response(
            [
                {
                    "id": m.pk,
                    "group_id": m.group_id,
                    "author": authors.get(m.author_id, {}),
                    "text": m.body,
                    "reason": m.held_reason,
                    "created_at": m.created_at.isoformat(),
                }
                for m in held
            ]
        )

    @extend_schema(
        summary="Hide (or show again) a member's messages in your own view",
        request=HideIn,
        responses={200: HiddenOut, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def hide(self, request: Request, pk: str | None = None) -> Response:
        group = _group(request, pk, tool=False)
        data = HideIn(data=request.data)
        data.is_valid(raise_exception=True)
        hidden = actions.author_hide(
            by=current_user(request),
            group_id=group.pk,
            author_key=data.validated_data["author"],
            hidden=data.validated_data["hidden"],
        )
        return Response({"hidden": sorted(hidden)})


class ReportOut(serializers.Serializer):
    id = serializers.IntegerField()
    message_id = serializers.IntegerField(allow_null=True)
    group_id = serializers.IntegerField()
    reason = serializers.CharField()
    note = serializers.CharField()
    status = serializers.CharField()
    created_at = serializers.CharField()
    resolved_at = serializers.CharField(allow_null=True)
    message_text = serializers.CharField(required=False, help_text="facilitators only")
    reporter = serializers.CharField(
        required=False,
        help_text="facilitators only: the reporter's alias in the group (staff: username)",
    )

    def to_representation(self, instance: Report) -> dict[str, Any]:
        request = self.context.get("request")
        moderator = request is not None and can_moderate(current_user(request), instance.group_id)
        return actions.report_dict(instance, with_text=moderator)


@extend_schema(parameters=[OpenApiParameter("id", int, OpenApiParameter.PATH)])
class MessageModerationViewSet(viewsets.ViewSet):
    def _message(self, pk: str | None) -> Message:
        """The message a moderation route names. Members never moderate: 403 whatever the id.
        For staff, a message outside the groups they moderate answers exactly as an id that
        names no message (404, the same body), so the status does not tell which messages
        exist in other groups."""
        user = current_user(self.request)
        if not has_staff_role(user):
            raise PermissionDenied("Only facilitators and admins moderate messages.")
        message = Message.objects.filter(pk=pk or 0, group__deleted_at__isnull=True).first()
        if message is None or not can_moderate(user, message.group_id):
            raise NotFound(NO_SUCH_MESSAGE)
        return message

    @extend_schema(
        summary="Delete a message (soft; the audit log keeps it)",
        request=ReasonIn,
        responses={200: ActionOut, **ERRORS},
    )
    # Not named `delete`: a viewset method of that name answers HTTP DELETE on every route of
    # the viewset, so DELETE /api/messages/{id}/flag/ would delete the message.
    @action(detail=True, methods=["post"], url_path="delete", url_name="delete")
    def delete_message(self, request: Request, pk: str | None = None) -> Response:
        message = self._message(pk)
        data = ReasonIn(data=request.data)
        data.is_valid(raise_exception=True)
        actions.message_delete(by=current_user(request), message=message, **data.validated_data)
        return Response({"action": "delete"})

    @extend_schema(
        summary="Flag a message as a crisis the detector missed, or raise its alert's level",
        request=FlagIn,
        responses={200: AlertOut, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def flag(self, request: Request, pk: str | None = None) -> Response:
        message = self._message(pk)
        data = FlagIn(data=request.data)
        data.is_valid(raise_exception=True)
        alert = actions.message_flag(
            by=current_user(request), message=message, **data.validated_data
        )
        return Response(AlertOut(alert).data)

    @extend_schema(
        summary="Approve a held message (delivers it)",
        request=None,
        responses={200: ActionOut, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str | None = None) -> Response:
        delivered = actions.held_approve(by=current_user(request), message=self._message(pk))
        return Response({"action": "held.approve", "id": delivered.pk})

    @extend_schema(
        summary="Reject a held message (tells the author)",
        request=ReasonIn,
        responses={200: ActionOut, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str | None = None) -> Response:
        message = self._message(pk)
        data = ReasonIn(data=request.data)
        data.is_valid(raise_exception=True)
        actions.held_reject(by=current_user(request), message=message, **data.validated_data)
        return Response({"action": "held.reject"})

    @extend_schema(
        summary="Report a message to the group's facilitators",
        request=ReportIn,
        # Never 403: a message the caller may not report is one they are told does not exist.
        responses={201: ReportOut, **errors(400, 401, 404)},
    )
    @action(detail=True, methods=["post"])
    def report(self, request: Request, pk: str | None = None) -> Response:
        data = ReportIn(data=request.data)
        data.is_valid(raise_exception=True)
        user = current_user(request)
        # One answer for a message that does not exist, one in a group the caller is not in,
        # and one no longer shown: the status code must not tell which messages exist.
        message = Message.objects.filter(
            pk=pk or 0, status=MessageStatus.VISIBLE, group__deleted_at__isnull=True
        ).first()
        if message is None or not (
            active_enrollment(user, message.group_id) or can_moderate(user, message.group_id)
        ):
            raise NotFound(NO_SUCH_MESSAGE)
        report = actions.report_create(by=user, message=message, **data.validated_data)
        return Response(actions.report_dict(report), status=201)


class ReportQuery(serializers.Serializer):
    status = serializers.ChoiceField(choices=ReportStatus.values, required=False, allow_blank=True)


@extend_schema_view(
    list=extend_schema(
        summary="Reports: your own (members), your groups' (facilitators), all (admins)",
        parameters=[ReportQuery],
        responses={200: ReportOut(many=True), 400: ERRORS[400], 401: ERRORS[401]},
    )
)
class ReportViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Members see their own reports and whether they were resolved; facilitators see their
    groups' reports; admins all."""

    serializer_class = ReportOut
    queryset = Report.objects.none()

    def get_queryset(self) -> QuerySet[Report]:
        if getattr(self, "swagger_fake_view", False):
            return Report.objects.none()
        user = current_user(self.request)
        if user.role == Role.ADMIN:
            qs = Report.objects.all()
        elif user.role == Role.FACILITATOR:
            qs = Report.objects.filter(group__groupfacilitator__user=user)
        else:
            qs = Report.objects.filter(reporter=user)
        wanted = (
            query_params(self.request, ReportQuery).get("status") if self.action == "list" else ""
        )
        if wanted:
            qs = qs.filter(status=wanted)
        return qs.order_by("-created_at", "-id")

    @extend_schema(
        summary="Mark a report resolved (tells the reporter)",
        request=ReasonIn,
        responses={200: ReportOut, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str | None = None) -> Response:
        # As for messages: members never resolve reports (403 whatever the id), and a report
        # outside the groups the caller moderates answers as one that does not exist.
        user = current_user(request)
        if not has_staff_role(user):
            raise PermissionDenied("Only facilitators and admins resolve reports.")
        report = Report.objects.filter(pk=pk or 0).first()
        if report is None or not can_moderate(user, report.group_id):
            raise NotFound("There is no such report in your groups.")
        data = ReasonIn(data=request.data)
        data.is_valid(raise_exception=True)
        report = actions.report_resolve(
            by=current_user(request), report=report, note=data.validated_data.get("reason", "")
        )
        return Response(actions.report_dict(report))


class AuditOut(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField()

    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "created_at",
            "actor",
            "action",
            "group",
            "target_user",
            "message_id_ref",
            "alert",
            "reason",
            "data",
        ]

    def get_actor(self, obj: AuditEntry) -> str | None:
        return obj.actor.username if obj.actor else None


class AuditQuery(serializers.Serializer):
    group = IdField(required=False)
    action = serializers.CharField(
        required=False,
        max_length=40,
        help_text="an action (member.muted) or, without a dot, every action of a kind "
        "(group: group.created, group.updated, ...)",
    )
    actor = IdField(required=False)


@extend_schema_view(
    retrieve=extend_schema(
        summary="One audit entry (admins: all; facilitators: their groups)",
        responses={200: AuditOut, 401: ERRORS[401], 403: ERRORS[403], 404: ERRORS[404]},
    )
)
class AuditViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Read-only by construction: no create, update or delete route exists."""

    serializer_class = AuditOut
    queryset = AuditEntry.objects.none()

    def get_queryset(self) -> QuerySet[AuditEntry]:
        if getattr(self, "swagger_fake_view", False):
            return AuditEntry.objects.none()
        user = current_user(self.request)
        qs = AuditEntry.objects.select_related("actor")
        if user.role == Role.FACILITATOR:
            qs = qs.filter(group__groupfacilitator__user=user)
        elif user.role != Role.ADMIN:
            raise PermissionDenied("Only admins and facilitators read the audit log.")
        params = query_params(self.request, AuditQuery) if self.action == "list" else {}
        if params.get("group"):
            qs = qs.filter(group_id=params["group"])
        if params.get("action"):
            wanted = params["action"]
            qs = (
                qs.filter(action=wanted)
                if "." in wanted
                else qs.filter(action__startswith=f"{wanted}.")
            )
        if params.get("actor"):
            qs = qs.filter(actor_id=params["actor"])
        return qs.order_by("-created_at", "-id")

    @extend_schema(
        parameters=[AuditQuery],
        summary="The audit log (admins: all; facilitators: their groups)",
        responses={200: AuditOut(many=True), **ERRORS},
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

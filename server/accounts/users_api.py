"""Accounts for admins: find facilitators to assign, mark who is on call, change a role."""

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, serializers, viewsets
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from server.accounts.models import Role, User
from server.accounts.privacy import account_delete, account_export
from server.accounts.services import account_set_on_call, account_set_role
from server.api import ERRORS, current_user, query_params


class UserOut(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "email", "role", "on_call", "is_active"]


class UserQuery(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.values, required=False, allow_blank=True)
    on_call = serializers.BooleanField(required=False, help_text="Only those on call")


class UserPatch(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices, required=False)
    on_call = serializers.BooleanField(required=False)


@extend_schema_view(
    list=extend_schema(
        summary="Accounts (admins)",
        parameters=[UserQuery],
        responses={200: UserOut(many=True), 400: ERRORS[400], 401: ERRORS[401], 403: ERRORS[403]},
    ),
    retrieve=extend_schema(
        summary="One account (admins)",
        responses={200: UserOut, 401: ERRORS[401], 403: ERRORS[403], 404: ERRORS[404]},
    ),
    partial_update=extend_schema(
        summary="Change an account's role or on-call flag (admins)",
        request=UserPatch,
        responses={200: UserOut, **ERRORS},
    ),
    destroy=extend_schema(
        summary="Delete an account on the person's request (admins)",
        responses={204: None, **ERRORS},
    ),
)
class UserViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = UserOut
    queryset = User.objects.none()
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[User]:
        if getattr(self, "swagger_fake_view", False):
            return User.objects.none()
        if current_user(self.request).role != Role.ADMIN:
            raise PermissionDenied("Only admins manage accounts.")
        qs = User.objects.filter(is_active=True).order_by("username")
        params = query_params(self.request, UserQuery) if self.action == "list" else {}
        if params.get("role"):
            qs = qs.filter(role=params["role"])
        if params.get("on_call"):
            qs = qs.filter(on_call=True)
        return qs

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        user = self.get_object()
        data = UserPatch(data=request.data)
        data.is_valid(raise_exception=True)
        by = current_user(request)
        if "role" in data.validated_data:
            account_set_role(user=user, role=data.validated_data["role"], by=by)
        if "on_call" in data.validated_data:
            account_set_on_call(user=user, on_call=data.validated_data["on_call"], by=by)
        return Response(UserOut(user).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        user = self.get_object()
        if user.pk == current_user(request).pk:
            raise ValidationError({"detail": "Delete your own account from your account page."})
        account_delete(user=user, by=current_user(request))
        return Response(status=204)


class ExportOut(serializers.Serializer):
    exported_at = serializers.CharField()
    profile = serializers.DictField()
    enrollments = serializers.ListField(child=serializers.DictField())
    messages = serializers.ListField(child=serializers.DictField())
    reports_made = serializers.ListField(child=serializers.DictField())
    attendance = serializers.ListField(child=serializers.DictField())
    alerts_about_you = serializers.ListField(child=serializers.DictField())
    hidden_authors = serializers.ListField(child=serializers.DictField())


class DeleteIn(serializers.Serializer):
    password = serializers.CharField(help_text="Your current password, to confirm.")


class MeExportView(APIView):
    @extend_schema(
        summary="Download everything the service holds about you (JSON)", responses={200: ExportOut}
    )
    def get(self, request: Request) -> Response:
        response = Response(account_export(user=current_user(request)))
        response["Content-Disposition"] = 'attachment; filename="haven-export.json"'
        return response


class MeDeleteView(APIView):
    @extend_schema(
        summary="Delete your account: your messages, enrollments, reports and feed",
        request=DeleteIn,
        responses={204: None, 400: OpenApiResponse(description="Wrong password")},
    )
    def post(self, request: Request) -> Response:
        data = DeleteIn(data=request.data)
        data.is_valid(raise_exception=True)
        if not current_user(request).check_password(data.validated_data["password"]):
            raise ValidationError({"password": ["That password is not right."]})
        account_delete(user=current_user(request), by=current_user(request))
        if request.session is not None:
            request.session.flush()
        return Response(status=204)

"""Accounts for admins: find facilitators to assign, mark who is on call, change a role."""

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from server.accounts.models import Role, User
from server.accounts.services import account_set_role


class UserOut(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "email", "role", "on_call", "is_active"]


class UserPatch(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices, required=False)
    on_call = serializers.BooleanField(required=False)


@extend_schema_view(
    list=extend_schema(
        summary="Accounts (admins)",
        parameters=[
            OpenApiParameter("role", str, enum=Role.values),
            OpenApiParameter("on_call", bool),
        ],
    ),
    retrieve=extend_schema(summary="One account (admins)"),
    partial_update=extend_schema(
        summary="Change an account's role or on-call flag (admins)", request=UserPatch
    ),
)
class UserViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = UserOut
    queryset = User.objects.none()
    http_method_names = ["get", "patch", "head", "options"]

    def get_queryset(self) -> QuerySet[User]:
        if getattr(self, "swagger_fake_view", False):
            return User.objects.none()
        if self.request.user.role != Role.ADMIN:
            raise PermissionDenied("Only admins manage accounts.")
        qs = User.objects.filter(is_active=True).order_by("username")
        params = self.request.query_params
        if params.get("role") in Role.values:
            qs = qs.filter(role=params["role"])
        if params.get("on_call") in ("true", "1"):
            qs = qs.filter(on_call=True)
        return qs

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        user = self.get_object()
        data = UserPatch(data=request.data)
        data.is_valid(raise_exception=True)
        if "role" in data.validated_data:
            account_set_role(user=user, role=data.validated_data["role"])
        if "on_call" in data.validated_data:
            user.on_call = data.validated_data["on_call"]
            user.save(update_fields=["on_call"])
        return Response(UserOut(user).data)

import hashlib

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from server.accounts.services import (
    account_settings_update,
    calendar_token_reset,
    ws_ticket_issue,
)
from server.api import THROTTLED, ErrorOut, WsTicketThrottle, current_user

NOT_SIGNED_IN = OpenApiResponse(ErrorOut, description="Not signed in.")


class LoginAddressThrottle(SimpleRateThrottle):
    """Sign-in attempts per client address: slows one address guessing many accounts. The
    address is REMOTE_ADDR, or the one NUM_PROXIES entries from the right of X-Forwarded-For
    behind that many proxies (server/settings.py)."""

    scope = "login"

    def get_cache_key(self, request, view):  # type: ignore[no-untyped-def]
        return f"throttle_login_ip_{self.get_ident(request)}"


class LoginUsernameThrottle(SimpleRateThrottle):
    """Sign-in attempts per username, wherever they come from: slows many addresses (or a
    spoofed X-Forwarded-For) guessing one account's password. Reads a DRF request's data or a
    Django form post (the admin's sign-in, server/accounts/admin.py)."""

    scope = "login"

    def get_cache_key(self, request, view):  # type: ignore[no-untyped-def]
        data = getattr(request, "data", None)
        if data is None:
            data = request.POST
        username = str(data.get("username", "") if hasattr(data, "get") else "")
        username = username.strip().lower()[:150]
        if not username:
            return None
        # Hashed: a cache key of fixed length and characters, whatever was typed (control
        # characters, lone surrogates).
        digest = hashlib.sha256(username.encode("utf-8", "surrogatepass")).hexdigest()
        return f"throttle_login_user_{digest}"


LOGIN_THROTTLES = (LoginAddressThrottle, LoginUsernameThrottle)


class TokenView(ObtainAuthToken):
    throttle_classes = list(LOGIN_THROTTLES)

    @extend_schema(
        auth=[],  # anyone may ask: a wrong password is a 400, never a 401
        summary="Exchange a username and password for an API token",
        responses={
            200: inline_serializer("TokenOut", {"token": serializers.CharField()}),
            400: OpenApiResponse(ErrorOut, description="Wrong username or password."),
            429: OpenApiResponse(ErrorOut, description="Too many attempts; see Retry-After."),
        },
    )
    def post(self, request: Request, *args, **kwargs) -> Response:  # type: ignore[no-untyped-def]
        return super().post(request, *args, **kwargs)


class WsTicketView(APIView):
    permission_classes = [IsAuthenticated]
    throttle_classes = [WsTicketThrottle]

    @extend_schema(
        summary="Issue a single-use WebSocket ticket (valid 30 seconds)",
        request=None,
        responses={
            201: inline_serializer("TicketOut", {"ticket": serializers.CharField()}),
            401: NOT_SIGNED_IN,
            429: THROTTLED,
        },
    )
    def post(self, request: Request) -> Response:
        return Response({"ticket": ws_ticket_issue(user=current_user(request))}, status=201)


class MeOut(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.EmailField()
    role = serializers.CharField()
    on_call = serializers.BooleanField()
    calendar_feed_url = serializers.CharField()
    country = serializers.CharField(
        help_text="ISO 3166 code of the crisis lines shown to this person; empty if not chosen."
    )
    discreet = serializers.BooleanField(
        help_text="Calendar entries and e-mail subjects name no group or topic."
    )


class MeIn(serializers.Serializer):
    country = serializers.CharField(required=False, allow_blank=True, max_length=2)
    discreet = serializers.BooleanField(required=False)


def calendar_feed_url(user, request: Request | None = None) -> str:  # type: ignore[no-untyped-def]
    """The secret feed URL, on the host the member is using (SITE_URL outside a request)."""
    path = reverse("member-calendar", args=[user.calendar_token])
    return request.build_absolute_uri(path) if request is not None else settings.SITE_URL + path


class MeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(summary="The signed-in account", responses={200: MeOut, 401: NOT_SIGNED_IN})
    def get(self, request: Request) -> Response:
        return Response(self._out(request))

    @extend_schema(
        summary="Change one's own safety settings (country, discreet mode)",
        request=MeIn,
        responses={200: MeOut, 400: OpenApiResponse(ErrorOut), 401: NOT_SIGNED_IN},
    )
    def patch(self, request: Request) -> Response:
        data = MeIn(data=request.data)
        data.is_valid(raise_exception=True)
        account_settings_update(user=current_user(request), **data.validated_data)
        return Response(self._out(request))

    def _out(self, request: Request) -> dict:
        user = current_user(request)
        data = {
            "id": user.pk,
            "username": user.username,
            "email": user.email,
            "role": user.role,
            "on_call": user.on_call,
            "calendar_feed_url": calendar_feed_url(user, request),
            "country": user.country,
            "discreet": user.discreet,
        }
        return MeOut(data).data


class CalendarResetView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="Reset the secret calendar feed URL (the old one stops working)",
        request=None,
        responses={
            200: inline_serializer("FeedOut", {"calendar_feed_url": serializers.CharField()}),
            401: NOT_SIGNED_IN,
        },
    )
    def post(self, request: Request) -> Response:
        calendar_token_reset(user=current_user(request))
        return Response({"calendar_feed_url": calendar_feed_url(current_user(request), request)})

"""REST for members' own messages: the same actions as the room socket's frames
(rooms/member_messages.py). Thin: parse, check the person can see the room, call one action."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from rooms import member_messages
from rooms.display import authors_for, message_dict
from rooms.models import Message, MessageStatus, ReactionKind, SupportGroup
from rooms.permissions import active_enrollment, can_moderate
from server.api import ERRORS, current_user


class EditIn(serializers.Serializer):
    body = serializers.CharField(trim_whitespace=False, max_length=4000)


class ReactionIn(serializers.Serializer):
    reaction = serializers.ChoiceField(choices=ReactionKind.values)
    on = serializers.BooleanField(required=False, allow_null=True, default=None)


class ReactionsOut(serializers.Serializer):
    message_id = serializers.IntegerField()
    reactions = serializers.DictField(child=serializers.IntegerField())
    reaction = serializers.CharField()
    on = serializers.BooleanField()


class OwnMessageOut(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField()
    edited_at = serializers.CharField(allow_null=True)
    deleted = serializers.BooleanField()


# Deleting and asking for a check-in take no input, so they never answer 400.
NO_INPUT_ERRORS = {code: ERRORS[code] for code in (401, 403, 404)}


class CheckinOut(serializers.Serializer):
    group_id = serializers.IntegerField(help_text="The private check-in room.")


def _in_room(request: Request, group_id: int) -> None:
    """Someone who cannot see the room is told nothing about its messages."""
    user = current_user(request)
    if not (active_enrollment(user, group_id) or can_moderate(user, group_id)):
        raise Http404("No such message.")


def _message(request: Request, pk: int) -> Message:
    message = (
        Message.objects.filter(pk=pk, group__deleted_at__isnull=True)
        .exclude(status__in=[MessageStatus.HELD, MessageStatus.REJECTED])
        .first()
    )
    if message is None:
        raise Http404("No such message.")
    _in_room(request, message.group_id)
    return message


def _out(message: Message) -> dict[str, Any]:
    author = authors_for(message.group_id, {message.author_id}).get(message.author_id, {})
    shown = message_dict(message, author)
    return {k: shown.get(k) for k in ("id", "text", "edited_at", "deleted")}


class OwnMessageView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="Edit one's own message (within MESSAGE_EDIT_SECONDS of sending it)",
        request=EditIn,
        responses={200: OwnMessageOut, **ERRORS},
    )
    def patch(self, request: Request, pk: int) -> Response:
        message = _message(request, pk)
        data = EditIn(data=request.data)
        data.is_valid(raise_exception=True)
        edited = member_messages.message_edit(
            user=current_user(request),
            group_id=message.group_id,
            message_id=message.pk,
            body=data.validated_data["body"],
        )
        return Response(OwnMessageOut(_out(edited)).data)

    @extend_schema(
        summary="Delete one's own message",
        request=None,
        responses={200: OwnMessageOut, **NO_INPUT_ERRORS},
    )
    def delete(self, request: Request, pk: int) -> Response:
        message = _message(request, pk)
        deleted = member_messages.message_delete_own(
            user=current_user(request), group_id=message.group_id, message_id=message.pk
        )
        return Response(OwnMessageOut(_out(deleted)).data)


class ReactionView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="Add or take back a supportive reaction (toggles unless `on` is given)",
        request=ReactionIn,
        responses={200: ReactionsOut, **ERRORS},
    )
    def post(self, request: Request, pk: int) -> Response:
        message = _message(request, pk)
        data = ReactionIn(data=request.data)
        data.is_valid(raise_exception=True)
        result = member_messages.reaction_toggle(
            user=current_user(request),
            group_id=message.group_id,
            message_id=message.pk,
            reaction=data.validated_data["reaction"],
            on=data.validated_data.get("on"),
        )
        return Response(ReactionsOut(result).data)


class CheckinRequestView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="Ask to talk to a facilitator privately (opens a check-in room, alerts them)",
        request=None,
        responses={201: CheckinOut, **NO_INPUT_ERRORS},
    )
    def post(self, request: Request, pk: int) -> Response:
        if not SupportGroup.objects.filter(pk=pk, deleted_at__isnull=True).exists():
            raise Http404("No such group.")
        _in_room(request, pk)
        room = member_messages.checkin_request(user=current_user(request), group_id=pk)
        return Response({"group_id": room.pk}, status=201)

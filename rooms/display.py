"""How a room shows people and messages to its clients: author ids, authors, message dicts.

Members are known in a room only by their alias and an id that is not their account's
(`m<enrollment id>`), staff by their username (`s<user id>`). Every frame that names an author or
carries a message builds it here, so the room, history, moderation and the REST API show the
same person the same way.
"""

from __future__ import annotations

from typing import Any

from rooms.models import Enrollment, GroupFacilitator, Message, MessageStatus
from rooms.sanitize import sanitize
from server.accounts.models import Role, User


def member_author_id(enrollment_id: int) -> str:
    return f"m{enrollment_id}"


def staff_author_id(user_id: int) -> str:
    return f"s{user_id}"


# The author of a message whose account was deleted, in a group that keeps their words.
FORMER_MEMBER: dict[str, Any] = {"id": "gone", "alias": "Former member", "role": Role.MEMBER}


def authors_for(group_id: int, user_ids: set[int]) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for e in Enrollment.objects.filter(group_id=group_id, user_id__in=user_ids):
        out[e.user_id] = {"id": member_author_id(e.pk), "alias": e.alias, "role": Role.MEMBER}
    # Only staff appear by name; anyone else without an enrollment (a deleted account) is
    # left out and shown as "Former member" by the caller.
    staff = User.objects.filter(
        pk__in=user_ids - out.keys(), role__in=[Role.FACILITATOR, Role.ADMIN]
    )
    facilitator_ids = set(
        GroupFacilitator.objects.filter(group_id=group_id, user_id__in=user_ids).values_list(
            "user_id", flat=True
        )
    )
    for u in staff:
        role = Role.FACILITATOR if u.pk in facilitator_ids else u.role
        out[u.pk] = {"id": staff_author_id(u.pk), "alias": u.username, "role": role}
    return out


def message_dict(message: Message, author: dict[str, Any]) -> dict[str, Any]:
    deleted = message.status == MessageStatus.DELETED
    shown = {
        "id": message.pk,
        "author": author,
        # `body` is safe to put in HTML (rooms.sanitize, bleach); `text` is what the member
        # typed, for text rendering. Frames are UTF-8 JSON, so even the worst case of both
        # (4,000 characters that HTML escapes or links) stays under the frame size limit.
        "body": "" if deleted else sanitize(message.body),
        "text": "" if deleted else message.body,
        "created_at": message.created_at.isoformat(),
        "client_id": str(message.client_id),
        "deleted": deleted,
    }
    # Members' own messages (rooms/member_messages.py): `edited_at` only on an edited message;
    # callers add `reply_to` (the quoted message) and `reactions` (counts) where there are any.
    # Absent rather than empty: a page of history holds as many messages as before.
    if message.edited_at and not deleted:
        shown["edited_at"] = message.edited_at.isoformat()
    return shown

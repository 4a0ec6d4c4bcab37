"""A room's history, a page at a time: catch-up after a reconnect, and older messages."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from rooms import frames
from rooms.access import Access
from rooms.display import FORMER_MEMBER, authors_for, message_dict
from rooms.models import Message, MessageStatus, SupportGroup
from rooms.selectors import reactions_for, replies_for


def history(*, access: Access, after_id: int | None, before_id: int | None, limit: int) -> str:
    """A page of the room's messages in id order, as the serialized `history` frame. `after_id`
    pages forward (catch-up after a reconnect), `before_id` backward (older history), neither
    gives the newest page. Deleted messages come as tombstones so a client that missed the
    deletion event still removes them. The reader's own held and rejected messages come too,
    marked with their `status`, for the reader alone: a member who reloads still sees what is
    waiting for review, and what was not shared.

    A page holds at most `limit` messages and at most frames.PAGE_BUDGET_BYTES of them, and
    always at least one when there is one: the page stops at the anchor's far side (the oldest
    of a backward page, the newest of a forward one) and `has_more` says the client should page
    on from there."""
    limit = max(1, min(limit, settings.HISTORY_MAX_PAGE))
    group = SupportGroup.objects.only("retention_days").get(pk=access.group_id)
    oldest = timezone.now() - dt.timedelta(days=group.retention_days)
    qs = Message.objects.filter(group_id=access.group_id, created_at__gte=oldest).filter(
        Q(status__in=[MessageStatus.VISIBLE, MessageStatus.DELETED])
        | Q(status__in=[MessageStatus.HELD, MessageStatus.REJECTED], author_id=access.user_id)
    )
    forward = after_id is not None
    if forward:
        qs = qs.filter(id__gt=after_id).order_by("id")
    else:
        if before_id is not None:
            qs = qs.filter(id__lt=before_id)
        qs = qs.order_by("-id")
    rows = list(qs[: limit + 1])  # from the anchor outward
    has_more = len(rows) > limit
    rows = rows[:limit]
    authors = authors_for(access.group_id, {m.author_id for m in rows})
    unknown = FORMER_MEMBER
    replies = replies_for(rows) if rows else {}
    reactions, mine = reactions_for([m.pk for m in rows], access.user_id)
    items: list[str] = []
    used = 0
    for m in rows:
        author = authors.get(m.author_id, unknown)
        if author["id"] in access.hidden_authors:
            continue
        shown = message_dict(m, author)
        if m.status in (MessageStatus.HELD, MessageStatus.REJECTED):
            shown |= {"status": m.status, "reason": m.held_reason}
        if m.reply_to_id and m.reply_to_id in replies:
            shown["reply_to"] = replies[m.reply_to_id]
        if m.pk in reactions:
            shown["reactions"] = reactions[m.pk]
        if m.pk in mine:
            shown["my_reactions"] = mine[m.pk]
        item = frames.dumps(shown)
        cost = frames.size(item) + 1
        if items and used + cost > frames.PAGE_BUDGET_BYTES:
            has_more = True
            break
        items.append(item)
        used += cost
    if not forward:
        items.reverse()
    return frames.join_page(
        '{"type":"history","messages":', items, f',"has_more":{"true" if has_more else "false"}}}'
    )

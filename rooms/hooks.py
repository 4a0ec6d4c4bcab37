"""Extension points of the rooms app, after wagtail's `hooks.register` / `get_hooks`.

Rooms is the floor: it never imports the apps above it. Where one of them joins in (moderation
hides authors, notices a room left without a facilitator, reviews delivered messages with the
learned model, answers its socket commands), rooms names the point here and that app registers
a function from its AppConfig.ready(). A point nobody registered does nothing, so nothing that
must happen goes through one: the crisis assessment and its alert are direct calls in the send
path (rooms/actions.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# (user_id=, group_id=) -> set of author ids this person hid in this room.
HIDDEN_AUTHORS = "hidden_authors"
# (by=, group_id=, author_key=, hidden=) -> the author ids hidden now; the `hide` frame.
AUTHOR_HIDE = "author_hide"
# (group_id=) -> None, after a moderator entered or left the room (or their socket was swept).
MODERATORS_CHANGED = "moderators_changed"
# (message) -> None, after a message's words reached the room: a new one, or an edit.
MESSAGE_DELIVERED = "message_delivered"
# () -> {frame type: handler(user=, group_id=, frame=) -> reply frame}: more socket commands.
ROOM_COMMANDS = "room_commands"
# () -> [rooms.worker.Job]: more periodic jobs for the worker.
WORKER_JOBS = "worker_jobs"
# (user_id=, group_id=) -> a private frame for this person's `hello` in this room, or None (the
# support card of an alert still open: one sent while their socket was away is not lost).
HELLO_SUPPORT = "hello_support"

NAMES = frozenset(
    {
        HIDDEN_AUTHORS,
        AUTHOR_HIDE,
        MODERATORS_CHANGED,
        MESSAGE_DELIVERED,
        ROOM_COMMANDS,
        WORKER_JOBS,
        HELLO_SUPPORT,
    }
)

_hooks: dict[str, list[Callable[..., Any]]] = {}


def register(name: str, fn: Callable[..., Any] | None = None) -> Any:
    """`register(name, fn)`, or `@register(name)` as a decorator. Registering the same function
    twice (ready() run again) keeps one."""
    if name not in NAMES:
        raise ValueError(f"rooms has no hook named {name!r}")
    if fn is None:
        return lambda f: register(name, f)
    found = _hooks.setdefault(name, [])
    if fn not in found:
        found.append(fn)
    return fn


def get_hooks(name: str) -> list[Callable[..., Any]]:
    return list(_hooks.get(name, ()))

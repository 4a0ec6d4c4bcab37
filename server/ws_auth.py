"""WebSocket authentication: the session cookie, or a single-use `?ticket=` for clients that
cannot send cookies."""

from urllib.parse import parse_qs

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from django.contrib.auth.models import AnonymousUser

from server.accounts.services import ws_ticket_redeem


class TicketMiddleware:
    def __init__(self, inner):  # type: ignore[no-untyped-def]
        self.inner = inner

    async def __call__(self, scope, receive, send):  # type: ignore[no-untyped-def]
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        tickets = query.get("ticket")
        if tickets:
            user = await database_sync_to_async(ws_ticket_redeem)(key=tickets[0][:128])
            # A stale ticket is not silently replaced by the cookie: the client asked for the
            # ticket's identity and gets refused (4401) instead.
            scope = dict(scope, user=user or AnonymousUser(), ticket_used=True)
        return await self.inner(scope, receive, send)


class _SkipSessionIfTicket:
    """Runs Channels' session/auth stack unless a ticket already set the user."""

    def __init__(self, inner):  # type: ignore[no-untyped-def]
        self.with_session = AuthMiddlewareStack(inner)
        self.inner = inner

    async def __call__(self, scope, receive, send):  # type: ignore[no-untyped-def]
        if scope.get("ticket_used"):
            return await self.inner(scope, receive, send)
        return await self.with_session(scope, receive, send)


def TicketOrSessionAuthStack(inner):  # type: ignore[no-untyped-def]  # noqa: N802
    return TicketMiddleware(_SkipSessionIfTicket(inner))


def close_oversized_frames_with_1009() -> None:
    """Makes daphne answer a frame over `--websocket-max-message-size` with a Close frame of
    code 1009 (message too big), as RFC 6455 asks, instead of autobahn's default of dropping the
    TCP connection, which clients see as an unexplained 1006. The oversized payload is still
    discarded, not buffered. Applied when this module is imported, before daphne builds its
    WebSocket factory."""
    try:
        from daphne.ws_protocol import WebSocketFactory
    except ImportError:  # not running under daphne
        return
    original = WebSocketFactory.__init__
    if getattr(original, "closes_with_1009", False):
        return

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]  # noqa: N807
        original(self, *args, **kwargs)
        self.failByDrop = False

    __init__.closes_with_1009 = True  # type: ignore[attr-defined]
    WebSocketFactory.__init__ = __init__  # type: ignore[method-assign]


close_oversized_frames_with_1009()

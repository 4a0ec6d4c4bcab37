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

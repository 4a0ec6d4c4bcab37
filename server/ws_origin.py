"""Which pages may open a socket: only this site's own, by scheme, host and port.

A browser sends the page's origin with every WebSocket handshake, and sends the site's cookies
whatever the page, so a socket opened from another origin would act as the signed-in person.
Channels' AllowedHostsOriginValidator compares the host alone: a page served over plain HTTP, or
by another service on another port of the same host, passed. Here an origin passes when it is
exactly (scheme, host, port) one of:

- `SITE_URL` or an entry of `CSRF_TRUSTED_ORIGINS` (`https://*.example.org` covers subdomains);
- the handshake's own origin, as Django's CSRF check reckons it: the `Host` header (one of
  `ALLOWED_HOSTS`) with `https` when `SECURE_PROXY_SSL_HEADER` says the request came over TLS,
  `http` otherwise (and never `http` when `SECURE_SSL_REDIRECT` is on).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

DEFAULT_PORTS = {"http": 80, "https": 443}
Origin = tuple[str, str, int]


def parse_origin(value: str) -> Origin | None:
    try:
        parts = urlsplit(value.strip().lower())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        return None
    return parts.scheme, parts.hostname, port or DEFAULT_PORTS[parts.scheme]


def configured_origins() -> tuple[set[Origin], set[Origin]]:
    """(exact origins, wildcard origins whose host is the parent domain)."""
    exact: set[Origin] = set()
    wildcard: set[Origin] = set()
    for entry in [settings.SITE_URL, *settings.CSRF_TRUSTED_ORIGINS]:
        is_wildcard = "://*." in entry
        origin = parse_origin(entry.replace("://*.", "://", 1))
        if origin is not None:
            (wildcard if is_wildcard else exact).add(origin)
    return exact, wildcard


def _over_tls(headers: dict[bytes, bytes]) -> bool:
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if not proxy:
        return False
    name, secure_value = proxy
    header = name.removeprefix("HTTP_").replace("_", "-").lower().encode("latin-1")
    value = headers.get(header, b"").decode("latin-1").split(",")[0].strip()
    return value == secure_value


def origin_allowed(scope: dict[str, Any]) -> bool:
    headers = dict(scope.get("headers") or [])
    raw = headers.get(b"origin")
    origin = parse_origin(raw.decode("latin-1")) if raw else None
    if origin is None:
        return False
    exact, wildcard = configured_origins()
    if origin in exact:
        return True
    scheme, host, port = origin
    if any(
        scheme == w_scheme and port == w_port and host.endswith("." + w_host)
        for w_scheme, w_host, w_port in wildcard
    ):
        return True
    host_header = headers.get(b"host", b"").decode("latin-1").strip().lower()
    domain, _ = split_domain_port(host_header)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return False
    over_tls = _over_tls(headers)
    if settings.SECURE_SSL_REDIRECT and not over_tls:
        return False  # as every plain-HTTP page of the site is, a plain-HTTP socket is refused
    own = parse_origin(f"{'https' if over_tls else 'http'}://{host_header}")
    return origin == own


class SameOriginValidator:
    """Refuses, during the handshake (HTTP 403), a socket from any other origin."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and not origin_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)

"""The WebSocket origin rule (server/ws_origin.py) on handshakes built by hand: scheme, host and
port all count. The same rule over real sockets: tests/live/test_rooms_access.py."""

from __future__ import annotations

import pytest
from django.test import override_settings

from server.ws_origin import origin_allowed


def handshake(origin: str | None, host: str = "haven.example.org", **headers: str) -> dict:
    raw = [(b"host", host.encode())]
    if origin is not None:
        raw.append((b"origin", origin.encode()))
    raw += [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    return {"type": "websocket", "headers": raw}


SITE = override_settings(
    SITE_URL="https://haven.example.org",
    CSRF_TRUSTED_ORIGINS=["https://*.haven.example.net", "http://127.0.0.1:8000"],
    ALLOWED_HOSTS=["haven.example.org", "127.0.0.1"],
    SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"),
    SECURE_SSL_REDIRECT=True,
)


@SITE
@pytest.mark.parametrize(
    ("origin", "host", "headers"),
    [
        ("https://haven.example.org", "elsewhere.example", {}),  # SITE_URL
        ("https://haven.example.org:443", "elsewhere.example", {}),
        ("https://www.haven.example.net", "elsewhere.example", {}),  # a trusted wildcard
        ("http://127.0.0.1:8000", "127.0.0.1:8000", {}),
        ("https://haven.example.org", "haven.example.org", {"x_forwarded_proto": "https"}),
        ("https://127.0.0.1:9000", "127.0.0.1:9000", {"x_forwarded_proto": "https"}),  # its own
    ],
)
def test_the_sites_own_origins_are_allowed(origin, host, headers):
    assert origin_allowed(handshake(origin, host, **headers))


@SITE
@pytest.mark.parametrize(
    ("origin", "host", "headers"),
    [
        ("http://haven.example.org", "haven.example.org", {}),  # plain HTTP of an HTTPS site
        ("https://haven.example.org:8443", "haven.example.org", {}),  # another port
        ("http://www.haven.example.net", "haven.example.org", {}),  # wildcard, wrong scheme
        ("https://haven.example.net", "haven.example.org", {}),  # the parent of a wildcard
        ("https://evil.example", "haven.example.org", {}),
        ("https://haven.example.org.evil.example", "haven.example.org", {}),
        ("http://127.0.0.1:9000", "127.0.0.1:9000", {}),  # own origin, but not over TLS
        ("https://127.0.0.1:9001", "127.0.0.1:9000", {"x_forwarded_proto": "https"}),
        ("https://127.0.0.1:9000", "127.0.0.1:9000", {}),  # own host, TLS it did not come over
        ("http://evil.example:9000", "evil.example:9000", {}),  # a host not in ALLOWED_HOSTS
        ("null", "haven.example.org", {}),
        ("https://haven.example.org/page", "haven.example.org", {}),
        ("https://haven.example.org:99999", "haven.example.org", {}),
        (None, "haven.example.org", {}),
    ],
)
def test_other_origins_are_refused(origin, host, headers):
    assert not origin_allowed(handshake(origin, host, **headers))


@override_settings(
    SITE_URL="http://127.0.0.1:8000", CSRF_TRUSTED_ORIGINS=[], SECURE_SSL_REDIRECT=False
)
def test_without_tls_the_handshakes_own_plain_origin_is_allowed_and_no_other_port():
    assert origin_allowed(handshake("http://127.0.0.1:9000", "127.0.0.1:9000"))
    assert not origin_allowed(handshake("http://127.0.0.1:9001", "127.0.0.1:9000"))
    assert not origin_allowed(handshake("https://127.0.0.1:9000", "127.0.0.1:9000"))

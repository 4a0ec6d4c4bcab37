"""A small REST client for the live servers: what a script or the web app does over HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from rest_framework.authtoken.models import Token


def token_for(user: Any) -> str:
    token, _ = Token.objects.get_or_create(user=user)
    return token.key


def api(
    base_url: str, user: Any, method: str, path: str, body: dict[str, Any] | None = None
) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if user is not None:
        headers["Authorization"] = f"Token {token_for(user)}"
    request = urllib.request.Request(
        base_url + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers=headers,
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        raw, status = error.read(), error.code
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode("utf-8", "replace")

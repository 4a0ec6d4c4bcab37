"""/healthz (the process answers) and /readyz (it can reach the database and the channel
layer), for load balancers and the compose file's health checks. /readyz also says whether the
learned crisis model is loaded; that does not decide readiness, since the rules assess every
message without it."""

import asyncio
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection
from django.http import HttpRequest, JsonResponse

from moderation.review import model_status

log = logging.getLogger(__name__)


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


async def _layer_ok() -> None:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")
    # A send to an empty group reaches the backend (Redis) without delivering anything.
    await asyncio.wait_for(layer.group_send("health.readyz", {"type": "health.ping"}), 2)


def readyz(request: HttpRequest) -> JsonResponse:
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:
        log.warning("readyz database check failed: %s", type(exc).__name__)
        checks["database"] = "unreachable"
    try:
        async_to_sync(_layer_ok)()
        checks["channel_layer"] = "ok"
    except Exception as exc:
        log.warning("readyz channel layer check failed: %s", type(exc).__name__)
        checks["channel_layer"] = "unreachable"
    ready = all(v == "ok" for v in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", **checks, "crisis_model": model_status()},
        status=200 if ready else 503,
    )

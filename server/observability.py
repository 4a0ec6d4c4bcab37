"""Request ids, structured logs and the access log.

Logs carry ids (request, user, message, alert), never message bodies, alert excerpts, passwords
or tokens. Paths that carry a secret (the calendar feed) are redacted before they are logged, and
daphne's own access log is turned off in favour of this one."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
user_id: contextvars.ContextVar[str] = contextvars.ContextVar("user_id", default="-")

_SECRET_PATHS = re.compile(r"^/calendar/[^/]+\.ics$")
access_log = logging.getLogger("haven.access")


_SECRET_IN_TEXT = re.compile(r"/calendar/[^/\s?#]+\.ics")


def redact_path(path: str) -> str:
    return "/calendar/[redacted].ics" if _SECRET_PATHS.match(path) else path


def redact_text(text: str) -> str:
    return _SECRET_IN_TEXT.sub("/calendar/[redacted].ics", text)


class ContextFilter(logging.Filter):
    """On the one log handler: adds the ids, and takes the calendar secret out of any line that
    quotes a path (Django's own "Not Found: /calendar/<secret>.ics", a traceback's request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        record.user_id = user_id.get()
        args = record.args if isinstance(record.args, tuple) else (record.args,)
        if "/calendar/" in str(record.msg) or any("/calendar/" in str(a) for a in args if a):
            record.msg, record.args = redact_text(record.getMessage()), ()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
            "user_id": getattr(record, "user_id", "-"),
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out)


class RequestIdMiddleware:
    """Gives each request an id (or keeps the proxy's X-Request-ID), logs one access line."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming if re.fullmatch(r"[\w.-]{8,64}", incoming) else uuid.uuid4().hex[:16]
        token = request_id.set(rid)
        started = time.monotonic()
        try:
            response = self.get_response(request)
            user = getattr(request, "user", None)
            uid = str(user.pk) if user is not None and user.is_authenticated else "-"
            user_id.set(uid)
            response["X-Request-ID"] = rid
            access_log.info(
                "%s %s %s %.1fms",
                request.method,
                redact_path(request.path),
                response.status_code,
                (time.monotonic() - started) * 1000,
            )
            return response
        finally:
            request_id.reset(token)

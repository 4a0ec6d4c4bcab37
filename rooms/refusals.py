"""Refusals: what the server answers when it will not do what a socket asked."""

from __future__ import annotations

from typing import Any


class Refusal(Exception):  # noqa: N818 — a refusal is an outcome, not a programming error
    def __init__(self, close_code: int, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.close_code, self.code, self.detail = close_code, code, detail
        self.extra = extra  # more fields for the error frame (`opens_at`)


class SendError(Exception):  # noqa: N818
    def __init__(self, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.code, self.detail, self.extra = code, detail, extra

    def frame(self, client_id: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "error", "code": self.code, "detail": self.detail}
        if client_id is not None:
            out["client_id"] = client_id
        out.update(self.extra)
        return out


def not_sent() -> SendError:
    """The answer when the server failed to store a message: nothing was stored, send again."""
    return SendError("unavailable", "That message was not sent. Please send it again.")

"""What every page's template needs."""

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def safety(request: HttpRequest) -> dict[str, Any]:
    """Quick exit is for members and visitors who are not signed in; staff work from their
    own devices and do not need it taking room in the header."""
    role = getattr(request.user, "role", "")
    return {
        "show_quick_exit": role not in ("facilitator", "admin"),
        "quick_exit_url": settings.QUICK_EXIT_URL,
    }

"""Fixtures for the API tests: a clean cache (the login throttles count in it) and a clock that
the services read, so schedules can be tested at fixed moments."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from django.core.cache import cache
from django.utils import timezone


@pytest.fixture(autouse=True)
def _clean_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


class Clock:
    """Stands in for django.utils.timezone.now."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def set(self, now: dt.datetime) -> None:
        self.now = now

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Request it before `world` so the personas' groups are made at the fixed time too."""
    fixed = Clock(dt.datetime(2026, 9, 29, 12, 0, tzinfo=dt.UTC))
    monkeypatch.setattr(timezone, "now", lambda: fixed.now)
    return fixed

"""Browser tests: Playwright (sync API) driving Debian's Chromium against a real daphne with the
embedded worker, on the shared test database. Pages are found by role and label, as a screen
reader finds them. Screenshots of every page, at desktop and phone width, go to
test-artifacts/screenshots/.

In CI (CI=true) a missing Chromium fails the tests; elsewhere they are skipped with the reason."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.live.conftest import server_factory  # noqa: F401 — the fixture, reused
from tests.services import ROOT, Daphne

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").lower() == "true"
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 740}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.live)


@pytest.fixture(scope="package")
def web(server_factory: Callable[..., Daphne], django_db_blocker: Any) -> Iterator[Daphne]:  # noqa: F811
    """The whole product in one process: daphne with the embedded worker, deadlines long enough
    that an alert is still open while a test looks at it, the rate limit off (the tests type
    faster than people do).

    It stops when the browser tests end: a worker left running on the shared database would
    fire the deadlines that later tests expect from their own server. And the crisis resources
    (seeded by a migration, emptied by each transactional test's flush) are put back for them."""
    server = server_factory(
        EMBEDDED_WORKER="1",
        WORKER_TICK_SECONDS="0.2",
        ALERT_ACK_SECONDS_EMERGENCY="120",
        ALERT_ACK_SECONDS_URGENT="300",
        UNATTENDED_GRACE_SECONDS="600",
        RATE_LIMIT_PER_SECOND="0",
        PRESENCE_HEARTBEAT_SECONDS="2",
        DJANGO_ALLOW_ASYNC_UNSAFE="",
    )
    yield server
    server.stop()
    with django_db_blocker.unblock():
        ensure_resources()


@pytest.fixture
def playwright_browser(web: Daphne) -> Iterator[Any]:
    """A Chromium for one test. Playwright's sync API keeps an event loop running in this
    thread, which Django's ORM takes for an async context; the tests' own ORM calls are safe
    (no loop runs them), so the check is relaxed while the browser is up, and both end before
    the database is flushed. The servers are started with the check on."""
    if not Path(CHROMIUM).exists():
        reason = f"Chromium not found at {CHROMIUM}: apt-get install chromium"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    manager = sync_playwright().start()
    try:
        browser = manager.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()
    finally:
        manager.stop()
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def new_page(web: Daphne, playwright_browser: Any) -> Iterator[Callable[..., Any]]:
    """Pages in separate browser contexts: separate people with separate cookies. Options
    override the defaults (another server's `base_url`, a phone's `viewport`)."""
    contexts: list[Any] = []
    errors: list[str] = []

    def _new(**options: Any) -> Any:
        settings = {"viewport": DESKTOP, "base_url": web.url, "timezone_id": "America/Chicago"}
        context = playwright_browser.new_context(**{**settings, **options})
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        return page

    yield _new
    for context in contexts:
        context.close()
    assert not errors, f"JavaScript errors on the pages: {errors}"


def room_log(page: Any) -> Any:
    """The room's message list. Exact: "Messages held for review" is another list."""
    return page.get_by_role("list", name="Messages", exact=True)


def frame_type(message: str | bytes) -> str | None:
    """The `type` of a WebSocket frame a test's relay sees (None for anything not JSON)."""
    try:
        return json.loads(message).get("type")
    except (ValueError, AttributeError):
        return None


class Relay:
    """A page's sockets to one path, through the test, to fail the connection in the ways a
    phone or a laptop sees. It can cut the line (both ends closed), turn new connections away
    while `blocked`, let the line go silent (nothing passes either way and nothing closes, as
    when a laptop sleeps or the network changes under it), hold back the next frame of the type
    `hold` from the server until released, discard every frame of the type `discard` from the
    server, and lose the next frame of the type `drop` from the page together with the line (as
    when a phone loses its network mid-send)."""

    def __init__(
        self,
        path: str,
        hold: str | None = None,
        discard: str | None = None,
        drop: str | None = None,
    ) -> None:
        self.path = path
        self.blocked = False
        self.hold, self.discard, self.drop = hold, discard, drop
        self.held: list[tuple[Any, str | bytes]] = []
        self.forwarded: list[str | None] = []
        self.discarded = 0
        self.dropped = 0
        self.attempts = 0  # connections the page tried, turned away or not
        self.lines: list[dict[str, Any]] = []

    def attach(self, page: Any) -> None:
        page.route_web_socket(re.compile(self.path), self._route)

    def _route(self, ws: Any) -> None:
        self.attempts += 1
        if self.blocked:
            ws.close(code=1011, reason="network down")
            return
        server = ws.connect_to_server()
        line = {"page": ws, "server": server, "silent": False}
        self.lines.append(line)

        def from_page(message: str | bytes) -> None:
            if line["silent"]:
                return
            if self.drop and frame_type(message) == self.drop:
                self.drop = None
                self.dropped += 1
                ws.close(code=1011, reason="network lost")
                server.close()
                return
            server.send(message)

        def from_server(message: str | bytes) -> None:
            if line["silent"]:
                return
            kind = frame_type(message)
            if self.discard and kind == self.discard:
                self.discarded += 1
                return
            if self.hold and kind == self.hold:
                self.hold = None
                self.held.append((ws, message))
                return
            ws.send(message)
            self.forwarded.append(kind)

        ws.on_message(from_page)
        server.on_message(from_server)

    @property
    def upstream(self) -> Any:
        """The server's end of the newest line."""
        return self.lines[-1]["server"]

    def cut(self, *, block: bool) -> None:
        self.blocked = block
        line = self.lines[-1]
        line["page"].close(code=1011, reason="network lost")
        line["server"].close()

    def go_silent(self) -> None:
        self.lines[-1]["silent"] = True

    def release(self) -> None:
        for ws, message in self.held:
            ws.send(message)
        self.held.clear()

    def wait_for(self, page: Any, ready: Callable[[], bool], what: str) -> None:
        for _ in range(300):
            if ready():
                return
            page.wait_for_timeout(100)
        raise AssertionError(f"{what} never came")


def enter_room(page: Any, group_id: int) -> None:
    from playwright.sync_api import expect

    page.goto(f"/rooms/{group_id}/")
    expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible()


def sign_in(page: Any, username: str, password: str | None = None) -> None:
    """Through the real sign-in page, finding the fields by their labels."""
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password or f"pw-{username}-long")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/$"))


def shoot(page: Any, name: str) -> None:
    """Saves the page at desktop and at phone width."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size or DESKTOP
    page.evaluate("window.scrollTo(0, 0)")
    page.set_viewport_size(DESKTOP)
    page.wait_for_timeout(150)
    page.screenshot(path=str(SCREENSHOTS / f"{name}-desktop.png"), full_page=True)
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(150)
    page.screenshot(path=str(SCREENSHOTS / f"{name}-phone.png"), full_page=True)
    page.set_viewport_size(size)


def live_session(group: Any) -> None:
    """A session of a scheduled group that is on now, so its room is open to members."""
    from rooms.models import Session

    now = dt.datetime.now(dt.UTC)
    Session.objects.create(
        group=group, starts_at=now - dt.timedelta(minutes=5), ends_at=now + dt.timedelta(hours=2)
    )


def ensure_resources() -> None:
    """The crisis resources are seeded by a migration, which a transactional test's flush
    empties; put them back as the migration does."""
    import importlib

    from django.apps import apps

    from moderation.models import SupportResource

    if SupportResource.objects.exists():
        return
    for migration in ("0002_seed_resources", "0005_resource_countries"):
        importlib.import_module(f"moderation.migrations.{migration}").seed(apps, None)

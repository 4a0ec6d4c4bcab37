"""The production proxy in front of the cluster: Debian's nginx running deploy/nginx.conf, the
file docker-compose.yml mounts. Its WebSocket upgrade and long timeouts, the forwarded headers
the web processes trust (one proxy: NUM_PROXIES=1), and its own health check, each seen from
outside as a client sees them. The sign-ins here come from their own loopback addresses
(127.0.0.2 and up), so that the sign-in throttle they exercise leaves the other tests' alone."""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from tests.cluster.topology import PROXY_CONF, Cluster

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(240)]

DEMO_PASSWORD = "haven-demo-2026"
# nginx closes a proxied connection that is silent this long unless told otherwise.
NGINX_DEFAULT_READ_TIMEOUT = 60


def request_from(
    source: str,
    cluster: Cluster,
    method: str,
    path: str,
    *,
    body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], Any]:
    """One HTTP request to nginx from the loopback address `source`."""
    conn = http.client.HTTPConnection(
        "127.0.0.1", cluster.port, timeout=10, source_address=(source, 0)
    )
    try:
        conn.request(
            method,
            path,
            body=json.dumps(body) if body is not None else None,
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        response = conn.getresponse()
        raw = response.read()
        is_json = response.getheader("Content-Type", "").startswith("application/json")
        return (
            response.status,
            {k.lower(): v for k, v in response.getheaders()},
            json.loads(raw) if is_json else raw,
        )
    finally:
        conn.close()


def directives(text: str) -> list[str]:
    lines = [line.split("#")[0].strip() for line in text.splitlines()]
    return [line for line in lines if line]


def test_nginx_runs_the_compose_files_configuration_with_only_the_addresses_filled_in(
    cluster: Cluster,
) -> None:
    assert cluster.proxy is not None
    loaded = directives(cluster.proxy.effective_config())
    filled_in = ("resolver ", "server web:8000 ", "listen 80 ")
    production = directives(PROXY_CONF.read_text())
    for line in production:
        if not line.startswith(filled_in):
            assert line in loaded, f"{line!r} from deploy/nginx.conf is not what nginx runs"
    ports = sorted(f"127.0.0.1:{web.port}" for web in cluster.web)
    servers = [line for line in loaded if re.match(r"server 127\.0\.0\.1:\d+ ", line)]
    assert sorted(line.split()[1] for line in servers) == ports
    assert f"listen 127.0.0.1:{cluster.port} default_server;" in loaded
    assert not any(line.startswith("resolver ") for line in loaded)


def test_the_proxy_answers_its_own_health_check_and_the_web_processes_through_it(
    cluster: Cluster,
) -> None:
    assert request_from("127.0.0.1", cluster, "GET", "/proxy-healthz")[::2] == (200, b"ok\n")
    status, _, body = request_from("127.0.0.1", cluster, "GET", "/readyz")
    assert (status, body["database"], body["channel_layer"]) == (200, "ok", "ok")


def test_the_sign_in_throttle_counts_the_address_nginx_saw_not_the_one_a_client_wrote(
    cluster: Cluster,
) -> None:
    statuses = []
    for attempt in range(11):
        status, _, _ = request_from(
            "127.0.0.2",
            cluster,
            "POST",
            "/api/auth/token/",
            body={"username": f"nobody-{attempt}", "password": "wrong"},
            # A new address in every guess: nginx replaces it with the one it saw.
            headers={"X-Forwarded-For": f"203.0.113.{attempt + 1}"},
        )
        statuses.append(status)
    # 10 sign-ins a minute per address (deploy/haven.env leaves the default).
    assert statuses == [400] * 10 + [429]
    # Another client address (as nginx saw it) is not slowed down by the first one's guesses.
    status, _, _ = request_from(
        "127.0.0.3",
        cluster,
        "POST",
        "/api/auth/token/",
        body={"username": "nobody-else", "password": "wrong"},
        headers={"X-Forwarded-For": "127.0.0.2"},
    )
    assert status == 400


def test_the_request_id_is_the_proxys_and_comes_back_to_the_client(cluster: Cluster) -> None:
    status, headers, _ = request_from(
        "127.0.0.1", cluster, "GET", "/healthz", headers={"X-Request-ID": "chosen-by-client"}
    )
    assert status == 200
    assert re.fullmatch(r"[0-9a-f]{32}", headers["x-request-id"]), headers["x-request-id"]


def test_a_room_socket_through_nginx_outlives_nginxs_default_timeout_while_idle(
    cluster: Cluster,
) -> None:
    """A member who reads without typing keeps the socket past nginx's default 60 seconds.
    daphne's keep-alive pings (every 20 s) cross the proxy too, so this shows the whole chain
    keeps an idle socket; that the hour-long proxy_read_timeout itself is loaded is checked
    with the rest of deploy/nginx.conf above."""
    source = "127.0.0.4"
    status, _, body = request_from(
        source,
        cluster,
        "POST",
        "/api/auth/token/",
        body={"username": "admin", "password": DEMO_PASSWORD},
    )
    assert status == 200, body
    auth = {"Authorization": f"Token {body['token']}"}
    status, _, group = request_from(
        source,
        cluster,
        "POST",
        "/api/groups/",
        body={
            "name": f"Idle Room {uuid.uuid4().hex[:6]}",
            "drop_in": True,
            "agreement_text": "Hi.",
        },
        headers=auth,
    )
    assert status == 201, group

    async def scenario() -> None:
        _, _, ticket = await asyncio.to_thread(
            lambda: request_from(source, cluster, "POST", "/api/ws-ticket/", headers=auth)
        )
        url = f"ws://127.0.0.1:{cluster.port}/ws/rooms/{group['id']}/?ticket={ticket['ticket']}"
        async with connect(url, origin=cluster.url, ping_interval=None) as ws:  # type: ignore[arg-type]
            hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert hello["type"] == "hello"
            await asyncio.sleep(NGINX_DEFAULT_READ_TIMEOUT + 5)
            await ws.send(json.dumps({"type": "history", "after_id": 0, "limit": 1}))
            while (frame := json.loads(await asyncio.wait_for(ws.recv(), 10)))["type"] != (
                "history"
            ):
                pass
            assert frame["messages"] == []

    asyncio.run(scenario())


def test_the_cluster_imports_nothing_into_the_product() -> None:
    root = Path(__file__).resolve().parent.parent.parent
    for package in ("server", "rooms", "moderation", "frontend"):
        for path in (root / package).rglob("*.py"):
            text = path.read_text()
            assert not re.search(r"^\s*(from|import) tests\b", text, re.M), path

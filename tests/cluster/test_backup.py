"""Backups: the procedure of docs/operations.md, end to end. History is made over real sockets
on the production topology, the database is dumped with `pg_dump -Fc`, restored with
`pg_restore` into a fresh PostgreSQL server, and a web process started on the restored database
(with a new, empty Redis) serves the same history, frame for frame."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.client import RoomClient, fetch_history, http_json
from tests.cluster.topology import Cluster
from tests.services import Daphne, postgres_tool, start_postgres, start_redis

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]

DEMO_PASSWORD = "haven-demo-2026"
# seed_demo: alice is a member and carol the lead facilitator; a session is live right now.
GROUP = "Rebuilding Trust — Evening Circle"


def login(base_url: str, username: str) -> str:
    status, body = http_json(
        f"{base_url}/api/auth/token/", "POST", {"username": username, "password": DEMO_PASSWORD}
    )
    assert status == 200, body
    return str(body["token"])


def group_id_of(base_url: str, token: str) -> int:
    status, body = http_json(f"{base_url}/api/groups/?limit=100", token=token)
    assert status == 200, body
    rows = body["results"] if isinstance(body, dict) else body
    return next(g["id"] for g in rows if g["name"] == GROUP)


async def make_history(base_url: str, tokens: dict[str, str], group_id: int) -> None:
    """A conversation with a crisis message (an alert) and a message a facilitator deleted
    (a tombstone), as members and facilitators make it."""
    alice = RoomClient("alice", tokens["alice"], group_id, base_url)
    carol = RoomClient("carol", tokens["carol"], group_id, base_url)
    tasks = [asyncio.ensure_future(c.run()) for c in (carol, alice)]
    try:
        for client in (carol, alice):
            await client.wait_live()
        for i in range(4):
            alice.say(f"Day {i}: it still hurts, but less.")
            carol.say(f"Thank you for sharing, {i}.")
        alice.say("I want to die tonight. I have the pills here.")
        deadline = time.monotonic() + 20
        while alice.pending or carol.pending:
            assert time.monotonic() < deadline, (alice.errors, carol.errors)
            await asyncio.sleep(0.05)
        assert carol.ws is not None
        victim = min(alice.acked.values())
        await carol.ws.send(json.dumps({"type": "delete", "message_id": victim, "reason": "x"}))
        while not any(
            m["id"] == victim and m["deleted"]
            for m in await fetch_history(base_url, tokens["alice"], group_id)
        ):
            assert time.monotonic() < deadline, carol.errors
            await asyncio.sleep(0.1)
    finally:
        for client in (alice, carol):
            await client.stop()
        await asyncio.gather(*tasks, return_exceptions=True)


def alerts(base_url: str, token: str) -> list[tuple[Any, ...]]:
    status, body = http_json(f"{base_url}/api/alerts/?limit=100", token=token)
    assert status == 200, body
    rows = body["results"] if isinstance(body, dict) else body
    # Status and escalations change as the worker runs; what the alert is about does not.
    return sorted((a["id"], a["level"], a["message_id"], a["group_id"]) for a in rows)


def test_a_dump_restored_into_a_fresh_database_serves_the_same_history(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path / "live", port=0, web_processes=1, persistent=False).start()
    restored_pg = restored_redis = web = None
    try:
        tokens = {name: login(cluster.url, name) for name in ("alice", "carol")}
        group_id = group_id_of(cluster.url, tokens["carol"])
        asyncio.run(make_history(cluster.url, tokens, group_id))
        before = asyncio.run(fetch_history(cluster.url, tokens["alice"], group_id))
        before_alerts = alerts(cluster.url, tokens["carol"])
        assert len(before) == 9 and sum(m["deleted"] for m in before) == 1
        assert before_alerts, "the crisis message raised an alert"

        # Backup, while the service runs: pg_dump reads one consistent snapshot.
        dump = tmp_path / "haven.dump"
        subprocess.run(
            [postgres_tool("pg_dump"), "-Fc", "-f", str(dump), cluster.env["DATABASE_URL"]],
            check=True,
            capture_output=True,
            timeout=60,
        )
        assert dump.stat().st_size > 0

        # Restore into a fresh server, as after losing the machine.
        (tmp_path / "restored").mkdir()
        restored_pg = start_postgres(str(tmp_path / "restored"))
        restored_url = restored_pg.create_database("haven")
        subprocess.run(
            [
                postgres_tool("pg_restore"),
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "-d",
                restored_url,
                str(dump),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        (tmp_path / "redis").mkdir()
        restored_redis = start_redis(str(tmp_path / "redis"))
        env = dict(cluster.env, DATABASE_URL=restored_url, REDIS_URL=restored_redis.url)
        web = Daphne(env, tmp_path / "restored-web.log").start()
        status, ready = http_json(f"{web.url}/readyz")
        assert status == 200, ready

        # The same accounts and tokens, the same history, frame for frame.
        after = asyncio.run(fetch_history(web.url, tokens["alice"], group_id))
        assert after == before
        assert alerts(web.url, tokens["carol"]) == before_alerts
    finally:
        if web is not None:
            web.stop()
        if restored_redis is not None:
            restored_redis.stop()
        if restored_pg is not None:
            restored_pg.stop()
        cluster.stop()

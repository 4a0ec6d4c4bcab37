"""Scale-out, proven: members in two rooms talk through nginx (deploy/nginx.conf) to two daphne
processes that share Postgres and Redis, with the worker running. One web process is killed
(SIGKILL) while they talk, then Redis is restarted while they talk; every member ends with every
message exactly once, in order, and nothing sent is lost.

Run with `-s` to read the recovery figures it measures (docs/operations.md quotes them)."""

from __future__ import annotations

import asyncio
import re
import statistics
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

import pytest

from tests.cluster.client import RoomClient, fetch_history, hello_of, http_json
from tests.cluster.topology import Cluster

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(240)]

DEMO_PASSWORD = "haven-demo-2026"
ROOMS = {
    "Cluster Room One": ["alice", "bob", "dana", "carol"],
    "Cluster Room Two": ["eli", "gwen", "frank"],
}
SEND_EVERY = 0.7  # seconds between one member's messages: under the 1/s rate limit
CONVERGE_TIMEOUT = 30.0


# ---------------------------------------------------------------------- setup over REST


def login(cluster: Cluster, username: str) -> str:
    status, body = http_json(
        f"{cluster.url}/api/auth/token/",
        "POST",
        {"username": username, "password": DEMO_PASSWORD},
    )
    assert status == 200, (username, status, body)
    return str(body["token"])


def make_rooms(cluster: Cluster) -> tuple[dict[str, int], dict[str, str]]:
    """Two drop-in groups created by the admin, with the demo members joined and a
    facilitator in each: all over the API, through the balancer."""
    tokens = {name: login(cluster, name) for name in ["admin", *sum(ROOMS.values(), [])]}
    status, users = http_json(f"{cluster.url}/api/users/?limit=100", token=tokens["admin"])
    assert status == 200, users
    rows = users["results"] if isinstance(users, dict) else users
    user_ids = {u["username"]: u["id"] for u in rows}
    group_ids = {}
    for name, members in ROOMS.items():
        facilitators = [m for m in members if m in ("carol", "frank")]
        status, group = http_json(
            f"{cluster.url}/api/groups/",
            "POST",
            {
                "name": name,
                "drop_in": True,
                "join_policy": "open",
                "capacity": 20,
                "agreement_text": "Be kind.",
                "facilitators": [user_ids[f] for f in facilitators],
            },
            tokens["admin"],
        )
        assert status == 201, group
        group_ids[name] = group["id"]
        for member in members:
            if member in facilitators:
                continue
            status, joined = http_json(
                f"{cluster.url}/api/groups/{group['id']}/join/",
                "POST",
                {"alias": f"{member.title()}Alias", "agreement_accepted": True},
                tokens[member],
            )
            assert (status, joined["status"]) in ((200, "active"), (201, "active")), joined
    return group_ids, tokens


# ---------------------------------------------------------------------- observing


def metrics_of(base_url: str, token: str) -> str:
    request = urllib.request.Request(
        f"{base_url}/metrics", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        return response.read().decode()


def gauge(text: str, name: str, labels: str = "") -> float:
    match = re.search(rf"^{re.escape(name + labels)} ([0-9.e+-]+)$", text, re.MULTILINE)
    assert match, f"{name}{labels} not in metrics"
    return float(match.group(1))


def room_sockets(web_url: str, token: str) -> int:
    """How many room sockets one web process holds, by its own gauge."""
    return int(gauge(metrics_of(web_url, token), "haven_open_sockets", '{kind="room"}'))


async def until_sockets(cluster: Cluster, index: int, wanted: int) -> None:
    """Waits (within CONVERGE_TIMEOUT) until web process `index` holds `wanted` room sockets."""
    deadline = time.monotonic() + CONVERGE_TIMEOUT
    url = cluster.web[index].url
    while (held := await asyncio.to_thread(room_sockets, url, cluster.metrics_token)) != wanted:
        assert time.monotonic() < deadline, f"web-{index + 1} holds {held}, not {wanted}"
        await asyncio.sleep(0.2)


@dataclass
class Phase:
    name: str
    disrupted_at: float
    converged_after: float  # seconds from the disruption until every member had everything
    reconnected: list[float]  # per member that lost its socket: seconds until its next hello
    resynced: list[float]  # per member that got a resync frame: seconds until it did
    sent: int
    # For every message said during the phase and every member of its room: seconds from
    # the sender typing it to the member having it (live, or from a catch-up).
    latencies: list[float]
    after_last_send: float  # seconds from the last message typed until every member had all

    def report(self) -> str:
        def fmt(values: list[float]) -> str:
            if not values:
                return "none"
            return (
                f"{len(values)} members, median {statistics.median(values):.2f}s, "
                f"max {max(values):.2f}s"
            )

        ordered = sorted(self.latencies)
        p50 = ordered[len(ordered) // 2]
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        return (
            f"[cluster] {self.name}: {self.sent} messages, {len(ordered)} deliveries; "
            f"reconnected: {fmt(self.reconnected)}; resynced: {fmt(self.resynced)}; "
            f"typed-to-seen p50 {p50 * 1000:.0f}ms p99 {p99:.2f}s max {ordered[-1]:.2f}s; "
            f"all caught up {self.after_last_send:.2f}s after the last message was typed"
        )


# ---------------------------------------------------------------------- the scenario


class Scenario:
    def __init__(self, cluster: Cluster, group_ids: dict[str, int], tokens: dict[str, str]):
        self.cluster = cluster
        self.clients: list[RoomClient] = []
        self.rooms: dict[int, list[RoomClient]] = {}
        for name, members in ROOMS.items():
            gid = group_ids[name]
            for member in members:
                client = RoomClient(member, tokens[member], gid, cluster.url)
                self.clients.append(client)
                self.rooms.setdefault(gid, []).append(client)
        self.tasks: list[asyncio.Task] = []
        self.counter = 0

    async def start(self) -> None:
        for client in self.clients:
            self.tasks.append(asyncio.ensure_future(client.run()))
            await client.wait_live()

    async def stop(self) -> None:
        for client in self.clients:
            await client.stop()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def talk(
        self, seconds: float, disrupt: Any = None, at: float = 1.0
    ) -> tuple[float, int, float]:
        """Every member sends a message every SEND_EVERY seconds for `seconds`; `disrupt` runs
        (in a thread) `at` seconds in. Returns when the disruption happened, how many messages
        were sent, and when the last one was."""
        disrupted_at = time.monotonic()
        sent = 0
        started = time.monotonic()
        done = False
        while time.monotonic() - started < seconds:
            if disrupt is not None and not done and time.monotonic() - started >= at:
                disrupted_at = time.monotonic()
                await asyncio.to_thread(disrupt)
                done = True
            for client in self.clients:
                self.counter += 1
                client.say(f"{client.name} says #{self.counter}")
                sent += 1
            last_said = time.monotonic()
            await asyncio.sleep(SEND_EVERY)
        return disrupted_at, sent, last_said

    def converged(self) -> bool:
        for clients in self.rooms.values():
            acked = {i for c in clients for i in c.acked.values()}
            if any(c.pending for c in clients):
                return False
            if any(not acked <= set(c.messages) for c in clients):
                return False
        return True

    async def converge(self) -> float:
        deadline = time.monotonic() + CONVERGE_TIMEOUT
        while not self.converged():
            if time.monotonic() > deadline:
                raise AssertionError(self.diagnosis())
            await asyncio.sleep(0.05)
        return time.monotonic()

    def diagnosis(self) -> str:
        lines = ["members did not converge:"]
        for gid, clients in self.rooms.items():
            acked = {i for c in clients for i in c.acked.values()}
            for c in clients:
                lines.append(
                    f"  room {gid} {c.name}: pending={len(c.pending)} "
                    f"missing={sorted(acked - set(c.messages))[:10]} "
                    f"connects={len(c.connects)} resyncs={len(c.resyncs)} errors={c.errors[-3:]}"
                )
        return "\n".join(lines)

    async def phase(self, name: str, disrupt: Any, seconds: float = 5.0) -> Phase:
        connects_before = {c.name: len(c.connects) for c in self.clients}
        resyncs_before = {c.name: len(c.resyncs) for c in self.clients}
        first_new = {c.name: set(c.said_at) for c in self.clients}
        disrupted_at, sent, last_typed = await self.talk(seconds, disrupt)
        await self.converge()
        latencies, converged_at = [], disrupted_at
        for clients in self.rooms.values():
            said = {
                i: at for c in clients for i, at in c.said_at.items() if i not in first_new[c.name]
            }
            for c in clients:
                latencies += [c.received_at[i] - at for i, at in said.items()]
                converged_at = max([converged_at, *(c.received_at[i] for i in said)])
        reconnected = [
            c.connects[connects_before[c.name]] - disrupted_at
            for c in self.clients
            if len(c.connects) > connects_before[c.name]
        ]
        resynced = [
            c.resyncs[resyncs_before[c.name]] - disrupted_at
            for c in self.clients
            if len(c.resyncs) > resyncs_before[c.name]
        ]
        return Phase(
            name,
            disrupted_at,
            converged_at - disrupted_at,
            reconnected,
            resynced,
            sent,
            latencies,
            converged_at - last_typed,
        )


async def scenario(cluster: Cluster, group_ids: dict[str, int], tokens: dict[str, str]) -> None:
    s = Scenario(cluster, group_ids, tokens)
    await s.start()
    try:
        # nginx spread the members' sockets over both web processes (least_conn).
        held = [
            await asyncio.to_thread(room_sockets, web.url, cluster.metrics_token)
            for web in cluster.web
        ]
        assert sum(held) == len(s.clients) and min(held) >= 1, held

        # Steady state: messages flow between members on different processes.
        steady = await s.phase("steady", None, seconds=2.0)

        # Kill the web process that carries the most sockets, mid-conversation.
        victim = max(range(len(cluster.web)), key=lambda i: held[i])
        survivor = 1 - victim
        on_victim = held[victim]
        killed = await s.phase("web process killed", lambda: cluster.kill_web(victim))
        assert len(killed.reconnected) >= on_victim > 0
        # Every member reconnected through nginx to the process that is left.
        await until_sockets(cluster, survivor, len(s.clients))
        # nginx's passive health check: with one process dead, every request still answers
        # (a refused connection is retried on the other, then the dead one is skipped).
        statuses = [
            (await asyncio.to_thread(http_json, f"{cluster.url}/readyz"))[0] for _ in range(10)
        ]
        assert statuses == [200] * 10

        # The killed process comes back (as compose's restart policy would bring it), and nginx
        # sends it requests again once its fail_timeout is over.
        restarting = time.monotonic()
        await asyncio.to_thread(cluster.restart_web, victim)
        await asyncio.to_thread(cluster.wait_in_rotation, victim, 30)
        back_in_rotation = time.monotonic() - restarting

        # Redis restarts empty, mid-conversation.
        redis = await s.phase("Redis restarted", cluster.restart_redis, seconds=6.0)

        for phase in (steady, killed, redis):
            print(phase.report())
        print(f"[cluster] members on the killed process: {on_victim}")
        print(f"[cluster] a restarted web process was back in rotation in {back_in_rotation:.2f}s")
        for web in cluster.web:
            reported = await asyncio.to_thread(room_sockets, web.url, cluster.metrics_token)
            print(f"[cluster] 127.0.0.1:{web.port}: open_sockets gauge {reported}")

        # Exactly once, in order, and equal to the record, for every member.
        for gid, clients in s.rooms.items():
            record = await fetch_history(cluster.url, tokens["admin"], gid)
            record_ids = [m["id"] for m in record]
            start = min(c.start_id or 0 for c in clients)
            record_ids = [i for i in record_ids if i > start]
            sent_ids = sorted(i for c in clients for i in c.acked.values())
            assert len(set(sent_ids)) == len(sent_ids), "one send stored twice"
            assert record_ids == sent_ids, "the record differs from what was acknowledged"
            client_ids = [m["client_id"] for m in record]
            assert len(set(client_ids)) == len(client_ids), "a retried send was stored twice"
            for client in clients:
                assert client.ids == record_ids, client.name
                in_view = [client.messages[i]["body"] for i in client.ids]
                assert in_view == [m["body"] for m in record if m["id"] > start]
        print(
            "[cluster] duplicate frames dropped by clients: "
            + ", ".join(f"{c.name}={c.duplicates}" for c in s.clients)
        )
    finally:
        await s.stop()
    # Who a newcomer sees as present once every member has left. Reported, not asserted: after
    # a Redis outage the product keeps presence rows of sockets whose consumer ended with the
    # layer error (docs/operations.md, known limits).
    await asyncio.sleep(1.5)
    for gid in s.rooms:
        hello = await hello_of(cluster.url, tokens["admin"], gid)
        ghosts = sorted(p["alias"] for p in hello["present"] if p["alias"] != "admin")
        print(f"[cluster] room {gid}: shown as present after everyone left: {ghosts}")


def test_members_talk_through_two_web_processes_and_survive_a_killed_process_and_redis_restart(
    cluster: Cluster,
) -> None:
    group_ids, tokens = make_rooms(cluster)
    asyncio.run(scenario(cluster, group_ids, tokens))


def test_health_and_metrics_answer_behind_nginx(cluster: Cluster) -> None:
    with urllib.request.urlopen(f"{cluster.url}/proxy-healthz", timeout=10) as response:
        assert (response.status, response.read()) == (200, b"ok\n")
    status, body = http_json(f"{cluster.url}/healthz")
    assert (status, body) == (200, {"status": "ok"})
    status, body = http_json(f"{cluster.url}/readyz")
    assert status == 200, body
    assert (body["database"], body["channel_layer"]) == ("ok", "ok")
    status, _ = http_json(f"{cluster.url}/metrics")
    assert status == 403
    text = metrics_of(cluster.url, cluster.metrics_token)
    assert "haven_open_sockets" in text
    # The worker is its own process and runs its jobs: its heartbeat is fresh.
    assert gauge(text, "haven_worker_heartbeat_age_seconds") < 10

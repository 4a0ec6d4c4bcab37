"""Crisis message to facilitator alert, across processes, under the moderate room load.

Two daphne processes share a real Redis. Members of R rooms (default 10 x 10) are connected to
process A and each sends an ordinary message once a second (open loop); each room's facilitator
is connected to process B. Every `--crisis-every` seconds one member sends a crisis message
instead. Measured at the facilitators on B, from the intended send time:

  alert     crisis message.send -> alert.new   (the figure the escalation issue sets: p99 < 250 ms)
  baseline  ordinary message.send -> message.new, same sockets, same run

The baseline is the ordinary delivery path, so the ratio shows what detection, the alert row
and the alert fan-out add. Medians of --repeats runs.

The learned crisis stage runs after delivery unless --model off (CRISIS_MODEL=off). --crisis
rules sends crisis messages the rules catch in the send path; --crisis model sends ones only the
model reads as a crisis, so their alert.new comes from the reviewer, after the ack. Alerts on
ordinary messages (the model's, where it reads one as a crisis) are counted apart; --ordinary
calm sends ordinary messages neither stage flags.

    .venv/bin/python bench/alert_latency.py
    .venv/bin/python bench/alert_latency.py --crisis model
    .venv/bin/python bench/alert_latency.py --model off
    .venv/bin/python bench/alert_latency.py --quick
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.services import Daphne, manage, service_env, start_redis  # noqa: E402

ORDINARY = [
    "Thank you for sharing that, it helps to hear I'm not the only one.",
    "This week was a little easier. I slept through the night.",
    "Sundays are the hardest for me too.",
]
# Ordinary messages neither stage flags (earlier artifacts read the third one above as urgent;
# the model as shipped reads all six as nothing): what reading every message costs without the
# alerts it raises. The script prints how both stages read each message at start.
CALM = [
    "Thank you for sharing that, it helps to hear I'm not the only one.",
    "This week was a little easier. I slept through the night.",
    "We had dinner together as a family for the first time in weeks.",
]
CRISIS = [
    "I want to end my life tonight. I have the pills ready.",
    "honestly I just want to die, everyone would be better off without me",
    "I'm going to kill myself after the kids are asleep",
]
# The rules find nothing in these; rules and model together find a crisis (checked at start).
CRISIS_MODEL_ONLY = [
    "I have the rope in the garage",
    "I want to sleep and never wake up",
    "i have 40 of my pills counted out for after the kids leave friday",
]


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def setup(rooms: int, members: int) -> list[dict]:
    """Creates the groups and accounts in the bench database; returns session cookies."""
    import django

    django.setup()
    from django.conf import settings as dj
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from rooms.services import enrollment_join, group_create
    from server.accounts.models import User

    def cookie(user: User) -> str:
        store = SessionStore()
        store[SESSION_KEY] = str(user.pk)
        store[BACKEND_SESSION_KEY] = dj.AUTHENTICATION_BACKENDS[0]
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store.create()
        return f"sessionid={store.session_key}"

    out = []
    for r in range(rooms):
        facilitator = User.objects.create(username=f"fac{r}", role="facilitator")
        group = group_create(
            fields={"name": f"Bench room {r}", "drop_in": True, "capacity": members + 5},
            facilitator_ids=[facilitator.pk],
        )
        room = {"group": group.pk, "facilitator": cookie(facilitator), "members": []}
        for m in range(members):
            user = User.objects.create(username=f"r{r}m{m}", role="member")
            enrollment_join(group=group, user=user, alias=f"Member {m}", agreement_accepted=True)
            room["members"].append(cookie(user))
        out.append(room)
    return out


async def run_once(
    a: Daphne,
    b: Daphne,
    rooms: list[dict],
    duration: float,
    crisis_every: float,
    *,
    crisis_texts: list[str],
    ordinary: list[str],
) -> dict:
    import websockets

    sent_at: dict[str, float] = {}  # client_id -> intended send time
    crisis_ids: set[str] = set()
    alert_ms: list[float] = []
    plain_ms: list[float] = []
    alert_at: dict[int, float] = {}  # message id -> first alert.new for it
    message_client: dict[int, str] = {}  # message id -> client_id, from acks

    async def connect(server: Daphne, group: int, cookie: str):  # noqa: ANN202
        ws = await websockets.connect(
            f"{server.ws_url}/ws/rooms/{group}/",
            origin=server.url,
            additional_headers={"Cookie": cookie},
            max_queue=None,
        )
        while json.loads(await ws.recv())["type"] != "hello":
            pass
        return ws

    facilitators = [await connect(b, room["group"], room["facilitator"]) for room in rooms]
    members = [[await connect(a, room["group"], c) for c in room["members"]] for room in rooms]
    stop = time.monotonic() + duration

    async def read_facilitator(ws) -> None:  # noqa: ANN001
        async for raw in ws:
            now = time.monotonic()
            frame = json.loads(raw)
            if frame["type"] == "message.new":
                cid = frame["message"]["client_id"]
                if cid in sent_at and cid not in crisis_ids:
                    plain_ms.append((now - sent_at[cid]) * 1000)
            elif frame["type"] == "alert.new":
                # Matched to its message after the run: the ack (on the other process) may
                # come after the alert.
                alert_at.setdefault(frame["alert"]["message_id"], now)

    async def read_member(ws) -> None:  # noqa: ANN001
        async for raw in ws:
            frame = json.loads(raw)
            if frame["type"] == "message.ack":
                message_client[frame["id"]] = frame["client_id"]

    async def member_loop(ws, crisis_turns: set[int]) -> None:  # noqa: ANN001
        start = time.monotonic() + random.random()
        n = 0
        while True:
            due = start + n
            if due > stop:
                return
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            cid = str(uuid.uuid4())
            sent_at[cid] = due
            crisis = n in crisis_turns
            if crisis:
                crisis_ids.add(cid)
            body = random.choice(crisis_texts if crisis else ordinary)
            await ws.send(json.dumps({"type": "message.send", "client_id": cid, "body": body}))
            n += 1

    flat = [ws for room in members for ws in room]
    plan: dict[int, set[int]] = {i: set() for i in range(len(flat))}
    t = 1.0
    while t < duration - 1:
        plan[random.randrange(len(flat))].add(int(t))
        t += crisis_every
    readers = [asyncio.create_task(read_facilitator(ws)) for ws in facilitators]
    readers += [asyncio.create_task(read_member(ws)) for ws in flat]
    await asyncio.gather(*(member_loop(ws, plan[i]) for i, ws in enumerate(flat)))
    await asyncio.sleep(2.0)  # drain
    for task in readers:
        task.cancel()
    alerts_seen: set[str] = set()
    other_alerts: set[str] = set()  # alerts on ordinary messages
    for message_id, at in alert_at.items():
        cid = message_client.get(message_id, "")
        if cid in crisis_ids:
            alerts_seen.add(cid)
            alert_ms.append((at - sent_at[cid]) * 1000)
        elif cid in sent_at:
            other_alerts.add(cid)
    for ws in facilitators + flat:
        await ws.close()
    return {
        "crisis_sent": len(crisis_ids),
        "alerts_received": len(alerts_seen),
        "alert_p50": pct(alert_ms, 0.5),
        "alert_p99": pct(alert_ms, 0.99),
        "plain_p50": pct(plain_ms, 0.5),
        "plain_p99": pct(plain_ms, 0.99),
        "plain_count": len(plain_ms),
        "other_alerts": len(other_alerts),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rooms", type=int, default=10)
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--crisis-every", type=float, default=0.5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--model", choices=["on", "off"], default="on", help="the learned stage (CRISIS_MODEL)"
    )
    parser.add_argument(
        "--crisis",
        choices=["rules", "model"],
        default="rules",
        help="crisis messages the rules catch, or ones only the model reads as a crisis",
    )
    parser.add_argument(
        "--ordinary",
        choices=["default", "calm"],
        default="default",
        help="ordinary messages: default (one of three read as urgent by earlier artifacts) "
        "or calm (nothing either stage flags)",
    )
    args = parser.parse_args()
    if args.quick:
        args.duration, args.repeats = 8, 1
    crisis_texts = CRISIS if args.crisis == "rules" else CRISIS_MODEL_ONLY
    from moderation.crisis import assess
    from moderation.crisis.combine import assess_both

    for text in crisis_texts:
        rules, both = assess(text).level, assess_both(text).level
        print(f"crisis message: rules {rules}, rules+model {both}: {text!r}")
    ordinary = ORDINARY if args.ordinary == "default" else CALM
    for text in ordinary:
        rules, both = assess(text).level, assess_both(text).level
        print(f"ordinary message: rules {rules}, rules+model {both}: {text!r}")

    work = Path(tempfile.mkdtemp(prefix="haven-alert-bench-"))
    redis = start_redis(str(work))
    db = f"sqlite:///{work / 'db.sqlite3'}"
    env = service_env(
        DATABASE_URL=db,
        REDIS_URL=redis.url,
        RATE_LIMIT_PER_SECOND="0",
        LOG_LEVEL="WARNING",
        EMBEDDED_WORKER="0",
        CRISIS_MODEL=args.model,
    )
    manage("migrate", "-v0", env=env)
    os.environ.update(env)
    rooms = setup(args.rooms, args.members)
    a = Daphne(env, work / "a.log").start()
    b = Daphne(env, work / "b.log").start()
    runs = []
    try:
        for i in range(args.repeats):
            result = asyncio.run(
                run_once(
                    a,
                    b,
                    rooms,
                    args.duration,
                    args.crisis_every,
                    crisis_texts=crisis_texts,
                    ordinary=ordinary,
                )
            )
            runs.append(result)
            print(
                f"run {i + 1}: crisis {result['crisis_sent']} -> alerts "
                f"{result['alerts_received']}; alert p50 {result['alert_p50']:.1f} ms "
                f"p99 {result['alert_p99']:.1f} ms; ordinary message p50 "
                f"{result['plain_p50']:.1f} ms p99 {result['plain_p99']:.1f} ms "
                f"({result['plain_count']} deliveries); alerts on ordinary messages "
                f"{result['other_alerts']}"
            )
    finally:
        for server in (a, b):
            try:
                server.stop()
            except subprocess.TimeoutExpired:  # an overloaded server may not stop in time
                server.stop(kill=True)
        redis.stop()

    def med(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    lost = sum(r["crisis_sent"] - r["alerts_received"] for r in runs)
    print()
    print(
        f"load: {args.rooms} rooms x {args.members} members x 1 msg/s on process A; "
        f"facilitators on process B; Redis channel layer; {args.repeats} run(s) of "
        f"{args.duration:.0f} s; model {args.model}; crisis messages for the {args.crisis}; "
        f"ordinary messages {args.ordinary}"
    )
    print(
        f"crisis -> alert.new (other process): p50 {med('alert_p50'):.1f} ms, "
        f"p99 {med('alert_p99'):.1f} ms (target p99 < 250 ms: "
        f"{'met' if med('alert_p99') < 250 else 'MISSED'}); alerts lost: {lost}"
    )
    print(
        f"baseline ordinary message -> message.new, same run: p50 {med('plain_p50'):.1f} ms, "
        f"p99 {med('plain_p99'):.1f} ms"
    )
    print(f"ratio alert/ordinary p99: {med('alert_p99') / med('plain_p99'):.2f}")


if __name__ == "__main__":
    main()

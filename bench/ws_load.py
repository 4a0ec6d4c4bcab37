"""Open-loop WebSocket load generator: the project vs the Channels tutorial vs bare websockets.

One invocation runs the same load, on the same machine, against three servers in turn:

  project   daphne + server.asgi (RoomConsumer: persistence, crisis assessment, sanitizing on)
  tutorial  daphne + the Channels tutorial's ChatConsumer (bench/baselines/tutorial/), same layer
  bare      a `websockets` broadcast server (bench/baselines/bare_ws.py)

Load: R rooms x M members; every member sends at a fixed rate on a schedule of its own (a random
phase, then every 1/rate s), whether or not anything came back (open loop). Latency is measured from
the INTENDED send time to the arrival of the message at each recipient (the sender included), so a
late send counts against the server, never hides it. Per recipient: loss (not arrived by the end of
the drain), duplicates, reordering (a sender's messages out of order at one recipient).

For each target it prints p50/p99 at a moderate load (10 rooms x 10 members x 1 msg/s, median of
--repeats runs), the knee (the highest offered deliveries/s with p99 <= 250 ms and nothing lost;
the per-member rate is stepped up, then bisected, once unless --bisect N), and the ratios
project/tutorial and project/bare. With --idle N it also opens N idle authenticated sockets on
one fresh server and reports the server's RSS per connection.

The load generator runs in its own process (one asyncio process for all sockets); its CPU and its
own send lag are printed for every step, so a client-bound step is visible as such.

    .venv/bin/python bench/ws_load.py --layer memory
    .venv/bin/python bench/ws_load.py --layer redis --duration 10
    .venv/bin/python bench/ws_load.py --quick            # smoke test, < 60 s
    .venv/bin/python bench/ws_load.py --targets project --model off   # rules only

The project runs the learned crisis model after delivery unless --model off (CRISIS_MODEL=off).
Earlier artifacts read some of the five default bodies as crises or as watch; the model as
shipped reads all five as nothing (three pass the reader's gate, so the reader reads them). A body
read as a crisis raises an alert and sends a support card, so the cards each step received are
printed. --bodies calm uses five sentences that neither stage flags; --bodies signs ten, one of
them a watch sign (CRISIS_MODEL_CONTEXT=off in the environment reads each message alone).

Internal modes (used by the orchestrator): --_client (the load process) and --_setup (fixtures).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

P99_LIMIT_MS = 250.0
BODIES = [
    "Thank you all for listening tonight, it helps more than I can say.",
    "I had a better week, I managed to sleep through the night twice.",
    "Does anyone else find Sundays the hardest? The quiet gets to me.",
    "I told my sister what happened and she was kinder than I expected.",
    "Still taking it one day at a time. Glad to be here with you.",
]
# Ordinary support-group chat that neither the rules nor the shipped model flags (each body
# rules+model `none`; check again after retraining): the model's cost alone, without the
# watch entries and alerts that flagged bodies add. Two of the five pass the reader's gate.
CALM_BODIES = [
    "I had a better week, I managed to sleep through the night twice.",
    "I went for a long walk this morning and it cleared my head.",
    "My therapist suggested journaling and it has actually helped a bit.",
    "We had dinner together as a family for the first time in weeks.",
    "Has anyone read a good book about rebuilding trust?",
]
# Ordinary chat with a sign in one message of ten (about how often the unseen chat sets are
# flagged): the rules read "Some days I just feel empty." as watch, so it gets a watch entry,
# and the model then reads it and each member's next two messages together with the ones before
# (CRISIS_MODEL_CONTEXT), which raise nothing here. The rest neither stage flags.
SIGN_BODIES = [
    *CALM_BODIES,
    "Thanks everyone, see you next week.",
    "I made pancakes with my kids this morning.",
    "Some days I just feel empty.",
    "I finally finished painting the spare room.",
    "Work was busy but I got through it.",
]
BODY_SETS = {"default": BODIES, "calm": CALM_BODIES, "signs": SIGN_BODIES}
RATES = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256]


# =====================================================================================
# fixtures (run inside Django: --_setup)
# =====================================================================================


def setup_fixtures(spec: dict[str, Any]) -> dict[str, Any]:
    import django

    project = os.environ.get("BENCH_PROJECT_DIR")
    if project:
        sys.path.insert(0, project)
    django.setup()
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.hashers import make_password
    from django.contrib.sessions.backends.db import SessionStore

    from rooms.models import Enrollment, EnrollmentStatus
    from rooms.services import enrollment_join, group_create
    from server.accounts.models import User

    unusable = make_password(None)

    def make_rooms(prefix: str, rooms: int, members: int, bulk: bool) -> list[list[str]]:
        users = User.objects.bulk_create(
            [
                User(username=f"{prefix}{r}m{m}", role="member", password=unusable)
                for r in range(rooms)
                for m in range(members)
            ]
        )
        users = list(User.objects.filter(username__startswith=prefix).order_by("id"))
        out = []
        for r in range(rooms):
            group = group_create(
                fields={
                    "name": f"Bench {prefix}{r}",
                    "timezone": "UTC",
                    "drop_in": True,
                    "capacity": members + 10,
                    "agreement_text": "Be kind.",
                }
            )
            mine = users[r * members : (r + 1) * members]
            if bulk:
                Enrollment.objects.bulk_create(
                    [
                        Enrollment(
                            group=group,
                            user=u,
                            alias=f"Alias{i}",
                            status=EnrollmentStatus.ACTIVE,
                            agreement_version=group.agreement_version,
                        )
                        for i, u in enumerate(mine)
                    ]
                )
            else:
                for i, u in enumerate(mine):
                    enrollment_join(group=group, user=u, alias=f"Alias{i}", agreement_accepted=True)
            cookies = []
            for u in mine:
                s = SessionStore()
                s[SESSION_KEY] = str(u.pk)
                s[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
                s[HASH_SESSION_KEY] = u.get_session_auth_hash()
                s.create()
                cookies.append(s.session_key)
            out.append([group.pk, cookies])
        return out

    return {
        "load": make_rooms("ld", spec["rooms"], spec["members"], bulk=False),
        "idle": make_rooms("id", spec["idle_rooms"], spec["idle_members"], bulk=True)
        if spec["idle_rooms"]
        else [],
    }


# =====================================================================================
# the load process (--_client): all sockets, one asyncio loop, commands on stdin
# =====================================================================================


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = max(0, min(len(values) - 1, math.ceil(q / 100 * len(values)) - 1))
    return values[k]


@dataclass
class Step:
    sid: int
    members: int
    pending: dict[str, tuple[float, int, int]] = field(
        default_factory=dict
    )  # cid -> (t, sender, k)
    sent: int = 0
    send_failures: int = 0
    lags: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    seen: dict[int, set[str]] = field(default_factory=dict)
    last_k: dict[tuple[int, int], int] = field(default_factory=dict)
    dups: int = 0
    reordered: int = 0
    acks: int = 0
    cards: int = 0
    errors: int = 0
    error_codes: dict[str, int] = field(default_factory=dict)
    received: int = 0


class LoadClient:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.kind: str = spec["kind"]
        self.origin: str = spec["origin"]
        self.rooms: list[list[dict[str, Any]]] = spec.get("rooms", [])  # [[{url, cookie}]]
        self.idle: list[dict[str, Any]] = spec.get("idle", [])
        self.bodies: list[str] = spec.get("bodies") or BODIES
        self.socks: list[Any] = []  # index -> ws
        self.room_of: list[int] = []
        self.step: Step | None = None
        self.stale = 0
        self.last_frame = time.monotonic()
        self.pongs = 0

    async def _open(self, url: str, cookie: str | None) -> Any:
        from websockets.asyncio.client import connect

        headers = {"Cookie": f"sessionid={cookie}"} if cookie else {}
        ws = await connect(
            url,
            origin=self.origin,  # type: ignore[arg-type]
            additional_headers=headers,
            compression=None,
            max_size=2**22,
            open_timeout=60,
            ping_interval=None,
            close_timeout=2,
        )
        if self.kind == "project":
            hello = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if hello.get("type") != "hello":
                raise RuntimeError(f"expected hello, got {hello}")
        return ws

    # ------------------------------------------------------------ frames in

    def on_frame(self, ridx: int, raw: str | bytes, now: float) -> None:
        self.last_frame = now
        d = json.loads(raw)
        st = self.step
        if self.kind == "project":
            t = d.get("type")
            if t == "message.new":
                cid = d["message"]["client_id"]
            elif t == "message.ack":
                if st is not None:
                    st.acks += 1
                return
            elif t == "error":
                if st is not None:
                    st.errors += 1
                    code = d.get("code", "?")
                    st.error_codes[code] = st.error_codes.get(code, 0) + 1
                return
            elif t == "pong":
                self.pongs += 1
                return
            elif t == "support.resources":  # a crisis card, from the rules or the model
                if st is not None:
                    st.cards += 1
                return
            else:
                return  # presence, hello, room.state
        else:
            cid = d["message"][:36]
        if st is None:
            self.stale += 1
            return
        info = st.pending.get(cid)
        if info is None:
            self.stale += 1
            return
        st.received += 1
        seen = st.seen.setdefault(ridx, set())
        if cid in seen:
            st.dups += 1
            return
        seen.add(cid)
        t_int, sender, k = info
        st.latencies.append(now - t_int)
        key = (ridx, sender)
        last = st.last_k.get(key, -1)
        if k < last:
            st.reordered += 1
        else:
            st.last_k[key] = k

    async def reader(self, ridx: int, ws: Any) -> None:
        try:
            async for raw in ws:
                self.on_frame(ridx, raw, time.monotonic())
        except Exception:  # noqa: BLE001 — a dropped socket shows up as loss
            pass

    # ------------------------------------------------------------ load

    async def connect_load(self) -> dict[str, Any]:
        t0 = time.monotonic()
        sem = asyncio.Semaphore(20)

        async def one(url: str, cookie: str | None) -> Any:
            async with sem:
                return await self._open(url, cookie)

        jobs = []
        for r, room in enumerate(self.rooms):
            for m in room:
                jobs.append(one(m["url"], m.get("cookie")))
                self.room_of.append(r)
        self.socks = list(await asyncio.gather(*jobs))
        for i, ws in enumerate(self.socks):
            asyncio.get_running_loop().create_task(self.reader(i, ws))
        # let join/presence traffic settle
        await self.quiet(1.0, 15.0)
        return {"connected": len(self.socks), "secs": round(time.monotonic() - t0, 2)}

    async def quiet(self, gap: float, cap: float) -> float:
        t0 = time.monotonic()
        while time.monotonic() - t0 < cap:
            if time.monotonic() - self.last_frame >= gap:
                break
            await asyncio.sleep(0.1)
        return time.monotonic() - t0

    def payload(self, cid: str, body: str) -> str:
        if self.kind == "project":
            return json.dumps({"type": "message.send", "client_id": cid, "body": body})
        return json.dumps({"message": f"{cid} {body}"})

    async def run_step(
        self, sid: int, rate: float, duration: float, drain: float, quiet_cap: float = 30.0
    ) -> dict:
        members = len(self.rooms[0])
        st = Step(sid=sid, members=members)
        self.step = st
        n = max(1, int(duration * rate))
        start = time.monotonic() + 0.2
        rnd = random.Random(sid)

        async def member(i: int, ws: Any) -> None:
            phase = rnd.random() / rate
            body = self.bodies[i % len(self.bodies)]
            for k in range(n):
                t = start + phase + k / rate
                delay = t - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                cid = str(uuid.uuid4())
                st.pending[cid] = (t, i, k)
                st.lags.append(time.monotonic() - t)
                try:
                    await ws.send(self.payload(cid, body))
                    st.sent += 1
                except Exception:  # noqa: BLE001
                    st.send_failures += 1
                    st.pending.pop(cid, None)

        await asyncio.gather(*(member(i, ws) for i, ws in enumerate(self.socks)))
        send_end = time.monotonic()
        expected = st.sent * members
        deadline = send_end + drain
        while time.monotonic() < deadline:
            if sum(len(s) for s in st.seen.values()) >= expected:
                break
            await asyncio.sleep(0.05)
        unique = sum(len(s) for s in st.seen.values())
        # per-recipient loss: every member of the sender's room should have each message
        sent_by_room: dict[int, int] = {}
        for _t, sender, _k in st.pending.values():
            r = self.room_of[sender]
            sent_by_room[r] = sent_by_room.get(r, 0) + 1
        lost_recipients = 0
        max_lost = 0
        for ridx in range(len(self.socks)):
            lost = sent_by_room.get(self.room_of[ridx], 0) - len(st.seen.get(ridx, ()))
            if lost > 0:
                lost_recipients += 1
                max_lost = max(max_lost, lost)
        lat_ms = [x * 1000 for x in st.latencies]
        # wait for stragglers from an overloaded step before the next one starts; those that
        # arrive now are counted as late (they count as lost for the step: p99 is over 250 ms)
        quiet_secs = await self.quiet(1.0, quiet_cap)
        self.step = None
        late = sum(len(s) for s in st.seen.values()) - unique
        return {
            "rate": rate,
            "duration": duration,
            "offered_msgs": round(len(self.socks) * rate, 1),
            "offered_deliveries": round(len(self.socks) * rate * members, 1),
            "sent": st.sent,
            "send_failures": st.send_failures,
            "expected": expected,
            "delivered": unique,
            "delivered_per_s": round(unique / (send_end - start), 1),
            "lost": expected - unique,
            "late_after_drain": late,
            "never_arrived": expected - unique - late,
            "lost_recipients": lost_recipients,
            "max_lost_per_recipient": max_lost,
            "dups": st.dups,
            "reordered": st.reordered,
            "acks": st.acks,
            "cards": st.cards,
            "errors": st.errors,
            "error_codes": st.error_codes,
            "p50_ms": round(pct(lat_ms, 50), 2),
            "p90_ms": round(pct(lat_ms, 90), 2),
            "p99_ms": round(pct(lat_ms, 99), 2),
            "max_ms": round(max(lat_ms), 2) if lat_ms else None,
            "send_lag_p99_ms": round(pct([x * 1000 for x in st.lags], 99), 2),
            "quiet_wait_s": round(quiet_secs, 2),
        }

    # ------------------------------------------------------------ idle sockets

    async def open_idle(self) -> dict[str, Any]:
        t0 = time.monotonic()
        sem = asyncio.Semaphore(25)
        failed = 0

        async def one(i: int, m: dict[str, Any]) -> Any:
            nonlocal failed
            async with sem:
                try:
                    ws = await self._open(m["url"], m.get("cookie"))
                except Exception:  # noqa: BLE001
                    failed += 1
                    return None
                asyncio.get_running_loop().create_task(self.reader(-1, ws))
                return ws

        res = await asyncio.gather(*(one(i, m) for i, m in enumerate(self.idle)))
        self.socks = [ws for ws in res if ws is not None]
        await self.quiet(1.0, 60.0)
        return {
            "opened": len(self.socks),
            "failed": failed,
            "secs": round(time.monotonic() - t0, 1),
        }

    async def ping_idle(self) -> dict[str, Any]:
        t0 = time.monotonic()
        if self.kind == "project":
            self.pongs = 0
            for ws in self.socks:
                await ws.send('{"type": "ping"}')
            while self.pongs < len(self.socks) and time.monotonic() - t0 < 30:
                await asyncio.sleep(0.05)
            alive = self.pongs
        else:
            waiters = [await ws.ping() for ws in self.socks]
            done, _ = await asyncio.wait(waiters, timeout=30) if waiters else (set(), set())
            alive = len(done)
        return {"alive": alive, "secs": round(time.monotonic() - t0, 2)}

    async def close_all(self) -> None:
        await asyncio.gather(*(ws.close() for ws in self.socks), return_exceptions=True)


async def client_main() -> None:
    loop = asyncio.get_running_loop()
    spec = json.loads(await loop.run_in_executor(None, sys.stdin.readline))
    client = LoadClient(spec)

    def reply(obj: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    reply({"ready": True})
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        cmd = json.loads(line)
        try:
            if cmd["cmd"] == "connect":
                reply(await client.connect_load())
            elif cmd["cmd"] == "step":
                reply(
                    await client.run_step(
                        cmd["sid"], cmd["rate"], cmd["duration"], cmd["drain"], cmd["quiet_cap"]
                    )
                )
            elif cmd["cmd"] == "idle_open":
                reply(await client.open_idle())
            elif cmd["cmd"] == "idle_ping":
                reply(await client.ping_idle())
            elif cmd["cmd"] == "close":
                await client.close_all()
                reply({"closed": True})
                break
        except Exception as exc:  # noqa: BLE001
            reply({"error": f"{type(exc).__name__}: {exc}"})
            break


# =====================================================================================
# the orchestrator
# =====================================================================================


def free_port() -> int:
    from tests.services import free_port as fp

    return fp()


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Proc:
    """A process whose CPU time we sample (psutil)."""

    def __init__(self, popen: subprocess.Popen) -> None:
        import psutil

        self.popen = popen
        self.ps = psutil.Process(popen.pid)

    def cpu(self) -> float:
        t = self.ps.cpu_times()
        return t.user + t.system

    def children_cpu(self) -> float:
        """CPU seconds of the processes it started and that still run: the project's scoring
        process, which reads messages with the learned model after delivery."""
        import psutil

        total = 0.0
        for child in self.ps.children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess):
                t = child.cpu_times()
                total += t.user + t.system
        return total

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)


class Target:
    name: str
    bodies: list[str] = BODIES

    def __init__(self, name: str, tmp: Path, layer: str, redis_url: str) -> None:
        self.name, self.tmp, self.layer, self.redis_url = name, tmp, layer, redis_url
        self.port = 0
        self.proc: Proc | None = None
        self.load_rooms: list[list[dict[str, Any]]] = []
        self.idle_socks: list[dict[str, Any]] = []
        self.kind = name

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("DJANGO_SETTINGS_MODULE", None)
        env.update(BENCH_LAYER=self.layer, PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT))
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        else:
            env.pop("REDIS_URL", None)
        return env

    def daphne(self, app: str, env: dict[str, str], cwd: Path = ROOT) -> None:
        from tests.services import wait_for_port

        self.port = free_port()
        log = open(self.tmp / f"{self.name}-{self.port}.log", "ab")  # noqa: SIM115
        popen = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "daphne"),
                "-b",
                "127.0.0.1",
                "-p",
                str(self.port),
                "--websocket-max-message-size",
                "65536",
                app,
            ],
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_for_port(self.port, 60, popen)
        self.proc = Proc(popen)

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        if self.proc:
            self.proc.stop()
            self.proc = None


class ProjectTarget(Target):
    project_dir = ROOT
    extra_env: dict[str, str] = {}
    database_url = ""

    def prepare(self, rooms: int, members: int, idle: int) -> None:
        from tests.services import service_env

        db = self.tmp / "project.sqlite3"
        extra = {
            "DATABASE_URL": self.database_url or f"sqlite:///{db}",
            "RATE_LIMIT_PER_SECOND": "0",
            "BENCH_LAYER": self.layer,
            "PYTHONPATH": str(self.project_dir),
            "BENCH_PROJECT_DIR": str(self.project_dir),
        }
        if self.redis_url:
            extra["REDIS_URL"] = self.redis_url
        extra.update(self.extra_env)
        if self.layer == "pubsub":
            # The tutorial's layer comes from bench/baselines/layers.py; the project gets the
            # same one through bench/bench_settings.py.
            extra["DJANGO_SETTINGS_MODULE"] = "bench.bench_settings"
        elif self.layer == "redis":
            extra["CHANNEL_LAYER"] = "core"  # server/settings.py's switch to RedisChannelLayer
        self._env = service_env(**extra)
        if self.layer == "pubsub":
            self._env["DJANGO_SETTINGS_MODULE"] = "bench.bench_settings"
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=self.project_dir,
            env=self._env,
            check=True,
            capture_output=True,
        )
        idle_members = 20
        spec = {
            "rooms": rooms,
            "members": members,
            "idle_rooms": math.ceil(idle / idle_members) if idle else 0,
            "idle_members": idle_members,
        }
        out = subprocess.run(
            [sys.executable, str(Path(__file__)), "--_setup", json.dumps(spec)],
            cwd=self.project_dir,
            env=self._env,
            check=True,
            capture_output=True,
            text=True,
        )
        self.fixtures = json.loads(out.stdout.strip().splitlines()[-1])
        self.idle_n = idle

    def start(self) -> None:
        self.daphne("server.asgi:application", self._env, self.project_dir)
        ws = f"ws://127.0.0.1:{self.port}/ws/rooms"
        self.load_rooms = [
            [{"url": f"{ws}/{gid}/", "cookie": c} for c in cookies]
            for gid, cookies in self.fixtures["load"]
        ]
        self.idle_socks = [
            {"url": f"{ws}/{gid}/", "cookie": c}
            for gid, cookies in self.fixtures["idle"]
            for c in cookies
        ][: self.idle_n]


class TutorialTarget(Target):
    def prepare(self, rooms: int, members: int, idle: int) -> None:
        self.shape = (rooms, members, idle)

    def start(self) -> None:
        env = self.env()
        env["DJANGO_SETTINGS_MODULE"] = "bench.baselines.tutorial.settings"
        env["TUTORIAL_DB"] = str(self.tmp / "tutorial.sqlite3")
        self.daphne("bench.baselines.tutorial.asgi:application", env)
        self._rooms(f"ws://127.0.0.1:{self.port}/ws/chat")

    def _rooms(self, base: str) -> None:
        rooms, members, idle = self.shape
        self.load_rooms = [[{"url": f"{base}/r{r}/"} for _ in range(members)] for r in range(rooms)]
        self.idle_socks = [{"url": f"{base}/idle{i // 20}/"} for i in range(idle)]


class BareTarget(TutorialTarget):
    def start(self) -> None:
        from tests.services import wait_for_port

        self.port = free_port()
        log = open(self.tmp / f"bare-{self.port}.log", "ab")  # noqa: SIM115
        popen = subprocess.Popen(
            [sys.executable, str(ROOT / "bench/baselines/bare_ws.py"), "--port", str(self.port)],
            cwd=ROOT,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_for_port(self.port, 30, popen)
        self.proc = Proc(popen)
        self._rooms(f"ws://127.0.0.1:{self.port}/ws/chat")


class Client:
    """The load process, driven line by line."""

    def __init__(self, target: Target, idle: bool = False) -> None:
        spec = {"kind": target.kind, "origin": target.origin, "bodies": target.bodies}
        spec["idle" if idle else "rooms"] = target.idle_socks if idle else target.load_rooms
        popen = subprocess.Popen(
            [sys.executable, str(Path(__file__)), "--_client"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=target.env(),
        )
        self.proc = Proc(popen)
        self.call_raw(spec)

    def call_raw(self, obj: dict[str, Any]) -> dict[str, Any]:
        p = self.proc.popen
        assert p.stdin and p.stdout
        p.stdin.write(json.dumps(obj) + "\n")
        p.stdin.flush()
        line = p.stdout.readline()
        if not line:
            raise RuntimeError("load process died")
        out = json.loads(line)
        if "error" in out:
            raise RuntimeError(f"load process: {out['error']}")
        return out

    def call(self, cmd: str, **kw: Any) -> dict[str, Any]:
        return self.call_raw({"cmd": cmd, **kw})

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.call("close")
        self.proc.stop()


@dataclass
class TargetResult:
    name: str
    moderate: list[dict[str, Any]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    knee: dict[str, Any] | None = None
    knee_bound: str = ""
    idle: dict[str, Any] | None = None


def passes(s: dict[str, Any]) -> bool:
    return (
        s["lost"] == 0
        and s["send_failures"] == 0
        and s["errors"] == 0
        and s["p99_ms"] <= P99_LIMIT_MS
    )


class Runner:
    def __init__(self, args: argparse.Namespace, redis_proc: Proc | None) -> None:
        self.args = args
        self.redis = redis_proc
        self.sid = 0

    def step(self, target: Target, client: Client, rate: float, duration: float) -> dict:
        self.sid += 1
        assert target.proc
        s0, c0 = target.proc.cpu(), client.proc.cpu()
        k0 = target.proc.children_cpu()
        r0 = self.redis.cpu() if self.redis else 0.0
        w0 = time.monotonic()
        res = client.call(
            "step",
            sid=self.sid,
            rate=rate,
            duration=duration,
            drain=self.args.drain,
            quiet_cap=5.0 if self.args.quick else 30.0,
        )
        wall = time.monotonic() - w0
        res["server_cpu_pct"] = round(100 * (target.proc.cpu() - s0) / wall, 1)
        res["client_cpu_pct"] = round(100 * (client.proc.cpu() - c0) / wall, 1)
        # A scoring process that restarted within the step loses its predecessor's time.
        scoring = max(0.0, target.proc.children_cpu() - k0)
        res["scoring_cpu_pct"] = round(100 * scoring / wall, 1)
        if self.redis:
            res["redis_cpu_pct"] = round(100 * (self.redis.cpu() - r0) / wall, 1)
        res["pass"] = passes(res)
        print(f"  [{target.name}] {fmt_step(res)}", flush=True)
        return res

    def run_target(self, target: Target) -> TargetResult:
        a = self.args
        out = TargetResult(target.name)
        target.start()
        client = Client(target)
        try:
            info = client.call("connect")
            print(f"  [{target.name}] {info['connected']} sockets in {info['secs']} s", flush=True)
            # warm-up (imports, DB pages, thread pool), not reported
            if not a.quick:
                self.step(target, client, 1, min(3.0, a.duration))
            for _ in range(a.repeats):
                out.moderate.append(self.step(target, client, 1, a.duration))
            # the knee: step the per-member rate up until a step fails (retried once), then bisect
            best: dict[str, Any] | None = None
            if any(passes(m) for m in out.moderate):
                best = max(
                    (m for m in out.moderate if passes(m)), key=lambda m: m["offered_deliveries"]
                )
            fail_rate: float | None = None
            if best is None:
                # the moderate load already fails: step down to find what does pass
                fail_rate = 1
                for rate in [0.5, 0.25, 0.1][: max(1, a.max_steps)]:
                    res = self.step(target, client, rate, a.duration)
                    out.steps.append(res)
                    if res["pass"]:
                        best = res
                        break
                    fail_rate = rate
            ladder = [] if fail_rate is not None else [r for r in RATES if r > 1][: a.max_steps]
            for rate in ladder:
                res = self.tried_twice(target, client, rate, a.duration, out)
                if res["pass"]:
                    best = res
                else:
                    fail_rate = rate
                    if res["send_lag_p99_ms"] > 100 or res["client_cpu_pct"] >= 90:
                        out.knee_bound = (
                            f"lower bound: the load generator fell behind at {rate}/s/member "
                            f"(send lag p99 {res['send_lag_p99_ms']:.0f} ms, "
                            f"client CPU {res['client_cpu_pct']:.0f}%)"
                        )
                    break
            for _ in range(a.bisect):
                if best is None or fail_rate is None:
                    break
                mid = round(math.sqrt(best["rate"] * fail_rate), 1)
                if not best["rate"] < mid < fail_rate:
                    break
                res = self.tried_twice(target, client, mid, a.duration, out)
                if res["pass"]:
                    best = res
                else:
                    fail_rate = mid
            if best is not None and best["client_cpu_pct"] >= 90:
                # The knee found, by the ladder or the bisection, is the load generator's limit.
                out.knee_bound = out.knee_bound or "client-bound"
            if fail_rate is None:
                out.knee_bound = out.knee_bound or "knee not reached: ladder ended"
            out.knee = best
        finally:
            client.close()
            target.stop()
        if a.idle:
            out.idle = self.idle(target)
        return out

    def tried_twice(
        self, target: Target, client: Client, rate: float, duration: float, out: TargetResult
    ) -> dict[str, Any]:
        """One step at this rate, and once more if it fails (the machine is noisy); both are
        recorded, the first marked ``retried``. The knee is a rate that passed once in two."""
        res = self.step(target, client, rate, duration)
        if not res["pass"]:
            out.steps.append({**res, "retried": True})
            res = self.step(target, client, rate, duration)
        out.steps.append(res)
        return res

    def idle(self, target: Target) -> dict[str, Any]:
        target.start()
        assert target.proc
        try:
            pid = target.proc.popen.pid
            # warm up: a few sockets opened and closed, so lazy imports and pools are counted
            # in the baseline, not per connection
            saved = target.idle_socks
            target.idle_socks = saved[:20]
            warm = Client(target, idle=True)
            warm.call("idle_open")
            warm.close()
            target.idle_socks = saved
            time.sleep(1.0)
            before = rss_kb(pid)
            client = Client(target, idle=True)
            opened = client.call("idle_open")
            time.sleep(2.0)
            after = rss_kb(pid)
            fds = len(os.listdir(f"/proc/{pid}/fd"))
            alive = client.call("idle_ping")
            client_rss = rss_kb(client.proc.popen.pid)
            client.close()
            res = {
                "n": len(target.idle_socks),
                "opened": opened["opened"],
                "failed": opened["failed"],
                "open_secs": opened["secs"],
                "alive": alive["alive"],
                "rss_before_mb": round(before / 1024, 1),
                "rss_after_mb": round(after / 1024, 1),
                "kb_per_conn": round((after - before) / max(1, opened["opened"]), 1),
                "server_fds": fds,
                "client_rss_mb": round(client_rss / 1024, 1),
            }
            print(f"  [{target.name}] idle: {res}", flush=True)
            return res
        finally:
            target.stop()


def fmt_step(s: dict[str, Any]) -> str:
    return (
        f"rate {s['rate']:>5}/s/member offered {s['offered_deliveries']:>8.0f} deliv/s "
        f"got {s['delivered_per_s']:>8.0f}/s p50 {s['p50_ms']:>7.1f} p99 {s['p99_ms']:>8.1f} ms "
        f"lost {s['lost']} (late {s.get('late_after_drain', '?')}) dup {s['dups']} "
        f"reord {s['reordered']} err {s['errors']} cards {s.get('cards', 0)} "
        f"cpu srv {s['server_cpu_pct']}% scoring {s.get('scoring_cpu_pct', 0)}% "
        f"cli {s['client_cpu_pct']}%"
        + (f" redis {s['redis_cpu_pct']}%" if "redis_cpu_pct" in s else "")
        + f" lag99 {s['send_lag_p99_ms']} ms {'PASS' if s['pass'] else 'FAIL'}"
    )


def describe_bodies(bodies: list[str]) -> None:
    """What rules and model (the artifact in this tree) read in the bodies members will send."""
    from moderation.crisis import assess
    from moderation.crisis.combine import assess_both
    from moderation.crisis.model import default

    detector = default()
    if detector is not None:
        print(f"crisis model: data {detector.meta.get('data_hash')}", flush=True)
    for body in bodies:
        both = assess_both(body)
        print(f"  body: rules {assess(body).level:<9} rules+model {both.level:<9} {body[:40]!r}")


def median(values: list[float]) -> float:
    return round(statistics.median(values), 2) if values else float("nan")


def report(args: argparse.Namespace, results: dict[str, TargetResult]) -> dict[str, Any]:
    print()
    print(
        f"== layer={args.layer} db={args.db} rooms={args.rooms} members={args.members} "
        f"duration={args.duration}s repeats={args.repeats} ({os.cpu_count()} CPUs) =="
    )
    summary: dict[str, Any] = {}
    hdr = (
        f"{'target':<9} {'moderate p50':>12} {'p99 (ms)':>9} {'lost(never)':>13} "
        f"{'knee deliv/s':>13} {'at rate':>8} {'knee p99':>9}  notes"
    )
    print(hdr)
    for name, r in results.items():
        p50 = median([m["p50_ms"] for m in r.moderate])
        p99 = median([m["p99_ms"] for m in r.moderate])
        lost = sum(m["lost"] for m in r.moderate)
        never = sum(m.get("never_arrived", m["lost"]) for m in r.moderate)
        knee = r.knee["offered_deliveries"] if r.knee else 0
        summary[name] = {
            "moderate_p50_ms": p50,
            "moderate_p99_ms": p99,
            "moderate_lost": lost,
            "moderate_never_arrived": never,
            "knee_deliveries_per_s": knee,
            "knee_rate": r.knee["rate"] if r.knee else None,
            "knee_p99_ms": r.knee["p99_ms"] if r.knee else None,
            "knee_bound": r.knee_bound,
            "idle": r.idle,
        }
        print(
            f"{name:<9} {p50:>12.2f} {p99:>9.2f} {f'{lost}({never})':>13} {knee:>13.0f} "
            f"{(r.knee or {}).get('rate', '-'):>8} "
            f"{(r.knee or {}).get('p99_ms', float('nan')):>9.1f}"
            f"  {r.knee_bound}"
        )
    if "project" in summary:
        p = summary["project"]
        for other in ("tutorial", "bare"):
            if other in summary and summary[other]["knee_deliveries_per_s"]:
                o = summary[other]
                kr = p["knee_deliveries_per_s"] / o["knee_deliveries_per_s"]
                lr = p["moderate_p99_ms"] / o["moderate_p99_ms"] if o["moderate_p99_ms"] else 0
                summary[f"project/{other}"] = {"knee": round(kr, 2), "moderate_p99": round(lr, 2)}
                print(f"project/{other}: knee x{kr:.2f}, moderate p99 x{lr:.2f}")
        ok_p99 = p["moderate_p99_ms"] <= 50
        ok_loss = p["moderate_lost"] == 0
        kr = summary.get("project/tutorial", {}).get("knee")
        print(
            "targets: zero loss at moderate load "
            + ("MET" if ok_loss else "MISSED")
            + f"; moderate p99 <= 50 ms {'MET' if ok_p99 else 'MISSED'}"
            + (f"; knee >= 2x tutorial {'MET' if kr >= 2 else 'MISSED'} (x{kr})" if kr else "")
        )
    for name, r in results.items():
        if r.idle:
            i = r.idle
            print(
                f"idle {name}: {i['opened']}/{i['n']} sockets open, {i['alive']} answered a ping; "
                f"RSS {i['rss_before_mb']} -> {i['rss_after_mb']} MB = {i['kb_per_conn']} KiB/conn"
            )
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--layer", choices=["memory", "redis", "pubsub"], default="memory")
    parser.add_argument("--targets", default="project,tutorial,bare")
    parser.add_argument("--rooms", type=int, default=10)
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per load step")
    parser.add_argument("--drain", type=float, default=3.0, help="seconds to wait for stragglers")
    parser.add_argument("--repeats", type=int, default=3, help="moderate-load runs (median)")
    parser.add_argument("--max-steps", type=int, default=len(RATES))
    parser.add_argument(
        "--bisect",
        type=int,
        default=1,
        metavar="N",
        help="bisect between the last passing and the first failing rate N times (each failed "
        "step retried once, as on the ladder): 1 finds the knee to within 15-22%%, 3 to 4-5%%",
    )
    parser.add_argument("--no-bisect", dest="bisect", action="store_const", const=0)
    parser.add_argument("--idle", type=int, default=2000, help="idle sockets to hold (0: skip)")
    parser.add_argument("--quick", action="store_true", help="smoke test, < 60 s")
    parser.add_argument(
        "--project-dir",
        default=str(ROOT),
        help="run the project from this copy of the tree (a snapshot keeps runs comparable "
        "while the tree changes); it needs bench/ too for --layer pubsub",
    )
    parser.add_argument(
        "--project-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the project's daphne, e.g. DB_CONN_MAX_AGE=600 (repeatable)",
    )
    parser.add_argument(
        "--db",
        choices=["sqlite", "postgres"],
        default="sqlite",
        help="the project's database: a fresh SQLite file, or an embedded PostgreSQL",
    )
    parser.add_argument(
        "--model",
        choices=["on", "off"],
        default="on",
        help="the project's learned crisis stage after delivery (CRISIS_MODEL)",
    )
    parser.add_argument(
        "--bodies",
        choices=sorted(BODY_SETS),
        default="default",
        help="what members say: default (three of five read as a crisis by the model as "
        "shipped), calm (nothing either stage flags) or signs (one in ten a watch sign)",
    )
    parser.add_argument("--json", help="write the summary and every step here")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, DB)")
    parser.add_argument("--_client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--_setup", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args._client:
        asyncio.run(client_main())
        return
    if args._setup:
        print(json.dumps(setup_fixtures(json.loads(args._setup))))
        return
    if args.quick:
        args.duration, args.drain, args.repeats = 1.0, 1.0, 1
        args.max_steps, args.bisect, args.idle = 1, 0, min(args.idle, 20)

    t_start = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="ws-load-"))
    redis_url, redis_proc, redis_handle = "", None, None
    if args.layer in ("redis", "pubsub"):
        from tests.services import start_redis

        redis_handle = start_redis(str(tmp))
        redis_url = redis_handle.url
        redis_proc = Proc(redis_handle.proc)  # type: ignore[arg-type]
    pg = None
    if args.db == "postgres":
        from tests.services import start_postgres

        pg = start_postgres(str(tmp))
        ProjectTarget.database_url = pg.url
    names = [n.strip() for n in args.targets.split(",") if n.strip()]
    classes = {"project": ProjectTarget, "tutorial": TutorialTarget, "bare": BareTarget}
    ProjectTarget.project_dir = Path(args.project_dir).resolve()
    ProjectTarget.extra_env = {"CRISIS_MODEL": args.model}
    ProjectTarget.extra_env.update(dict(kv.split("=", 1) for kv in args.project_env))
    Target.bodies = BODY_SETS[args.bodies]
    if "project" in args.targets:
        describe_bodies(Target.bodies)
    runner = Runner(args, redis_proc)
    results: dict[str, TargetResult] = {}
    try:
        for name in names:
            target = classes[name](name, tmp, args.layer, redis_url)
            target.prepare(args.rooms, args.members, args.idle)  # type: ignore[attr-defined]
            print(f"== {name} (layer {args.layer})", flush=True)
            results[name] = runner.run_target(target)
        summary = report(args, results)
        if args.json:
            Path(args.json).write_text(
                json.dumps(
                    {
                        "argv": sys.argv,
                        "summary": summary,
                        "results": {
                            n: {"moderate": r.moderate, "steps": r.steps, "idle": r.idle}
                            for n, r in results.items()
                        },
                    },
                    indent=1,
                )
            )
        print(
            f"total {time.monotonic() - t_start:.0f} s; logs in {tmp}"
            if args.keep
            else f"total {time.monotonic() - t_start:.0f} s"
        )
    finally:
        if redis_handle:
            redis_handle.stop()
        if pg is not None:
            pg.stop()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

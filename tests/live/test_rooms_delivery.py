"""A stored message is announced to its room whatever happens to the socket that sent it, and
under load every stored message is acknowledged and delivered, on the in-memory layer and on
Redis."""

import contextlib
import sqlite3
import time
import uuid
from collections.abc import Iterator

import pytest
from django.db import connection

from rooms.models import Message
from tests.live.conftest import Socket, open_socket

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@contextlib.contextmanager
def database_write_lock() -> Iterator[None]:
    """Holds SQLite's write lock from another connection, as a long write by the worker would:
    the server's next transaction waits for it (its busy timeout is longer than this)."""
    db = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None, timeout=20)
    try:
        db.execute("BEGIN IMMEDIATE")
        yield
    finally:
        db.execute("ROLLBACK")
        db.close()


@pytest.fixture(params=["memory", "redis"])
def room_server(request):  # noqa: ANN001, ANN201
    return request.getfixturevalue("server" if request.param == "memory" else "redis_daphne")


def test_a_message_stored_after_its_author_left_still_reaches_the_room(world, room_server):
    """A member whose connection drops while their message is being stored: the message is in
    the record, so the others in the room see it now, not only after their next reload."""
    # Live tests run in the SQLite pass only (tests/conftest.py).
    assert connection.vendor == "sqlite", "this test holds SQLite's write lock"
    world.other.drop_in = True
    world.other.save(update_fields=["drop_in"])
    frank = Socket(open_socket(room_server, world.other.pk, world.frank))
    assert frank.recv()["type"] == "hello"
    bob = Socket(open_socket(room_server, world.other.pk, world.bob))
    assert bob.recv()["type"] == "hello"
    client_id = str(uuid.uuid4())
    try:
        with database_write_lock():
            bob.send({"type": "message.send", "client_id": client_id, "body": "Are you there?"})
            bob.close()
            # The server notices the close while the message waits for the database.
            time.sleep(0.5)
        message = frank.recv_type_of(("message.new",), timeout=20)["message"]
        assert message["client_id"] == client_id
        assert Message.objects.get(client_id=client_id).pk == message["id"]
    finally:
        frank.close()


# ---------------------------------------------------------------- under load, on Redis

ROOMS, MEMBERS, PER_SECOND, SECONDS = 10, 10, 2, 5


def make_rooms() -> list[tuple[int, list[tuple[int, str]]]]:
    """ROOMS open rooms of MEMBERS members each: (group id, [(user id, session cookie)])."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.hashers import make_password
    from django.contrib.sessions.backends.db import SessionStore

    from rooms.models import Enrollment, EnrollmentStatus
    from rooms.services import group_create
    from server.accounts.models import User

    User.objects.bulk_create(
        User(username=f"load{r}x{m}", role="member", password=make_password(None))
        for r in range(ROOMS)
        for m in range(MEMBERS)
    )
    users = list(User.objects.filter(username__startswith="load").order_by("id"))
    rooms = []
    for r in range(ROOMS):
        group = group_create(
            fields={
                "name": f"Load {r}",
                "drop_in": True,
                "capacity": MEMBERS,
                "agreement_text": ".",
            }
        )
        mine = users[r * MEMBERS : (r + 1) * MEMBERS]
        Enrollment.objects.bulk_create(
            Enrollment(
                group=group,
                user=user,
                alias=f"Member {m}",
                status=EnrollmentStatus.ACTIVE,
                agreement_version=group.agreement_version,
            )
            for m, user in enumerate(mine)
        )
        members = []
        for user in mine:
            session = SessionStore()
            session[SESSION_KEY] = str(user.pk)
            session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
            session[HASH_SESSION_KEY] = user.get_session_auth_hash()
            session.create()
            members.append((user.pk, f"sessionid={session.session_key}"))
        rooms.append((group.pk, members))
    return rooms


async def run_load(ws_url: str, origin: str, rooms) -> dict:  # noqa: ANN001
    """Every member sends PER_SECOND messages a second for SECONDS seconds on a schedule of its
    own, whatever comes back (open loop); then waits until every answer and every copy has
    arrived, or until nothing more has arrived for a while."""
    import asyncio
    import json
    import random

    from websockets.asyncio.client import connect

    limit = asyncio.Semaphore(20)

    async def enter(group_id: int, user_id: int, cookie: str) -> tuple[int, int, object]:
        async with limit:
            ws = await connect(
                f"{ws_url}/ws/rooms/{group_id}/",
                origin=origin,
                additional_headers={"Cookie": cookie},
                open_timeout=30,
                ping_interval=None,
            )
            assert json.loads(await ws.recv())["type"] == "hello"
            return group_id, user_id, ws

    sockets = await asyncio.gather(
        *(enter(g, u, cookie) for g, members in rooms for u, cookie in members)
    )
    sent: dict[int, list[str]] = {i: [] for i in range(len(sockets))}
    answers: dict[int, dict[str, dict]] = {i: {} for i in range(len(sockets))}
    seen: dict[int, set[str]] = {i: set() for i in range(len(sockets))}
    twice: list[tuple[int, str]] = []
    progress = [0, time.monotonic()]

    async def read(i: int, ws) -> None:  # noqa: ANN001
        async for raw in ws:
            frame = json.loads(raw)
            if frame["type"] in ("message.ack", "error", "message.held"):
                answers[i][frame.get("client_id")] = frame
            elif frame["type"] == "message.new":
                client_id = frame["message"]["client_id"]
                if client_id in seen[i]:
                    twice.append((i, client_id))
                seen[i].add(client_id)
            else:
                continue
            progress[:] = [progress[0] + 1, time.monotonic()]

    async def member(i: int, ws) -> None:  # noqa: ANN001
        phase = random.random() / PER_SECOND
        for k in range(PER_SECOND * SECONDS):
            await asyncio.sleep(max(0.0, start + phase + k / PER_SECOND - time.monotonic()))
            client_id = str(uuid.uuid4())
            sent[i].append(client_id)
            body = f"Checking in, note {k}. Thank you all for being here."
            await ws.send(
                json.dumps({"type": "message.send", "client_id": client_id, "body": body})
            )

    readers = [asyncio.create_task(read(i, ws)) for i, (_, _, ws) in enumerate(sockets)]
    start = time.monotonic() + 0.5
    await asyncio.gather(*(member(i, ws) for i, (_, _, ws) in enumerate(sockets)))
    in_room = {g: [i for i, s in enumerate(sockets) if s[0] == g] for g, _ in rooms}
    expected = sum(len(c) for c in sent.values()) * (1 + MEMBERS)
    # Bounded: the server may be slow on a busy machine, but it must keep making progress.
    while progress[0] < expected and time.monotonic() - progress[1] < 20:
        await asyncio.sleep(0.1)
    for task in readers:
        task.cancel()
    for _, _, ws in sockets:
        await ws.close()
    return {
        "sockets": [(g, u) for g, u, _ in sockets],
        "in_room": in_room,
        "sent": sent,
        "answers": answers,
        "seen": seen,
        "twice": twice,
    }


def test_every_message_sent_under_load_on_redis_is_acknowledged_and_delivered_to_its_room(
    redis_server, tmp_path
):
    import asyncio

    from tests.live.conftest import database_url
    from tests.services import Daphne, service_env

    # One process on the Redis pub/sub layer, with the rate limit (kept in Redis) raised above
    # what the members send. It starts while the rooms are made.
    server = Daphne(
        service_env(
            DATABASE_URL=database_url(),
            REDIS_URL=redis_server.url,
            RATE_LIMIT_PER_SECOND=str(PER_SECOND * 2),
            RATE_LIMIT_BURST=str(PER_SECOND * 4),
            # The learned stage reads messages after delivery; it is not what this test is
            # about, and loading it costs seconds of CPU.
            CRISIS_MODEL="off",
        ),
        tmp_path / "daphne.log",
    ).start(wait=False)
    try:
        rooms = make_rooms()
        server.wait_ready()
        out = asyncio.run(run_load(server.ws_url, server.url, rooms))
    finally:
        server.stop(kill=True)
    sockets, sent, answers, seen = out["sockets"], out["sent"], out["answers"], out["seen"]
    assert sum(len(c) for c in sent.values()) == ROOMS * MEMBERS * PER_SECOND * SECONDS
    stored = {
        str(cid): (group_id, author_id)
        for cid, group_id, author_id in Message.objects.filter(
            group_id__in=[g for g, _ in rooms]
        ).values_list("client_id", "group_id", "author_id")
    }
    # Every message sent was stored and acknowledged to its sender, with nothing refused...
    unanswered = {i: [c for c in cids if c not in answers[i]] for i, cids in sent.items()}
    assert not {i: c for i, c in unanswered.items() if c}, "sends that got no answer"
    kinds = {frame["type"] for a in answers.values() for frame in a.values()}
    assert kinds == {"message.ack"}, [f for a in answers.values() for f in a.values()][:5]
    for i, cids in sent.items():
        for cid in cids:
            assert stored[cid] == sockets[i]
    assert len(stored) == sum(len(c) for c in sent.values())
    # ...and every stored message reached every socket in its room, its sender's included.
    missing = {
        cid: [i for i in out["in_room"][group_id] if cid not in seen[i]]
        for cid, (group_id, _) in stored.items()
    }
    assert not {cid: who for cid, who in missing.items() if who}, "stored but not delivered"
    assert out["twice"] == [], "delivered twice"

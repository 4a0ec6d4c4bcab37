"""The cluster's TCP load balancer, against tiny backends: no Django, no real servers."""

from __future__ import annotations

import asyncio
import contextlib

from server.loadbalancer import Backend, Balancer
from tests.services import free_port


class FakeBackend:
    """Answers every request with 200 and its name; with `hold`, keeps the connection open
    until the client closes it, as a WebSocket would."""

    def __init__(self, name: str, *, hold: bool = False) -> None:
        self.name, self.hold = name, hold
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def start(self, port: int = 0) -> FakeBackend:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", port)
        return self

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        await reader.readline()
        writer.write(b"HTTP/1.0 200 OK\r\n\r\n" + self.name.encode())
        await writer.drain()
        if self.hold:
            with contextlib.suppress(OSError):
                await reader.read()
        writer.close()

    def die(self) -> None:
        """As a killed process: the listener and every open connection go at once."""
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.transport.abort()


async def get(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
    await writer.drain()
    body = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return body


async def balancer_for(*ports: int) -> Balancer:
    balancer = Balancer([Backend("127.0.0.1", p) for p in ports], port=0, health_interval=0.1)
    await balancer.start()
    return balancer


def test_a_backend_that_refuses_is_skipped_and_marked_down():
    async def scenario() -> None:
        live = await FakeBackend("live").start()
        balancer = await balancer_for(free_port(), live.port)
        answers = [await get(balancer.port) for _ in range(4)]
        assert all(a.endswith(b"live") for a in answers)
        assert [b.healthy for b in balancer.backends] == [False, True]
        await balancer.close()
        live.die()

    asyncio.run(scenario())


def test_with_no_backend_the_client_gets_a_503_that_says_so():
    async def scenario() -> None:
        balancer = await balancer_for(free_port())
        answer = await get(balancer.port)
        assert answer.startswith(b"HTTP/1.1 503")
        assert b"No web process is available" in answer
        await balancer.close()

    asyncio.run(scenario())


def test_long_lived_connections_are_spread_over_the_backends():
    async def scenario() -> None:
        one = await FakeBackend("one", hold=True).start()
        two = await FakeBackend("two", hold=True).start()
        balancer = await balancer_for(one.port, two.port)
        held = []
        for _ in range(4):
            reader, writer = await asyncio.open_connection("127.0.0.1", balancer.port)
            writer.write(b"GET / HTTP/1.0\r\n\r\n")
            await reader.readuntil(b"OK")
            held.append(writer)
        assert sorted(b.connections for b in balancer.backends) == [2, 2]
        assert len(balancer.routes) == 4
        for writer in held:
            writer.close()
        await balancer.close()
        one.die()
        two.die()

    asyncio.run(scenario())


def test_a_backend_that_dies_closes_its_clients_connections_at_once():
    async def scenario() -> None:
        backend = await FakeBackend("ws", hold=True).start()
        balancer = await balancer_for(backend.port)
        reader, writer = await asyncio.open_connection("127.0.0.1", balancer.port)
        writer.write(b"GET / HTTP/1.0\r\n\r\n")
        assert (await reader.readuntil(b"ws")).endswith(b"ws")
        backend.die()
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        await balancer.close()

    asyncio.run(scenario())


def test_a_backend_that_comes_back_is_marked_up_by_the_health_check():
    async def scenario() -> None:
        port = free_port()
        balancer = await balancer_for(port)
        await get(balancer.port)
        assert not balancer.backends[0].healthy
        revived = await FakeBackend("back").start(port)
        for _ in range(50):
            if balancer.backends[0].healthy:
                break
            await asyncio.sleep(0.05)
        assert balancer.backends[0].healthy
        assert (await get(balancer.port)).endswith(b"back")
        await balancer.close()
        revived.die()

    asyncio.run(scenario())

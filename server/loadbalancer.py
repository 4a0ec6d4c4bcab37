"""A small TCP load balancer for running several web processes on one machine (`make cluster`):
least open connections first, round-robin among equals. It proxies bytes, not HTTP, so
WebSockets pass through unchanged.

A backend that refuses a connection is skipped for that connection and marked down; a health
check (`GET /healthz` every second) marks it up again once it answers 200. No sticky sessions:
every web process can serve every client, because the state lives in Postgres and Redis.

In production put nginx (deploy/nginx.conf) or a cloud load balancer here instead.

    python -m server.loadbalancer --listen 127.0.0.1:8000 --backend 127.0.0.1:8001 \\
        --backend 127.0.0.1:8002
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import threading
import time
from dataclasses import dataclass, field

log = logging.getLogger("haven.loadbalancer")

CONNECT_TIMEOUT = 2.0
HEALTH_TIMEOUT = 2.0
HALF_CLOSE_LINGER = 30.0
CHUNK = 64 * 1024
_UNAVAILABLE_BODY = b"No web process is available. Try again in a moment.\n"
UNAVAILABLE = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
    + f"Content-Length: {len(_UNAVAILABLE_BODY)}\r\nConnection: close\r\n\r\n".encode()
    + _UNAVAILABLE_BODY
)


@dataclass
class Backend:
    host: str
    port: int
    healthy: bool = True
    connections: int = 0  # open right now
    served: int = 0  # since start

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass
class Balancer:
    backends: list[Backend]
    host: str = "127.0.0.1"
    port: int = 8000
    health_interval: float = 1.0
    health_host: str = "127.0.0.1"
    # client "host:port" -> backend "host:port", for each proxied connection still open.
    routes: dict[str, str] = field(default_factory=dict)
    _next: int = 0
    _server: asyncio.Server | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _tasks: set[asyncio.Task] = field(default_factory=set)

    # ------------------------------------------------------------------ choosing a backend

    def _candidates(self) -> list[Backend]:
        """Healthy backends first, fewest open connections first, ties in round-robin order;
        the unhealthy ones last, as a last resort (one may be back before its next check).

        Plain round-robin spreads connections, not load: a client that fetches a ticket and
        then opens its socket would land every socket on the same process. Counting open
        connections spreads the long-lived WebSockets."""
        n = len(self.backends)
        start = self._next
        self._next = (self._next + 1) % n
        order = [self.backends[(start + i) % n] for i in range(n)]
        return sorted(order, key=lambda b: (not b.healthy, b.connections))

    async def _open_backend(
        self,
    ) -> tuple[Backend, asyncio.StreamReader, asyncio.StreamWriter] | None:
        for backend in self._candidates():
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(backend.host, backend.port), CONNECT_TIMEOUT
                )
            except (OSError, TimeoutError):
                if backend.healthy:
                    log.warning("backend %s refused a connection; marked down", backend.address)
                backend.healthy = False
                continue
            return backend, reader, writer
        return None

    # ------------------------------------------------------------------ proxying

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        peer = client_w.get_extra_info("peername")
        client = f"{peer[0]}:{peer[1]}" if peer else "?"
        opened = await self._open_backend()
        if opened is None:
            log.error("no backend available for %s", client)
            with contextlib.suppress(OSError):
                client_w.write(UNAVAILABLE)
                await client_w.drain()
            client_w.close()
            return
        backend, backend_r, backend_w = opened
        backend.connections += 1
        backend.served += 1
        self.routes[client] = backend.address
        try:
            # When either side ends, the other is closed: a WebSocket whose web process died
            # must be seen as closed by its client at once, so that it reconnects.
            up = asyncio.ensure_future(_pipe(client_r, backend_w))
            down = asyncio.ensure_future(_pipe(backend_r, client_w))
            await asyncio.wait([up, down], return_when=asyncio.FIRST_COMPLETED)
            if not down.done() and up.result():
                # The client half-closed (sent everything, awaits the answer): pass the EOF on
                # and let the backend finish its reply.
                with contextlib.suppress(OSError):
                    backend_w.write_eof()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(down), HALF_CLOSE_LINGER)
            for task in (up, down):
                task.cancel()
            await asyncio.gather(up, down, return_exceptions=True)
        finally:
            backend.connections -= 1
            self.routes.pop(client, None)
            for writer in (client_w, backend_w):
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()

    # ------------------------------------------------------------------ health checks

    async def _check(self, backend: Backend) -> bool:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(backend.host, backend.port), HEALTH_TIMEOUT
            )
        except (OSError, TimeoutError):
            return False
        try:
            request = f"GET /healthz HTTP/1.0\r\nHost: {self.health_host}\r\n\r\n"
            writer.write(request.encode())
            await writer.drain()
            status = await asyncio.wait_for(reader.readline(), HEALTH_TIMEOUT)
            return status.split(b" ")[1:2] == [b"200"]
        except (OSError, TimeoutError, IndexError):
            return False
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _health_loop(self) -> None:
        while True:
            results = await asyncio.gather(*(self._check(b) for b in self.backends))
            for backend, ok in zip(self.backends, results, strict=True):
                if ok != backend.healthy:
                    log.warning("backend %s is %s", backend.address, "up" if ok else "down")
                backend.healthy = ok
            await asyncio.sleep(self.health_interval)

    # ------------------------------------------------------------------ running

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        task = asyncio.ensure_future(self._health_loop())
        self._tasks.add(task)

    async def close(self) -> None:
        """Stops listening and drops every proxied connection (clients see them close)."""
        if self._server is not None:
            self._server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def serve_forever(self) -> None:
        await self.start()
        assert self._server is not None
        await self._server.serve_forever()

    def start_in_thread(self) -> Balancer:
        """Runs the balancer on its own event loop in a daemon thread (the cluster script and
        the tests use this); returns once it is listening."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:  # reported to the caller below
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.close())
            loop.close()

        self._thread = threading.Thread(target=run, name="loadbalancer", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    def stop_thread(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)

    def wait_healthy(self, count: int | None = None, timeout: float = 10.0) -> None:
        """Blocks until `count` backends (default: all) passed a health check."""
        want = len(self.backends) if count is None else count
        deadline = time.monotonic() + timeout
        while sum(b.healthy for b in self.backends) < want:
            if time.monotonic() > deadline:
                raise TimeoutError(f"fewer than {want} healthy backends after {timeout}s")
            time.sleep(0.05)

    def stats(self) -> list[dict[str, object]]:
        return [
            {
                "backend": b.address,
                "healthy": b.healthy,
                "open": b.connections,
                "served": b.served,
            }
            for b in self.backends
        ]


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    """Copies bytes until the reader ends. True for a clean end of stream, False for an error."""
    try:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                return True
            writer.write(data)
            await writer.drain()
    except OSError:
        return False


def parse_address(text: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or default_host, int(port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", default="127.0.0.1:8000", help="host:port to listen on")
    parser.add_argument("--backend", action="append", required=True, help="host:port, repeat")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    host, port = parse_address(args.listen)
    balancer = Balancer([Backend(*parse_address(b)) for b in args.backend], host=host, port=port)
    log.info(json.dumps({"event": "listening", "address": f"{host}:{port}"}))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(balancer.serve_forever())


if __name__ == "__main__":
    main()

"""A bare `websockets` broadcast server: the floor for bench/ws_load.py. Every text frame a client
sends on /ws/chat/<room>/ is relayed unchanged to every socket in that room (sender included), with
websockets.broadcast (one write per socket, no per-recipient serialization, no channel layer).

    python bench/baselines/bare_ws.py --port 8765
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections import defaultdict

from websockets.asyncio.server import ServerConnection, broadcast, serve

rooms: dict[str, set[ServerConnection]] = defaultdict(set)


async def handler(ws: ServerConnection) -> None:
    room = ws.request.path if ws.request else "/"
    members = rooms[room]
    members.add(ws)
    try:
        async for message in ws:
            broadcast(members, message)
    finally:
        members.discard(ws)
        if not members:
            rooms.pop(room, None)


async def main(host: str, port: int) -> None:
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    async with serve(
        handler, host, port, compression=None, max_size=65536, ping_interval=20, backlog=4096
    ):
        await stop


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    asyncio.run(main(args.host, args.port))

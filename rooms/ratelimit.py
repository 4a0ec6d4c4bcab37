"""A token bucket per user, shared by all of that user's sockets. With REDIS_URL the bucket lives
in Redis (one atomic script), so it holds across web processes; without, in this process."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass

from django.conf import settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: float  # seconds until the next message would be allowed


_LUA = """
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local data = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(data[1]) or burst
local ts = tonumber(data[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return {allowed, tostring(tokens)}
"""


class TokenBucket:
    def __init__(self, burst: float, per_second: float, redis_url: str = "") -> None:
        self.burst = burst
        self.per_second = per_second
        self.redis_url = redis_url
        self._local: dict[str, tuple[float, float]] = {}
        self._clients: dict[int, object] = {}

    def _retry_after(self, tokens: float) -> float:
        return max(0.0, (1 - tokens) / self.per_second)

    async def take(self, key: str) -> Verdict:
        if self.per_second <= 0:
            return Verdict(True, 0.0)
        if self.redis_url:
            return await self._take_redis(key)
        now = time.monotonic()
        tokens, ts = self._local.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - ts) * self.per_second)
        if tokens >= 1:
            self._local[key] = (tokens - 1, now)
            return Verdict(True, 0.0)
        self._local[key] = (tokens, now)
        return Verdict(False, self._retry_after(tokens))

    async def _take_redis(self, key: str) -> Verdict:
        import redis.asyncio as aioredis

        loop_id = id(asyncio.get_running_loop())
        client = self._clients.get(loop_id)
        if client is None:
            client = aioredis.from_url(self.redis_url)
            self._clients[loop_id] = client
        try:
            allowed, tokens = await client.eval(  # type: ignore[attr-defined]
                _LUA, 1, f"ratelimit:{key}", self.burst, self.per_second
            )
        except Exception as exc:
            # Fail open: while Redis is away a member's words must still get through; the
            # database stores them and the limit resumes when Redis is back.
            log.warning("rate limit unavailable: %s", type(exc).__name__)
            return Verdict(True, 0.0)
        tokens_f = float(tokens)
        return Verdict(bool(allowed), 0.0 if allowed else self._retry_after(tokens_f))


_bucket: TokenBucket | None = None


def message_bucket() -> TokenBucket:
    global _bucket  # noqa: PLW0603 — one bucket per process, built from settings on first use
    if _bucket is None:
        _bucket = TokenBucket(
            burst=settings.RATE_LIMIT_BURST,
            per_second=settings.RATE_LIMIT_PER_SECOND,
            redis_url=settings.REDIS_URL,
        )
    return _bucket


def seconds_text(seconds: float) -> str:
    whole = max(1, math.ceil(seconds))
    return f"{whole} second{'s' if whole != 1 else ''}"

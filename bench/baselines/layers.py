"""The channel layer for a bench run, chosen by BENCH_LAYER (memory | redis | pubsub) and
REDIS_URL. The project's RedisChannelLayer settings (server/settings.py) are mirrored exactly so the
tutorial and the project run on the same layer with the same configuration."""

from __future__ import annotations

import os
from typing import Any


def channel_layers() -> dict[str, Any]:
    layer = os.environ.get("BENCH_LAYER", "memory")
    redis_url = os.environ.get("REDIS_URL", "")
    if layer == "memory":
        return {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    if not redis_url:
        raise RuntimeError(f"BENCH_LAYER={layer} needs REDIS_URL")
    if layer == "redis":
        return {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {
                    "hosts": [redis_url],
                    "capacity": int(os.environ.get("CHANNEL_CAPACITY", "1000")),
                    "expiry": 30,
                },
            }
        }
    if layer == "pubsub":
        return {
            "default": {
                "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                "CONFIG": {"hosts": [redis_url]},
            }
        }
    raise ValueError(f"unknown BENCH_LAYER {layer!r}")

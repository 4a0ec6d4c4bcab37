"""Product settings with the channel layer chosen by BENCH_LAYER, for bench/ws_load.py only.

The tutorial baseline takes its layer from bench/baselines/layers.py; with --layer pubsub the
project runs on this module, so that both get exactly the same layer configuration. Everything
else (database, rate limit, logging) is the product's."""

import os as _os
import sys as _sys

from bench.baselines.layers import channel_layers
from server.settings import *  # noqa: F403

CHANNEL_LAYERS = channel_layers()

# Experiments only: BENCH_SWITCH_INTERVAL (seconds) sets the interpreter's GIL switch interval, to
# test whether the database thread waits on the event loop thread for the GIL (see
# docs/performance.md).
if _os.environ.get("BENCH_SWITCH_INTERVAL"):
    _sys.setswitchinterval(float(_os.environ["BENCH_SWITCH_INTERVAL"]))

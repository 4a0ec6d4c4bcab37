"""Minimal settings for the stock Channels tutorial chat (docs: Tutorial parts 1-3), used as the
baseline of bench/ws_load.py. Only what the tutorial's ASGI app needs."""

import os

from bench.baselines.layers import channel_layers

SECRET_KEY = "bench-only-tutorial-baseline-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "daphne",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "channels",
]
ROOT_URLCONF = "bench.baselines.tutorial.urls"
ASGI_APPLICATION = "bench.baselines.tutorial.asgi.application"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("TUTORIAL_DB", "/tmp/bench-tutorial.sqlite3"),
    }
}
USE_TZ = True
CHANNEL_LAYERS = channel_layers()

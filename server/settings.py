"""Settings, read from the environment. Defaults run the whole product on one machine with
SQLite and an in-memory channel layer; set DATABASE_URL and REDIS_URL for production."""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


def envbool(name: str, default: bool) -> bool:
    """A yes/no setting. Anything but a known spelling stops the process: a typo such as
    SECURE_COOKIES=ture must not quietly turn a protection off."""
    value = os.environ.get(name)
    if value is None:
        return default
    word = value.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name}={value!r} is not a yes/no value: use one of {', '.join(_TRUE + _FALSE[:-1])}"
    )


def envint(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def envlist(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = envbool("DEBUG", False)
# The development key only works with DEBUG on; production must set SECRET_KEY.
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG and not envbool("ALLOW_INSECURE_KEY", False):
        raise RuntimeError("Set SECRET_KEY (or DEBUG=1 for local development).")
    SECRET_KEY = "dev-insecure-key-do-not-use-in-production-0123456789abcdefghijklmnop"

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")


def _site_url() -> str:
    """Where people reach this server, for links in e-mails and calendar feeds: SITE_URL, or
    else the host and port `make run` serves on (HOST, PORT)."""
    if os.environ.get("SITE_URL"):
        return os.environ["SITE_URL"].rstrip("/")
    host = os.environ.get("HOST", "") or "127.0.0.1"
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"http://{host}:{os.environ.get('PORT') or 8000}"


SITE_URL = _site_url()

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "server.accounts",
    "rooms",
    "moderation",
    "frontend",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "frontend.middleware.SecurityHeadersMiddleware",
    "server.observability.RequestIdMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "server.api.JsonNotFoundMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "server.urls"
ASGI_APPLICATION = "server.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "frontend.context.safety",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        # Persistent connections: closing one after every query (the default) costs more than
        # the query, and on SQLite forces a WAL checkpoint each time (measured in bench/).
        conn_max_age=envint("DB_CONN_MAX_AGE", 600),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process and the worker read while the other writes; the busy timeout
    # makes a writer wait for the lock instead of failing at once.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = os.environ.get("STATIC_ROOT") or None
# Static files are served from the apps' folders by WhiteNoise: no collectstatic step to forget.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    # "pubsub" (RedisPubSubChannelLayer) by default: measured against the core layer in
    # docs/performance.md it delivers with lower latency and CPU, has no per-channel capacity
    # to overflow and no group expiry after which a long-open socket would go silent.
    # CHANNEL_LAYER=core selects channels_redis.core.RedisChannelLayer.
    CHANNEL_LAYER = os.environ.get("CHANNEL_LAYER", "pubsub")
    if CHANNEL_LAYER == "core":
        CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {
                    "hosts": [REDIS_URL],
                    "capacity": envint("CHANNEL_CAPACITY", 1000),
                    "expiry": 30,
                },
            }
        }
    else:
        CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                "CONFIG": {"hosts": [REDIS_URL]},
            }
        }
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            # One process-wide subscription per room receives every room event (rooms/hub.py).
            "CONFIG": {"capacity": envint("CHANNEL_CAPACITY", 1000)},
        }
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = envint("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", False)
# Seconds to wait on the mail relay before giving up on one e-mail (it is tried again later).
EMAIL_TIMEOUT = envint("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Haven <no-reply@localhost>")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # limit/offset, with `limit` capped at 200 (docs/api.md, "Limits").
    "DEFAULT_PAGINATION_CLASS": "server.api.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_RATES": {
        "login": os.environ.get("LOGIN_THROTTLE", "10/min"),
        # Per person (server.api.PerUserThrottle); docs/api.md, "Limits".
        "ws_ticket": os.environ.get("WS_TICKET_THROTTLE", "60/min"),
        "enrollment": os.environ.get("ENROLLMENT_THROTTLE", "20/min"),
    },
    "EXCEPTION_HANDLER": "server.api.exception_handler",
    # How many proxies in front of daphne append to X-Forwarded-For: the sign-in throttles take
    # the client's address that many entries from the right, and with 0 (`make run`, or a TCP
    # balancer) ignore the header, which is then the client's own words. The documented nginx
    # sets 1 and overwrites the header with the address it saw (docs/operations.md).
    "NUM_PROXIES": envint("NUM_PROXIES", 0),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Haven API",
    "DESCRIPTION": "Scheduling, enrollment and moderation API of the Haven peer-support platform.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Object ids in paths (server.api.IdConverter): 1 to 18 digits.
    "PATH_CONVERTER_OVERRIDES": {"id": {"type": "integer", "minimum": 1, "maximum": 10**18 - 1}},
    # Swagger UI and Redoc served from this site, never from a CDN.
    "PREPROCESSING_HOOKS": ["server.api.drop_alias_routes"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "server.api.document_generic_errors",
    ],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Product settings.
WS_TICKET_TTL = timedelta(seconds=envint("WS_TICKET_TTL_SECONDS", 30))
SESSION_MATERIALIZE_WEEKS = envint("SESSION_MATERIALIZE_WEEKS", 12)
REMINDER_BEFORE = timedelta(minutes=envint("REMINDER_BEFORE_MINUTES", 60))
ROOM_OPENS_BEFORE = timedelta(minutes=envint("ROOM_OPENS_BEFORE_MINUTES", 10))
WORKER_TICK_SECONDS = float(os.environ.get("WORKER_TICK_SECONDS", "1"))
# With the in-memory channel layer there is one process, so the worker runs inside it (its events
# must reach that process's sockets). With Redis, run `manage.py run_worker` separately.
EMBEDDED_WORKER = envbool("EMBEDDED_WORKER", not REDIS_URL)
# Messages per user across all their sockets: a burst, then a steady rate. 0 turns it off.
RATE_LIMIT_BURST = float(os.environ.get("RATE_LIMIT_BURST", "5"))
RATE_LIMIT_PER_SECOND = float(os.environ.get("RATE_LIMIT_PER_SECOND", "1"))
# Every client frame type has a rate per socket (rooms/inbound.py, docs/protocol.md "Limits").
# Turning the message limit off (benchmarks, tests that measure throughput) turns these off
# too unless FRAME_RATE_LIMITS says otherwise. Work waiting per socket is capped (frames, and
# messages waiting to be stored), and so are each person's sockets per web process.
FRAME_RATE_LIMITS = envbool("FRAME_RATE_LIMITS", RATE_LIMIT_PER_SECOND > 0)
INBOUND_QUEUE_FRAMES = envint("INBOUND_QUEUE_FRAMES", 64)
MAX_SOCKETS_PER_USER = envint("MAX_SOCKETS_PER_USER", 20)
MESSAGE_MAX_CHARS = 4000
# A member's own message can be edited for this long after sending (deleting has no limit).
MESSAGE_EDIT_SECONDS = envint("MESSAGE_EDIT_SECONDS", 300)
# The crisis lines shown to someone who has not chosen a country (ISO 3166 code; empty shows
# only the international lines).
RESOURCES_DEFAULT_COUNTRY = os.environ.get("RESOURCES_DEFAULT_COUNTRY", "US")
# "Quick exit" replaces the page with this neutral site (docs/privacy.md).
QUICK_EXIT_URL = os.environ.get("QUICK_EXIT_URL", "https://www.bbc.com/weather")
HISTORY_MAX_PAGE = 200
PRESENCE_HEARTBEAT_SECONDS = envint("PRESENCE_HEARTBEAT_SECONDS", 10)
# How often each web process re-checks every open room and alerts socket's rights against the
# database, a net under revocation events (docs/protocol.md, Revocation).
RIGHTS_SWEEP_SECONDS = envint("RIGHTS_SWEEP_SECONDS", 5)
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
# Alerts, reports and audit entries keep their metadata but lose their text (excerpts, notes,
# reasons) after this many days; message bodies go sooner, with each group's retention.
AUDIT_TEXT_RETENTION_DAYS = envint("AUDIT_TEXT_RETENTION_DAYS", 365)
# Crisis alerts: how long facilitators have to acknowledge before the next tier is called.
ALERT_ACK_SECONDS_EMERGENCY = envint("ALERT_ACK_SECONDS_EMERGENCY", 60)
ALERT_ACK_SECONDS_URGENT = envint("ALERT_ACK_SECONDS_URGENT", 300)
# An acknowledged urgent or emergency alert opens again if whoever acknowledged it is no longer
# in its room (or in a private check-in with the member) when the worker looks: this long after
# the acknowledgement, and as often again while the alert stays unresolved.
ALERT_ACK_HOLD_SECONDS = envint("ALERT_ACK_HOLD_SECONDS", 120)
# One e-mail per person per alert per tier; anything more goes into one digest per person, sent
# this long after the first thing waiting for it.
ALERT_EMAIL_DIGEST_SECONDS = envint("ALERT_EMAIL_DIGEST_SECONDS", 900)
# When the last facilitator leaves a live session, how long before the room turns read-only.
UNATTENDED_GRACE_SECONDS = envint("UNATTENDED_GRACE_SECONDS", 120)
# The learned second stage of the crisis detector (moderation/crisis/model.py) reads every
# message just after it is delivered and may raise its alert (moderation/review.py). Off: the
# rules alone decide, as before the model.
CRISIS_MODEL = envbool("CRISIS_MODEL", True)
# Each web process scores in a process of its own (about 150 MB more), so the model never holds
# the interpreter lock the event loop and the database thread need. Off: one thread instead.
CRISIS_MODEL_PROCESS = envbool("CRISIS_MODEL_PROCESS", True)
# The model also reads a message with the member's last messages where they carry a sign, so a
# crisis typed in several messages is found (moderation/crisis/batch.py). Off: each alone.
CRISIS_MODEL_CONTEXT = envbool("CRISIS_MODEL_CONTEXT", True)
# The worker reviews any message the web process did not review within this many seconds (a web
# process that died, or a full review queue).
REVIEW_SWEEP_SECONDS = envint("REVIEW_SWEEP_SECONDS", 10)

# Security. Production (DEBUG off) gets secure cookies and HSTS; `check --deploy` is clean.
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SESSION_COOKIE_SECURE = envbool("SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = envbool("SECURE_COOKIES", True)
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]

# JSON lines in production, plain text for local development. Ids only: never message bodies.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "plain" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "server.observability.ContextFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "server.observability.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

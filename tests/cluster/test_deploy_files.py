"""docker-compose.yml, the Dockerfile, nginx and the one-machine cluster describe one topology
with one set of settings. No Docker engine is needed: the files are read, not run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from tests import services
from tests.cluster.topology import SHARED_ENV, Cluster, read_env_file

ROOT = Path(__file__).resolve().parent.parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
APP_SERVICES = ("web", "worker", "migrate")


def test_compose_runs_the_production_topology():
    assert set(SERVICES) >= {"proxy", "web", "worker", "redis", "postgres", "migrate"}
    assert SERVICES["web"]["deploy"]["replicas"] >= 2
    assert "pgdata:/var/lib/postgresql/data" in SERVICES["postgres"]["volumes"]
    assert "/readyz" in json.dumps(SERVICES["web"]["healthcheck"])
    assert "/healthz" in json.dumps(SERVICES["proxy"]["healthcheck"])
    assert SERVICES["web"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )


def test_compose_and_the_cluster_give_every_process_the_same_settings(tmp_path):
    cluster = Cluster(tmp_path, port=8000, persistent=False)
    cluster_env = cluster._build_env("postgres://db", "redis://redis")
    shared = read_env_file(SHARED_ENV)
    for name in APP_SERVICES:
        service = SERVICES[name]
        assert service["env_file"] == "deploy/haven.env", name
        # Only addresses, secrets and the proxy count differ between the topologies, under
        # the same names.
        assert set(service["environment"]) == {
            "SECRET_KEY",
            "METRICS_TOKEN",
            "DATABASE_URL",
            "REDIS_URL",
            "NUM_PROXIES",
        }
        assert set(service["environment"]) <= set(cluster_env)
    origin_specific = {"SITE_URL", "CSRF_TRUSTED_ORIGINS"}  # the cluster's port
    for key, value in shared.items():
        if key not in origin_specific:
            assert cluster_env[key] == value, key
    assert shared["EMBEDDED_WORKER"] == "0"
    assert shared["DEBUG"] == "0"
    assert "127.0.0.1" in shared["ALLOWED_HOSTS"].split(","), "health checks use 127.0.0.1"


def test_the_image_runs_daphne_as_the_test_servers_and_the_cluster_do(tmp_path, monkeypatch):
    dockerfile = (ROOT / "Dockerfile").read_text()
    found = re.search(r"^CMD (\[.*?\])$", dockerfile, re.S | re.M)
    assert found, "the Dockerfile's CMD is a JSON list"
    image_cmd = json.loads(found.group(1).replace("\\\n", ""))
    launched: list[list[str]] = []
    monkeypatch.setattr(services.subprocess, "Popen", lambda args, **kw: launched.append(args))
    services.Daphne({}, tmp_path / "log").start(wait=False)
    local_cmd = launched[0]
    for flag in ("--websocket-max-message-size", "--websocket-max-frame-size", "--access-log"):
        assert image_cmd[image_cmd.index(flag) + 1] == local_cmd[local_cmd.index(flag) + 1], flag
    assert image_cmd[-1] == local_cmd[-1] == "server.asgi:application"
    assert "--proxy-headers" in image_cmd
    assert SERVICES["worker"]["command"] == ["python", "manage.py", "run_worker"]


def test_the_reverse_proxy_passes_websockets_and_keeps_them_open():
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "proxy_set_header Upgrade $http_upgrade;" in conf
    assert "proxy_set_header Connection $connection_upgrade;" in conf
    assert "proxy_http_version 1.1;" in conf
    timeout = re.search(r"proxy_read_timeout (\d+)s;", conf)
    assert timeout and int(timeout.group(1)) >= 3600
    assert "server web:8000" in conf
    directives = [line.split("#")[0] for line in conf.splitlines()]
    assert not any(("ip_hash" in d or "sticky" in d) for d in directives), "no sticky sessions"

"""The production topology on this machine (tests/cluster/topology.py): real PostgreSQL, real
Redis, two daphne processes behind nginx with deploy/nginx.conf, and the worker. A service
that cannot start fails the test (in CI and everywhere else): these tests never skip."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.topology import Cluster


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "cluster: starts the production topology (Postgres, Redis, web processes)"
    )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    data = Path(tmp_path_factory.mktemp("cluster"))
    running = Cluster(data, port=0, web_processes=2, persistent=False).start()
    try:
        yield running
    finally:
        running.stop()

"""Links in e-mails and calendar feeds point where the server runs: `PORT=8811 make run` links
to port 8811, unless SITE_URL says otherwise. Read from a fresh process, as the server reads
its settings."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.services import ROOT


def site_url(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in ("SITE_URL", "PORT", "HOST")}
    out = subprocess.run(
        [sys.executable, "-c", "from server import settings; print(settings.SITE_URL)"],
        env={**clean, "DEBUG": "1", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "http://127.0.0.1:8000"),
        ({"PORT": "8811"}, "http://127.0.0.1:8811"),
        ({"PORT": "8811", "HOST": "0.0.0.0"}, "http://127.0.0.1:8811"),
        ({"PORT": "8811", "HOST": "haven.local"}, "http://haven.local:8811"),
        ({"PORT": "8811", "SITE_URL": "https://haven.example/"}, "https://haven.example"),
    ],
)
def test_the_site_url_follows_the_port_unless_set(env: dict[str, str], expected: str) -> None:
    assert site_url(**env) == expected

"""Yes/no settings refuse what they cannot read: a typo must not turn a protection off."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def load_settings(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import server.settings as s; print(s.SESSION_COOKIE_SECURE)"],
        check=False,
        cwd=ROOT,
        env={**os.environ, "DEBUG": "0", "SECRET_KEY": "x" * 50, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("typo", ["ture", "flase", "enabled", "2"])
def test_a_misspelt_yes_no_setting_stops_the_process_with_its_name(typo: str) -> None:
    result = load_settings(SECURE_COOKIES=typo)
    assert result.returncode != 0
    assert "SECURE_COOKIES" in result.stderr and repr(typo) in result.stderr


@pytest.mark.parametrize(
    ("value", "expected"), [("true", "True"), ("On", "True"), ("0", "False"), ("no", "False")]
)
def test_known_spellings_are_read(value: str, expected: str) -> None:
    result = load_settings(SECURE_COOKIES=value)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected

"""Held-out batches written for this project after the rules existed, as regression tests.

``data/heldout_round2.jsonl`` and ``data/heldout_round3.jsonl`` were each written in one
sitting (chat messages in the style of the dev set, balanced like it, with many hard
negatives) and scored once before any rule was changed for them; their first-pass figures
are in docs/moderation.md. They now guard the rules written after reading their misses:
every target of the issue must hold on each file, and no hard negative may raise an alert.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from moderation.crisis import assess
from moderation.crisis.eval import evaluate, format_summary, load

DATA = Path(__file__).parent / "data"
BATCHES = sorted(DATA.glob("heldout_round*.jsonl"))


def test_both_batches_are_present() -> None:
    assert [p.name for p in BATCHES] == ["heldout_round2.jsonl", "heldout_round3.jsonl"]


@pytest.mark.parametrize("path", BATCHES, ids=lambda p: p.stem)
def test_batch_meets_every_target(path: Path) -> None:
    report = evaluate(load(path))
    assert report.failures() == [], format_summary(report)


@pytest.mark.parametrize("path", BATCHES, ids=lambda p: p.stem)
def test_batch_is_well_formed(path: Path) -> None:
    rows = [json.loads(line) for line in path.open(encoding="utf-8")]
    assert len({r["id"] for r in rows}) == len(rows)
    for r in rows:
        assert r["level"] in ("none", "watch", "urgent", "emergency")
        assert r["category"] in ("none", "self_harm", "harm_others", "abuse_danger")
        assert (r["level"] == "none") == (r["category"] == "none")


def _items(level: str) -> list[tuple[str, str]]:
    out = []
    for path in BATCHES:
        for line in path.open(encoding="utf-8"):
            r = json.loads(line)
            if r["level"] == level:
                out.append(pytest.param(r["id"], r["text"], id=r["id"]))
    return out


@pytest.mark.parametrize(("item_id", "text"), _items("none"))
def test_hard_negative_raises_no_alert(item_id: str, text: str) -> None:
    assert assess(text).level in ("none", "watch")


@pytest.mark.parametrize(("item_id", "text"), _items("emergency"))
def test_emergency_is_never_below_urgent(item_id: str, text: str) -> None:
    assert assess(text).level in ("urgent", "emergency")

"""Every lexicon entry's own examples, run as tests (the data files are the spec)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from moderation.crisis import Context, assess, engine
from moderation.crisis.lexicon import load
from moderation.crisis.normalize import normalize

ENTRIES, SCOPES = load()
DEVSET = Path(__file__).resolve().parents[2].parent / "shared" / "moderation" / "devset.jsonl"


def _cases(kind: str) -> list[Any]:
    out = []
    for entry in ENTRIES:
        for i, text in enumerate(getattr(entry, kind)):
            out.append(pytest.param(entry.id, text, id=f"{entry.id}-{i}"))
    return out


def _scope_cases(kind: str) -> list[Any]:
    out = []
    for scope in SCOPES:
        for i, text in enumerate(getattr(scope, kind)):
            out.append(pytest.param(scope.id, text, id=f"{scope.id}-{i}"))
    return out


# A context holding a live signal makes the engine run secondary entries ("tonight") even when
# nothing else matched, so each entry can be tested on its own. Context never adds rule ids.
_LIVE = Context(recent=[(0.0, ("time.soon",))])


def _rule_ids(text: str) -> tuple[str, ...]:
    return assess(text, context=_LIVE).rule_ids


@pytest.mark.parametrize(("rule_id", "text"), _cases("positive"))
def test_entry_fires_on_its_positive_example(rule_id: str, text: str) -> None:
    assert rule_id in _rule_ids(text)


@pytest.mark.parametrize(("rule_id", "text"), _cases("negative"))
def test_entry_stays_silent_on_its_negative_example(rule_id: str, text: str) -> None:
    assert rule_id not in _rule_ids(text)


@pytest.mark.parametrize(("scope_id", "text"), _scope_cases("positive"))
def test_scope_rule_matches_its_positive_example(scope_id: str, text: str) -> None:
    scope = next(s for s in SCOPES if s.id == scope_id)
    assert scope.regex.search(normalize(text).text)


@pytest.mark.parametrize(("scope_id", "text"), _scope_cases("negative"))
def test_scope_rule_ignores_its_negative_example(scope_id: str, text: str) -> None:
    scope = next(s for s in SCOPES if s.id == scope_id)
    assert not scope.regex.search(normalize(text).text)


def test_every_entry_has_positive_and_negative_examples() -> None:
    missing = [e.id for e in ENTRIES if not e.positive or not e.negative]
    assert missing == []


def test_every_scope_rule_has_positive_and_negative_examples() -> None:
    missing = [s.id for s in SCOPES if not s.positive or not s.negative]
    assert missing == []


def _all_texts() -> list[str]:
    texts = [t for e in ENTRIES for t in (*e.positive, *e.negative)]
    texts += [t for s in SCOPES for t in (*s.positive, *s.negative)]
    if DEVSET.exists():
        texts += [json.loads(line)["text"] for line in DEVSET.open(encoding="utf-8")]
    return texts


def test_anchor_scan_never_hides_a_rule_that_would_match() -> None:
    # The fast path runs a rule only when one of its anchor words occurs; a rule whose
    # pattern can match without any of its anchors would silently never fire.
    missed = []
    for text in _all_texts():
        norm = normalize(text)
        gated = {(e.id, a, b) for e, a, b in engine._find(norm, everything=True)}
        full = {(e.id, m.start(), m.end()) for e in ENTRIES for m in e.regex.finditer(norm.text)}
        missed += [(rid, norm.text[a:b]) for rid, a, b in full - gated]
    assert sorted(set(missed)) == []


def test_rule_ids_are_unique_and_namespaced() -> None:
    ids = [e.id for e in ENTRIES] + [s.id for s in SCOPES]
    assert len(ids) == len(set(ids))
    assert all("." in rid for rid in ids)

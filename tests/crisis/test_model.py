"""The learned stage: the estimator, the artifact and its checks, and how it joins the rules."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moderation.crisis import assess
from moderation.crisis.combine import assess_both, combine, raises
from moderation.crisis.engine import Assessment
from moderation.crisis.model import (
    ARTIFACT,
    ArtifactError,
    CrisisModel,
    Detector,
    Verdict,
    data_hash,
    load,
    prepare,
)
from moderation.crisis.train import (
    choose_thresholds,
    load_sources,
    own_lines,
    train_detector,
)

REPO = Path(__file__).resolve().parents[2]

# A tiny labelled set the tests make themselves, so the estimator's behaviour is checked without
# the shipped data.
TINY = [
    ("i want to end my life tonight, pills are ready", "emergency", "self_harm"),
    ("took the whole bottle an hour ago", "emergency", "self_harm"),
    ("he is outside my door with a knife right now", "emergency", "abuse_danger"),
    ("i'm going to hurt him when he gets home, i have the gun", "emergency", "harm_others"),
    ("i keep wishing i would not wake up", "urgent", "self_harm"),
    ("i cut myself again last night", "urgent", "self_harm"),
    ("he hits me when he drinks", "urgent", "abuse_danger"),
    ("i want to make her pay, i mean it", "urgent", "harm_others"),
    ("years ago i wanted to die but not anymore", "watch", "self_harm"),
    ("everything feels hopeless lately", "watch", "self_harm"),
    ("i could strangle him lol not really", "watch", "harm_others"),
    ("worried my sister is not safe with him", "watch", "abuse_danger"),
    ("see you all on thursday", "none", "none"),
    ("the coffee this morning was great", "none", "none"),
    ("this traffic is killing me", "none", "none"),
    ("thanks everyone for listening", "none", "none"),
    ("my kids had a good week at school", "none", "none"),
    ("started a new book about boundaries", "none", "none"),
]


def tiny_model() -> CrisisModel:
    texts, levels, cats = zip(*TINY, strict=True)
    return CrisisModel(C=4.0).fit(texts, levels, cats)


def test_the_estimator_gives_ordered_probabilities_for_each_text() -> None:
    model = tiny_model()
    probs = model.predict_proba(["took the whole bottle", "see you thursday", ""])
    assert probs.shape == (3, 3)
    assert ((probs >= 0) & (probs <= 1)).all()
    cats = model.category_proba(["he is outside my door"])
    assert cats.shape == (1, 3) and abs(cats.sum() - 1) < 1e-9


def test_the_estimator_learns_what_it_was_shown() -> None:
    model = tiny_model()
    crisis, chat = model.predict_proba(["took the whole bottle an hour ago", "see you on thursday"])
    assert crisis[1] > chat[1] and crisis[2] > chat[2]


def test_a_saved_detector_scores_exactly_as_before(tmp_path: Path) -> None:
    detector = Detector(tiny_model(), {"watch": 0.5, "urgent": 0.5, "emergency": 0.5})
    path = tmp_path / "m.npz"
    detector.save(path)
    again = load(path)
    texts = ["took the whole bottle", "he is outside with a knife", "lovely weather"]
    a, b = detector.model.scores(texts), again.model.scores(texts)
    assert np.allclose(a[0], b[0], atol=1e-5) and np.allclose(a[1], b[1], atol=1e-5)
    assert again.thresholds == detector.thresholds


def test_an_artifact_for_other_features_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.npz"
    Detector(tiny_model(), {"watch": 0.5, "urgent": 0.5, "emergency": 0.5}).save(path)
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays["meta"]))
    meta["features_version"] = 999
    arrays["meta"] = np.array(json.dumps(meta))
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    path.write_bytes(buf.getvalue())
    with pytest.raises(ArtifactError, match="make train-detector"):
        load(path)


def test_a_missing_artifact_says_how_to_build_it(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="make train-detector"):
        load(tmp_path / "absent.npz")


def test_the_shipped_artifact_loads_and_records_how_it_was_made() -> None:
    detector = load(ARTIFACT)
    t = detector.thresholds
    assert 0 < t["urgent"] < 1 and 0 < t["emergency"] < 1 and 0 < t["watch"] < 1
    assert detector.meta["data_hash"]
    assert set(detector.meta["trained_on"]) == {"dev", "sh", "dg", "ev"}
    figures = detector.meta["figures"]["mean_combined"]
    # Out-of-source, recorded when it was trained: most people in crisis are alerted on, and
    # nearly all reach a facilitator (the rest as watch entries).
    assert figures["urgent_recall"] >= 0.85 and figures["urgent_seen"] >= 0.95
    assert ARTIFACT.stat().st_size < 5_000_000


def test_the_shipped_artifact_was_trained_on_the_current_data() -> None:
    """When the labelled data changes, the model must be retrained (make train-detector)."""
    sources = load_sources()
    lines = [x for group in sources.values() for x in group] + own_lines()
    assert load(ARTIFACT).meta["data_hash"] == data_hash(lines)


def test_the_unseen_ordinary_chat_is_never_trained_on() -> None:
    """bench/data/ordinary_chat_unseen*.jsonl measure false alerts on chat the detector has
    never seen; a line of them in the training data would make that figure a lie."""
    texts: set[str] = set()
    for unseen in sorted((REPO / "bench" / "data").glob("ordinary_chat_unseen*.jsonl")):
        with unseen.open(encoding="utf-8") as fh:
            texts |= {json.loads(line)["text"].strip().lower() for line in fh if line.strip()}
    assert len(texts) >= 800
    sources = load_sources()
    trained = {x["text"].strip().lower() for g in sources.values() for x in g}
    trained |= {x["text"].strip().lower() for x in own_lines()}
    assert not texts & trained


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=300), min_size=1, max_size=5))
def test_any_text_gets_a_verdict(texts: list[str]) -> None:
    verdicts = load(ARTIFACT).predict(texts)
    assert len(verdicts) == len(texts)
    for v in verdicts:
        assert v.level in ("none", "watch", "urgent", "emergency")
        assert (v.category == "none") == (v.level == "none")


_WORDS = st.sampled_from(
    ["pills", "kill", "myself", "tonight", "he", "gun", "lol", "thanks", "k!ll", "\U0001f52a", " "]
)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.lists(_WORDS | st.text(max_size=12), max_size=40).map(" ".join), max_size=6))
def test_scores_equal_the_sparse_product_of_the_tf_idf_features(texts: list[str]) -> None:
    # The scorer works message by message without sparse matrices; it must give exactly what
    # the TF-IDF matrix the model was trained on gives, repeated words and empty texts included.
    model = load(ARTIFACT).model
    assert model.features is not None and model.level_coef is not None
    weights = np.hstack([model.level_coef, model.category_coef])
    prepared = [prepare(t) for t in texts]
    expected = model.features.transform(prepared) @ weights
    got = model.features.dot(prepared, weights)
    assert got.shape == (len(texts), 6)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


def test_the_largest_message_is_scored() -> None:
    text = "i have the pills counted out and i am taking them all tonight. " * 70
    (verdict,) = load(ARTIFACT).predict([text[:4000]])  # 4,000 characters, the most allowed
    assert verdict.level == "emergency"


def test_thresholds_reach_the_recall_asked_of_them() -> None:
    rng = np.random.default_rng(0)
    ranks = rng.integers(0, 4, 400)
    probs = np.clip(
        np.stack([ranks >= 1, ranks >= 2, ranks == 3], 1) * 0.5 + rng.random((400, 3)) * 0.5, 0, 1
    )
    t = choose_thresholds(probs, ranks, {"watch": 0.8, "urgent": 0.9, "emergency": 0.85}, budget={})
    assert (probs[ranks >= 2, 1] >= t["urgent"]).mean() >= 0.9
    assert (probs[ranks == 3, 2] >= t["emergency"]).mean() >= 0.85
    assert (probs[ranks >= 1, 0] >= t["watch"]).mean() >= 0.8


def test_the_alert_budget_caps_false_alerts_and_the_rest_is_a_watch_entry() -> None:
    rng = np.random.default_rng(0)
    ranks = rng.integers(0, 4, 1000)
    probs = np.clip(
        np.stack([ranks >= 1, ranks >= 2, ranks == 3], 1) * 0.3 + rng.random((1000, 3)) * 0.7, 0, 1
    )
    budget = {"urgent": 0.1, "emergency": 0.05}
    t = choose_thresholds(probs, ranks, {"watch": 0.8, "urgent": 0.95, "emergency": 0.9}, budget)
    none = ranks == 0
    assert (probs[none, 1] >= t["urgent"]).mean() <= 0.1
    assert (probs[none, 2] >= t["emergency"]).mean() <= 0.05
    assert t["review"] < t["urgent"]  # recall-first: what it lets through is a watch entry
    assert (probs[ranks >= 2, 1] >= t["review"]).mean() >= 0.95


def test_training_is_reproducible() -> None:
    groups = {
        "a": [{"text": t, "level": lv, "category": c} for t, lv, c in TINY[::2]],
        "b": [{"text": t, "level": lv, "category": c} for t, lv, c in TINY[1::2]],
    }
    one, two = train_detector(groups).detector, train_detector(groups).detector
    texts = ["took the bottle", "see you"]
    assert one.thresholds == two.thresholds
    assert np.array_equal(one.model.predict_proba(texts), two.model.predict_proba(texts))
    assert one.meta["data_hash"] == two.meta["data_hash"]


# ---------------------------------------------------------------- combination


def verdict(level: str, category: str = "self_harm", p: float = 0.9) -> Verdict:
    pw, pu, pe = {
        "none": (0.1, 0.05, 0.01),
        "watch": (p, 0.2, 0.1),
        "urgent": (0.95, p, 0.2),
        "emergency": (0.99, 0.97, p),
    }[level]
    return Verdict(level, category if level != "none" else "none", pw, pu, pe, p)


def test_the_higher_level_wins_and_the_model_never_lowers_the_rules() -> None:
    rules = assess("i want to die")
    assert rules.level == "urgent"
    assert combine(rules, verdict("none")).level == "urgent"
    assert combine(rules, verdict("emergency")).level == "emergency"
    assert combine(Assessment(), verdict("urgent")).level == "urgent"


def test_the_explanation_names_both_stages() -> None:
    both = combine(assess("i want to die"), verdict("emergency", p=0.94))
    assert both.explanation.startswith("rules: ")
    assert "model: 0.94 emergency, self_harm" in both.explanation
    only_model = combine(Assessment(), verdict("urgent", "abuse_danger", p=0.81))
    assert only_model.explanation == "model: 0.81 urgent, abuse_danger"
    assert only_model.category == "abuse_danger" and only_model.at_risk == "writer"
    assert only_model.model is not None and only_model.model["p_urgent"] == 0.81


def test_a_threat_the_rules_found_stays_harm_to_others() -> None:
    rules = assess("i'm going to kill him tonight, i bought the gun")
    assert rules.level == "emergency" and "threat" in rules.signals
    both = combine(rules, verdict("emergency", "self_harm", p=0.99))
    assert both.category == "harm_others"


def test_the_model_decides_the_category_when_it_set_the_level() -> None:
    rules = assess("everything feels hopeless")
    both = combine(rules, verdict("emergency", "harm_others"))
    assert both.category == "harm_others" and both.at_risk == "other"
    assert raises(rules, both)
    assert not raises(both, both)


def test_nothing_found_by_either_stage_stays_plain() -> None:
    plain = combine(assess("see you thursday"), verdict("none"))
    assert plain.level == "none" and plain.category == "none" and plain.explanation == ""


def test_assess_both_uses_the_shipped_model() -> None:
    a = assess_both("took the whole bottle of my pills an hour ago and i feel sleepy")
    assert a.level == "emergency" and a.model is not None


def test_the_cli_without_the_model_gives_the_rules_alone() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "moderation.crisis"],
        input=json.dumps({"id": 1, "text": "i want to die"}) + "\n",
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
        timeout=60,
        env={**os.environ, "CRISIS_MODEL": "off"},
    )
    row = json.loads(out.stdout)
    assert row["level"] == "urgent" and "model" not in row

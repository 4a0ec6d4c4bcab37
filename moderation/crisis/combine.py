"""Rules and model together: the higher level wins, and the explanation names both.

The rules stay the precise, explainable first stage; the model carries recall. Neither can lower
what the other found. The category comes from whichever stage is surer: the one that set the
level, or on a tie the model when it is confident, except that a threat the rules found against
another person is always ``harm_others`` (it decides which resources the member is shown).
"""

from __future__ import annotations

from dataclasses import replace

from .engine import Assessment, Context, assess
from .lexicon import LEVELS, RANK
from .model import Detector, Verdict
from .model import default as default_detector

# On a tie in level, the model's category replaces the rules' only when it is this sure.
MODEL_CATEGORY_CONFIDENCE = 0.8


def combine(rules: Assessment, verdict: Verdict | None) -> Assessment:
    if verdict is None:
        return rules
    model_rank, rules_rank = RANK[verdict.level], RANK[rules.level]
    level = LEVELS[max(model_rank, rules_rank)]
    category, at_risk = rules.category, rules.at_risk
    if model_rank > rules_rank or (
        model_rank == rules_rank
        and model_rank > 0
        and verdict.category != rules.category
        and verdict.p_category >= MODEL_CATEGORY_CONFIDENCE
    ):
        category = verdict.category
        at_risk = "other" if category == "harm_others" else "writer"
    if "threat" in rules.signals and rules_rank >= 2:
        category, at_risk = "harm_others", "other"
    parts = []
    if rules.level != "none":
        parts.append(f"rules: {rules.explanation or rules.level}")
    if verdict.level != "none":
        parts.append(verdict.explanation)
    explanation = "; ".join(parts)
    return replace(
        rules,
        level=level,
        category=category if level != "none" else "none",
        at_risk=at_risk if level != "none" else "none",
        explanation=explanation[:500] if level != "none" else rules.explanation,
        model=verdict.to_dict(),
    )


def raises(rules: Assessment, combined: Assessment) -> bool:
    """Whether the model changed what facilitators must be told: a higher level, or another
    category at an alerting level."""
    return RANK[combined.level] > RANK[rules.level] or (
        combined.level != "none" and combined.category != rules.category
    )


def assess_both(
    text: str, context: Context | None = None, detector: Detector | None = None
) -> Assessment:
    """Rules and model on one message: what the CLI and the evaluation report. The live send
    path runs the rules at once and the model after delivery (``moderation.review``)."""
    rules = assess(text, context)
    detector = detector or default_detector()
    if detector is None:
        return rules
    return combine(rules, detector.predict([text])[0])

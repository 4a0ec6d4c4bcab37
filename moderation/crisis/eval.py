"""Score the detector on a labelled set: ``python -m moderation.crisis.eval [PATH] [--check]``.

PATH defaults to ``$CRISIS_DEVSET`` or ``../shared/moderation/devset.jsonl`` (relative to the
current directory, which is the repo root under ``make eval``). ``--stage rules`` scores the rules
alone; the default scores rules and model together, as the product does. The shipped model was
trained on the dev set and the corpus, so a figure on those lines says little about new text:
``--cross-validate`` prints the out-of-source figures that do (``moderation.crisis.train``). The
listing of misses prints message texts to the terminal; it is a developer tool, not a log.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from . import assess
from .combine import assess_both
from .lexicon import LEVELS, RANK

DEFAULT_PATH = Path("..") / "shared" / "moderation" / "devset.jsonl"

TARGETS = {
    "urgent_recall": (">=", 0.98),
    "emergency_exact_recall": (">=", 0.90),
    "emergency_below_urgent": ("<=", 0),
    "false_alert_rate": ("<=", 0.02),
    "flag_rate": ("<=", 0.10),
}


@dataclass
class Row:
    id: str
    text: str
    gold: str
    gold_category: str
    level: str
    category: str


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)

    def _ratio(self, hits: int, total: int) -> float:
        return hits / total if total else 1.0

    @property
    def metrics(self) -> dict[str, float]:
        urgent = [r for r in self.rows if RANK[r.gold] >= 2]
        emergency = [r for r in self.rows if r.gold == "emergency"]
        none = [r for r in self.rows if r.gold == "none"]
        flagged = [r for r in self.rows if RANK[r.gold] >= 1 and RANK[r.level] >= 1]
        return {
            "urgent_recall": self._ratio(sum(RANK[r.level] >= 2 for r in urgent), len(urgent)),
            "emergency_exact_recall": self._ratio(
                sum(r.level == "emergency" for r in emergency), len(emergency)
            ),
            "emergency_below_urgent": float(sum(RANK[r.level] < 2 for r in emergency)),
            "false_alert_rate": self._ratio(sum(RANK[r.level] >= 2 for r in none), len(none))
            if none
            else 0.0,
            "flag_rate": self._ratio(sum(RANK[r.level] >= 1 for r in none), len(none))
            if none
            else 0.0,
            "category_accuracy": self._ratio(
                sum(r.category == r.gold_category for r in flagged), len(flagged)
            ),
        }

    def failures(self) -> list[str]:
        out = []
        for name, (op, target) in TARGETS.items():
            value = self.metrics[name]
            ok = value >= target if op == ">=" else value <= target
            if not ok:
                out.append(f"{name} {value:.3f} (target {op} {target})")
        return out

    def misses(self) -> list[Row]:
        """Rows whose level differs from gold, worst first (missed alerts, then false ones)."""

        def badness(r: Row) -> tuple[int, str]:
            under = RANK[r.gold] - RANK[r.level]
            return (-(under * 2 if under > 0 else -under), r.id)

        wrong = [
            r
            for r in self.rows
            if r.level != r.gold or (RANK[r.gold] >= 1 and r.category != r.gold_category)
        ]
        return sorted(wrong, key=badness)


def load(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def evaluate(items: Iterable[dict[str, str]], stage: str = "rules") -> Report:
    report = Report()
    judge = assess if stage == "rules" else assess_both
    for item in items:
        a = judge(item["text"])
        report.rows.append(
            Row(
                id=str(item["id"]),
                text=item["text"],
                gold=item["level"],
                gold_category=item.get("category", "none"),
                level=a.level,
                category=a.category,
            )
        )
    return report


def format_summary(report: Report) -> str:
    m = report.metrics
    n = len(report.rows)
    counts = {lv: sum(r.gold == lv for r in report.rows) for lv in LEVELS}
    lines = [
        f"items: {n} ({', '.join(f'{k} {v}' for k, v in counts.items())})",
        f"recall of urgent-and-above:        {m['urgent_recall']:.3f}  (target >= 0.98)",
        f"emergency recognized as emergency: {m['emergency_exact_recall']:.3f}  (target >= 0.90)",
        f"emergencies predicted below urgent: {int(m['emergency_below_urgent'])}      (target 0)",
        f"false alerts (urgent+) on none:    {m['false_alert_rate']:.3f}  (target <= 0.02)",
        f"flags (watch+) on none:            {m['flag_rate']:.3f}  (target <= 0.10)",
        f"category accuracy on flagged:      {m['category_accuracy']:.3f}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", help="labelled JSON lines file")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--no-misses", action="store_true", help="print the summary only")
    parser.add_argument("--stage", choices=["rules", "combined"], default="combined")
    parser.add_argument(
        "--cross-validate",
        action="store_true",
        help="the out-of-source cross-validation of rules, model and both, as recorded",
    )
    parser.add_argument(
        "--recompute", action="store_true", help="recompute the cross-validation (slow)"
    )
    parser.add_argument("--reader", action="store_true", help="with --recompute: and the reader")
    args = parser.parse_args(argv)
    if args.cross_validate or args.recompute:
        return _cross_validate(args.check, args.recompute, args.reader)
    path = Path(args.path or os.environ.get("CRISIS_DEVSET") or DEFAULT_PATH)
    if not path.exists():
        print(
            f"error: no labelled set at {path}; pass a path or set CRISIS_DEVSET", file=sys.stderr
        )
        return 2
    report = evaluate(load(path), args.stage)
    print(
        f"{path.name}, {args.stage}"
        + (" (the model was trained on these lines)" if args.stage == "combined" else "")
    )
    print(format_summary(report))
    if not args.no_misses:
        misses = report.misses()
        print(f"\nmisses ({len(misses)}): id  gold -> predicted  text")
        for r in misses:
            gold = f"{r.gold}/{r.gold_category}"
            got = f"{r.level}/{r.category}"
            print(f"  {r.id}  {gold:>22} -> {got:<22} {r.text}")
    failures = report.failures()
    if failures:
        print("\ntargets missed: " + "; ".join(failures))
    return 1 if (args.check and failures) else 0


def _cross_validate(check: bool, recompute: bool, reader: bool = False) -> int:
    """The out-of-source table: the one recorded when the shipped model was trained, or
    recomputed now (about 5 minutes; with the transformer reader, which needs torch, about an
    hour on two busy cores)."""
    import importlib.util

    from .model import load as load_detector
    from .train import TARGETS as CV_TARGETS
    from .train import (
        cross_validate,
        format_confusion,
        format_table,
        load_sources,
        misses_targets,
        own_lines,
    )

    if not recompute:
        meta = load_detector(reader=False).meta
        figures = meta.get("figures") or {}
        if "table" not in figures:
            print("the shipped model records no out-of-source figures; run with --recompute")
            return 2
        print(
            "out-of-source cross-validation recorded when the shipped model was trained "
            f"(data {meta['data_hash']}; recompute: make eval-cv):"
        )
        print(figures["table"])
        missed = [
            f"{held}: {name} {stages['combined'][name]:.3f} (target {op} {goal})"
            for held, stages in figures["out_of_source"].items()
            if held != "dev"
            for name, (op, goal) in CV_TARGETS.items()
            if not _meets(stages["combined"][name], op, goal)
        ]
    else:
        try:
            sources = load_sources()
        except FileNotFoundError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        reader = reader and importlib.util.find_spec("torch") is not None
        print(
            "out-of-source cross-validation: train on three sources, score the fourth"
            + (", n-grams and reader" if reader else ", n-grams (add --reader for the reader)")
        )
        results, _ = cross_validate(sources, own_lines(), reader=reader, progress=print)
        print(format_table(results))
        print(format_confusion(results))
        missed = [
            f"{r.held}: {m}" for r in results if r.held != "dev" for m in misses_targets(r.combined)
        ]
    if missed:
        print("\ntargets missed (combined, held-out corpus sources):\n  " + "\n  ".join(missed))
    return 1 if (check and missed) else 0


def _meets(value: float, op: str, goal: float) -> bool:
    return value >= goal if op == ">=" else value <= goal


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # piped into head: stop quietly
        sys.stderr.close()
        sys.exit(0)

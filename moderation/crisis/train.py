"""Train the learned stage and judge it on text it has not seen: ``make train-detector``.

``python -m moderation.crisis.train [--include FILE ...] [--out PATH] [--no-cv]``

Data: the four labelled sources (the dev set and the three corpus files, read from
``$CRISIS_DATA`` or ``../shared/moderation``), plus any ``--include`` files (facilitators'
exported judgements, or the project's own examples in a separate named file). Included files are
only ever trained on, never scored.

Thresholds are chosen for recall (a missed person in crisis costs far more than an alert a
facilitator dismisses) on out-of-fold scores: leave one source out, score it, repeat, so every
training line is scored by a model that never saw its source. They are never chosen on a test
set. The out-of-source figures (train on three sources, choose thresholds on those three the
same way, score the fourth) are recorded in the artifact beside the model.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .combine import combine
from .encoder import ARTIFACT as ENCODER_ARTIFACT
from .engine import assess
from .lexicon import LEVELS, RANK
from .model import ARTIFACT, CrisisModel, Detector, data_hash

SOURCES = {
    "dev": "devset.jsonl",
    "sh": "corpus/selfharm.jsonl",
    "dg": "corpus/danger.jsonl",
    "ev": "corpus/everyday.jsonl",
}
DEFAULT_ROOT = Path("..") / "shared" / "moderation"
# Lines the project wrote itself, always trained on and never scored (docs/moderation.md):
# ordinary group chat (greetings, logistics, small talk, thanks), since the labelled sources are
# mostly crisis lines and hard negatives and without these the model never learns how plain most
# chat is; and crisis lines of the kinds the rules missed (plans told as errands or logistics,
# emoji for a method, an overdose told calmly, misspellings, passive ideation as sleep), with
# safe lines that share their words, written from those descriptions and not from any source;
# and 600 lines of every level, written from the label definitions alone by a writer who read
# none of the labelled sources (varied register, length, euphemism, hard negatives); and 500
# more by another such writer, weighted toward current suicidal ideation and self-harm (the
# kind of line missed most often out of source) and the safe lines that share their words; and
# 500 by a third such writer, weighted toward a crisis told inside everyday chat (logistics,
# thanks, a reply) and safe lines that share crisis words: the betrayal itself told with strong
# feeling, violence and abuse words in a job, a class or a film, phone numbers and times; and
# 500 by a fourth, weighted toward emergencies told calmly and everyday venting that shares
# crisis words. Two more files of plain room chat by two more writers (members; facilitators
# and replies) because the detector alerted on one ordinary message in eight it had never seen
# (bench/data/ordinary_chat_unseen.jsonl, which no writer of training lines read).
OWN = (
    Path(__file__).parent / "data" / "ordinary_chat.jsonl",
    Path(__file__).parent / "data" / "ordinary_chat_2.jsonl",
    Path(__file__).parent / "data" / "ordinary_chat_3.jsonl",
    Path(__file__).parent / "data" / "team_crisis.jsonl",
    Path(__file__).parent / "data" / "team_written.jsonl",
    Path(__file__).parent / "data" / "team_written_2.jsonl",
    Path(__file__).parent / "data" / "team_written_3.jsonl",
    Path(__file__).parent / "data" / "team_written_4.jsonl",
)

# Out-of-fold recall each threshold must reach on the training data: P(level >= head).
RECALL_TARGETS = {"watch": 0.80, "urgent": 0.92, "emergency": 0.85}
# The most of the out-of-fold `none` lines the model alone may alert on (urgent or above), and
# call an emergency. Above the recall threshold but within these, it files a watch entry.
ALERT_BUDGET = {"urgent": 0.10, "emergency": 0.05}
# Share of urgent-and-above lines (out of fold) whose n-gram score must reach the reader's gate.
GATE_RECALL = 0.995
C = 4.0

Line = dict[str, Any]


def data_root() -> Path:
    return Path(os.environ.get("CRISIS_DATA") or DEFAULT_ROOT)


def read_lines(path: Path) -> list[Line]:
    with path.open(encoding="utf-8") as fh:
        lines = [json.loads(line) for line in fh if line.strip()]
    for item in lines:
        if item.get("level") not in LEVELS or not isinstance(item.get("text"), str):
            raise ValueError(f"{path.name}: line {item.get('id')!r} has no valid text and level")
        item.setdefault("category", "none")
    return lines


def own_lines() -> list[Line]:
    return [x for path in OWN for x in read_lines(path)]


def load_sources(root: Path | None = None) -> dict[str, list[Line]]:
    root = root or data_root()
    missing = [name for name in SOURCES.values() if not (root / name).exists()]
    if missing:
        raise FileNotFoundError(
            f"labelled data not found under {root} ({', '.join(missing)}); set CRISIS_DATA"
        )
    return {key: read_lines(root / name) for key, name in SOURCES.items()}


def fit(lines: Sequence[Line], c: float = C) -> CrisisModel:
    return CrisisModel(C=c).fit(
        [x["text"] for x in lines], [x["level"] for x in lines], [x["category"] for x in lines]
    )


def choose_thresholds(
    probs: np.ndarray,
    ranks: np.ndarray,
    targets: dict[str, float] = RECALL_TARGETS,
    budget: dict[str, float] | None = None,
) -> dict[str, float]:
    """Thresholds from out-of-fold scores.

    For each head, the highest threshold at which recall reaches its target (``RECALL_TARGETS``).
    What passes the urgent one is at least ``watch``: a facilitator looks at it. To alert (an
    acknowledge deadline, the member's support card) the model must also keep the share of
    ``none`` lines it alerts on within ``ALERT_BUDGET``: ``urgent`` and ``emergency`` are the
    stricter of the two. Most chat is ordinary; a detector that pages people for a quarter of it
    is one nobody can heed."""
    budget = ALERT_BUDGET if budget is None else budget
    out = {}
    for k, head in enumerate(("watch", "urgent", "emergency"), start=1):
        positive = probs[ranks >= k, k - 1] if head != "emergency" else probs[ranks == 3, 2]
        if len(positive) == 0:
            out[head] = 0.5
            continue
        # The score of the ceil(target * n)-th surest positive: at least that share of them
        # scores at or above it. Rounded down, so rounding never costs a positive.
        needed = int(np.ceil(targets[head] * len(positive)))
        kth = float(np.sort(positive)[::-1][needed - 1])
        out[head] = float(np.floor(kth * 10_000) / 10_000)
    out["review"] = out["urgent"]
    negatives = ranks == 0
    for k, head in ((1, "urgent"), (2, "emergency")):
        if head not in budget or not negatives.any():
            continue
        scores = np.sort(probs[negatives, k])[::-1]
        allowed = int(np.floor(budget[head] * len(scores)))
        # Just above the (allowed + 1)-th highest `none` score: at most `allowed` reach it.
        cap = float(np.ceil(scores[min(allowed, len(scores) - 1)] * 10_000 + 1) / 10_000)
        out[head] = max(out[head], cap)
    return out


@dataclass
class Scores:
    """Level probabilities (n, 3) of the n-grams and, when trained, of the reader, for lines
    scored by models that never saw them."""

    ngram: np.ndarray
    reader: np.ndarray | None

    def both(self, gate: float) -> np.ndarray:
        """What the detector computes: see ``Detector.probabilities``."""
        if self.reader is None:
            return self.ngram
        return np.where(self.ngram[:, :1] >= gate, (self.ngram + self.reader) / 2, self.ngram / 2)

    @staticmethod
    def join(parts: Sequence[Scores]) -> Scores:
        readers = [p.reader for p in parts]
        return Scores(
            np.concatenate([p.ngram for p in parts]),
            None if any(r is None for r in readers) else np.concatenate(readers),  # type: ignore[arg-type]
        )


def reader_cache(lines: Sequence[Line]) -> Path | None:
    """Where a fine-tuning on these lines is kept, with ``$CRISIS_READER_CACHE`` set: named by
    the lines' fingerprint and every training setting."""
    from . import finetune

    cache = os.environ.get("CRISIS_READER_CACHE")
    if not cache:
        return None
    settings: tuple[int | str, ...] = (
        finetune.SEED,
        finetune.LAYERS,
        finetune.EPOCHS,
        finetune.BATCH,
    )
    if finetune.WORDS:  # the key of a reader with frozen embeddings is as it always was
        settings += ("words",)
    key = "-".join(str(v) for v in (data_hash(lines), *settings, finetune.LEARNING_RATE))
    return Path(cache) / f"reader-{key}.npz"


def fit_reader(lines: Sequence[Line]) -> Any:
    """One fine-tuning of the reader. Training is seeded and deterministic, so a result kept
    in the cache (``reader_cache``) is reused: the hour-long cross-validation need not repeat
    the fine-tunings a run before it already did on the same lines."""
    from . import finetune

    path = reader_cache(lines)
    if path is not None and path.exists():
        with np.load(path) as data:
            layers = {k[2:]: data[k] for k in data.files if k.startswith("l:")}
            words = "w:ids" in data.files
            return finetune.Trained(
                layers,
                int(data["count"]),
                data["head"],
                data["head_b"],
                data["w:ids"] if words else None,
                data["w:delta"] if words else None,
            )
    # The settings the cache's key names, read now (``fit``'s defaults were bound at import).
    trained = finetune.fit(
        [x["text"] for x in lines],
        [x["level"] for x in lines],
        [x["category"] for x in lines],
        count=finetune.LAYERS,
        epochs=finetune.EPOCHS,
        seed=finetune.SEED,
        words=finetune.WORDS,
    )
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {f"l:{k}": v for k, v in trained.layers.items()}
        if trained.word_ids is not None and trained.word_delta is not None:
            arrays |= {"w:ids": trained.word_ids, "w:delta": trained.word_delta}
        np.savez(path, count=trained.count, head=trained.head, head_b=trained.head_b, **arrays)  # type: ignore[arg-type]
    return trained


def reader_of(trained: Any, texts: Sequence[str]) -> Any:
    """The reader the product would run from freshly trained weights, through the same file
    format: reading in 8 bits, with its products' input ranges measured on ``texts`` (the
    lines it was trained on)."""
    import tempfile

    from . import encoder

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "encoder.npz"
        save_reader(path, trained, meta={})
        ranges = encoder.load(path).ranges_of(texts)
        save_reader(path, trained, meta={}, ranges=ranges)
        return encoder.load(path)


def save_reader(
    path: Path, trained: Any, meta: dict[str, Any], ranges: dict[str, np.ndarray] | None = None
) -> None:
    """Writes fine-tuned weights (``finetune.Trained``) as the reader's artifact, with the
    ranges reading in 8 bits needs where given."""
    from . import encoder

    encoder.save(
        path,
        layers=trained.layers,
        count=trained.count,
        head=trained.head,
        head_b=trained.head_b,
        meta=meta,
        word_ids=trained.word_ids,
        word_delta=trained.word_delta,
        ranges=ranges,
    )


def choose_gate(ngram: np.ndarray, ranks: np.ndarray, share: float = GATE_RECALL) -> float:
    """The n-gram watch score above which the reader is asked: low enough that ``share`` of
    urgent-and-above lines (out of fold) reach it."""
    positive = np.sort(ngram[ranks >= 2, 0])[::-1]
    if len(positive) == 0:
        return 0.0
    kth = float(positive[int(np.ceil(share * len(positive))) - 1])
    return float(np.floor(kth * 10_000) / 10_000)


def out_of_fold(
    groups: dict[str, list[Line]], c: float = C, reader: bool = False
) -> tuple[Scores, list[Line]]:
    """Scores every line with models trained on the other groups (leave one group out)."""
    parts, lines = [], []
    for held, test in groups.items():
        train = [x for key, group in groups.items() if key != held for x in group]
        texts = [x["text"] for x in test]
        ngram = fit(train, c).predict_proba(texts)
        read = (
            reader_of(fit_reader(train), [x["text"] for x in train]).scores(texts)[0]
            if reader
            else None
        )
        parts.append(Scores(ngram, read))
        lines.extend(test)
    return Scores.join(parts), lines


@dataclass
class Trained:
    detector: Detector
    reader_weights: Any  # finetune.Trained, or None without the reader


def train_detector(
    groups: dict[str, list[Line]],
    extra: Sequence[Line] = (),
    c: float = C,
    reader: bool = False,
    oof: tuple[Scores, list[Line]] | None = None,
) -> Trained:
    """Gate and thresholds from leave-one-group-out scores (``oof`` when the caller already
    has them), then one model of each kind on everything."""
    gate = 0.0
    if len(groups) >= 2:
        scores, ordered = oof or out_of_fold(groups, c, reader)
        ranks = np.array([RANK[x["level"]] for x in ordered])
        ngram_thresholds = choose_thresholds(scores.ngram, ranks)
        if reader and scores.reader is not None:
            gate = choose_gate(scores.ngram, ranks)
            thresholds = choose_thresholds(scores.both(gate), ranks)
        else:
            thresholds = ngram_thresholds
    else:
        ngram_thresholds = thresholds = {"watch": 0.5, "urgent": 0.5, "emergency": 0.5}
    everything = [x for group in groups.values() for x in group] + list(extra)
    weights = fit_reader(everything) if reader else None
    detector = Detector(
        model=fit(everything, c),
        thresholds=thresholds,
        ngram_thresholds=ngram_thresholds,
        gate=gate,
        encoder=reader_of(weights, [x["text"] for x in everything])
        if weights is not None
        else None,
        meta={
            "trained_on": {key: len(group) for key, group in groups.items()},
            "included": len(extra),
            "data_hash": data_hash(everything),
            "recall_targets": RECALL_TARGETS,
            "alert_budget": ALERT_BUDGET,
            "gate_recall": GATE_RECALL if reader else None,
        },
    )
    return Trained(detector, weights)


# ---------------------------------------------------------------- figures


@dataclass
class Figures:
    urgent_recall: float
    emergency_exact: float
    emergency_below_urgent: float
    false_alerts: float
    flags: float
    category_accuracy: float
    n: int
    # Urgent-and-above lines that reach a facilitator at all (watch or above).
    urgent_seen: float = float("nan")

    @classmethod
    def of(cls, gold: Sequence[Line], levels: Sequence[str], categories: Sequence[str]) -> Figures:
        g = np.array([RANK[x["level"]] for x in gold])
        p = np.array([RANK[lv] for lv in levels])
        gc = np.array([x["category"] for x in gold])
        pc = np.array(categories)

        def share(mask: np.ndarray, hit: np.ndarray) -> float:
            return float(hit[mask].mean()) if mask.any() else float("nan")

        flagged = (g >= 1) & (p >= 1)
        return cls(
            urgent_recall=share(g >= 2, p >= 2),
            emergency_exact=share(g == 3, p == 3),
            emergency_below_urgent=share(g == 3, p < 2),
            false_alerts=share(g == 0, p >= 2),
            flags=share(g == 0, p >= 1),
            category_accuracy=share(flagged, gc == pc),
            n=len(gold),
            urgent_seen=share(g >= 2, p >= 1),
        )

    def row(self) -> str:
        return (
            f"{self.urgent_recall:6.3f} {self.emergency_exact:6.3f} "
            f"{self.emergency_below_urgent:6.3f} {self.false_alerts:6.3f} {self.flags:6.3f} "
            f"{self.category_accuracy:6.3f} {self.urgent_seen:6.3f}"
        )

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in self.__dict__.items()}


TARGETS = {
    "urgent_recall": (">=", 0.90),
    "emergency_exact": (">=", 0.80),
    "emergency_below_urgent": ("<=", 0.03),
    "false_alerts": ("<=", 0.10),
    "flags": ("<=", 0.20),
}


def misses_targets(f: Figures) -> list[str]:
    out = []
    for name, (op, goal) in TARGETS.items():
        value = getattr(f, name)
        if not (value >= goal if op == ">=" else value <= goal):
            out.append(f"{name} {value:.3f} (target {op} {goal})")
    return out


@dataclass
class FoldResult:
    held: str
    rules: Figures
    ngrams: Figures
    model: Figures
    combined: Figures
    thresholds: dict[str, float]
    confusion: dict[str, dict[str, int]]


STAGES = ("rules", "ngrams", "model", "combined")


def cross_validate(
    sources: dict[str, list[Line]],
    extra: Sequence[Line] = (),
    c: float = C,
    reader: bool = False,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[FoldResult], tuple[Scores, list[Line]]]:
    """Out-of-source: for each source, train on the other three (gate and thresholds by
    leave-one-out among those three), and score the held-out one with the rules alone, the
    n-grams alone, the model (n-grams and reader), and rules and model combined.

    Also returns every line's held-out scores: exactly the leave-one-source-out scores that
    choose the shipped model's thresholds, so they need not be computed twice."""
    results, parts, ordered = [], [], []
    for held, test in sources.items():
        start = time.monotonic()
        train = {key: group for key, group in sources.items() if key != held}
        detector = train_detector(train, extra, c, reader).detector
        texts = [x["text"] for x in test]
        ngram_only = Detector(
            model=detector.model, thresholds=detector.ngram_thresholds or detector.thresholds
        )
        verdicts = detector.predict(texts)
        ngram_verdicts = ngram_only.predict(texts)
        rules = [assess(t) for t in texts]
        combined = [combine(r, v) for r, v in zip(rules, verdicts, strict=True)]
        results.append(
            FoldResult(
                held=held,
                rules=Figures.of(test, [r.level for r in rules], [r.category for r in rules]),
                ngrams=Figures.of(
                    test, [v.level for v in ngram_verdicts], [v.category for v in ngram_verdicts]
                ),
                model=Figures.of(test, [v.level for v in verdicts], [v.category for v in verdicts]),
                combined=Figures.of(
                    test, [a.level for a in combined], [a.category for a in combined]
                ),
                thresholds=detector.thresholds,
                confusion=_confusion(test, combined),
            )
        )
        read = detector.encoder.scores(texts)[0] if detector.encoder is not None else None
        parts.append(Scores(detector.model.predict_proba(texts), read))
        ordered.extend(test)
        if progress:
            progress(f"  fold {held}: {time.monotonic() - start:.1f} s")
    return results, (Scores.join(parts), ordered)


def _confusion(gold: Sequence[Line], predicted: Sequence[Any]) -> dict[str, dict[str, int]]:
    """Gold category -> predicted category, over lines both call at least watch."""
    table: dict[str, dict[str, int]] = {}
    for x, a in zip(gold, predicted, strict=True):
        if x["level"] != "none" and a.level != "none":
            row = table.setdefault(x["category"], {})
            row[a.category] = row.get(a.category, 0) + 1
    return table


def pooled(results: Sequence[FoldResult], stage: str) -> dict[str, float]:
    """Mean of the held-out folds' figures for one stage (each source weighs the same)."""
    keys = ["urgent_recall", "emergency_exact", "emergency_below_urgent", "false_alerts", "flags"]
    keys += ["category_accuracy", "urgent_seen"]
    return {
        k: round(float(np.nanmean([getattr(getattr(r, stage), k) for r in results])), 4)
        for k in keys
    }


def format_table(results: Sequence[FoldResult]) -> str:
    head = "held-out  stage     recall  emerg  e<urg  falseA  flags  categ   seen"
    lines = [head, "-" * len(head)]
    for r in results:
        for stage in STAGES:
            lines.append(f"{r.held:<9} {stage:<9} {getattr(r, stage).row()}")
    for stage in STAGES:
        m = pooled(results, stage)
        lines.append(
            f"{'mean':<9} {stage:<9} {m['urgent_recall']:6.3f} {m['emergency_exact']:6.3f} "
            f"{m['emergency_below_urgent']:6.3f} {m['false_alerts']:6.3f} {m['flags']:6.3f} "
            f"{m['category_accuracy']:6.3f} {m['urgent_seen']:6.3f}"
        )
    lines.append(
        "columns: recall of urgent-and-above; emergencies predicted emergency; emergencies "
        "predicted below urgent; false alerts (urgent+) on none; flags (watch+) on none; "
        "category accuracy on lines both call watch or above; urgent-and-above lines that reach "
        "a facilitator at all (watch or above); stages: rules alone, n-grams "
        "alone, model (n-grams and reader), rules and model combined (what the product does)"
    )
    lines.append("note: the rules were written against the dev set, so their dev row is not unseen")
    return "\n".join(lines)


def format_confusion(results: Sequence[FoldResult]) -> str:
    cats = ["self_harm", "harm_others", "abuse_danger", "none"]
    total: dict[str, dict[str, int]] = {}
    for r in results:
        for gold, row in r.confusion.items():
            for pred, n in row.items():
                total.setdefault(gold, {})
                total[gold][pred] = total[gold].get(pred, 0) + n
    lines = ["category confusion, combined, held-out folds (rows gold, columns predicted)"]
    lines.append(f"{'':<14}" + "".join(f"{c:>14}" for c in cats))
    for gold in cats[:-1]:
        row = total.get(gold, {})
        lines.append(f"{gold:<14}" + "".join(f"{row.get(c, 0):>14}" for c in cats))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--include", action="append", default=[], type=Path, metavar="FILE")
    parser.add_argument("--out", type=Path, default=ARTIFACT)
    parser.add_argument("--encoder-out", type=Path, default=ENCODER_ARTIFACT)
    parser.add_argument("--no-cv", action="store_true", help="skip the out-of-source figures")
    parser.add_argument(
        "--reader",
        action="store_true",
        help="also fine-tune the transformer reader (needs torch; see docs/moderation.md)",
    )
    args = parser.parse_args(argv)
    reader = args.reader
    if reader and importlib.util.find_spec("torch") is None:
        print(
            "error: training the transformer reader needs torch: pip install -e '.[train]' "
            "(READER=1 make train-detector does), or leave out --reader",
            file=sys.stderr,
        )
        return 2
    try:
        sources = load_sources()
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    extra = own_lines() + [x for path in args.include for x in read_lines(path)]
    figures: dict[str, Any] = {}
    oof = None
    begun = time.monotonic()
    if not args.no_cv:
        print("out-of-source cross-validation (train on three sources, score the fourth):")
        results, oof = cross_validate(sources, extra, reader=reader, progress=print)
        table = format_table(results) + "\n" + format_confusion(results)
        print(table)
        figures = {
            "out_of_source": {
                r.held: {stage: getattr(r, stage).as_dict() for stage in STAGES} for r in results
            },
            **{f"mean_{stage}": pooled(results, stage) for stage in STAGES},
            "table": table,
        }
    trained = train_detector(sources, extra, reader=reader, oof=oof)
    detector = trained.detector
    detector.meta["figures"] = figures
    detector.meta["seconds"] = round(time.monotonic() - begun)
    encoder_path = None
    if trained.reader_weights is not None:
        encoder_path = args.encoder_out
        save_reader(
            encoder_path,
            trained.reader_weights,
            meta={"data_hash": detector.meta["data_hash"]},
            ranges=detector.encoder.ranges if detector.encoder is not None else None,
        )
        print(f"wrote {encoder_path.name}: {encoder_path.stat().st_size / 1e6:.1f} MB")
    detector.save(args.out, encoder_path=encoder_path)
    print(
        f"wrote {args.out.name}: {sum(len(g) for g in sources.values()) + len(extra)} lines, "
        f"{detector.model.features.size if detector.model.features else 0} features, "
        f"{args.out.stat().st_size / 1e6:.1f} MB, thresholds {detector.thresholds}, gate "
        f"{detector.gate}, data {detector.meta['data_hash']}, "
        f"{time.monotonic() - begun:.0f} s in all"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

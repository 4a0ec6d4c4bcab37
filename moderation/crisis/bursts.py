"""A crisis typed in several messages: what reading a member's messages together finds.

``python -m moderation.crisis.bursts [--parts 2 3]``

For each held-out source (sh, dg, ev) a fold model is trained as the shipped one is (the three
other sources and the project's lines, thresholds as shipped: ``train.train_detector``). Each
held-out line of at least N sentences is cut at sentence ends into N messages that one member
sends in turn, and each is judged in its own batch by the product's ``batch.judge``, as they
would be seconds apart: alone, and with the member's messages before it. A line counts as
found at the highest level any of its messages reached. Then the same for ordinary chat nobody
trained on (``bench/data/ordinary_chat_unseen*.jsonl``, every N consecutive lines taken as one
member's), with the shipped model. Set ``CRISIS_READER_CACHE`` to reuse fine-tunings.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from . import train
from .batch import Pending, earlier_of, judge
from .engine import assess
from .lexicon import RANK
from .model import Detector, load

CHAT = (
    Path(__file__).resolve().parents[2] / "bench" / "data" / "ordinary_chat_unseen.jsonl",
    Path(__file__).resolve().parents[2] / "bench" / "data" / "ordinary_chat_unseen_2.jsonl",
)
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n+")


def cut(text: str, parts: int) -> list[str] | None:
    """The text cut at sentence ends into `parts` messages of as even a count of sentences as
    can be; None when it has fewer sentences."""
    sentences = [s for s in _SENTENCE_END.split(text.strip()) if s.strip()]
    if len(sentences) < parts:
        return None
    return [
        " ".join(sentences[i] for i in idx) for idx in np.array_split(range(len(sentences)), parts)
    ]


def highest(found: Detector, sequences: Sequence[Sequence[str]], together: bool) -> np.ndarray:
    """For each sequence, the highest level (rank) its messages reached, each judged in turn."""
    now = dt.datetime.now(dt.UTC)
    out = []
    for sequence in sequences:
        sent: list[tuple[int, dt.datetime, str, str]] = []
        best = 0
        for i, body in enumerate(sequence):
            rules = assess(body)
            context = earlier_of(i, now, sent) if together else ()
            (finding,) = judge([Pending(i, body, rules.level, rules.category, now, context)], found)
            sent.append((i, now, body, finding.level))
            best = max(best, RANK[finding.level])
        out.append(best)
    return np.array(out)


def figures(levels: np.ndarray, ranks: np.ndarray) -> str:
    crisis, emergency, none = ranks >= 2, ranks == 3, ranks == 0
    return (
        f"{np.mean(levels[crisis] >= 2):.3f} / {np.sum(levels[emergency] < 2)} of "
        f"{emergency.sum()} / {100 * np.mean(levels[none] >= 2):.1f}%"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", type=int, nargs="+", default=[2, 3])
    args = parser.parse_args(argv)
    sources, own = train.load_sources(), train.own_lines()
    print("recall urgent+ / emergencies below urgent / false alerts on none")
    for held in ("sh", "dg", "ev"):
        groups = {key: lines for key, lines in sources.items() if key != held}
        found = train.train_detector(groups, extra=own, reader=True).detector
        for parts in args.parts:
            lines = [x for x in sources[held] if cut(x["text"], parts)]
            ranks = np.array([RANK[x["level"]] for x in lines])
            cuts = [cut(x["text"], parts) or [] for x in lines]
            whole = highest(found, [[x["text"]] for x in lines], together=False)
            print(
                f"{held}, {parts} messages, {len(lines)} lines: whole {figures(whole, ranks)}"
                f" | alone {figures(highest(found, cuts, False), ranks)}"
                f" | together {figures(highest(found, cuts, True), ranks)}",
                flush=True,
            )
    shipped = load()
    for path in CHAT:
        texts = [json.loads(line)["text"] for line in path.open(encoding="utf-8") if line.strip()]
        for parts in args.parts:
            runs = [texts[i : i + parts] for i in range(len(texts) - parts + 1)]
            alone, together = highest(shipped, runs, False), highest(shipped, runs, True)
            print(
                f"{path.name}, {parts} in a row ({len(runs)}): alerts {np.mean(alone >= 2):.3f}"
                f" alone, {np.mean(together >= 2):.3f} together; watch or above"
                f" {np.mean(alone >= 1):.3f}, {np.mean(together >= 1):.3f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

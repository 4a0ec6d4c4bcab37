"""The contact-details check (moderation/policy.py) on the inputs a backtracking pattern is
slowest on, each the longest valid message (4,000 characters). It runs for every message on
the web process's database thread, so its worst case adds to every member's ack latency.

    .venv/bin/python bench/policy_bench.py           # worst case per input, in ms
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from moderation.policy import has_contact_details  # noqa: E402

LENGTH = 4000
INPUTS = {
    "one long word": "a" * LENGTH,
    "dotted run": "a." * (LENGTH // 2),
    "digit run": "1" * LENGTH,
    "dashed digits": "1-" * (LENGTH // 2),
    "spaced digits": "1 " * (LENGTH // 2),
    "at signs": "a@" * (LENGTH // 2),
    "spoken e-mail start": "a at " * (LENGTH // 5),
    "street-like": "1 Oak " * (LENGTH // 6),
    "network names": "ig snap " * (LENGTH // 8),
    "emoji": "\U0001f600" * LENGTH,
    "ordinary prose": ("We talked for an hour and I felt heard for the first time. ") * 67,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    worst = 0.0
    for name, repeated in INPUTS.items():
        text = repeated[:LENGTH]
        times = []
        for _ in range(args.repeats):
            started = time.process_time()
            has_contact_details(text)
            times.append((time.process_time() - started) * 1000)
        worst = max(worst, *times)
        print(f"{name:22} median {statistics.median(times):7.3f} ms CPU  max {max(times):7.3f} ms")
    print(f"worst {worst:.3f} ms per {LENGTH}-character message")


if __name__ == "__main__":
    main()

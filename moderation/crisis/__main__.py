"""``python -m moderation.crisis``: JSON lines in, one JSON line out per input line.

Input: ``{"id": ..., "text": "..."}`` per line. Output: ``{"id", "level", "category",
"at_risk", "explanation", "rule_ids", "spans", "harassment", "model"}``: rules and the learned
model together, as the product judges a message (``model`` holds the model's probabilities;
``CRISIS_MODEL=off`` gives the rules alone, without it). A line that is not a JSON
object with a string ``text`` yields ``{"id": null, "error": "..."}`` and processing
continues. Blank lines are skipped. Nothing is logged.
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from .combine import assess_both


def process_line(line: str) -> dict[str, Any]:
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        return {"id": None, "error": f"not valid JSON ({exc.msg} at column {exc.colno})"}
    if not isinstance(item, dict):
        return {"id": None, "error": 'expected a JSON object with "id" and "text"'}
    text = item.get("text")
    ident = item.get("id")
    if not isinstance(text, str):
        return {"id": None, "error": '"text" is missing or not a string'}
    if isinstance(ident, (dict, list)):
        return {"id": None, "error": '"id" must be a string or a number'}
    return {"id": ident, **assess_both(text).to_dict()}


def run(stdin: TextIO, stdout: TextIO) -> int:
    for line in stdin:
        if not line.strip():
            continue
        stdout.write(json.dumps(process_line(line), ensure_ascii=False) + "\n")
        stdout.flush()
    return 0


def main() -> int:
    return run(sys.stdin, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())

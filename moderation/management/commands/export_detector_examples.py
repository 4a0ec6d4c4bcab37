"""``manage.py export_detector_examples OUT.jsonl``: facilitators' judgements as JSON lines,
the same lines as ``GET /api/detector/examples/``, for the detector's training (``--include``)."""

import json
import os
import sys

from django.core.management.base import BaseCommand, CommandParser

from moderation.services import detector_examples_export


class Command(BaseCommand):
    help = (
        "Write the labelled examples from facilitators' judgements as JSON lines "
        "(id, text, level, category, source, rule_ids, model_score, detector_level)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("out", help="The file to write, or - for standard output.")

    def handle(self, *args: object, **options: str) -> None:
        out = options["out"]
        lines = (json.dumps(row, ensure_ascii=False) + "\n" for row in detector_examples_export())
        count = 0
        if out == "-":
            for line in lines:
                sys.stdout.write(line)
                count += 1
            sys.stderr.write(f"Wrote {count} examples.\n")
            return
        # Members' words: readable by the owner only.
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # also when the file was already there
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for line in lines:
                f.write(line)
                count += 1
        self.stdout.write(f"Wrote {count} examples to {out}.")

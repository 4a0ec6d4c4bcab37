"""Judging a batch of stored messages with rules and model together. Imports nothing from Django.

A web process hands its batches to a process of its own (``moderation.review``): the model's
analyzers are Python code that holds the interpreter lock, and on the web process's own thread
they would take it from the event loop and the database thread that every send needs. So this
module is all that the scoring process imports: the rules, the model and plain data in and out.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from .engine import Assessment, assess
from .lexicon import LEVELS

if TYPE_CHECKING:
    from .model import Detector

log = logging.getLogger("moderation.review")

RANK = {name: i for i, name in enumerate(LEVELS)}


@dataclass(frozen=True)
class Pending:
    """A stored message as the reviewer needs it: the words and what the send path decided."""

    message_id: int
    body: str
    level: str
    category: str
    created_at: dt.datetime

    @classmethod
    def of(cls, message: Any) -> Pending:
        return cls(message.pk, message.body, message.level, message.category, message.created_at)


@dataclass(frozen=True)
class Finding:
    message_id: int
    created_at: dt.datetime
    score: dict[str, Any]
    # Rules and model together, where they raise what the send path stored; else None.
    raised: Assessment | None
    model_explanation: str = ""
    judged_at: dt.datetime | None = None


def judge(items: list[Pending], found: Detector) -> list[Finding]:
    """Rules and model on a batch of stored messages. The rules run again without the member's
    recent messages (cheap); where that context raised a message at send time, the stored level
    stands in for the rules."""
    from .combine import combine, raises

    verdicts = found.predict([item.body for item in items])
    now = dt.datetime.now(dt.UTC)
    out = []
    for item, verdict in zip(items, verdicts, strict=True):
        rules = assess(item.body)
        if RANK[item.level] > RANK[rules.level]:
            rules = replace(rules, level=item.level, category=item.category)
        combined = combine(rules, verdict)
        stored = Assessment(level=item.level, category=item.category)
        out.append(
            Finding(
                item.message_id,
                item.created_at,
                verdict.to_dict(),
                combined if raises(stored, combined) else None,
                verdict.explanation,
                now,
            )
        )
    return out


# ------------------------------------------------ in the scoring process (or a thread, in tests)


_lock = threading.Lock()
_state: dict[str, Any] = {"status": "not loaded", "detector": None}


def start() -> str:
    """Loads the shipped model once in this process and warms it up; returns its status for
    /readyz: loaded, off or failed. A failure is logged once and not retried: the rules go on
    alone. The scoring process calls it first; the worker's sweep through ``detector``."""
    from . import model

    with _lock:
        if _state["status"] != "not loaded":
            return str(_state["status"])
        _state["status"] = "loading"
        try:
            # One BLAS thread: this process scores small batches, and on a busy machine a
            # second thread per matrix product made the reader ten times slower, not faster.
            single_threaded()
            found = model.default()
            if found is not None:
                found.predict(["warming up"])  # the first call builds lookup tables
        except Exception:
            log.exception("crisis model not loaded: the rules alone assess messages")
            _state["status"] = "failed"
        else:
            _state["detector"] = found
            _state["status"] = "loaded" if found is not None else "off"
            log.info("crisis model %s", _state["status"])
        return str(_state["status"])


def single_threaded() -> None:
    """Limits numpy's BLAS and OpenMP pools in this process to one thread, for good."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)


def detector() -> Detector | None:
    """This process's model, loaded on first use; None when off or not loadable."""
    start()
    return _state["detector"]  # type: ignore[no-any-return]


def judge_with_default(items: list[Pending]) -> list[Finding]:
    """``judge`` with this process's model. Without one the messages stay unreviewed: a worker
    whose model loaded takes them in its sweep."""
    found = detector()
    return judge(items, found) if found is not None else []

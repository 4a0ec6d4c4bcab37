"""Judging a batch of stored messages with rules and model together. Imports nothing from Django.

A web process hands its batches to a process of its own (``moderation.review``): the model's
analyzers are Python code that holds the interpreter lock, and on the web process's own thread
they would take it from the event loop and the database thread that every send needs. So this
module is all that the scoring process imports: the rules, the model and plain data in and out.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from .engine import Assessment, assess
from .lexicon import RANK

if TYPE_CHECKING:
    from .model import Detector

log = logging.getLogger("moderation.review")


# A crisis is often typed in bursts: a sign in one message, the time or the goodbye in the
# next. So the model also reads a message together with the same member's messages in the same
# room just before it: at most CONTEXT_MESSAGES of them, sent within CONTEXT_SECONDS, their last
# CONTEXT_CHARS characters. Only where one of them, or the message itself, already shows a sign
# (watch or above, below emergency), so plain chat costs no second reading; and that reading
# counts only where it finds more than any of the messages did alone, so a crisis already
# raised is not raised again by every message after it.
CONTEXT_MESSAGES = 2
CONTEXT_SECONDS = 600
CONTEXT_CHARS = 600


@dataclass(frozen=True)
class Earlier:
    """One of the member's messages just before the one under review."""

    message_id: int
    body: str
    # The highest level known for it: the send path's, or rules and model together once read.
    level: str


def earlier_of(
    message_id: int, sent_at: dt.datetime, candidates: Iterable[Sequence[Any]]
) -> tuple[Earlier, ...]:
    """The member's messages just before this one, from `candidates` (message id, sent at,
    body, level; oldest first): sent before it within CONTEXT_SECONDS, the last
    CONTEXT_MESSAGES of them, their last CONTEXT_CHARS characters. The one rule for the web
    process's memory and the worker's sweep alike."""
    window = dt.timedelta(seconds=CONTEXT_SECONDS)
    found = [
        Earlier(pk, body[-CONTEXT_CHARS:], level)
        for pk, at, body, level in candidates
        if pk < message_id and dt.timedelta(0) <= sent_at - at <= window
    ]
    return tuple(found[-CONTEXT_MESSAGES:])


@dataclass(frozen=True)
class Pending:
    """A stored message as the reviewer needs it: the words and what the send path decided,
    and the same member's messages just before it (oldest first)."""

    message_id: int
    body: str
    level: str
    category: str
    created_at: dt.datetime
    earlier: tuple[Earlier, ...] = ()

    @classmethod
    def of(cls, message: Any, earlier: tuple[Earlier, ...] = ()) -> Pending:
        return cls(
            message.pk, message.body, message.level, message.category, message.created_at, earlier
        )

    def together(self) -> str:
        """The earlier messages' last CONTEXT_CHARS characters, then this message, a line each."""
        before = "\n".join(e.body for e in self.earlier)[-CONTEXT_CHARS:]
        return f"{before}\n{self.body}"


@dataclass(frozen=True)
class Finding:
    message_id: int
    created_at: dt.datetime
    score: dict[str, Any]
    # Rules and model together, where they raise what the send path stored; else None.
    raised: Assessment | None
    model_explanation: str = ""
    judged_at: dt.datetime | None = None
    # The level the message now has: what the send path stored, or what was raised.
    level: str = "none"


def judge(items: list[Pending], found: Detector) -> list[Finding]:
    """Rules and model on a batch of stored messages. The rules run again without the member's
    recent messages (cheap); where that context raised a message at send time, the stored level
    stands in for the rules. Then the model reads the messages with a sign in or just before
    them together with the member's earlier ones (``CONTEXT_MESSAGES``), in one more call."""
    from .combine import combine, raises

    verdicts = found.predict([item.body for item in items])
    rules_of, combined_of = [], []
    for item, verdict in zip(items, verdicts, strict=True):
        rules = assess(item.body)
        if RANK[item.level] > RANK[rules.level]:
            rules = replace(rules, level=item.level, category=item.category)
        rules_of.append(rules)
        combined_of.append(combine(rules, verdict))
    # The level each message of this batch has reached so far (its earlier messages may be
    # among them): alone, then raised by a joint reading, in the order they were sent.
    reached = {item.message_id: c.level for item, c in zip(items, combined_of, strict=True)}

    def highest(i: int) -> int:
        levels = [reached.get(e.message_id, e.level) for e in items[i].earlier]
        return max([RANK[reached[items[i].message_id]], *(RANK[level] for level in levels)])

    # A sign somewhere, and room above it: at emergency there is nothing more to find.
    again = [
        i
        for i, item in enumerate(items)
        if item.earlier and RANK["watch"] <= highest(i) < RANK["emergency"]
    ]
    if again:
        joint = found.predict([items[i].together() for i in again])
        for i, verdict in zip(again, joint, strict=True):
            # Checked in turn: once one message is raised, the ones after it that read it
            # together count from there, so one crisis is raised once, not on each of them.
            if RANK[verdict.level] > highest(i):
                verdicts[i] = replace(verdict, earlier=len(items[i].earlier))
                combined_of[i] = combine(rules_of[i], verdicts[i])
                reached[items[i].message_id] = combined_of[i].level
    now = dt.datetime.now(dt.UTC)
    out = []
    for item, verdict, combined in zip(items, verdicts, combined_of, strict=True):
        stored = Assessment(level=item.level, category=item.category)
        raised = combined if raises(stored, combined) else None
        out.append(
            Finding(
                item.message_id,
                item.created_at,
                verdict.to_dict(),
                raised,
                verdict.explanation,
                now,
                combined.level,
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


def watch_parent(interval: float = 1.0) -> None:
    """In the scoring process, first thing: exit once the web process that started it is gone.
    A web process killed hard cannot tell its child, which would otherwise wait for work that
    never comes, holding the model's memory, for as long as the machine runs."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


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

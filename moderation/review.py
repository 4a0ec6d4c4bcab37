"""The learned stage of the crisis detector, after delivery.

The rules (``moderation.crisis.assess``) run in the send path and decide at once. The learned
model (``moderation.crisis.model``) reads each message just after it was stored, acknowledged
and delivered, so no message waits for it: each web process has one reviewer per event loop,
which gathers the messages handed to it for up to 20 ms (or MAX_BATCH of them) and scores them
in one call in a process of its own (``moderation.crisis.batch``): the analyzers hold the
interpreter lock, which the event loop and the database thread of the sends need. Where rules
and model together raise what the send path stored (``combine.raises``),
``message_review_apply`` raises the message's alert at once; every other message is marked
reviewed, with the model's scores, together with the others of the last half second. Each write
is one hop to the database thread.

The database is the record here too: a message no web process reviewed within
REVIEW_SWEEP_SECONDS (the process died, or its queue was full) is reviewed by the worker's
sweep, with the same service and the same claim, so no alert is ever raised twice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import multiprocessing
from collections import OrderedDict
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from moderation.crisis import batch as batch_module
from moderation.crisis.batch import (
    CONTEXT_CHARS,
    CONTEXT_MESSAGES,
    Finding,
    Pending,
    earlier_of,
    judge,
)
from moderation.services import message_review_apply, messages_mark_reviewed
from rooms.models import Message, MessageStatus
from server.metrics import MODEL_LOADED, REVIEW_SECONDS

if TYPE_CHECKING:
    from moderation.crisis.model import Detector

log = logging.getLogger(__name__)

MAX_BATCH = 32
# The n-grams cost about 0.2 ms a message however messages are grouped; the reader, for the
# messages they pass on, costs a fixed part per call plus a part per message
# (bench/crisis_bench.py): the messages of 20 ms share one call. A crisis only the model reads
# reaches a person 20 ms later at most.
GATHER_SECONDS = 0.02
# Messages the model did not raise are marked reviewed together, at most this often (or when
# this many wait): nobody waits for those marks, and each write takes the database thread that
# the sends use. What the model raised is written at once.
MARK_SECONDS = 0.5
MARK_BATCH = 256
# Beyond this many waiting messages a web process stops queueing; the sweep reviews the rest.
QUEUE_LIMIT = 10_000
SWEEP_LIMIT = 200
SWEEP_WINDOW = dt.timedelta(days=1)
# The members whose last messages a reviewer remembers, to read a message with the ones just
# before it (``batch.CONTEXT_MESSAGES``): the least recently heard from are forgotten first.
# Each member's memory is their last CONTEXT_CHARS characters, so this bounds it to a few MB.
CONTEXT_MEMBERS = 5_000
REVIEWABLE = (MessageStatus.VISIBLE, MessageStatus.HELD)


# ---------------------------------------------------------------- the model, once per process

# The model in a web process's scoring process, as that process reported it at start. The
# worker's sweep loads its own in this process (``moderation.crisis.batch``).
_scoring: dict[str, str] = {"status": "not loaded"}


def model_status() -> str:
    """For /readyz: off, not loaded, loading, loaded or failed. Only informative: without the
    model the rules still assess every message, so the process stays ready."""
    if not settings.CRISIS_MODEL:
        return "off"
    if _scoring["status"] != "not loaded":
        return _scoring["status"]
    return str(batch_module._state["status"])


def detector() -> Detector | None:
    """The learned model in this process (the worker's sweep), loaded on first use; None when it
    is switched off or could not be loaded (logged once; the rules go on alone)."""
    if not settings.CRISIS_MODEL:
        return None
    found = batch_module.detector()
    MODEL_LOADED.set(1 if found is not None else 0)
    return found


@functools.cache
def _executor() -> Executor:
    """One scoring process per web process (``CRISIS_MODEL_PROCESS``, on by default), started
    fresh rather than forked from a process with an event loop and threads; or one thread."""
    if settings.CRISIS_MODEL_PROCESS:
        return ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=batch_module.watch_parent,
        )
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="crisis-model")


def _started(future: Future[str]) -> None:
    try:
        status = future.result()
    except Exception:
        log.exception("the crisis model's process did not start: the rules alone assess messages")
        status = "failed"
    _scoring["status"] = status
    MODEL_LOADED.set(1 if status == "loaded" else 0)
    log.info("crisis model %s", status)


def warm() -> None:
    """Starts the scoring process and loads the model in it now (at web process start), so that
    neither the first message nor process start waits for it."""
    if settings.CRISIS_MODEL:
        _scoring["status"] = "loading"
        _executor().submit(batch_module.start).add_done_callback(_started)


def _restart() -> None:
    """After the scoring process died (killed for memory, say): a new one for the next batch."""
    old = _executor()
    _executor.cache_clear()
    old.shutdown(wait=False, cancel_futures=True)
    warm()


# ---------------------------------------------------------------- judging (pure) and writing


def apply(findings: list[Finding], path: str) -> int:
    """Writes what the model found: one update for the messages it did not raise, one
    transaction for each it did. Returns how many alerts it raised or upgraded. The review
    time of a message is until the model read it, and for one it raised, until that is
    written."""
    raised = 0
    # One commit for the batch (each message in a savepoint of its own, so one that fails is
    # left unreviewed for the sweep and the others stand): commits are what the database
    # thread the sends share pays for most.
    with transaction.atomic():
        messages_mark_reviewed(scores={f.message_id: f.score for f in findings if f.raised is None})
        for finding in findings:
            if finding.raised is None:
                continue
            try:
                if message_review_apply(
                    message_id=finding.message_id,
                    assessment=finding.raised,
                    model_explanation=finding.model_explanation,
                ):
                    raised += 1
            except Exception:  # left unreviewed: the sweep tries it again
                log.exception("model review failed message=%s", finding.message_id)
    now = timezone.now()
    for finding in findings:
        done = now if finding.raised is not None else (finding.judged_at or now)
        REVIEW_SECONDS.labels(path).observe((done - finding.created_at).total_seconds())
    return raised


# ---------------------------------------------------------------- the web process's reviewer


class Recent:
    """Each member's last messages in a room, as this web process saw them sent: what the
    model reads a new message with. Kept in memory only (never written, never logged), and
    forgotten ``batch.CONTEXT_SECONDS`` after the member's last message, at the next message
    anyone sends; a member's messages sent through another web process, or before a restart,
    are not in it."""

    def __init__(self, members: int = CONTEXT_MEMBERS) -> None:
        self.members = members
        # (group id, author id) -> [[message id, sent at, last characters, level], ...], oldest
        # first; and each remembered message's entry, to note the level its review found.
        self.by_member: OrderedDict[tuple[int, int], list[list[Any]]] = OrderedDict()
        self.entry_of: dict[int, list[Any]] = {}

    def pending(self, message: Message) -> Pending:
        """The message to review, with the member's messages just before it; remembers it.
        An edited message keeps its place with its new words."""
        key = (message.group_id, message.author_id)
        window = dt.timedelta(seconds=batch_module.CONTEXT_SECONDS)
        # The least recently heard from come first: forget those whose last message is too old.
        while self.by_member:
            first = next(iter(self.by_member))
            if message.created_at - self.by_member[first][-1][1] <= window:
                break
            for entry in self.by_member.pop(first):
                self.entry_of.pop(entry[0], None)
        entries = self.by_member.pop(key, [])
        earlier = earlier_of(message.pk, message.created_at, entries)
        edited = self.entry_of.get(message.pk)
        if edited is not None:
            edited[2:] = [message.body[-CONTEXT_CHARS:], message.level]
            kept = entries
        else:
            entry = [message.pk, message.created_at, message.body[-CONTEXT_CHARS:], message.level]
            kept = [*entries, entry][-CONTEXT_MESSAGES:]
        self.remember(key, entries, kept)
        return Pending.of(message, earlier)

    def remember(self, key: tuple[int, int], before: list[list[Any]], now: list[list[Any]]) -> None:
        for gone in before:
            self.entry_of.pop(gone[0], None)
        for entry in now:
            self.entry_of[entry[0]] = entry
        self.by_member[key] = now  # the most recently heard from last
        while len(self.by_member) > self.members:
            for entry in self.by_member.popitem(last=False)[1]:
                self.entry_of.pop(entry[0], None)

    def read(self, findings: list[Finding]) -> None:
        """What the review found: the level each message reached, for the messages after it."""
        for finding in findings:
            entry = self.entry_of.get(finding.message_id)
            if entry is not None:
                entry[3] = finding.level

    def current(self, item: Pending) -> Pending:
        """The message with its earlier messages' levels as the reviews so far found them: a
        message can wait in the queue while the one before it is being read."""
        if not item.earlier:
            return item
        earlier = tuple(
            replace(e, level=self.entry_of[e.message_id][3]) if e.message_id in self.entry_of else e
            for e in item.earlier
        )
        return replace(item, earlier=earlier)


class Reviewer:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[Pending] = asyncio.Queue(QUEUE_LIMIT)
        self.task: asyncio.Task | None = None
        self.left_to_sweep = 0
        self.unmarked: list[Finding] = []  # read, not raised, not yet marked reviewed
        self.marked_at = 0.0
        self.recent = Recent()

    def submit(self, message: Message) -> None:
        try:
            pending = (
                self.recent.pending(message)
                if settings.CRISIS_MODEL_CONTEXT
                else Pending.of(message)
            )
            self.queue.put_nowait(pending)
        except asyncio.QueueFull:
            self.left_to_sweep += 1
            if self.left_to_sweep % 1000 == 1:  # once, then every thousandth: not a log flood
                log.warning(
                    "review queue full: %d messages left to the sweep, last message=%s",
                    self.left_to_sweep,
                    message.pk,
                )
            return
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self.run())

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                if self.unmarked:
                    wait = max(0.0, self.marked_at + MARK_SECONDS - loop.time())
                    first = await asyncio.wait_for(self.queue.get(), wait)
                else:
                    first = await self.queue.get()
            except TimeoutError:
                await self.write([])
                continue
            batch = [first]
            if self.queue.qsize() < MAX_BATCH - 1:
                await asyncio.sleep(GATHER_SECONDS)  # let the messages of this moment join
            while len(batch) < MAX_BATCH and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            batch = [self.recent.current(item) for item in batch]
            try:
                findings = await loop.run_in_executor(
                    _executor(), batch_module.judge_with_default, batch
                )
            except BrokenProcessPool:
                log.error(
                    "the crisis model's process died; %d messages left to the sweep", len(batch)
                )
                _restart()
                continue
            except Exception:
                log.exception("reviewing %d messages failed; the sweep takes them", len(batch))
                continue
            self.recent.read(findings)
            raised = [f for f in findings if f.raised is not None]
            self.unmarked += [f for f in findings if f.raised is None]
            if (
                raised
                or len(self.unmarked) >= MARK_BATCH
                or loop.time() - self.marked_at >= MARK_SECONDS
            ):
                await self.write(raised)

    async def write(self, raised: list[Finding]) -> None:
        """What the model raised, with the marks waiting so far: one hop to the database."""
        unmarked, self.unmarked = self.unmarked, []
        self.marked_at = asyncio.get_running_loop().time()
        try:
            await database_sync_to_async(apply)(raised + unmarked, "live")
        except Exception:  # the sweep reviews whatever was not written
            log.exception("writing %d reviews failed", len(raised) + len(unmarked))


_reviewers: dict[int, Reviewer] = {}


def submit(message: Message) -> None:
    """Hands a stored and delivered message to this process's reviewer; never waits."""
    if not settings.CRISIS_MODEL:
        return
    loop_id = id(asyncio.get_running_loop())
    found = _reviewers.get(loop_id)
    if found is None:
        found = _reviewers[loop_id] = Reviewer()
    found.submit(message)


# ---------------------------------------------------------------- the worker's safety net


def unreviewed(now: dt.datetime | None = None) -> Any:
    """Messages still waiting for the model REVIEW_SWEEP_SECONDS after they were stored, from
    the last day (older ones are left: their moment has passed)."""
    now = now or timezone.now()
    return Message.objects.filter(
        reviewed_at__isnull=True,
        status__in=REVIEWABLE,
        created_at__gte=now - SWEEP_WINDOW,
        created_at__lte=now - dt.timedelta(seconds=settings.REVIEW_SWEEP_SECONDS),
    )


def review_sweep(now: dt.datetime | None = None, limit: int = SWEEP_LIMIT) -> int:
    """The worker's job: reviews, oldest first and at most `limit` a tick, the messages no web
    process reviewed in time. Returns how many it reviewed. Does nothing with the model off."""
    if not settings.CRISIS_MODEL:
        return 0
    found = detector()
    if found is None:
        return 0
    rows = list(
        unreviewed(now)
        .order_by("created_at", "id")
        .only("pk", "body", "level", "category", "created_at", "group_id", "author_id")[:limit]
    )
    if not rows:
        return 0
    pending = with_earlier(rows) if settings.CRISIS_MODEL_CONTEXT else [Pending.of(m) for m in rows]
    raised = apply(judge(pending, found), "sweep")
    log.info("review sweep: %d messages reviewed, %d alerts raised", len(rows), raised)
    return len(rows)


def with_earlier(rows: list[Message]) -> list[Pending]:
    """The messages to review, each with its member's messages just before it in the same room,
    read from the database (one query): what a web process's reviewer remembers (``Recent``).
    Held, deleted and rejected messages count too, as they do for the rules' context: words a
    member took back still say how she is."""
    window = dt.timedelta(seconds=batch_module.CONTEXT_SECONDS)
    spans: dict[tuple[int, int], tuple[dt.datetime, dt.datetime]] = {}
    for r in rows:
        first, last = spans.get((r.group_id, r.author_id), (r.created_at, r.created_at))
        spans[(r.group_id, r.author_id)] = (min(first, r.created_at), max(last, r.created_at))
    wanted = Q()
    for (group_id, author_id), (first, last) in spans.items():
        wanted |= Q(
            group_id=group_id,
            author_id=author_id,
            created_at__gte=first - window,
            created_at__lte=last,
        )
    before: dict[tuple[int, int], list[Message]] = {}
    for m in (
        Message.objects.filter(wanted)
        .order_by("created_at", "id")
        .only("pk", "body", "level", "created_at", "group_id", "author_id")
    ):
        before.setdefault((m.group_id, m.author_id), []).append(m)
    out = []
    for row in rows:
        candidates = before.get((row.group_id, row.author_id), [])
        earlier = earlier_of(
            row.pk, row.created_at, ((m.pk, m.created_at, m.body, m.level) for m in candidates)
        )
        out.append(Pending.of(row, earlier))
    return out

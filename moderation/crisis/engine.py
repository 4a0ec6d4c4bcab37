"""The crisis-language engine: find signals, scope them, combine them into one assessment.

Everything that says *what* to look for lives in ``data/*.toml``; this module only says how
signals combine. It does no I/O after import and its only shared state is a word-to-rules
cache, so ``assess`` is deterministic and safe to call from many threads at once.

Pipeline for one message:

1. ``normalize`` (offsets kept) and a single anchor scan; most chat stops here.
2. Run only the entries whose anchor words occurred.
3. Scope each match: negation, who the subject is, quotes and reported speech, laughter and
   clarifications, past tense and resolution, resisted urges.
4. Combine: ideation (or intent, a farewell) with plan, means, time or preparation is an
   emergency; an act in progress is an emergency; a threat with means or time is an
   emergency; several watch signs within the context window raise the level.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .lexicon import RANK, Entry, Scope, load
from .normalize import WORD_RE, Normalized, normalize

ENTRIES, SCOPES = load()
_BY_ID: dict[str, Entry] = {e.id: e for e in ENTRIES}


def _build_gate(
    entries: Iterable[Entry],
) -> tuple[dict[str, tuple[Entry, ...]], dict[str, tuple[Entry, ...]], tuple[int, ...]]:
    """Index entries by anchor: exact words, and word prefixes (anchors ending in ``*``)."""
    exact: dict[str, dict[str, Entry]] = {}
    prefix: dict[str, dict[str, Entry]] = {}
    for entry in entries:
        for anchor in entry.anchors:
            if anchor.endswith("*"):
                prefix.setdefault(anchor[:-1], {})[entry.id] = entry
            else:
                exact.setdefault(anchor, {})[entry.id] = entry
    lengths = tuple(sorted({len(p) for p in prefix}))
    return (
        {k: tuple(v.values()) for k, v in exact.items()},
        {k: tuple(v.values()) for k, v in prefix.items()},
        lengths,
    )


_EXACT, _PREFIX, _PREFIX_LENGTHS = _build_gate(ENTRIES)
# Signals that only ever matter next to another signal ("tonight", "he's still home"). They
# run second, and only when something else matched, which keeps ordinary chat fast.
_SECONDARY = frozenset({"time", "presence", "unreachable", "symptom"})
_WORD = WORD_RE


_WORD_CACHE: dict[str, tuple[tuple[Entry, ...], tuple[Entry, ...]]] = {}
_WORD_CACHE_MAX = 200_000


def _entries_for_word(word: str) -> tuple[tuple[Entry, ...], tuple[Entry, ...]]:
    """(primary, secondary) entries anchored on ``word``.

    Cached in a plain dict because this runs for every word of every message: chat reuses its
    words, and a dict lookup is several times cheaper than ``lru_cache``. Filling it from
    several threads is safe (each key maps to the same value) and bounded in size.
    """
    hit = _WORD_CACHE.get(word)
    if hit is not None:
        return hit
    result = _index_word(word)
    if len(_WORD_CACHE) < _WORD_CACHE_MAX:
        _WORD_CACHE[word] = result
    return result


def _index_word(word: str) -> tuple[tuple[Entry, ...], tuple[Entry, ...]]:
    found = list(_EXACT.get(word, ()))
    if "'" in word:
        # "don't" also answers to the anchor "dont", and "he's" to "he".
        found += _EXACT.get(word.replace("'", ""), ())
        found += _EXACT.get(word.split("'", 1)[0], ())
    for n in _PREFIX_LENGTHS:
        if n > len(word):
            break
        found += _PREFIX.get(word[:n], ())
    unique = tuple({e.id: e for e in found}.values())
    return (
        tuple(e for e in unique if e.signal not in _SECONDARY),
        tuple(e for e in unique if e.signal in _SECONDARY),
    )


_SCOPES_BY_KIND: dict[str, tuple[Scope, ...]] = {}
for _scope in SCOPES:
    _SCOPES_BY_KIND[_scope.kind] = (*_SCOPES_BY_KIND.get(_scope.kind, ()), _scope)

_SENTENCE_END = re.compile(r"[.!?\n]+(?:\s|$)|[.!?]{2,}|\s-\s")
_CLAUSE_END = re.compile(r"[,;:()]|\bbut\b|\bso\b|\bbecause\b|\band\b")
_IF_CLAUSE = re.compile(r"\s*(?:and |but )?(?:even )?if\b")
# Single quotes double as apostrophes: inside a quote, "'" between letters is an apostrophe.
_QUOTE = re.compile(r"\"[^\"]{1,240}\"|(?<![a-z])'(?:[^']|(?<=[a-z])'(?=[a-z])){4,240}'(?![a-z])")

_SELF_CORE = frozenset({"ideation", "intent", "farewell"})
_SELF_EXTRA = frozenset({"plan", "means", "time", "prep"})
# Watch-level signs of the writer's own risk that become an emergency next to a concrete
# component: "i can't do this anymore" + "the pills are counted out".
_WEAK_CORE = frozenset({"hopeless", "burden", "intent", "ideation", "farewell", "urge"})
# Signals that count as a "watch sign" when several arrive within the context window.
_WATCH_SIGNS = frozenset(
    {"burden", "hopeless", "farewell", "prep", "urge", "intent", "means", "plan", "ideation"}
)
_SIGNAL_ORDER = (
    "act",
    "third_person_act",
    "danger",
    "child_danger",
    "ideation",
    "method",
    "intent",
    "threat",
    "self_harm",
    "abuse",
    "child_abuse",
    "plan",
    "means",
    "time",
    "prep",
    "farewell",
    "burden",
    "presence",
    "hopeless",
    "urge",
    "heated",
    "abuse_watch",
    "third_person",
    "harassment",
    "symptom",
    "place",
    "unreachable",
)
_SIGNAL_WORDS = {
    "act": "act in progress",
    "third_person_act": "someone else at risk now",
    "danger": "danger now",
    "child_danger": "child in danger now",
    "ideation": "ideation",
    "method": "method",
    "intent": "intent",
    "threat": "threat",
    "self_harm": "self-harm",
    "abuse": "abuse",
    "child_abuse": "child abused",
    "plan": "plan",
    "means": "means",
    "time": "time",
    "prep": "preparation",
    "farewell": "farewell",
    "burden": "burden",
    "presence": "abuser present",
    "hopeless": "hopelessness",
    "urge": "urge",
    "heated": "heated anger",
    "abuse_watch": "worrying behaviour",
    "third_person": "worry about someone",
    "harassment": "harassment",
    "symptom": "physical signs",
    "place": "at a high-risk place",
    "unreachable": "unreachable",
}

DEFAULT_WINDOW_SECONDS = 1800.0


@dataclass(frozen=True, slots=True)
class Context:
    """Recent signals from the same member, supplied by the caller.

    Store ``assessment.rule_ids`` with each message; when assessing the next message from the
    same member, pass ``Context(recent=[(seconds_ago, rule_ids), ...])``. Entries older than
    ``window_seconds`` are ignored. Rule ids unknown to this version of the lexicon are
    ignored too, so stored history survives lexicon changes.

    Context can only raise a level: two different watch signs within the window (say burden
    now and a farewell twenty minutes ago) make the current message urgent, and ideation or
    intent in one message with a plan, means, time or preparation in another makes it an
    emergency. The current message must itself carry a signal; a plain "see you tonight"
    after an earlier sad message stays as it is. An empty context is the same as none.
    """

    recent: Sequence[tuple[float, Sequence[str]]] = ()
    window_seconds: float = DEFAULT_WINDOW_SECONDS


@dataclass(frozen=True, slots=True)
class Assessment:
    """The verdict on one message. ``spans`` index the original text."""

    level: str = "none"
    category: str = "none"
    at_risk: str = "none"
    spans: tuple[tuple[int, int, str], ...] = ()
    rule_ids: tuple[str, ...] = ()
    explanation: str = ""
    harassment: bool = False
    signals: tuple[str, ...] = field(default=())
    # The learned stage's probabilities, when it has read the message (``combine``).
    model: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "level": self.level,
            "category": self.category,
            "at_risk": self.at_risk,
            "explanation": self.explanation,
            "rule_ids": list(self.rule_ids),
            "spans": [list(s) for s in self.spans],
            "harassment": self.harassment,
        }
        if self.model is not None:
            out["model"] = self.model
        return out


NONE = Assessment()


@dataclass(slots=True)
class _Hit:
    entry: Entry
    start: int
    end: int
    signal: str
    level: str
    category: str
    at_risk: str
    notes: list[str]


class _Text:
    """Per-message view: normalized text, sentence and clause boundaries, scope matches."""

    __slots__ = ("norm", "s", "sent_bounds", "clause_bounds", "_scopes", "quotes")

    def __init__(self, norm: Normalized) -> None:
        self.norm = norm
        self.s = norm.text
        self.sent_bounds = [m.end() for m in _SENTENCE_END.finditer(self.s)]
        self.clause_bounds = sorted(
            {*self.sent_bounds, *(m.end() for m in _CLAUSE_END.finditer(self.s))}
        )
        self._scopes: dict[str, list[tuple[int, int, str]]] = {}
        self.quotes = [m.span() for m in _QUOTE.finditer(self.s)]

    def scope(self, kind: str) -> list[tuple[int, int, str]]:
        """Matches of one scope kind, computed on first use (most kinds are never asked)."""
        found = self._scopes.get(kind)
        if found is None:
            found = sorted(
                (m.start(), m.end(), sc.id)
                for sc in _SCOPES_BY_KIND.get(kind, ())
                for m in sc.regex.finditer(self.s)
            )
            self._scopes[kind] = found
        return found

    def sentence(self, pos: int) -> tuple[int, int]:
        i = bisect.bisect_right(self.sent_bounds, pos)
        start = self.sent_bounds[i - 1] if i else 0
        end = self.sent_bounds[i] if i < len(self.sent_bounds) else len(self.s)
        return start, end

    def clause_start(self, pos: int) -> int:
        i = bisect.bisect_right(self.clause_bounds, pos)
        return self.clause_bounds[i - 1] if i else 0

    def any(self, kind: str, start: int = 0, end: int | None = None) -> str | None:
        """Id of the first scope match of ``kind`` overlapping [start, end), else None."""
        stop = len(self.s) if end is None else end
        for a, b, sid in self.scope(kind):
            if a < stop and b > start:
                return sid
        return None

    def in_sentence(self, kind: str, pos: int) -> str | None:
        a, b = self.sentence(pos)
        return self.any(kind, a, b)

    def conditional(self, pos: int) -> bool:
        """True when ``pos`` sits in a clause opened by "if" ("if it goes badly friday")."""
        a = self.clause_start(pos)
        return _IF_CLAUSE.match(self.s, a) is not None

    def quoted(self, start: int, end: int) -> tuple[int, int] | None:
        for a, b in self.quotes:
            if a <= start and end <= b:
                return a, b
        return None

    def subject(self, pos: int) -> str:
        """Who is talking about themselves at ``pos``: 'first', 'third', 'second' or ''."""
        begin = self.clause_start(pos)
        best, kind = -1, ""
        for name in ("first_subject", "third_subject", "second_subject"):
            for a, b, _ in self.scope(name):
                if begin <= a and b <= pos and a > best:
                    best, kind = a, name.split("_")[0]
        if not kind and begin > 0:
            # "she keeps saying she's done, wants to end it": an elided subject carries over
            # from the previous clause of the same sentence.
            sent_start = self.sentence(pos)[0]
            if begin > sent_start:
                return self.subject(begin - 1)
        return kind


def _max_level(*levels: str) -> str:
    return max(levels, key=RANK.__getitem__)


def _cap(level: str, cap: str) -> str:
    return level if RANK[level] <= RANK[cap] else cap


def _find(norm: Normalized, everything: bool = False) -> list[tuple[Entry, int, int]]:
    """Run only the entries whose anchor words occur; most chat has none.

    Secondary entries (see ``_SECONDARY``) run only when a primary entry matched, or when
    ``everything`` is set (context was supplied, so a lone signal may combine with history).
    Candidates keep first-seen order, which depends only on the text: deterministic.
    """
    s = norm.text
    primary: dict[str, Entry] = {}
    secondary: dict[str, Entry] = {}
    cache = _WORD_CACHE
    for word in norm.words if norm.words is not None else _WORD.findall(s):
        first, second = cache.get(word) or _entries_for_word(word)
        for e in first:
            primary[e.id] = e
        for e in second:
            secondary[e.id] = e
    found = [(e, m.start(), m.end()) for e in primary.values() for m in e.regex.finditer(s)]
    if found or everything:
        found += [(e, m.start(), m.end()) for e in secondary.values() for m in e.regex.finditer(s)]
    return found


def _scope_hit(t: _Text, hit: _Hit) -> _Hit | None:
    """Apply negation, subject, quotes, laughter, tense; return None when the hit is void."""
    e, a, b = hit.entry, hit.start, hit.end
    neg = t.any("negation", a, b)
    if neg:
        return None
    quoted = t.quoted(a, b)
    if quoted and "quote_ok" not in e.flags:
        if t.in_sentence("agree", b) or t.any("agree", quoted[1]):
            # The writer takes the words as their own: "'better without you' ... he's right".
            if e.category == "self_harm":
                hit.level = _max_level(hit.level, "urgent")
                hit.signal = "ideation" if hit.signal == "burden" else hit.signal
            hit.notes.append("quoted, agreed with")
        elif t.in_sentence("reported", a) or t.in_sentence("general", a):
            return None
        else:
            who = t.subject(quoted[0])
            if who == "first":
                hit.notes.append("said by the writer")
            elif who == "third" and e.category == "self_harm":
                hit.signal, hit.level, hit.at_risk = "third_person", "watch", "other"
                hit.notes.append("said by someone else")
            elif who == "third" and e.category == "harm_others":
                hit.level = _cap(hit.level, "watch")
                hit.notes.append("said by someone else")
            else:
                return None
    elif "first_person" in e.flags:
        who = t.subject(a)
        if who == "second":
            return None
        if who == "third":
            if e.signal == "act":
                # "she swallowed a whole bottle": someone else's attempt is still an emergency.
                hit.signal, hit.at_risk = "third_person_act", "other"
            elif e.category == "self_harm":
                hit.signal, hit.at_risk = "third_person", "other"
                hit.level = _cap(hit.level, "watch")
            hit.notes.append("about someone else")
    if t.in_sentence("reported", a) and "quote_ok" not in e.flags and e.category != "abuse_danger":
        # Lyrics, a show, a therapist's question: someone else's words about the topic. A
        # disclosure of abuse stays a disclosure however it is framed.
        return None
    if t.in_sentence("general", a) and e.category != "abuse_danger":
        return None
    joking = t.in_sentence("laugh", a) or t.in_sentence("trivial", a)
    if "joke_prone" in e.flags and joking and not t.any("intensifier"):
        return None
    if t.in_sentence("trivial", a) and e.signal in ("threat", "heated", "abuse"):
        return None
    if e.signal == "heated" and t.in_sentence("kidding", a) and not t.any("intensifier"):
        return None  # "i want to strangle him lol jk": said and taken back in one breath
    if "no_tense" not in e.flags and e.category in ("self_harm", "abuse_danger"):
        sent_a = t.sentence(a)
        past = t.any("past", *sent_a)
        recent = t.any("recent", *sent_a)
        if past and not recent and hit.signal not in ("act", "danger", "child_danger"):
            hit.level = _cap(hit.level, "watch")
            hit.notes.append("past")
    return hit


def _own_component(t: _Text, hit: _Hit, check_subject: bool = True) -> bool:
    """A means, plan or preparation that is the writer's own and current.

    "he took the gun when he left" or "used to keep pills in my bag" next to hopelessness
    is not a plan; "the pills are counted out" or "my dad's gun is in the closet" is.
    """
    if check_subject and t.subject(hit.start) == "third":
        return False
    sent = t.sentence(hit.start)
    return not (t.any("past", *sent) and not t.any("recent", *sent))


def _rid(hit: _Hit) -> str:
    """Rule id as reported; a first-person rule said about someone else is marked so."""
    if hit.at_risk == "other" and hit.entry.at_risk != "other":
        return hit.entry.id + "/other"
    return hit.entry.id


def _explain(hits: Sequence[_Hit], norm: Normalized, signals: Sequence[str], notes: str) -> str:
    words = [_SIGNAL_WORDS[s] for s in signals]
    quotes: list[str] = []
    for h in sorted(hits, key=lambda h: h.start):
        a, b = norm.span(h.start, h.end)
        snippet = " ".join(norm.original[a:b].split())
        if len(snippet) > 40:
            snippet = snippet[:37] + "..."
        quoted = f"'{snippet}'"
        if quoted not in quotes:
            quotes.append(quoted)
    line = " + ".join(words)
    if notes:
        line += f" ({notes})"
    if quotes:
        line += ": " + ", ".join(quotes[:5])
    return line


def _context_signals(context: Context | None) -> set[str]:
    if context is None:
        return set()
    out: set[str] = set()
    for seconds_ago, ids in context.recent:
        if 0 <= seconds_ago <= context.window_seconds:
            for rid in ids:
                entry = _BY_ID.get(rid)
                if entry is not None:
                    out.add(entry.signal)
    return out


def assess(text: str, context: Context | None = None) -> Assessment:
    """Assess one chat message; see ``Assessment`` and ``Context``."""
    if not text:
        return NONE
    norm = normalize(text)
    # Callers pass a Context for every message; only one holding live signals changes anything.
    history = _context_signals(context)
    raw = _find(norm, everything=bool(history))
    if not raw:
        return NONE
    if all(e.level == "none" for e, _, _ in raw) and not history:
        present = {e.signal for e, _, _ in raw}
        several_preps = present == {"prep"} and len(raw) >= 2
        if (
            not (present & {"act", "danger", "harassment"})
            and len(present) < 2
            and not several_preps
        ):
            # A lone "tonight" or "pills" is ordinary chat; skip the scoping work.
            return Assessment(rule_ids=tuple(sorted({e.id for e, _, _ in raw})))
    t = _Text(norm)
    hits: list[_Hit] = []
    for entry, a, b in raw:
        hit = _scope_hit(
            t, _Hit(entry, a, b, entry.signal, entry.level, entry.category, entry.at_risk, [])
        )
        if hit is not None:
            hits.append(hit)
    return _combine(t, hits, history)


def _combine(t: _Text, hits: list[_Hit], history: set[str]) -> Assessment:
    norm = t.norm
    notes: list[str] = []
    intense = t.any("intensifier")
    clarified = t.any("clarify")
    resolved = t.any("resolved")
    disavowed = t.any("disavow")
    if clarified and not intense:
        hits = [
            h
            for h in hits
            if h.category not in ("self_harm", "harm_others")
            or h.signal in ("act", "third_person", "third_person_act")
        ]
        notes.append("clarified as not literal")
    for h in hits:
        if h.signal == "heated" and intense:
            h.level = _max_level(h.level, "urgent")
            h.signal = "threat"
        if resolved and h.signal not in ("act", "danger", "child_danger", "third_person_act"):
            h.level = _cap(h.level, "watch")
        if disavowed and h.category == "harm_others":
            h.level = _cap(h.level, "watch")
    if resolved:
        notes.append("resolved or resisted")
    if disavowed and any(h.category == "harm_others" for h in hits):
        notes.append("says they won't act")
    if any("past" in h.notes for h in hits):
        notes.append("in the past")

    harassment = any(h.signal == "harassment" for h in hits)
    risk = [h for h in hits if h.signal != "harassment"]
    signals = {h.signal for h in risk if RANK[h.level] > 0 or h.signal in _SELF_EXTRA}
    live = {h.signal for h in risk}
    level = max((h.level for h in risk), key=RANK.__getitem__, default="none")
    category = "none"
    at_risk = "none"
    reasons: set[str] = set()

    # Self-harm combination. Core: ideation or a farewell that still stands at urgent after
    # scoping, or any intent. Weak core: a current watch-level sign of the writer's own risk
    # (hopelessness, burden, "i'm done", a watch-level farewell or wish, an urge); it needs a
    # concrete component (means, plan, preparation, a method place), not only a time word.
    own = [h for h in risk if h.category in ("self_harm", "none") and h.at_risk != "other"]
    passive_clauses = {t.clause_start(h.start) for h in own if "passive" in h.entry.flags}
    core: set[str] = set()
    weak_core: set[str] = set()
    extra: set[str] = set()
    own_extra: set[str] = set()
    preps: set[str] = set()
    for h in own:
        if h.signal in ("ideation", "farewell", "method") and RANK[h.level] >= 2:
            core.add("ideation" if h.signal == "method" else h.signal)
        elif h.signal == "intent" and h.level in ("none", "urgent", "emergency"):
            core.add("intent")
        elif h.signal in _WEAK_CORE and h.level == "watch":
            if not resolved and "past" not in h.notes:
                weak_core.add(h.signal)
        elif h.signal in _SELF_EXTRA:
            if h.signal == "time" and t.clause_start(h.start) in passive_clauses:
                continue  # "i wish i wouldn't wake up tomorrow": the time is part of the wish
            if h.signal == "time" and t.conditional(h.start):
                continue  # "if the ruling goes against me friday": a date, not a plan
            extra.add(h.signal)
            if _own_component(t, h, h.signal != "prep"):
                own_extra.add(h.signal)
                if h.signal == "prep":
                    preps.add(h.entry.id if h.entry.id != "prep.affairs" else f"prep@{h.start}")
    strong_extra = extra - {"time"}
    farewells = {h.start for h in own if h.signal == "farewell" and RANK[h.level] >= 2}
    # A farewell of any strength (even a bare "goodbye everyone") next to ideation or intent.
    any_farewell_hits = any(h.signal == "farewell" for h in own) and bool(
        {h.start for h in own if h.signal == "farewell"}
        - {h.start for h in own if h.signal in ("ideation", "intent")}
    )
    # Farewell signs of any strength; two of them count when at least one is not a bare "bye".
    any_farewells = {h.start for h in own if h.signal == "farewell"}
    if not any(h.signal == "farewell" and h.level != "none" for h in own):
        any_farewells = set()
    hurt_now = {h.signal for h in own if h.signal in ("self_harm", "act", "ideation", "means")}
    place_hits = [h for h in own if h.signal == "place"]
    place_now = bool(place_hits) and bool(
        {h.signal for h in own if h.signal != "place"} - {"time"}
        or any(t.in_sentence("recent", h.start) for h in place_hits)
    )
    # Two different watch-level self signs in one message ("i hate my life ... i want it to
    # end") read as ideation, not as two separate low-priority notes; so does a watch-level
    # farewell ("last time i log on") next to hopelessness or burden, or two separate acts of
    # preparation ("wrote letters to the kids", "updated my will").
    watch_signs = {
        h.signal
        for h in own
        if h.level == "watch"
        and h.signal in ("ideation", "hopeless", "burden")
        and not resolved
        and "past" not in h.notes
    }
    if len(watch_signs) >= 2 and "ideation" in watch_signs and RANK[level] < 2:
        level = "urgent"
        reasons |= watch_signs
    if RANK[level] < 2 and (
        ("farewell" in weak_core and weak_core - {"farewell"})
        or len(preps) >= 2
        or len(any_farewells) >= 2
    ):
        level = "urgent"
        reasons |= weak_core | ({"prep"} if preps else set()) | ({"farewell"} & live)
        category, at_risk = "self_harm", "writer"
    # A bare "bye" or "i love you all" is ordinary chat; next to the means or a note it is not.
    weak_farewell = any(h.signal == "farewell" and h.level == "none" for h in own)
    emergency_self = bool(
        (core and extra)
        or (weak_farewell and (extra - {"time"}))
        or (weak_core and (own_extra - {"time"}))
        or ("act" in {h.signal for h in own})
        or ("symptom" in live and hurt_now)
        or place_now
        or len(farewells) >= 2
        or ((core & {"ideation", "intent"} or "intent" in weak_core) and any_farewell_hits)
        or (len(any_farewells) >= 2 and "time" in extra)
        or (len(strong_extra) >= 2 and (extra - {"means"}))
        or ("plan" in extra and "time" in extra)
        or ("prep" in extra and "time" in extra)
    )
    if emergency_self:
        level = "emergency"
        reasons |= core | weak_core | extra
        reasons |= live & {"act", "symptom", "place", "self_harm", "farewell"}
        category, at_risk = "self_harm", "writer"
    # Someone else at risk who cannot be reached, or who took something.
    third_now = any(h.signal == "third_person" and t.in_sentence("now", h.start) for h in risk)
    if "third_person" in live and ("unreachable" in live or third_now):
        level = "emergency"
        reasons |= {"third_person", "unreachable"}
        if category == "none":
            category, at_risk = "self_harm", "other"
    # Threat to others plus means, time or plan; heated words need two of them.
    others_extra = live & {"means", "time", "plan"}
    threat = any(h.signal == "threat" and RANK[h.level] >= 2 for h in risk)
    heated = any(h.signal == "heated" and RANK[h.level] >= 1 for h in risk)
    if (threat and others_extra) or (heated and len(others_extra) >= 2):
        # A plan and a date next to a threat are about the other person, unless the writer
        # also speaks of ending their own life ("and then myself").
        if not emergency_self or not (core & {"ideation"}) and "act" not in live:
            category, at_risk = "harm_others", "other"
        level = "emergency"
        reasons |= {"threat" if threat else "heated"} | others_extra
    # Abuse with the abuser present: danger now.
    abused = [h for h in risk if h.signal in ("abuse", "child_abuse") and RANK[h.level] >= 2]
    if abused and "presence" in live:
        if level != "emergency" or category == "none":
            category, at_risk = "abuse_danger", abused[0].at_risk
        level = "emergency"
        reasons |= {abused[0].signal, "presence"}

    # Context: signals from the same member's recent messages.
    ctx = history if risk else set()
    current_signs = (signals | live) & _WATCH_SIGNS
    if ctx and current_signs:
        union = ctx | live
        c_core = union & _SELF_CORE
        c_extra = union & _SELF_EXTRA
        if c_core and c_extra and (live & (_SELF_CORE | _SELF_EXTRA) - {"time"}):
            if RANK[level] < 3:
                notes.append("with earlier messages")
            level = "emergency"
            reasons |= c_core | c_extra
            category, at_risk = "self_harm", "writer"
        elif len((ctx | current_signs) & _WATCH_SIGNS) >= 2 and RANK[level] < 2:
            level = "urgent"
            notes.append("with earlier messages")
            reasons |= (ctx | current_signs) & _WATCH_SIGNS
            category, at_risk = "self_harm", "writer"

    if level == "none":
        ids = tuple(sorted({_rid(h) for h in hits}))
        if not harassment:
            return Assessment(rule_ids=ids)
        spans = tuple(sorted({(*norm.span(h.start, h.end), _rid(h)) for h in hits}))
        expl = _explain([h for h in hits if h.signal == "harassment"], norm, ["harassment"], "")
        return Assessment(
            spans=spans, rule_ids=ids, explanation=expl, harassment=True, signals=("harassment",)
        )

    top = [h for h in risk if h.level == level]
    if category == "none":
        # Highest-level hits decide; ties go to the category with most hits at that level,
        # then to self_harm, abuse_danger, harm_others in that order.
        order = {"self_harm": 0, "abuse_danger": 1, "harm_others": 2, "none": 3}
        counts: dict[str, int] = {}
        for h in top:
            if h.category != "none":
                counts[h.category] = counts.get(h.category, 0) + 1
        category = min(counts, key=lambda c: (-counts[c], order[c])) if counts else "self_harm"
        at_risk = next(
            (h.at_risk for h in top if h.category == category and h.at_risk != "none"), "writer"
        )
        reasons |= {h.signal for h in top}
    shown = [s for s in _SIGNAL_ORDER if s in reasons] or [
        s for s in _SIGNAL_ORDER if s in {h.signal for h in top}
    ]
    relevant = [h for h in risk if h.signal in reasons or h.level == level]
    spans = tuple(sorted({(*norm.span(h.start, h.end), _rid(h)) for h in hits}))
    ids = tuple(sorted({_rid(h) for h in hits}))
    scope_ids = sorted(
        {
            sid
            for kind in ("negation", "clarify", "resolved", "disavow", "intensifier")
            for _, _, sid in t.scope(kind)
        }
    )
    return Assessment(
        level=level,
        category=category,
        at_risk=at_risk,
        spans=spans,
        rule_ids=tuple(sorted({*ids, *scope_ids})),
        explanation=_explain(relevant, norm, shown, ", ".join(dict.fromkeys(notes))),
        harassment=harassment,
        signals=tuple(shown),
    )

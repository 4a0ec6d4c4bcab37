"""Loads the lexicon (``data/*.toml``) and compiles it once, at import time.

A lexicon file holds ``[macros]``, ``[[entry]]`` (risk signals) and ``[[scope]]`` (modifiers
such as negation, past tense, quotes). Patterns are written against the normalized text (see
``normalize.py``) with three conveniences, applied here so authors need not repeat them:

- ``@NAME`` expands to the macro ``NAME`` (upper case; may use other macros);
- an apostrophe is optional (``don't`` also matches ``dont``);
- in words of four or more letters a doubled consonant may be single (``kill`` matches
  ``kil``), which covers a common misspelling and letters collapsed by the stretched-letter
  rule. Doubled vowels stay exact, or ``noose`` would match ``nose``.

Every pattern is wrapped in letter boundaries, so ``die`` never matches inside ``diet``.

Anchors: an entry runs only when one of its anchor words occurs in the message. ``kill*``
matches any word starting with "kill"; a bare anchor (``time``) matches that word exactly (or
the part of a contraction before the apostrophe). Every match of the pattern must contain an
anchor; the tests check this over all example sentences.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

DATA_DIR = Path(__file__).parent / "data"

LEVELS: tuple[str, ...] = ("none", "watch", "urgent", "emergency")
# A level's place in LEVELS: the one ordering every stage compares levels by.
RANK: dict[str, int] = {name: i for i, name in enumerate(LEVELS)}
CATEGORIES: tuple[str, ...] = ("none", "self_harm", "harm_others", "abuse_danger")
AT_RISK: tuple[str, ...] = ("none", "writer", "other", "writer_as_victim")

# The components a risk entry can contribute; the engine combines them (see engine.py).
SIGNALS: frozenset[str] = frozenset(
    {
        "ideation",
        "method",
        "self_harm",
        "urge",
        "act",
        "intent",
        "plan",
        "means",
        "time",
        "prep",
        "farewell",
        "burden",
        "hopeless",
        "third_person",
        "third_person_act",
        "threat",
        "heated",
        "abuse",
        "danger",
        "presence",
        "child_abuse",
        "child_danger",
        "abuse_watch",
        "harassment",
        "symptom",
        "place",
        "unreachable",
    }
)
FLAGS: frozenset[str] = frozenset(
    {
        # subject must be the writer; a third-person subject hands it to the third_person rule
        "first_person",
        # often said as a joke ("kms lol"); laughter in the sentence cancels it
        "joke_prone",
        # still counts inside quotation marks ("he said 'you'll regret it'")
        "quote_ok",
        # describes something already done, so past-tense scoping does not apply
        "no_tense",
        # passive ideation ("wish i wouldn't wake up tomorrow"): a time word in the same
        # clause is part of the wish, not a plan
        "passive",
    }
)
SCOPE_KINDS: frozenset[str] = frozenset(
    {
        "negation",
        "disavow",
        "clarify",
        "laugh",
        "intensifier",
        "past",
        "recent",
        "resolved",
        "reported",
        "general",
        "agree",
        "trivial",
        "first_subject",
        "third_subject",
        "second_subject",
        "conditional",
        "now",
        "kidding",
    }
)

_MACRO_RE = re.compile(r"@([A-Z][A-Z0-9_]*)")


@dataclass(frozen=True, slots=True)
class Entry:
    """One risk rule: a pattern, what it signals, and the examples that pin it down."""

    id: str
    signal: str
    level: str
    category: str
    at_risk: str
    label: str
    anchors: tuple[str, ...]
    flags: frozenset[str]
    regex: re.Pattern[str]
    positive: tuple[str, ...]
    negative: tuple[str, ...]
    source: str


@dataclass(frozen=True, slots=True)
class Scope:
    """One modifier rule (negation, past tense, quotes, ...) with its examples."""

    id: str
    kind: str
    regex: re.Pattern[str]
    positive: tuple[str, ...]
    negative: tuple[str, ...]
    source: str


def _expand(src: str, macros: dict[str, str], depth: int = 0) -> str:
    if depth > 8:
        raise ValueError(f"macro recursion too deep in {src!r}")

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in macros:
            raise KeyError(f"unknown macro @{name}")
        return "(?:" + _expand(macros[name], macros, depth + 1) + ")"

    return _MACRO_RE.sub(sub, src)


def _relax(src: str) -> str:
    """Make apostrophes optional and doubled letters in long literal words optional."""
    out: list[str] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c == "\\":
            out.append(src[i : i + 2])
            i += 2
        elif c == "[":
            j = i + 1
            while j < n and (src[j] != "]" or j == i + 1 or src[j - 1] == "\\"):
                j += 1
            out.append(src[i : j + 1])
            i = j + 1
        elif c == "'":
            out.append("'?")
            i += 1
        elif "a" <= c <= "z":
            j = i
            while j < n and "a" <= src[j] <= "z":
                j += 1
            word = src[i:j]
            if len(word) >= 4:
                quantified = j < n and src[j] in "?*+{"
                buf: list[str] = []
                for k, ch in enumerate(word):
                    buf.append(ch)
                    last = k == len(word) - 1
                    doubled = k > 0 and word[k - 1] == ch and (k < 2 or word[k - 2] != ch)
                    if doubled and ch not in "aeiouy" and not (last and quantified):
                        buf.append("?")
                word = "".join(buf)
            out.append(word)
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _whole_word_lookaheads(src: str) -> str:
    """End each negative lookahead that ends in a letter at a word boundary.

    Authors write exclusions as ``(?! (?:to|for))``; without this, " to" would also exclude
    " tonight" and " for" would exclude " forever".
    """
    out = src
    i = out.find("(?!")
    while i != -1:
        depth, j = 0, i
        while j < len(out):
            ch = out[j]
            if ch == "\\":
                j += 2
                continue
            if ch == "[":
                j = out.index("]", j + 2)
            elif ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        inner = out[i + 3 : j].rstrip(")")
        if inner and inner[-1].isalpha():
            out = out[:j] + "(?![a-z])" + out[j:]
        i = out.find("(?!", i + 3)
    return out


def compile_pattern(src: str, macros: dict[str, str]) -> re.Pattern[str]:
    body = _whole_word_lookaheads(_relax(_expand(src, macros)))
    return re.compile(r"(?<![a-z0-9])(?:" + body + r")(?![a-z0-9])")


def _load_files() -> tuple[dict[str, str], list[dict[str, object]], list[dict[str, object]]]:
    macros: dict[str, str] = {}
    entries: list[dict[str, object]] = []
    scopes: list[dict[str, object]] = []
    for path in sorted(DATA_DIR.glob("*.toml")):
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
        for key, value in doc.get("macros", {}).items():
            if key in macros:
                raise ValueError(f"{path.name}: macro {key} defined twice")
            macros[key] = value
        for raw in doc.get("entry", []):
            entries.append({**raw, "_source": path.name})
        for raw in doc.get("scope", []):
            scopes.append({**raw, "_source": path.name})
    return macros, entries, scopes


def _strs(raw: dict[str, object], key: str) -> tuple[str, ...]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{raw.get('id')}: {key} must be a list of strings")
    return tuple(value)


def load() -> tuple[tuple[Entry, ...], tuple[Scope, ...]]:
    """Parse and validate every data file; raise on any malformed entry."""
    macros, raw_entries, raw_scopes = _load_files()
    seen: set[str] = set()
    entries: list[Entry] = []
    for raw in raw_entries:
        eid = str(raw["id"])
        if eid in seen:
            raise ValueError(f"duplicate rule id {eid}")
        seen.add(eid)
        signal, level = str(raw["signal"]), str(raw.get("level", "none"))
        category, at_risk = str(raw.get("category", "none")), str(raw.get("at_risk", "none"))
        flags = frozenset(_strs(raw, "flags"))
        if signal not in SIGNALS or level not in LEVELS or category not in CATEGORIES:
            raise ValueError(f"{eid}: bad signal, level or category")
        if at_risk not in AT_RISK or not flags <= FLAGS:
            raise ValueError(f"{eid}: bad at_risk or flags {sorted(flags - FLAGS)}")
        regex = compile_pattern(str(raw["pattern"]), macros)
        if regex.groups:
            raise ValueError(f"{eid}: use (?:...) groups only")
        anchors = _strs(raw, "anchors")
        if not anchors:
            raise ValueError(f"{eid}: needs at least one anchor")
        entries.append(
            Entry(
                id=eid,
                signal=signal,
                level=level,
                category=category,
                at_risk=at_risk,
                label=str(raw.get("label", signal)),
                anchors=anchors,
                flags=flags,
                regex=regex,
                positive=_strs(raw, "positive"),
                negative=_strs(raw, "negative"),
                source=str(raw["_source"]),
            )
        )
    scopes: list[Scope] = []
    for raw in raw_scopes:
        sid = str(raw["id"])
        if sid in seen:
            raise ValueError(f"duplicate rule id {sid}")
        seen.add(sid)
        kind = str(raw["kind"])
        if kind not in SCOPE_KINDS:
            raise ValueError(f"{sid}: unknown scope kind {kind}")
        scopes.append(
            Scope(
                id=sid,
                kind=kind,
                regex=compile_pattern(str(raw["pattern"]), macros),
                positive=_strs(raw, "positive"),
                negative=_strs(raw, "negative"),
                source=str(raw["_source"]),
            )
        )
    return tuple(entries), tuple(scopes)

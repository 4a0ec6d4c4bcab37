"""Text normalization that never loses track of where each character came from.

The lexicon is written against one simple form of text: lower case ASCII-ish letters, single
spaces, emoji spelled as words, leetspeak and spaced-out letters undone. `normalize` returns
that form together with, for every normalized character, the half-open range of the original
text it came from, so a rule's span can be shown to a facilitator exactly as the member typed it.

Invariant: ``starts[i] <= ends[i]`` and both index into the original string; a normalized span
``[a, b)`` maps back to ``original[starts[a]:ends[b - 1]]``.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

_DATA = json.loads((Path(__file__).parent / "data" / "normalize.json").read_text("utf-8"))

EMOJI: dict[str, str] = _DATA["emoji"]
CONFUSABLES: dict[str, str] = _DATA["confusables"]
PUNCTUATION: dict[str, str] = _DATA["punctuation"]
LEET: dict[str, str] = _DATA["leet"]
SPELLING: dict[str, str] = _DATA["spelling"]
CENSORED: tuple[str, ...] = tuple(_DATA["censored"])

_SPELLING_RE = re.compile(
    r"(?<![a-z'])(?:"
    + "|".join(re.escape(w) for w in sorted(SPELLING, key=len, reverse=True))
    + r")(?![a-z'])"
)
_LEET_CLASS = "[" + re.escape("".join(sorted(LEET))) + "]"
# A leet character counts only when it sits inside a word: between letters ("k1ll", "d!e"),
# or a symbol leading into letters ("$uicide"), or a digit trailing two letters ("di3"); so
# "$14k", "20 min", "wow!", "1am" and "2nd" stay as typed. A leading 0 or 3 counts before two
# letters ("3nd it", "0ff myself"); "3rd" becomes "erd", which no rule reads.
_LEET_RE = re.compile(
    r"(?<=[a-z])" + _LEET_CLASS + r"+(?=[a-z])"
    r"|(?<![a-z0-9])[$@](?=[a-z]{2})"
    r"|(?<=[a-z013457][a-z])[013457](?![a-z0-9])"
    r"|(?<![a-z0-9])[03](?!(?:am|pm|rd|th|st)(?![a-z]))(?=[a-z]{2,}(?![0-9]))"
)
# Three or more single letters (or leet characters) joined by one separator each: "k i l l",
# "s.u.i.c.i.d.e", "k-m-s". Two letters ("a.m.") are left alone.
_SPACED_RE = re.compile(r"(?<![a-z0-9])[a-z0-9@$!](?:[ .\-_*/][a-z0-9@$!]){2,}(?![a-z0-9])")
# Whole words spelled out letter by letter, with wider gaps between the words:
# "c a n t  d o  t h i s" -> "cant do this".
_SPACED_WORDS_RE = re.compile(
    r"(?<![a-z0-9])[a-z0-9@$!](?: [a-z0-9@$!]|  +[a-z0-9@$!]){3,}(?![a-z0-9])"
)
_STRETCHED_RE = re.compile(r"([a-z])\1\1+")
# A word with letters masked by "*" ("k*ll", "su*c*de"); at least one real letter.
_CENSORED_RE = re.compile(r"(?<![a-z*])(?=[a-z*]*[a-z])[a-z]*\*[a-z*]*(?![a-z*])")
_SPACE_RE = re.compile(r"\s\s+|[\t\n\r\f\v]")
# Cheap tests that let most ASCII messages skip the offset-keeping passes entirely; each
# pass below runs only when its quick test says it might change something.
_TRIPLE_QUICK = re.compile(r"(.)\1\1")
_LEET_QUICK = re.compile(r"[0134579@$!|\t\n\r]")
_SPACED_QUICK = re.compile(
    r"[ .\-_*/][a-z0-9@$!][ .\-_*/][a-z0-9@$!][ .\-_*/]|^[a-z0-9@$!][ .\-_*/]"
)
WORD_RE = re.compile(r"[a-z0-9']+")
_SPELLING_WORDS = frozenset(k for k in SPELLING if WORD_RE.fullmatch(k))
_SPELLING_PHRASES = re.compile(
    "|".join(
        re.escape(k) for k in sorted(SPELLING, key=len, reverse=True) if not WORD_RE.fullmatch(k)
    )
)

# Every respelled phrase ("sewer slide", "my self") has a first and a last word; a message
# lacking either cannot contain it, which spares most chat the phrase scan.
_PHRASE_WORDS = [WORD_RE.findall(k) for k in SPELLING if not WORD_RE.fullmatch(k)]
_PHRASE_FIRST = frozenset(p[0] for p in _PHRASE_WORDS if p)
_PHRASE_LAST = frozenset(p[-1] for p in _PHRASE_WORDS if p)


def _may_hold_phrase(text: str, words: list[str] | tuple[str, ...]) -> bool:
    return (
        not _PHRASE_FIRST.isdisjoint(words)
        and not _PHRASE_LAST.isdisjoint(words)
        and _SPELLING_PHRASES.search(text) is not None
    )


def _needs_work(low: str, words: list[str]) -> bool:
    return bool(
        (_TRIPLE_QUICK.search(low) and _STRETCHED_RE.search(low))
        or (_LEET_QUICK.search(low) and (_LEET_RE.search(low) or _SPACE_RE.search(low)))
        or (_SPACED_QUICK.search(low) and _SPACED_RE.search(low))
        or "  " in low
        or "*" in low
        or "\n" in low
        or "\t" in low
        or "\r" in low
        or not _SPELLING_WORDS.isdisjoint(words)
        or _may_hold_phrase(low, words)
    )


@dataclass(frozen=True, slots=True)
class Normalized:
    """Normalized text plus its map back to the original; ``starts is None`` means identity."""

    text: str
    original: str
    starts: tuple[int, ...] | None = None
    ends: tuple[int, ...] | None = None
    # The words of ``text`` (``WORD_RE``), when the fast path already split them.
    words: tuple[str, ...] | None = None

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Map a normalized half-open range to the original text."""
        if end <= start:
            return (start, start) if self.starts is None else (self._at(start), self._at(start))
        if self.starts is None or self.ends is None:
            return (start, end)
        return (self.starts[start], self.ends[end - 1])

    def _at(self, index: int) -> int:
        assert self.starts is not None
        if index < len(self.starts):
            return self.starts[index]
        return len(self.original)


@lru_cache(maxsize=4096)
def _map_char(ch: str) -> str:
    """Map one original character to its normalized spelling (may be empty or several chars)."""
    if ch in EMOJI:
        return " " + EMOJI[ch] + " "
    if ch in PUNCTUATION:
        return PUNCTUATION[ch]
    cat = unicodedata.category(ch)
    if "\U0001f3fb" <= ch <= "\U0001f3ff":
        return ""  # skin-tone modifier: part of the emoji before it
    # Zero-width, direction marks, soft hyphen, variation selectors and stray combining marks
    # carry no letters; they are the usual way to slip a word past a filter.
    if cat in ("Cf", "Mn", "Me", "Cc") and ch not in "\t\n\r":
        return ""
    out = []
    for c in unicodedata.normalize("NFKD", ch):
        if unicodedata.category(c) == "Mn":
            continue
        for low in c.lower():
            out.append(CONFUSABLES.get(low, low))
    mapped = "".join(out)
    if unicodedata.category(ch) in ("So", "Sk") and not mapped.isascii():
        # Unknown pictographs become a neutral space so they still split words.
        return " "
    return mapped


_NON_ASCII_RE = re.compile(r"[^\x00-\x7f]+")


def _char_pass(text: str) -> tuple[str, list[int], list[int]]:
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    pos = 0
    # Emoji become " word "; never emit two spaces in a row, so the whitespace pass is rare.
    last_space = True
    for m in _NON_ASCII_RE.finditer(text):
        if m.start() > pos:
            chunk = text[pos : m.start()].lower()
            skip = 1 if (last_space and chunk[0] == " ") else 0
            chars.append(chunk[skip:])
            starts.extend(range(pos + skip, m.start()))
            ends.extend(range(pos + skip + 1, m.start() + 1))
            last_space = chunk[-1] == " " if len(chunk) > skip else last_space
        for i in range(m.start(), m.end()):
            mapped = _map_char(text[i])
            if not mapped:
                if ends and ends[-1] == i:
                    # A dropped modifier (variation selector, skin tone) still belongs to the
                    # character before it, so spans cover the whole visible glyph.
                    ends[-1] = i + 1
                continue
            if last_space and mapped[0] == " ":
                mapped = mapped[1:]
                if not mapped:
                    continue
            chars.append(mapped)
            starts.extend([i] * len(mapped))
            ends.extend([i + 1] * len(mapped))
            last_space = mapped[-1] == " "
        pos = m.end()
    if pos < len(text):
        chunk = text[pos:].lower()
        skip = 1 if (last_space and chunk[0] == " ") else 0
        chars.append(chunk[skip:])
        starts.extend(range(pos + skip, len(text)))
        ends.extend(range(pos + skip + 1, len(text) + 1))
    return "".join(chars), starts, ends


Rewrite = Callable[[re.Match[str]], "tuple[str, list[int]] | str"]


def _rewrite(
    text: str, starts: list[int], ends: list[int], regex: re.Pattern[str], fn: Rewrite
) -> tuple[str, list[int], list[int]]:
    """Apply ``fn`` to every match, keeping offsets.

    ``fn`` returns either ``(new_text, kept_indices)``, where each new character keeps the
    offsets of the matched character at that relative index, or a plain string, whose
    characters all take the whole match's range (used for word substitutions).
    """
    out: list[str] = []
    new_starts: list[int] = []
    new_ends: list[int] = []
    pos = 0
    for m in regex.finditer(text):
        a, b = m.span()
        out.append(text[pos:a])
        new_starts.extend(starts[pos:a])
        new_ends.extend(ends[pos:a])
        result = fn(m)
        if isinstance(result, str):
            out.append(result)
            new_starts.extend([starts[a]] * len(result))
            new_ends.extend([ends[b - 1]] * len(result))
        else:
            rep, kept = result
            out.append(rep)
            new_starts.extend(starts[a + k] for k in kept)
            new_ends.extend(ends[a + k] for k in kept)
        pos = b
    out.append(text[pos:])
    new_starts.extend(starts[pos:])
    new_ends.extend(ends[pos:])
    return "".join(out), new_starts, new_ends


def _unspace(m: re.Match[str]) -> tuple[str, list[int]]:
    s = m.group()
    kept = list(range(0, len(s), 2))
    if sum(s[k].isalpha() for k in kept) < 2:
        return s, list(range(len(s)))
    return "".join(s[k] for k in kept), kept


def _unspace_words(m: re.Match[str]) -> tuple[str, list[int]]:
    s = m.group()
    if "  " not in s:
        return s, list(range(len(s)))
    out: list[str] = []
    kept: list[int] = []
    i = 0
    while i < len(s):
        if s[i] != " ":
            out.append(s[i])
            kept.append(i)
            i += 1
            continue
        j = i
        while j < len(s) and s[j] == " ":
            j += 1
        if j - i >= 2:
            out.append(" ")
            kept.append(i)
        i = j
    return "".join(out), kept


@lru_cache(maxsize=1024)
def _uncensor_word(word: str) -> str:
    pattern = re.compile(word.replace("*", "[a-z]"))
    fits = [w for w in CENSORED if len(w) == len(word) and pattern.fullmatch(w)]
    return fits[0] if len(fits) == 1 else word


def _uncensor(m: re.Match[str]) -> tuple[str, list[int]]:
    s = m.group()
    return _uncensor_word(s), list(range(len(s)))


def _unstretch(m: re.Match[str]) -> str:
    return m.group(1)


def _unleet(m: re.Match[str]) -> tuple[str, list[int]]:
    s = m.group()
    return "".join(LEET.get(c, c) for c in s), list(range(len(s)))


def _respell(m: re.Match[str]) -> str:
    return SPELLING[m.group()]


def _space(m: re.Match[str]) -> tuple[str, list[int]]:
    return " ", [0]


def normalize(text: str) -> Normalized:
    """Return the normalized form of ``text`` with its offset map (see module docstring)."""
    if text.isascii():
        low = text.lower()
        words = WORD_RE.findall(low)
        if not _needs_work(low, words):
            return Normalized(low, text, words=tuple(words))
        s = low
        starts = list(range(len(text)))
        ends = list(range(1, len(text) + 1))
    else:
        s, starts, ends = _char_pass(text)
    # Order matters: spaced letters may hide leet ("k 1 l l"), leet may hide stretched letters.
    if _SPACED_QUICK.search(s) and _SPACED_RE.search(s):
        if "  " in s:
            s, starts, ends = _rewrite(s, starts, ends, _SPACED_WORDS_RE, _unspace_words)
        s, starts, ends = _rewrite(s, starts, ends, _SPACED_RE, _unspace)
    if _LEET_QUICK.search(s) and _LEET_RE.search(s):
        s, starts, ends = _rewrite(s, starts, ends, _LEET_RE, _unleet)
    if _TRIPLE_QUICK.search(s) and _STRETCHED_RE.search(s):
        s, starts, ends = _rewrite(s, starts, ends, _STRETCHED_RE, _unstretch)
    if "*" in s:
        s, starts, ends = _rewrite(s, starts, ends, _CENSORED_RE, _uncensor)
    words = WORD_RE.findall(s)
    if not _SPELLING_WORDS.isdisjoint(words) or _may_hold_phrase(s, words):
        s, starts, ends = _rewrite(s, starts, ends, _SPELLING_RE, _respell)
        words = WORD_RE.findall(s)
    if "  " in s or "\n" in s or "\t" in s or "\r" in s or "\f" in s or "\v" in s:
        s, starts, ends = _rewrite(s, starts, ends, _SPACE_RE, _space)
    return Normalized(s, text, tuple(starts), tuple(ends), tuple(words))

"""Aliases that cannot pass for someone else. Members are known in a room only by their alias,
so an alias that looks like another member's, or like a facilitator's name, would let one person
speak as another. Two aliases are the same when their skeletons are equal: compatibility forms
folded (NFKC), invisible and format characters removed, case folded, and every character
replaced by one representative of its class of look-alikes (the Unicode confusables data of
UTS #39, from the `confusable_homoglyphs` package)."""

from __future__ import annotations

import functools
import unicodedata

# Characters that show as nothing, or as blank space, yet are not format characters (Cf):
# combining grapheme joiner, Hangul fillers, Khmer inherent vowels, Mongolian free variation
# selectors, variation selectors, and the braille blank.
_INVISIBLE = {0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x2800, 0x3164, 0xFFA0}
_INVISIBLE_RANGES = ((0x180B, 0x180F), (0xFE00, 0xFE0F), (0xE0100, 0xE01EF))
# Other categories with nothing to show: controls, format characters (zero-width space and
# joiners, direction marks, the soft hyphen...), surrogates, private use, unassigned.
_HIDDEN_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn"}
# Names the room itself uses for people.
RESERVED = ("Moderator", "Former member", "Facilitator", "Admin", "Administrator")


def _visible(ch: str) -> bool:
    code = ord(ch)
    if code in _INVISIBLE or any(lo <= code <= hi for lo, hi in _INVISIBLE_RANGES):
        return False
    return unicodedata.category(ch) not in _HIDDEN_CATEGORIES


def alias_display(raw: str) -> str:
    """The alias as it is stored and shown: NFKC, without invisible characters, with runs of
    spaces (of any width) made one."""
    text = unicodedata.normalize("NFKC", raw or "")
    text = "".join(ch for ch in text if ch.isspace() or _visible(ch))
    return " ".join(text.split())


@functools.cache
def _classes() -> dict[str, str]:
    """Each character with look-alikes, mapped to one representative of its class. The data
    lists, for each character, the others it can be taken for; joined here into classes (the
    lists are not all symmetric), each named by its smallest member."""
    from confusable_homoglyphs import confusables  # noqa: PLC0415 — 900 KB of data, loaded once

    parent: dict[str, str] = {}

    def find(ch: str) -> str:
        root = ch
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(ch, ch) != root:  # path compression
            parent[ch], ch = root, parent[ch]
        return root

    for ch, glyphs in confusables.confusables_data.items():
        for glyph in glyphs:
            # Right-to-left letters come wrapped in direction marks; sequences are left out.
            other = glyph["c"].strip("\u200e\u200f")
            if len(ch) == 1 and len(other) == 1:
                a, b = find(ch), find(other)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    return {ch: find(ch) for ch in list(parent)}


def _skeleton(text: str) -> str:
    classes = _classes()
    text = unicodedata.normalize("NFD", text)
    return "".join(classes.get(ch, ch) for ch in text if _visible(ch))


@functools.lru_cache(maxsize=65536)
def alias_keys(alias: str) -> frozenset[str]:
    """Two aliases a reader could take for one another share a key. Case and look-alikes do not
    commute ("I" looks like "l", "i" does not; "O" like "0", "o" does not), so there are three:
    the look-alike skeletons of the alias as typed, case-folded, and in capitals."""
    shown = alias_display(alias)
    return frozenset({_skeleton(shown), _skeleton(shown.casefold()), _skeleton(shown.upper())})


def alias_conflict(alias: str, taken: list[str], staff: list[str]) -> str | None:
    """Why this alias cannot be used next to these aliases and staff names, or None."""
    keys = alias_keys(alias)
    if any(keys & alias_keys(name) for name in RESERVED):
        return "That name is used by the room itself; choose another alias."
    if any(keys & alias_keys(name) for name in staff):
        return "That alias looks like a facilitator's name; choose another."
    if any(keys & alias_keys(name) for name in taken):
        return "That alias is taken in this group; choose another."
    return None

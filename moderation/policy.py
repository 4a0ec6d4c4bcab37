"""Group policy checks that hold a message for review: contact details and harassment of another
member. Pure Python; crisis language is never held (the caller checks the crisis level first).

This runs for every message on the web process's database thread, so it must take time in
proportion to the text, whatever the text. Python's regular expressions backtrack, and a pattern
with an unbounded repeat can scan the rest of the text from every position (a 4,000-character
word took 300 ms). So every pattern here is bounded: its longest match is at most
`MAX_MATCH_CHARS` characters (plus a fixed-width lookbehind), so an attempt at any one position
reads at most that much, and the check as a whole is linear in the text. The runs a pattern
repeats are possessive (no backtracking into them), and each pattern starts with a lookbehind
so that it is only tried where a token starts. tests/moderation/test_policy.py checks these
properties on the compiled patterns; bench/policy_bench.py measures the worst inputs.

What counts as contact details is decided in context: a number is a phone number by its layout
and the words around it (a case number, a year range, a date or an amount is not), a street
address needs a name that is not an ordinary phrase ("5 miles down the road"), and a social
network's name needs a handle after it ("my signal was bad" is not a handle)."""

from __future__ import annotations

import re

CONTACT_DETAILS = "contact_details"
HARASSMENT = "harassment"

# The longest match of any pattern below; checked by the tests on the compiled patterns.
MAX_MATCH_CHARS = 200
# How far before and after a number its context words are read.
_CONTEXT_CHARS = 40

_EMAIL = re.compile(
    r"(?<![\w.+-])[\w.+-]{1,64}+[ \t]{0,3}+(?:@|\(at\)|\[at\])[ \t]{0,3}+[\w-]{1,63}+"
    r"[ \t]{0,3}+(?:\.|\(dot\)|\[dot\])[ \t]{0,3}+[a-z]{2,24}+",
    re.I,
)
_SPOKEN_EMAIL = re.compile(
    r"(?<=[\w.+-])[ \t]{1,3}+at[ \t]{1,3}+"
    r"(?:gmail|yahoo|hotmail|outlook|icloud|protonmail|proton|aol|live|me)"
    r"[ \t]{0,3}+(?:dot|\.)[ \t]{0,3}+(?:com|net|org|me)\b",
    re.I,
)
_PROFILE_URL = re.compile(
    r"(?<![\w.])(?:instagram|facebook|fb|twitter|x|tiktok|snapchat|t|wa|discord|linkedin)"
    r"\.(?:com|me|gg)/@?[\w.]{2,30}+",
    re.I,
)

# A run of digits with the separators phone numbers are written with; the layout is judged in
# Python. Not started inside a word, a number or a decimal, nor right after "digit space".
_NUMBER = re.compile(r"(?<![\w+.,/:-])(?<!\d )\+?\(?\d[\d().\- \u00a0]{0,24}+")
_GROUP = re.compile(r"\d{1,25}")
_WORD = re.compile(r"[a-z#]{1,20}")

# The nearest of these words before a number decides what it is; neutral words ("my number
# is") are skipped.
_PHONE_CUES = {
    "call", "calls", "text", "txt", "phone", "cell", "mobile", "mob", "tel", "ph", "whatsapp",
    "signal", "telegram", "reach", "ring", "dial", "sms", "imessage", "contact", "digits",
}  # fmt: skip
_OTHER_CUES = {
    "order", "case", "ticket", "ref", "reference", "confirmation", "conf", "account", "acct",
    "invoice", "tracking", "claim", "policy", "isbn", "serial", "id", "code", "pin", "zip",
    "docket", "receipt", "transaction", "patient", "member", "employee", "student", "badge",
    "room", "file", "record", "permit", "license", "licence", "routing", "iban", "page",
    "pages", "chapter", "verse", "version", "model", "step", "steps", "paid", "owe", "owes",
    "owed", "cost", "costs", "spent", "earned", "saved", "worth", "debt", "salary",
}  # fmt: skip
# Words right after a number that make it a count, not a phone number.
_UNITS = {
    "seconds", "secs", "minutes", "mins", "hours", "hrs", "days", "weeks", "months", "years",
    "steps", "dollars", "bucks", "usd", "eur", "euros", "pounds", "people", "members", "times",
    "words", "characters", "miles", "km", "kg", "lbs", "calories", "views", "likes",
    "followers", "points", "votes", "messages", "texts", "cents", "rupees", "yen",
}  # fmt: skip
_CURRENCY = "$€£¥₹"

_STREET = re.compile(
    r"(?<![\w.,/:-])\d{1,5}+[a-z]?(?![\w])[ \t]{1,3}+"
    r"((?:[a-z][a-z'.-]{0,20}+[ \t]{1,3}+){1,3})"
    r"(street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|way|place|pl|"
    r"terrace|ter|circle|cir|highway|hwy)\b",
    re.I,
)
# Words that make "<number> <words> <street word>" an ordinary phrase ("2 weeks in court").
_NOT_STREET_NAMES = {
    "the", "a", "an", "in", "on", "at", "to", "of", "for", "from", "by", "with", "and", "or",
    "but", "my", "your", "his", "her", "our", "their", "its", "me", "you", "him", "them", "us",
    "we", "i", "down", "up", "over", "into", "out", "off", "this", "that", "these", "those",
    "more", "less", "other", "next", "last", "first", "whole", "same", "long", "hard", "rough",
    "kids", "children", "weeks", "days", "years", "months", "hours", "minutes", "mins", "hrs",
    "times", "miles", "km", "blocks", "steps", "ways", "am", "pm", "is", "was", "are", "were",
    "be", "been", "went", "go", "going", "drove", "walked", "ran", "got", "had", "have", "has",
    "so", "just", "all", "only", "very", "every", "each", "different", "separate", "hour",
    "minute", "week", "day", "month", "year", "time", "mile", "block", "step", "good", "bad",
    "dates", "sessions", "hearings", "visits", "until", "till",
    "before", "after", "back", "along", "across", "around", "through", "about", "far",
}  # fmt: skip

_HANDLE = re.compile(
    r"(?<![\w.@])(?P<kw>instagram|insta|ig|snapchat|snap|tiktok|telegram|whats[ ]?app|signal|"
    r"discord|facebook|fb|twitter|kik|threads|bluesky|bsky)(?![\w])"
    r"[ \t]{0,3}+(?P<sep>:|=|-|/|(?:handle|name|username|user|id)?[ \t]{0,2}+is)?"
    r"[ \t]{0,3}+(?P<at>@)?(?P<handle>[a-z0-9_.]{3,30}+)(?![\w@])",
    re.I,
)
# What people say before a network's name when they share their handle.
_HANDLE_CUES = re.compile(
    r"(?:\b(?:add|find|follow|dm|message|msg|text|hmu|contact|reach|friend)\b[ \t]{1,3}+"
    r"(?:me|us)?[ \t]{0,3}+(?:on|at|via|over)|\bhit[ \t]me[ \t]up[ \t]on|"
    r"\b(?:i'?m|im)[ \t]on)[ \t]{1,3}+$",
    re.I,
)
_HANDLE_SHAPE = re.compile(r"[\d_]|\w\.\w")
_MY = re.compile(r"\b(?:my|our)[ \t]{1,3}+$", re.I)
_NOT_HANDLES = {
    "me", "at", "is", "the", "and", "you", "her", "him", "them", "this", "that", "it", "too",
    "now", "later", "tonight", "today", "tomorrow", "sometime", "instead", "please", "though",
    "if", "so", "or", "but", "because", "cause", "lol", "haha", "ok", "okay", "yeah", "yes",
    "no", "not", "anymore", "private", "deleted", "down", "anyway", "for", "with", "about",
    "was", "has", "had", "are", "were", "be", "all", "when", "where", "what", "who", "how",
    "why", "then", "there", "here", "again", "account", "page", "profile", "story", "stories",
    "post", "posts", "dms", "messages", "group", "chat", "app", "call", "calls", "video",
    "toxic", "off", "out", "gone", "blocked", "weird", "bad", "good", "fine", "much",
    "full", "scary", "fake", "dead", "quiet", "back", "also", "just", "even", "still", "only",
    "really", "very", "strength", "between", "every", "everyone", "someone", "reel", "reels",
    "feed", "his", "hers", "their", "mine", "yours", "ours", "one", "some",
}  # fmt: skip


# Cheap scans that rule a pattern out before it is tried at every position of the text.
_HAS_DIGIT = re.compile(r"\d")
_HAS_AT = re.compile(r"@|\(at\)|\[at\]|\sat\s|\.(?:com|me|gg)/", re.I)
# Substrings of the networks' names (on the lowercased text; "ig" covers "instagram").
_NETWORK_PARTS = (
    "insta", "ig", "snap", "tiktok", "telegram", "whats", "signal", "discord", "facebook",
    "fb", "twitter", "kik", "threads", "bsky", "bluesky",
)  # fmt: skip

# Tried at every position of a message: each starts with a lookbehind.
SCANNING_PATTERNS = (_EMAIL, _SPOKEN_EMAIL, _PROFILE_URL, _NUMBER, _STREET, _HANDLE)
# Every pattern, the scans above, the prefilters and those read only on a short window.
PATTERNS = (
    *SCANNING_PATTERNS,
    _HAS_DIGIT,
    _HAS_AT,
    _HANDLE_CUES,
    _HANDLE_SHAPE,
    _MY,
)


def has_contact_details(text: str) -> bool:
    if _HAS_AT.search(text) and (
        _EMAIL.search(text) or _SPOKEN_EMAIL.search(text) or _PROFILE_URL.search(text)
    ):
        return True
    if _HAS_DIGIT.search(text):
        if any(_is_phone(text, m.start(), m.group()) for m in _NUMBER.finditer(text)):
            return True
        if any(_is_street(m) for m in _STREET.finditer(text)):
            return True
    lowered = text.lower()
    if any(part in lowered for part in _NETWORK_PARTS):
        return any(_is_handle(text, m) for m in _HANDLE.finditer(text))
    return False


def _is_phone(text: str, start: int, chunk: str) -> bool:
    """Whether this run of digits and separators is a phone number, by its layout and the
    words around it."""
    chunk = chunk.rstrip(" .-(\u00a0")
    end = start + len(chunk)
    if end < len(text) and text[end].isdigit():
        return False  # longer than any phone number
    groups = _GROUP.findall(chunk)
    digits = sum(len(g) for g in groups)
    if not 7 <= digits <= 15:
        return False
    before = text[max(0, start - _CONTEXT_CHARS) : start].lower()
    last = before.rstrip()[-1:]
    if last and last in _CURRENCY + "#":
        return False
    after = _WORD.match(text[end : end + _CONTEXT_CHARS].lower().lstrip())
    if after and after.group() in _UNITS:
        return False
    cue = _nearest_cue(before)
    if cue == "other" or _is_date_or_years(groups):
        return False
    plus = chunk.startswith("+")
    if len(groups) == 1:
        # One unbroken run: ten digits (or eleven with a trunk prefix) is a phone number
        # unless the context says otherwise; other lengths only when the context says so.
        bare = digits == 10 or (digits == 11 and chunk[0] in "01")
        return bare or plus or cue == "phone"
    if _is_thousands(chunk, groups):
        return False
    # Separated groups: each of at least two digits (a leading country or trunk digit aside),
    # and groups of two only make a phone number in the European layout of five.
    head, rest = groups[0], groups[1:]
    if any(len(g) < 2 for g in rest) or (len(head) == 1 and len(rest) < 3 and not plus):
        return False
    return digits >= 9 or any(len(g) > 2 for g in groups)


def _nearest_cue(before: str) -> str | None:
    for word in reversed(_WORD.findall(before)[-5:]):
        if word in _PHONE_CUES:
            return "phone"
        if word in _OTHER_CUES:
            return "other"
    return None


def _is_date_or_years(groups: list[str]) -> bool:
    """2019-2023, 2015 2016 2017, 2023-12-05, 12.05.2023, 5-12-23."""
    if all(len(g) == 4 and 1900 <= int(g) <= 2099 for g in groups):
        return True
    if len(groups) != 3:
        return False
    if len(groups[0]) == 4 and 1900 <= int(groups[0]) <= 2099:
        month, day = groups[1], groups[2]
    elif len(groups[2]) in (2, 4) and len(groups[0]) <= 2 and len(groups[1]) <= 2:
        month, day = sorted((groups[0], groups[1]), key=int)
    else:
        return False
    return len(month) <= 2 and len(day) <= 2 and 1 <= int(month) <= 12 and 1 <= int(day) <= 31


def _is_thousands(chunk: str, groups: list[str]) -> bool:
    """1.500.000 or 10.000.000: an amount written with dots between thousands."""
    return (
        "." in chunk
        and " " not in chunk.strip()
        and len(groups[0]) <= 3
        and all(len(g) == 3 for g in groups[1:])
    )


def _is_street(match: re.Match[str]) -> bool:
    names = match.group(1).lower().split()
    return not any(name.strip("'.-") in _NOT_STREET_NAMES for name in names)


def _is_handle(text: str, match: re.Match[str]) -> bool:
    handle = match.group("handle").lower().strip(".")
    if match.group("at"):
        return True
    if handle in _NOT_HANDLES or handle in _NETWORK_PARTS or len(handle) < 3:
        return False
    sep = (match.group("sep") or "").strip().lower()
    if sep in (":", "=", "-", "/"):
        return True
    if _HANDLE_SHAPE.search(handle):
        return True  # fern_heals, fern.r, fern99: a handle, whatever the words around it
    before = text[max(0, match.start() - _CONTEXT_CHARS) : match.start()]
    if _HANDLE_CUES.search(before):
        return True  # add me on insta fernheals
    return sep.endswith("is") and bool(_MY.search(before))  # my insta is fernheals


def held_reason(text: str, *, harassment: bool, held_categories: list[str]) -> str | None:
    """The policy category that holds this message, or None to deliver it."""
    if harassment and HARASSMENT in held_categories:
        return HARASSMENT
    if CONTACT_DETAILS in held_categories and has_contact_details(text):
        return CONTACT_DETAILS
    return None

"""Group policy checks that hold a message for review: contact details and harassment of another
member. Pure Python; crisis language is never held (the caller checks the crisis level first)."""

from __future__ import annotations

import re

CONTACT_DETAILS = "contact_details"
HARASSMENT = "harassment"

_EMAIL = re.compile(
    r"[\w.+-]+\s*(?:@|\(at\)|\[at\])\s*[\w-]+\s*(?:\.|\(dot\)|\[dot\])\s*[a-z]{2,}", re.I
)
_SPOKEN_EMAIL = re.compile(
    r"\b[\w.+-]+\s+at\s+(?:gmail|yahoo|hotmail|outlook|icloud|proton\w*|aol|live|me)\s*"
    r"(?:dot|\.)\s*(?:com|net|org|me)\b",
    re.I,
)
# Seven or more digits, allowing the separators people use in phone numbers.
_PHONE = re.compile(r"(?<!\w)\+?\d(?:[\s().-]*\d){6,14}(?!\w)")
_STREET = re.compile(
    r"\b\d{1,5}\s+(?:[A-Z][a-z]+\s+){1,3}(?:st|street|ave|avenue|rd|road|blvd|boulevard|ln|lane|"
    r"dr|drive|ct|court|way|pl|place|terrace|ter)\b\.?",
    re.I,
)
_HANDLE = re.compile(
    r"\b(?:insta(?:gram)?|ig|snap(?:chat)?|tiktok|telegram|whats\s?app|signal|discord|"
    r"facebook|fb|twitter|x\.com|kik)\s*(?:is|me|at|:|-|=)?\s*@?[A-Za-z0-9_.]{3,30}",
    re.I,
)
_HANDLE_WORDS = {"me", "at", "is", "the", "and", "you", "her", "him", "them", "this", "that"}


def has_contact_details(text: str) -> bool:
    if _EMAIL.search(text) or _SPOKEN_EMAIL.search(text) or _STREET.search(text):
        return True
    for match in _PHONE.finditer(text):
        # Seven digits in one run (separators allowed) is a phone number; years and times are
        # shorter and separated by words.
        if len(re.sub(r"\D", "", match.group())) >= 7:
            return True
    for match in _HANDLE.finditer(text):
        tail = match.group().split()[-1].lstrip("@:").lower()
        if tail not in _HANDLE_WORDS:
            return True
    return False


def held_reason(text: str, *, harassment: bool, held_categories: list[str]) -> str | None:
    """The policy category that holds this message, or None to deliver it."""
    if harassment and HARASSMENT in held_categories:
        return HARASSMENT
    if CONTACT_DETAILS in held_categories and has_contact_details(text):
        return CONTACT_DETAILS
    return None

"""The contact-details policy: what it holds, what it lets through, and that it takes time in
proportion to the text whatever the text (it runs on the database thread for every message).

Linear time is checked on the patterns' structure, not with a clock: every pattern's longest
match is bounded, so an attempt at any position reads a bounded number of characters; and
hypothesis throws the inputs that made the old patterns quadratic (long words, digit runs,
dotted and dashed runs) at the check. bench/policy_bench.py measures the same inputs."""

from __future__ import annotations

from re import (
    _constants,  # type: ignore[attr-defined]
    _parser,  # type: ignore[attr-defined]
)

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moderation import policy
from moderation.policy import CONTACT_DETAILS, HARASSMENT, has_contact_details, held_reason

HOLDS = [
    # phone numbers, in the layouts people write them
    "text me on 415 555 0199 if you want",
    "call me 555-123-4567",
    "my number is (415) 555-0199",
    "+1 415 555 0199",
    "+44 20 7946 0958 is my cell",
    "ring me on 020 7946 0958",
    "my number is 4155550199",
    "4155550199",
    "call 5550199 after six",
    "text me 98765 43210",
    "1 415 555 0199",
    "06 12 34 56 78 c'est moi",
    "555.123.4567",
    "my cell: 555-0199",
    # e-mail, written and spoken
    "my email is fern.r@gmail.com",
    "fern (at) proton (dot) me",
    "write to fern [at] example [dot] org",
    "fernr at gmail dot com",
    # addresses
    "I'm at 42 Oak Street, come by",
    "we moved to 1200 Maple Ave",
    "i live at 7 willow lane",
    "1600 Pennsylvania Avenue",
    # handles
    "add me on insta: fern_heals",
    "find me on snapchat fernheals",
    "my insta is fernheals",
    "ig @fern",
    "telegram: fernr",
    "follow me on tiktok fern.heals",
    "instagram.com/fern_heals",
    "discord: fern#1234",
]

NOT_HELD = [
    # numbers that are not phone numbers in context
    "my case number is 1234567890",
    "order #1234567890 never came",
    "the ticket 4155550199 was closed",
    "2019-2023 were the hardest years",
    "married 2015 2016 2017 and then it fell apart",
    "on 12.05.2023 we split",
    "2023-12-05 was the day I found out",
    "5-12-2023 was the day",
    "he spent $1500000 on her",
    "that's 1.500.000 in debt",
    "I have been awake 1234567 seconds",
    "it cost me 2500000 rupees",
    "10.30-11.45 is our session time",
    "3.14159265 is pi",
    "we were married 12 years, 3 kids, 1 dog",
    "page 1234567 of the report",
    "1 000 000 reasons to leave",
    # ordinary words that contain or are a network's name
    "I'll ignore it",
    "I snapped at him",
    "the signal was bad",
    "my signal dropped",
    "there was discord between us",
    "facebook is toxic",
    "I deleted my instagram",
    "he found it on her snapchat yesterday",
    "add me on facebook later",
    # phrases that look like addresses
    "I walked 5 miles down the road",
    "2 weeks in court and still no answer",
    "we have 2 kids in court",
    "3 hours drive to see him",
    "1 more way to cope",
    # at and dots
    "meet at 5.30 ok",
    "email me? no, let's talk here",
]


@pytest.mark.parametrize("text", HOLDS)
def test_contact_details_are_held(text):
    assert has_contact_details(text), text


@pytest.mark.parametrize("text", NOT_HELD)
def test_ordinary_messages_are_not_held(text):
    assert not has_contact_details(text), text


def test_held_reason_follows_the_groups_policy():
    assert held_reason("call me 555-123-4567", harassment=False, held_categories=[]) is None
    assert (
        held_reason("call me 555-123-4567", harassment=False, held_categories=[CONTACT_DETAILS])
        == CONTACT_DETAILS
    )
    assert (
        held_reason("hi", harassment=True, held_categories=[HARASSMENT, CONTACT_DETAILS])
        == HARASSMENT
    )


# ------------------------------------------------------------ linear time, by structure


def _walk(tree):
    for op, arg in tree:
        yield op, arg
        for child in arg if isinstance(arg, list | tuple) else ():
            if isinstance(child, _parser.SubPattern):
                yield from _walk(child)
            elif isinstance(child, list | tuple):
                for grandchild in child:
                    if isinstance(grandchild, _parser.SubPattern):
                        yield from _walk(grandchild)


@pytest.mark.parametrize("pattern", policy.PATTERNS, ids=lambda p: p.pattern[:30])
def test_every_pattern_has_a_bounded_longest_match(pattern):
    """An attempt at one position reads at most the longest match (and a fixed lookbehind):
    with no unbounded repeat, no input can make an attempt scan the rest of the text."""
    tree = _parser.parse(pattern.pattern, pattern.flags)
    assert tree.getwidth()[1] <= policy.MAX_MATCH_CHARS
    repeats = [arg for op, arg in _walk(tree) if op in (_constants.MAX_REPEAT, _parser.MIN_REPEAT)]
    assert all(high != _constants.MAXREPEAT for _, high, _ in repeats)


@pytest.mark.parametrize("pattern", policy.SCANNING_PATTERNS, ids=lambda p: p.pattern[:30])
def test_every_scanning_pattern_starts_only_where_a_token_starts(pattern):
    """A lookbehind first, so that inside a long run only its first position is tried."""
    first_op, _ = _parser.parse(pattern.pattern, pattern.flags)[0]
    assert first_op in (_parser.ASSERT, _parser.ASSERT_NOT)


def test_the_old_quadratic_inputs_are_judged():
    for text in ("a" * 4000, "a." * 2000, "1" * 4000, "1-" * 2000, "@a" * 2000):
        assert has_contact_details(text) in (True, False)
    assert not has_contact_details("1" * 4000)  # longer than any phone number


_FRAGMENTS = [
    "a", "1", ".", "-", "@", " ", "(", ")", "+", "at ", "gmail", "dot ", "com", "ig ", "_",
    "St ", "Oak ", "42 ", "(at)", "\u00a0", "é", "😀", "\n",
]  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from(_FRAGMENTS), min_size=1, max_size=4).flatmap(
        lambda unit: st.integers(1, 4000 // max(1, len("".join(unit)))).map(
            lambda n: "".join(unit) * n
        )
    )
)
def test_adversarial_repetitions_are_judged(text):
    """Repetitions of the characters the patterns care about, up to the longest message:
    the inputs a backtracking pattern is slowest on. Each is judged (the time is measured in
    bench/policy_bench.py, not here)."""
    assert has_contact_details(text[:4000]) in (True, False)


@given(st.text(max_size=300))
@settings(max_examples=200, deadline=None)
def test_any_text_is_judged_without_error(text):
    assert has_contact_details(text) in (True, False)

"""The split-crisis evaluation's cutting of a labelled line into messages."""

from __future__ import annotations

from moderation.crisis.bursts import cut


def test_a_line_is_cut_at_sentence_ends_into_as_even_parts_as_can_be():
    text = "I can't do this. I wrote the letters!\nTonight, after group. Goodbye?"
    assert cut(text, 2) == [
        "I can't do this. I wrote the letters!",
        "Tonight, after group. Goodbye?",
    ]
    assert cut(text, 3) == [
        "I can't do this. I wrote the letters!",
        "Tonight, after group.",
        "Goodbye?",
    ]
    assert cut(text, 4) == [
        "I can't do this.",
        "I wrote the letters!",
        "Tonight, after group.",
        "Goodbye?",
    ]


def test_a_line_with_fewer_sentences_than_parts_is_not_cut():
    assert cut("one sentence, no end", 2) is None
    assert cut("Two. Sentences.", 3) is None

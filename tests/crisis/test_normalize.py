"""Normalization keeps a map back to the original text."""

from __future__ import annotations

from moderation.crisis import assess
from moderation.crisis.normalize import normalize


def original_of(text: str, rule_id: str) -> str:
    a = assess(text)
    spans = [s for s in a.spans if s[2] == rule_id]
    assert spans, f"{rule_id} not in {a.spans}"
    start, end, _ = spans[0]
    return text[start:end]


def test_plain_ascii_text_is_only_lowered() -> None:
    n = normalize("Hello THERE")
    assert n.text == "hello there"
    assert n.span(0, 5) == (0, 5)


def test_leetspeak_is_read_as_letters() -> None:
    assert normalize("i w4nt to k1ll mys3lf").text == "i want to kill myself"


def test_leet_symbols_inside_words_become_letters_but_prices_stay() -> None:
    assert normalize("wanna d!e, spent $14k").text == "wanna die, spent $14k"


def test_spaced_and_dotted_letters_are_joined() -> None:
    assert normalize("k i l l myself").text == "kill myself"
    assert normalize("s.u.i.c.i.d.e").text == "suicide"


def test_letters_masked_with_asterisks_are_read_when_only_one_word_fits() -> None:
    assert normalize("i want to k*ll myself").text == "i want to kill myself"
    assert normalize("su*c*de").text == "suicide"
    assert normalize("f*ck this").text == "f*ck this"


def test_stretched_letters_are_collapsed() -> None:
    assert normalize("i want to diiiie").text == "i want to die"


def test_zero_width_and_direction_characters_are_dropped() -> None:
    assert normalize("k\u200bi\u200dl\u2060l my\u202eself").text == "kill myself"


def test_cyrillic_and_greek_look_alikes_become_latin() -> None:
    assert normalize("i w\u0430nt to d\u0456\u0435").text == "i want to die"
    assert normalize("\u03bfverd\u03bfse").text == "overdose"


def test_fullwidth_and_accented_letters_are_folded() -> None:
    assert normalize("\uff4b\uff4d\uff53").text == "kms"
    assert normalize("Quiero MATARME ésta noche").text == "quiero matarme esta noche"


def test_meaningful_emoji_become_words() -> None:
    assert "pills" in normalize("tonight \U0001f48a").text
    assert "rope" in normalize("got the \U0001faa2 ready").text


def test_span_maps_back_through_leetspeak() -> None:
    assert original_of("i w4nt to k1ll mys3lf", "ideation.kill_myself") == "k1ll mys3lf"


def test_span_maps_back_through_zero_width_characters() -> None:
    text = "i want to k\u200bi\u200bl\u200bl myself"
    assert original_of(text, "ideation.kill_myself") == "k\u200bi\u200bl\u200bl myself"


def test_span_maps_back_through_spaced_letters() -> None:
    text = "thinking about s u i c i d e again"
    assert original_of(text, "ideation.thinking_about") == "thinking about s u i c i d e"


def test_span_maps_back_to_an_emoji() -> None:
    text = "i should just \U0001f480 myself"
    assert original_of(text, "ideation.kill_myself") == "\U0001f480 myself"


def test_span_covers_an_emoji_with_its_variation_selector() -> None:
    text = "\u26b0\ufe0f\u26b0\ufe0f soon"
    n = normalize(text)
    assert n.text.split() == ["coffin", "coffin", "soon"]
    start = n.text.index("coffin")
    assert text[slice(*n.span(start, start + 6))].startswith("\u26b0")


def test_every_span_indexes_the_original_text() -> None:
    for text in ["K M S tonight \U0001f48a\U0001f48a", "wanna d!e \u200b tonight", "kys loser"]:
        for start, end, _ in assess(text).spans:
            assert 0 <= start < end <= len(text)

"""The scoping traps from the spec, each with a name that says what it protects."""

from __future__ import annotations

from moderation.crisis import assess


def level(text: str) -> str:
    return assess(text).level


def test_not_sure_i_want_to_live_is_not_a_safe_negation() -> None:
    assert level("i'm not sure i want to live") == "urgent"


def test_would_never_hurt_myself_is_a_safe_negation() -> None:
    assert level("i would never hurt myself, i just need to vent") == "none"


def test_not_suicidal_just_tired_is_safe() -> None:
    assert level("not suicidal, just really tired of court") == "none"


def test_dont_want_to_die_is_not_ideation() -> None:
    assert level("i don't want to die, i want the pain to stop") != "urgent"


def test_self_harm_two_years_ago_is_only_watch() -> None:
    assert level("two years ago i used to cut myself. i'm in a better place now") == "watch"


def test_self_harm_last_night_is_urgent() -> None:
    assert level("i cut myself last night") == "urgent"


def test_past_ideation_now_resolved_is_watch() -> None:
    assert level("last year i wanted to die. therapy helped and i'm better now") == "watch"


def test_he_said_hed_kill_me_puts_the_writer_in_danger() -> None:
    a = assess("he said he'd kill me if i leave")
    assert (a.level, a.category, a.at_risk) == ("urgent", "abuse_danger", "writer_as_victim")


def test_i_said_ill_kill_him_but_didnt_mean_it_is_not_a_threat() -> None:
    text = "i said \"i'll kill him\" when he forgot pickup. obviously didn't mean it"
    assert level(text) == "none"


def test_song_lyric_about_dying_is_not_ideation() -> None:
    assert level('this song line "i\'d rather die than lose you" is stuck in my head') == "none"


def test_a_therapists_question_is_reported_speech() -> None:
    assert level("my therapist asked if i've had thoughts of killing myself and i said no") == (
        "none"
    )


def test_killing_him_over_fries_is_hyperbole_with_a_trivial_object() -> None:
    assert level("i could kill him for eating my fries") == "none"


def test_could_strangle_him_is_heated_anger_not_a_threat() -> None:
    assert level("i could strangle him, late to pickup again") == "watch"


def test_a_question_about_wanting_to_die_is_still_ideation() -> None:
    assert level("is it normal to want to die after finding out?") == "urgent"


def test_asking_someone_if_they_think_about_suicide_is_supportive() -> None:
    assert level("are you thinking about suicide? it's ok to say yes here") == "none"


def test_friend_who_wants_to_end_it_is_worry_about_a_third_person() -> None:
    a = assess("my sister just told me she wants to end it all")
    assert (a.level, a.category, a.at_risk) == ("watch", "self_harm", "other")


def test_friend_who_took_pills_and_is_unreachable_is_an_emergency() -> None:
    a = assess("my friend said she took a bottle of pills and now she's not answering")
    assert (a.level, a.at_risk) == ("emergency", "other")


def test_kms_with_a_laugh_over_trivia_is_slang() -> None:
    assert level("forgot my keys again kms lol") == "none"


def test_kms_said_in_earnest_is_ideation() -> None:
    assert level("kms fr, i can't do another year of this") == "urgent"


def test_clarified_end_it_about_a_marriage_is_not_ideation() -> None:
    assert level("i want to end it... the marriage i mean. not me lol") == "none"


def test_ideation_with_means_and_time_is_an_emergency() -> None:
    a = assess("i want to die and i have the pills saved up. tonight")
    assert a.level == "emergency"
    assert "ideation" in a.explanation and "means" in a.explanation and "time" in a.explanation


def test_passive_wish_with_tomorrow_is_not_a_plan() -> None:
    assert level("i wish i wouldn't wake up tomorrow") == "urgent"


def test_a_date_inside_an_if_clause_is_not_a_plan() -> None:
    assert level("if court goes badly friday i don't want to be alive anymore") == "urgent"


def test_an_attempt_in_progress_is_an_emergency() -> None:
    assert level("i just swallowed all my sleeping pills") == "emergency"


def test_threat_with_a_weapon_and_a_time_is_an_emergency() -> None:
    a = assess("i'm going to kill him tonight, i have my gun")
    assert (a.level, a.category) == ("emergency", "harm_others")


def test_abuser_at_the_door_is_danger_now() -> None:
    a = assess("he's outside my door screaming and i'm hiding in the bathroom")
    assert (a.level, a.category, a.at_risk) == ("emergency", "abuse_danger", "writer_as_victim")


def test_grief_metaphor_is_not_flagged() -> None:
    assert level("part of me died the day i found the texts") == "none"


def test_discussing_the_topic_in_general_is_not_flagged() -> None:
    assert level("our group talked about suicide warning signs, really useful") == "none"

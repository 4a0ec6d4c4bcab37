"""Interface, context window, harassment, determinism and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from moderation.crisis import LEVELS, Assessment, Context, assess

REPO = Path(__file__).resolve().parents[2]


def test_assessment_exposes_the_documented_fields() -> None:
    a = assess("kms tonight \U0001f48a\U0001f48a")
    assert isinstance(a, Assessment)
    assert a.level in LEVELS
    assert a.category in ("none", "self_harm", "harm_others", "abuse_danger")
    assert a.at_risk in ("none", "writer", "other", "writer_as_victim")
    assert isinstance(a.rule_ids, tuple) and list(a.rule_ids) == sorted(a.rule_ids)
    assert all(isinstance(s, tuple) and len(s) == 3 for s in a.spans)
    assert isinstance(a.explanation, str) and "\n" not in a.explanation
    assert isinstance(a.harassment, bool)


def test_to_dict_is_json_serialisable_with_spans_as_lists() -> None:
    d = assess("i want to die tonight").to_dict()
    assert json.loads(json.dumps(d)) == d
    assert set(d) == {
        "level",
        "category",
        "at_risk",
        "explanation",
        "rule_ids",
        "spans",
        "harassment",
    }
    assert all(isinstance(s, list) for s in d["spans"])


def test_explanation_names_the_signals_and_quotes_the_words() -> None:
    a = assess("i want to die. been saving my pills for weeks. tonight")
    assert a.explanation.startswith("ideation + means + time: ")
    assert "'tonight'" in a.explanation


def test_ordinary_chat_is_none_with_no_explanation() -> None:
    a = assess("is group still at 7 tonight?")
    assert (a.level, a.category, a.at_risk, a.explanation, a.harassment) == (
        "none",
        "none",
        "none",
        "",
        False,
    )


def test_empty_text_is_none() -> None:
    assert assess("").level == "none"


def test_same_text_gives_the_same_assessment_every_time() -> None:
    text = "gonna unalive myself after the kids are asleep, i have everything ready"
    first = assess(text)
    assert all(assess(text) == first for _ in range(20))


def test_assess_gives_identical_results_from_many_threads() -> None:
    texts = ["i want to die", "he's outside my door", "kys", "lunch?", "k m s tonight"] * 40
    expected = [assess(t) for t in texts]
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(assess, texts)) == expected


def test_kys_said_to_someone_else_is_harassment_not_the_writers_risk() -> None:
    a = assess("kys loser")
    assert a.harassment is True
    assert a.level == "none"
    assert a.at_risk == "none"


def test_kms_is_the_writers_own_risk_not_harassment() -> None:
    a = assess("kms")
    assert a.harassment is False
    assert (a.level, a.at_risk) == ("urgent", "writer")


def test_telling_someone_not_to_kill_themselves_is_not_harassment() -> None:
    assert assess("please don't kill yourself, we're here for you").harassment is False


def test_burden_then_farewell_within_the_window_is_urgent() -> None:
    burden = assess("i feel like such a burden to everyone")
    assert burden.level == "watch"
    ctx = Context(recent=[(20 * 60, burden.rule_ids)])
    later = assess("i love you all. just wanted someone to know", context=ctx)
    assert later.level == "urgent"
    assert "earlier messages" in later.explanation


def test_signals_older_than_the_window_do_not_raise_the_level() -> None:
    burden = assess("i feel like such a burden to everyone")
    ctx = Context(recent=[(3 * 3600, burden.rule_ids)])
    assert assess("i'm the worst mom ever", context=ctx).level == "watch"


def test_ideation_earlier_and_means_now_is_an_emergency() -> None:
    earlier = assess("i want to die")
    ctx = Context(recent=[(300, earlier.rule_ids)])
    assert assess("been saving my pills for weeks", context=ctx).level == "emergency"


def test_an_empty_context_behaves_like_no_context() -> None:
    for text in [
        "see you tonight",
        "i want to die",
        "kys",
        "bought the rope today. doing it saturday",
    ]:
        assert assess(text, context=Context()) == assess(text)


def test_context_never_lowers_a_level_and_ignores_unknown_rule_ids() -> None:
    ctx = Context(recent=[(10, ("no.such.rule",))])
    assert assess("i want to die", context=ctx).level == "urgent"


def test_an_ordinary_message_after_a_sad_one_stays_none() -> None:
    earlier = assess("i want to die")
    ctx = Context(recent=[(60, earlier.rule_ids)])
    assert assess("see you at group tonight", context=ctx).level == "none"


def test_cli_reads_json_lines_and_reports_a_malformed_line_without_stopping() -> None:
    lines = [
        json.dumps({"id": "m1", "text": "bought the rope today. doing it saturday"}),
        "this is not json",
        json.dumps({"id": "m2"}),
        "",
        json.dumps({"id": 3, "text": "anyone have a good coparenting app?"}),
    ]
    out = subprocess.run(
        [sys.executable, "-m", "moderation.crisis"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
        timeout=60,
    )
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["id"] for r in rows] == ["m1", None, None, 3]
    assert rows[0]["level"] == "emergency"
    assert set(rows[0]) == {
        "id",
        "level",
        "category",
        "at_risk",
        "explanation",
        "rule_ids",
        "spans",
        "harassment",
        "model",
    }
    assert set(rows[0]["model"]) == {
        "level",
        "category",
        "p_watch",
        "p_urgent",
        "p_emergency",
        "p_category",
    }
    assert "error" in rows[1] and "error" in rows[2]
    assert rows[3]["level"] == "none"
    assert out.stderr == ""


def test_the_engine_imports_nothing_from_django() -> None:
    code = (
        "import sys; import moderation.crisis, moderation.crisis.eval; "
        "print(any(m == 'django' or m.startswith('django.') for m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert out.stdout.strip() == "False"

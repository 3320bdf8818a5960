"""The classification decision tree (DEV-1), a pure module: dense tests, no database."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opencdmo.quality.domain import classification as c

pytestmark = pytest.mark.req("DEV-1")

TREE = c.DEFAULT_TREE
KEYS = [q.key for q in TREE.questions]


@pytest.mark.parametrize(("answers", "expected"), [
    ({"patient_safety": True}, "critical"),
    ({"patient_safety": False, "identity": True}, "critical"),
    ({"patient_safety": False, "identity": False, "product_quality": True}, "major"),
    ({"patient_safety": False, "identity": False, "product_quality": False, "gmp_breach": True}, "major"),
    ({"patient_safety": False, "identity": False, "product_quality": False, "gmp_breach": False,
      "documentation_only": True}, "minor"),
    (dict.fromkeys(KEYS, False), "major"),  # nothing explains it: major until investigated
])
def test_the_first_yes_decides_the_class(answers, expected):
    assert c.suggest(TREE, answers) == expected


def test_a_later_yes_does_not_lower_an_earlier_one():
    assert c.suggest(TREE, {"patient_safety": True, "documentation_only": True}) == "critical"


def test_questions_after_the_deciding_yes_need_no_answer():
    assert c.unanswered(TREE, {"patient_safety": False, "identity": False, "product_quality": True}) == []


def test_an_unanswered_question_before_any_yes_is_named():
    with pytest.raises(ValueError, match="product quality|critical quality attribute"):
        c.suggest(TREE, {"patient_safety": False, "identity": False})


@given(st.dictionaries(st.sampled_from(KEYS), st.booleans()))
def test_suggestion_is_the_class_of_the_first_yes_or_needs_answers(answers):
    first_yes = next((q for q in TREE.questions if answers.get(q.key)), None)
    missing = c.unanswered(TREE, answers)
    if missing:
        with pytest.raises(ValueError):
            c.suggest(TREE, answers)
        assert first_yes is None or TREE.questions.index(missing[0]) < TREE.questions.index(first_yes)
    else:
        assert c.suggest(TREE, answers) == (first_yes.if_yes if first_yes else TREE.otherwise)


def test_choosing_the_suggested_class_needs_no_rationale():
    decision = c.decide(TREE, {"patient_safety": True})
    assert (decision.suggested, decision.chosen, decision.overridden) == ("critical", "critical", False)


def test_choosing_another_class_needs_a_rationale():
    with pytest.raises(ValueError, match="give a rationale"):
        c.decide(TREE, {"patient_safety": True}, "major")
    decision = c.decide(TREE, {"patient_safety": True}, "major", "Sterility barrier intact, verified by smoke test")
    assert decision.overridden and decision.chosen == "major"


@pytest.mark.parametrize("bad", ["severe", "MAJOR", "other"])
def test_an_unknown_class_is_refused(bad):
    with pytest.raises(ValueError, match="is not a class"):
        c.decide(TREE, {"patient_safety": True}, bad, "rationale")


def test_answers_to_questions_the_tree_does_not_ask_are_refused():
    with pytest.raises(ValueError, match="does not ask"):
        c.decide(TREE, {"patient_safety": True, "colour": True})


@pytest.mark.parametrize(("value", "parsed"), [("yes", True), ("Y", True), (True, True), ("no", False),
                                               ("0", False), (False, False), ("", None), (None, None)])
def test_answers_from_forms_and_json(value, parsed):
    assert c.parse_answer(value) is parsed


def test_an_answer_that_is_neither_yes_nor_no_is_refused():
    with pytest.raises(ValueError, match="neither yes nor no"):
        c.parse_answer("maybe")


def test_a_site_tree_from_settings():
    tree = c.tree_from({"questions": [{"key": "sterile", "text": "Sterility?", "if_yes": "critical"}],
                        "otherwise": "minor"})
    assert c.suggest(tree, {"sterile": False}) == "minor"


@pytest.mark.parametrize("data", [
    {"questions": [], "otherwise": "minor"},
    {"questions": [{"key": "a", "text": "A?", "if_yes": "severe"}], "otherwise": "minor"},
    {"questions": [{"key": "a", "text": "A?", "if_yes": "major"}, {"key": "a", "text": "B?", "if_yes": "minor"}],
     "otherwise": "minor"},
    {"questions": [{"key": "a", "text": "A?"}], "otherwise": "minor"},
    {"questions": [{"key": "a", "text": "A?", "if_yes": "major"}]},
])
def test_an_unusable_site_tree_is_refused(data):
    with pytest.raises(ValueError):
        c.tree_from(data)

"""Deviation classification guided by a decision tree (DEV-1; no regulation fixes the classes).

The tree is a list of yes/no questions asked in order; the first question answered "yes" that
names a class decides it; when none does, the tree's `otherwise` class applies. QA may choose
another class than the one suggested only with a written rationale. Pure: no Django.
"""

from collections.abc import Mapping
from dataclasses import dataclass

CLASSES = ("minor", "major", "critical")


@dataclass(frozen=True)
class Question:
    key: str
    text: str
    if_yes: str  # the class a "yes" decides


@dataclass(frozen=True)
class DecisionTree:
    questions: tuple[Question, ...]
    otherwise: str

    def __post_init__(self):
        if not self.questions:
            raise ValueError("the tree has no questions")
        keys = [q.key for q in self.questions]
        if len(set(keys)) != len(keys):
            raise ValueError("two questions have the same key")
        for cls in [*(q.if_yes for q in self.questions), self.otherwise]:
            if cls not in CLASSES:
                raise ValueError(f"'{cls}' is not a class ({', '.join(CLASSES)})")


DEFAULT_TREE = DecisionTree(
    questions=(
        Question("patient_safety", "Could it affect patient safety or product sterility?", "critical"),
        Question("identity", "Could it break the chain of identity (product given to the wrong patient)?",
                 "critical"),
        Question("product_quality", "Could it affect a critical quality attribute or the batch's quality?",
                 "major"),
        Question("gmp_breach", "Is it a significant breach of GMP or of a validated state, even without "
                 "a known product impact?", "major"),
        Question("documentation_only", "Is it a documentation or procedural lapse with no product impact?",
                 "minor"),
    ),
    # A deviation none of the questions explains is treated as major until investigated.
    otherwise="major",
)


def tree_from(data: Mapping) -> DecisionTree:
    """A tree from settings: {"questions": [{"key", "text", "if_yes"}, …], "otherwise": class}."""
    try:
        questions = tuple(Question(str(q["key"]), str(q["text"]), str(q["if_yes"])) for q in data["questions"])
        return DecisionTree(questions, str(data["otherwise"]))
    except (KeyError, TypeError) as exc:
        raise ValueError(f"each question needs key, text and if_yes, and the tree needs 'otherwise' ({exc})") from None


def parse_answer(value) -> bool | None:
    """"yes"/"no" (or True/False) from a form or JSON; None when not answered."""
    if isinstance(value, bool):
        return value
    text = str(value or "").strip().lower()
    if text in ("yes", "y", "true", "1"):
        return True
    if text in ("no", "n", "false", "0"):
        return False
    if text == "":
        return None
    raise ValueError(f"answer '{value}' is neither yes nor no")


def unanswered(tree: DecisionTree, answers: Mapping[str, bool | None]) -> list[Question]:
    """The questions that still decide the class: every one up to the first "yes"."""
    missing = []
    for q in tree.questions:
        answer = answers.get(q.key)
        if answer is None:
            missing.append(q)
        elif answer:
            break
    return missing


def suggest(tree: DecisionTree, answers: Mapping[str, bool | None]) -> str:
    """The class the answers lead to; ValueError names the questions still unanswered."""
    if missing := unanswered(tree, answers):
        raise ValueError("Answer every question of the decision tree: " + " / ".join(q.text for q in missing))
    for q in tree.questions:
        if answers.get(q.key):
            return q.if_yes
    return tree.otherwise


@dataclass(frozen=True)
class Decision:
    suggested: str
    chosen: str
    rationale: str

    @property
    def overridden(self) -> bool:
        return self.chosen != self.suggested


def decide(tree: DecisionTree, answers: Mapping[str, bool | None], chosen: str = "", rationale: str = "") -> Decision:
    """QA's classification: the suggested class, or another one with a rationale (kept as evidence)."""
    unknown = set(answers) - {q.key for q in tree.questions}
    if unknown:
        raise ValueError(f"answers to questions the tree does not ask: {', '.join(sorted(unknown))}")
    suggested = suggest(tree, answers)
    chosen = (chosen or suggested).strip()
    if chosen not in CLASSES:
        raise ValueError(f"'{chosen}' is not a class ({', '.join(CLASSES)})")
    if chosen != suggested and not rationale.strip():
        raise ValueError(f"The decision tree suggests {suggested}; to classify it as {chosen}, "
                         "give a rationale.")
    return Decision(suggested, chosen, rationale.strip())

"""Evaluating a result against an acceptance criterion.

The entered value is read for what the method reports, rounded to the reported decimals by
the specification's rounding rule, and only then compared (a viability of 69.96 % reported
to one decimal is 70.0 % and meets "≥ 70.0 %"). A numeric value may be given as below or above
a limit of the method ("< 0.50" EU/mL): it conforms only when every value it stands for would.
"""

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation

ROUNDING = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN, "none": None}

CONFORMS, DOES_NOT_CONFORM, REPORTED = "conforms", "does_not_conform", "reported"

# What each qualitative kind accepts, negative answer first: the negative one meets "not detected".
ANSWERS = {
    "detection": ("not detected", "detected"),
    "growth": ("no growth", "growth"),
    "pass_fail": ("pass", "fail"),
}

NUMERIC_CRITERIA = {"at_least", "at_most", "more_than", "less_than", "range"}


class InvalidResult(ValueError):
    """The value cannot be read as what the method reports; the message says what to enter."""


@dataclass(frozen=True)
class Criterion:
    kind: str  # SpecificationTest.Criterion value
    lower: Decimal | None = None
    upper: Decimal | None = None
    expected: str = ""
    decimals: int | None = None
    rounding: str = "half_up"


@dataclass(frozen=True)
class Evaluation:
    reported: str  # as compared, e.g. "70.0" or "< 0.50" or "no growth"
    number: Decimal | None
    conformance: str


def round_reported(number: Decimal, decimals: int | None, rounding: str) -> Decimal:
    if rounding not in ROUNDING:
        raise ValueError(f"unknown rounding rule {rounding!r}; use one of {', '.join(ROUNDING)}")
    if decimals is None or ROUNDING[rounding] is None:
        return number
    return number.quantize(Decimal(1).scaleb(-decimals), rounding=ROUNDING[rounding])


def _as_text(number: Decimal) -> str:
    return f"{number:f}"


MAX_MAGNITUDE = 20  # digits before the point a result may have (TestResult.number: 30 digits, 10 decimals)
MAX_PLACES = 10


def _number(text: str) -> tuple[str, Decimal]:
    """('<', 0.5) for '< 0.5', ('', 71.2) for '71.2'."""
    text = text.strip()
    if "," in text:
        # '69,5' is 69.5 in much of Europe and 695 to a thousands separator: never guess.
        raise InvalidResult(f"'{text[:40]}' has a comma; write the number with a point for decimals and no "
                            "thousands separator, such as 1500 or 69.5.")
    qualifier = text[:1] if text[:1] in "<>" else ""
    try:
        number = Decimal(text[len(qualifier):].strip())
    except InvalidOperation:
        raise InvalidResult(f"'{text[:40]}' is not a number; enter digits such as 71.5, or '< 0.50' "
                            "for a result below the method's limit.") from None
    if not number.is_finite():
        raise InvalidResult("Enter a finite number.")
    if number != 0 and number.adjusted() >= MAX_MAGNITUDE:
        raise InvalidResult(f"'{text[:40]}' is too large for a result: at most {MAX_MAGNITUDE} digits before "
                            "the point.")
    return qualifier, number


def _meets(kind: str, low: Decimal, high: Decimal, lower: Decimal | None, upper: Decimal | None, *,
           open_low: bool = False, open_high: bool = False) -> bool:
    """Whether every value between low and high (each end excluded when open) meets the criterion."""
    if kind in ("at_least", "range") and lower is not None and low < lower:
        return False
    if kind == "more_than" and lower is not None and (low < lower or (low == lower and not open_low)):
        return False
    if kind in ("at_most", "range") and upper is not None and high > upper:
        return False
    return not (kind == "less_than" and upper is not None and (high > upper or (high == upper and not open_high)))


def _evaluate_number(value: str, criterion: Criterion) -> Evaluation:
    qualifier, number = _number(value)
    rounded = round_reported(number, criterion.decimals, criterion.rounding)
    if rounded != 0 and -rounded.as_tuple().exponent > MAX_PLACES:
        raise InvalidResult(f"'{value.strip()[:40]}' has more than {MAX_PLACES} decimal places; round it to "
                            f"{MAX_PLACES} at most.")
    reported = f"{qualifier} {_as_text(rounded)}" if qualifier else _as_text(rounded)
    if criterion.kind == "report_only":
        return Evaluation(reported, rounded, REPORTED)
    if criterion.kind == "equals":
        ok = not qualifier and criterion.lower is not None and rounded == criterion.lower
        return Evaluation(reported, rounded, CONFORMS if ok else DOES_NOT_CONFORM)
    if criterion.kind not in NUMERIC_CRITERIA:
        raise ValueError(f"a numeric result cannot be judged by the criterion {criterion.kind!r}")
    # '< x' stands for anything below x, '> x' for anything above: it conforms only if all of it does.
    infinity = Decimal("Infinity")
    low, high = {"<": (-infinity, rounded), ">": (rounded, infinity)}.get(qualifier, (rounded, rounded))
    ok = _meets(criterion.kind, low, high, criterion.lower, criterion.upper,
                open_low=qualifier == ">", open_high=qualifier == "<")
    return Evaluation(reported, rounded, CONFORMS if ok else DOES_NOT_CONFORM)


def _answer(value: str, allowed: tuple[str, ...] | list[str]) -> str:
    text = " ".join(value.split()).lower()
    for answer in allowed:
        if text == answer.lower():
            return answer
    raise InvalidResult(f"Enter one of: {', '.join(allowed)}.")


def evaluate(value: str, *, result_kind: str, criterion: Criterion, choices=()) -> Evaluation:
    """Read `value` as a `result_kind` (ResultKind value) and judge it by `criterion`."""
    if not str(value).strip():
        raise InvalidResult("Enter the result.")
    value = str(value)
    if result_kind == "numeric":
        return _evaluate_number(value, criterion)
    if result_kind in ANSWERS:
        answer = _answer(value, ANSWERS[result_kind])
        if criterion.kind == "report_only":
            return Evaluation(answer, None, REPORTED)
        negative = answer == ANSWERS[result_kind][0]
        if criterion.kind == "equals":
            ok = answer.lower() == criterion.expected.strip().lower()
        elif criterion.kind == "not_detected":
            ok = negative
        else:
            raise ValueError(f"a {result_kind} result cannot be judged by the criterion {criterion.kind!r}")
        return Evaluation(answer, None, CONFORMS if ok else DOES_NOT_CONFORM)
    if result_kind == "choice":
        answer = _answer(value, choices)
    elif result_kind == "text":
        answer = " ".join(value.split())
    else:
        raise ValueError(f"unknown result kind {result_kind!r}")
    if criterion.kind == "report_only":
        return Evaluation(answer, None, REPORTED)
    if criterion.kind != "equals":
        raise ValueError(f"a {result_kind} result cannot be judged by the criterion {criterion.kind!r}")
    ok = answer.lower() == criterion.expected.strip().lower()
    return Evaluation(answer, None, CONFORMS if ok else DOES_NOT_CONFORM)


def describe(criterion: Criterion, unit: str = "", result_kind: str = "") -> str:
    """The limit as a specification and a certificate print it: '≥ 70.0 %', '1.0–1.2', 'no growth'."""
    def fmt(number):
        if number is None:
            return ""
        # Without reported decimals a stored limit (10 decimal places) prints as written: 1E+13 → 10000000000000.
        shown = (number.normalize() if criterion.decimals is None
                 else round_reported(number, criterion.decimals, criterion.rounding))
        return f"{_as_text(shown)}{' ' + unit if unit else ''}"

    match criterion.kind:
        case "at_least":
            return f"≥ {fmt(criterion.lower)}"
        case "at_most":
            return f"≤ {fmt(criterion.upper)}"
        case "more_than":
            return f"> {fmt(criterion.lower)}"
        case "less_than":
            return f"< {fmt(criterion.upper)}"
        case "range":
            return f"{fmt(criterion.lower)} – {fmt(criterion.upper)}"
        case "equals":
            return criterion.expected or fmt(criterion.lower)
        case "not_detected":
            return ANSWERS[result_kind][0] if result_kind in ("detection", "growth") else "not detected / no growth"
        case _:
            return "report"

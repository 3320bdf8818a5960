"""What an operator enters for a parameter: parsed, made canonical and checked against its limits.

Outside the proven acceptable range (PAR) is a deviation, outside the normal operating range
(NOR) an exception needing a comment; a yes/no or choice answer other than the expected one is
"unexpected". The ends of a range are inclusive or exclusive exactly as the MBR says.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from . import formula as formulas
from .definition import MaterialLine, Parameter, Range
from .mbr_format import interval_text, number_text

OUTCOMES = ("ok", "outside_normal", "outside_acceptable", "unexpected")
MAX_TEXT = 2000
MAX_SCAN = 200
_NUMBER = re.compile(r"^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}$")


class EntryError(ValueError):
    """An entry that cannot be recorded; the message tells the operator what to enter instead."""


@dataclass(frozen=True)
class Evaluation:
    value: str  # canonical text, as recorded
    number: Decimal | None
    outcome: str  # one of OUTCOMES


def evaluate(parameter: Parameter, raw: str) -> Evaluation:
    if parameter.type == "calculated":
        raise EntryError("it is calculated from earlier entries: it cannot be entered.")
    text = (raw or "").strip()
    if not text:
        if parameter.required:
            raise EntryError("a value is required: enter one.")
        return Evaluation("", None, "ok")
    return _PARSERS[parameter.type](parameter, text)


def calculate(parameter: Parameter, values: Mapping[str, Decimal]) -> Evaluation:
    """A calculated parameter from earlier values (and `scale`), rounded half up to its decimals."""
    if parameter.type != "calculated":
        raise EntryError("it is entered, not calculated.")
    try:
        result = formulas.evaluate(parameter.formula, values)
        if parameter.decimals is not None:
            result = formulas.round_half_up(result, parameter.decimals)
    except formulas.FormulaError as e:
        raise EntryError(str(e)) from None
    return _number_evaluation(parameter, result)


def material_quantity(line: MaterialLine, scale: Decimal) -> Decimal:
    """The quantity of a bill-of-materials line for a batch of `scale`."""
    return formulas.evaluate(line.quantity, {"scale": scale})


def range_text(r: Range) -> str:
    """'[36.5, 37.5]', '≥ 70', '< 6', '(1.5, 6)'."""
    return interval_text(r).replace(">=", "≥").replace("<=", "≤")


def limits_text(parameter: Parameter) -> str:
    """The limits shown beside a field: 'NOR [36.5, 37.5] · PAR [36.0, 38.0] °C' or 'expected: yes'."""
    if parameter.type in ("yes_no", "choice"):
        return f"expected: {parameter.expected}" if parameter.expected else ""
    ranges = [f"{name} {range_text(r)}" for name, r in (("NOR", parameter.normal), ("PAR", parameter.acceptable))
              if r is not None]
    if not ranges:
        return ""
    return " · ".join(ranges) + (f" {parameter.unit}" if parameter.unit else "")


def _number(parameter: Parameter, text: str) -> Evaluation:
    if not _NUMBER.match(text):
        if "," in text:
            raise EntryError(f"'{text}' is not a number: use a point for decimals and no thousands separators, "
                             "e.g. 1234.5")
        raise EntryError(f"'{text}' is not a number: enter digits, e.g. 3.2e8")
    number = Decimal(text)
    places = max(0, -number.as_tuple().exponent)
    if parameter.decimals is not None and places > parameter.decimals:
        raise EntryError(f"'{text}' has {places} decimals: report to {parameter.decimals} decimals.")
    return _number_evaluation(parameter, number)


def _number_evaluation(parameter: Parameter, number: Decimal) -> Evaluation:
    if parameter.acceptable is not None and not parameter.acceptable.contains(number):
        outcome = "outside_acceptable"
    elif parameter.normal is not None and not parameter.normal.contains(number):
        outcome = "outside_normal"
    else:
        outcome = "ok"
    return Evaluation(number_text(number), number, outcome)


def _answer(parameter: Parameter, answer: str) -> Evaluation:
    return Evaluation(answer, None, "unexpected" if parameter.expected and answer != parameter.expected else "ok")


def _text(parameter: Parameter, text: str) -> Evaluation:
    if len(text) > MAX_TEXT:
        raise EntryError(f"at most {MAX_TEXT} characters.")
    return Evaluation(text, None, "ok")


def _choice(parameter: Parameter, text: str) -> Evaluation:
    answer = next((c for c in parameter.choices if c.casefold() == text.casefold()), None)
    if answer is None:
        raise EntryError(f"'{text}' is not one of the choices: choose one of {', '.join(parameter.choices)}.")
    return _answer(parameter, answer)


def _yes_no(parameter: Parameter, text: str) -> Evaluation:
    if text.lower() not in ("yes", "no"):
        raise EntryError(f"'{text}' is not an answer: answer yes or no.")
    return _answer(parameter, text.lower())


def _datetime(parameter: Parameter, text: str) -> Evaluation:
    try:
        if not _DATETIME.match(text):
            raise ValueError
        moment = datetime.strptime(text.replace("T", " "), "%Y-%m-%d %H:%M")
    except ValueError:
        raise EntryError(f"'{text}' is not a date and time: write YYYY-MM-DD HH:MM, e.g. 2026-03-14 09:30") from None
    return Evaluation(moment.strftime("%Y-%m-%d %H:%M"), None, "ok")


def _scan(parameter: Parameter, text: str) -> Evaluation:
    if len(text) > MAX_SCAN or not text.isprintable():
        raise EntryError(f"the scanned code is not an identifier (at most {MAX_SCAN} printable characters): "
                         "scan again.")
    return Evaluation(text, None, "ok")


_PARSERS = {"number": _number, "text": _text, "choice": _choice, "yes_no": _yes_no, "datetime": _datetime,
            "scan": _scan}

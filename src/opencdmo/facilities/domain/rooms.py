"""Cleanroom grades and their ISO 14644-1 classes (EU GMP Annex 1, fact A1-4).

| Grade | At rest | In operation |
|---|---|---|
| A | ISO 5 | ISO 5 |
| B | ISO 5 | ISO 7 |
| C | ISO 7 | ISO 8 |
| D | ISO 8 | not predetermined |

A grade's class is the least clean a room of that grade may be: a site may classify a room
cleaner than its grade needs, never dirtier. An unclassified room (U) has no class.
"""

GRADES = ("A", "B", "C", "D", "U")

# grade → (ISO class at rest, ISO class in operation); None: not predetermined / not classified
ISO_CLASS_BY_GRADE: dict[str, tuple[int | None, int | None]] = {
    "A": (5, 5),
    "B": (5, 7),
    "C": (7, 8),
    "D": (8, None),
    "U": (None, None),
}

ISO_CLASSES = range(1, 10)  # ISO 14644-1 classes 1 … 9


def default_iso_classes(grade: str) -> tuple[int | None, int | None]:
    """The ISO classes at rest and in operation a room of `grade` has unless the site says otherwise."""
    if grade not in ISO_CLASS_BY_GRADE:
        raise ValueError(f"'{grade}' is not a cleanroom grade; use one of {', '.join(GRADES)}.")
    return ISO_CLASS_BY_GRADE[grade]


def iso_class_problems(grade: str, at_rest: int | None, in_operation: int | None) -> list[str]:
    """What is wrong with classifying a room of `grade` as ISO `at_rest` / `in_operation` (empty: nothing)."""
    if grade not in ISO_CLASS_BY_GRADE:
        return [f"'{grade}' is not a cleanroom grade; use one of {', '.join(GRADES)}."]
    problems = []
    for state, value in (("at rest", at_rest), ("in operation", in_operation)):
        if value is not None and value not in ISO_CLASSES:
            problems.append(f"The ISO class {state} must be a whole number from 1 to 9, not {value}.")
    if problems:
        return problems
    rest_max, operation_max = ISO_CLASS_BY_GRADE[grade]
    if rest_max is not None and (at_rest is None or at_rest > rest_max):
        problems.append(f"A grade {grade} room is ISO {rest_max} or cleaner at rest (A1-4), "
                        f"not {'unclassified' if at_rest is None else f'ISO {at_rest}'}.")
    if operation_max is not None and (in_operation is None or in_operation > operation_max):
        problems.append(f"A grade {grade} room is ISO {operation_max} or cleaner in operation (A1-4), "
                        f"not {'unclassified' if in_operation is None else f'ISO {in_operation}'}.")
    if at_rest is not None and in_operation is not None and in_operation < at_rest:
        problems.append(f"A room is not cleaner in operation (ISO {in_operation}) than at rest (ISO {at_rest}).")
    return problems

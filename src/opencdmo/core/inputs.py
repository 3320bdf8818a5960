"""Free text as people type it, checked the same way by every app's services."""

from .errors import RuleViolation


def text(value, label: str, *, max_length: int, required: bool = False) -> str:
    """`value` stripped; a RuleViolation that says what to do when it is missing or too long."""
    cleaned = str(value or "").strip()
    if required and not cleaned:
        raise RuleViolation(f"Enter the {label}.")
    if len(cleaned) > max_length:
        raise RuleViolation(f"The {label} is too long: at most {max_length} characters.")
    return cleaned

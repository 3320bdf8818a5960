"""Controlled-document rules with no Django in them: numbers, versions, review dates."""

import calendar
import datetime as dt

# Each document type's number prefix: SOP-0001, WI-0003, SPEC-0002 …
PREFIXES = {
    "sop": "SOP",
    "work_instruction": "WI",
    "form": "FORM",
    "specification": "SPEC",
    "policy": "POL",
    "protocol": "PROT",
    "report": "RPT",
}


def document_number(doc_type: str, sequence: int) -> str:
    return f"{PREFIXES[doc_type]}-{sequence:04d}"


def version_label(major: int, minor: int) -> str:
    return f"{major}.{minor}"


def next_version(major: int, minor: int, *, major_change: bool) -> tuple[int, int]:
    """A major change starts the next whole number (2.0); an editorial one bumps the minor (1.1)."""
    return (major + 1, 0) if major_change else (major, minor + 1)


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` later, or the month's last day when it has no such day (31 Jan + 1 → 28/29 Feb)."""
    total = day.month - 1 + months
    year, month = day.year + total // 12, total % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def effective_from(approved_at: dt.datetime, effective_start: dt.datetime) -> dt.datetime:
    """A version takes effect at the start of its effective date, but never before it was approved."""
    return max(approved_at, effective_start)

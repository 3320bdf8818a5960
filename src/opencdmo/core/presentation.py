"""How kernel data is shown: times in the site's zone with offset (P11-3), changes as rows."""

import datetime as dt
import json

from django.utils import timezone

from .audit import TIMESTAMP_FORMAT


def local_time(value) -> str:
    """'2026-11-25 16:53:02 CET (UTC+01:00)': the zone and offset are always printed."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = dt.datetime.strptime(value, TIMESTAMP_FORMAT).replace(tzinfo=dt.UTC)
    local = timezone.localtime(value)
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname()} (UTC{offset[:3]}:{offset[3:]})"


def field_label(name: str) -> str:
    """'created_by_id' → 'created by': the stored name stays in exports, pages read as words."""
    return name.removesuffix("_id").replace("_", " ")


def change_rows(changes_json: str) -> list[tuple[str, str, str]]:
    """[(field, old, new)] from an event's canonical changes."""
    changes = json.loads(changes_json or "{}")
    return [(field_label(field), _show(old), _show(new)) for field, (old, new) in sorted(changes.items())]


def _show(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)

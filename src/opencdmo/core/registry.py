"""Which models are GMP records that have an audit trail, signatures and attachments pages.

Apps register their record models here (in AppConfig.ready), so the generic record tabs and
the API find a record by its type and reference without knowing the app.
"""

from dataclasses import dataclass

from django.db import models


@dataclass(frozen=True)
class RecordKind:
    model: type[models.Model]
    lookup: str  # the field a URL uses to name a record, e.g. "number" or "code"
    label: str
    url_name: str | None = None  # the record's own page, reversed with the lookup value
    workflow: object | None = None  # core.workflows.Workflow
    transition: object | None = None  # service(actor, record, action, *, signature, first_in_session, reason)

    @property
    def type_name(self) -> str:
        return f"{self.model._meta.app_label}.{self.model._meta.model_name}"


_kinds: dict[str, RecordKind] = {}


def register(model, *, lookup: str, label: str, url_name: str | None = None,
             workflow=None, transition=None) -> None:
    kind = RecordKind(model, lookup, label, url_name, workflow, transition)
    _kinds[kind.type_name] = kind


def kind(type_name: str) -> RecordKind | None:
    return _kinds.get(type_name)


def kinds() -> list[RecordKind]:
    return list(_kinds.values())

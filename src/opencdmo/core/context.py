"""Who is acting, from where, as part of which user action (correlation id, DI-4).

The web middleware, the API and the command line set this once per request or command;
every audit event written meanwhile carries it.
"""

import contextlib
import contextvars
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ActionContext:
    correlation_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    client_address: str = ""


_current: contextvars.ContextVar[ActionContext | None] = contextvars.ContextVar(
    "opencdmo_action", default=None
)


def current() -> ActionContext:
    return _current.get() or ActionContext(client_address="system")


@contextlib.contextmanager
def action(client_address: str = "", correlation_id: str | None = None) -> Iterator[ActionContext]:
    ctx = ActionContext(correlation_id=correlation_id or uuid.uuid4().hex, client_address=client_address)
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)

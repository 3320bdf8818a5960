"""'My tasks': each app registers a provider that lists what waits for a user."""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Task:
    title: str
    record: str
    url: str
    status: str
    status_label: str
    detail: str = ""


_providers: list[Callable[[object], list[Task]]] = []


def provider(fn: Callable[[object], list[Task]]):
    _providers.append(fn)
    return fn


def tasks_for(user) -> list[Task]:
    return [task for fn in _providers for task in fn(user)]

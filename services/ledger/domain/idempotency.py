"""Client-chosen ids: the same id with the same content is a replay ("exists"); the same id
with other content is refused, naming the first field that differs."""

from __future__ import annotations

from typing import Any


class ConflictingReplay(ValueError):
    """The same client-chosen id with other content: ``field`` is the first that differs."""

    def __init__(self, what: str, key: str, field: str):
        self.field = field
        super().__init__(f"{what} {key} exists with a different {field}")


def first_difference(stored: Any, given: Any, path: str = "") -> str | None:
    """Dotted path of the first difference between two JSON-like values, or None."""
    if isinstance(stored, dict) and isinstance(given, dict):
        for key in [*given, *(k for k in stored if k not in given)]:
            found = first_difference(
                stored.get(key), given.get(key), f"{path}.{key}" if path else key
            )
            if found:
                return found
        return None
    if isinstance(stored, list | tuple) and isinstance(given, list | tuple):
        if len(stored) != len(given):
            return path or "value"
        for i, (a, b) in enumerate(zip(stored, given, strict=True)):
            found = first_difference(a, b, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if stored == given else (path or "value")


def check_same(what: str, key: str, stored: dict[str, Any], given: dict[str, Any]) -> None:
    field = first_difference(stored, given)
    if field:
        raise ConflictingReplay(what, key, field)

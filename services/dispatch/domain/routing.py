"""Routing a new case to its first owner (首接负责). No I/O."""

from __future__ import annotations

from dataclasses import dataclass

OFFICE_LEVELS = ("compound", "community", "street", "district")


@dataclass(frozen=True)
class OwnerRule:
    """Owner of matching cases: a department code, ``"category"``, or an office level."""

    categories: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    department: str | None = None
    office_level: str | None = None

    def matches(self, category: str, group: str) -> bool:
        if not self.categories and not self.groups:
            return True
        return category in self.categories or group in self.groups


@dataclass(frozen=True)
class RoutingTable:
    rules: tuple[OwnerRule, ...]


@dataclass(frozen=True)
class Assignment:
    owner_kind: str  # "department" or "office"
    owner_code: str  # department code, or the office's node id


class RoutingError(ValueError):
    """No rule routes this case: a gap in the operators' table."""


def route(
    *,
    category: str,
    group: str,
    category_department: str,
    node_path: tuple[tuple[str, str], ...],
    table: RoutingTable,
) -> Assignment:
    """The first matching rule gives the owner.

    ``node_path`` is the (id, level) pairs from the root down to the reported place.
    """
    rule = next((r for r in table.rules if r.matches(category, group)), None)
    if rule is None:
        raise RoutingError(f"no routing rule matches category {category}")
    if rule.office_level:
        office = next((n for n, level in node_path if level == rule.office_level), None)
        if office is None:
            raise RoutingError(f"{node_path[-1][0]} has no {rule.office_level} office above it")
        return Assignment("office", office)
    department = category_department if rule.department == "category" else rule.department
    return Assignment("department", str(department))

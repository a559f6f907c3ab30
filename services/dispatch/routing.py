"""Reads ``routing.yaml`` (operators' data) into dispatch's routing table."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import yaml

from services.dispatch.domain import Deadlines, OwnerRule, RoutingTable

PRIORITIES = ("low", "normal", "high", "urgent")


class RoutingConfigError(ValueError):
    """routing.yaml is wrong; the message names the file and the rule."""


def load_routing(path: Path, departments: set[str]) -> RoutingTable:
    """Parse and check the table; errors name the file and the rule."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    try:
        deadlines = {
            p: Deadlines(
                timedelta(hours=float(data["deadlines"][p]["ack_hours"])),
                timedelta(hours=float(data["deadlines"][p]["resolve_hours"])),
            )
            for p in PRIORITIES
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise RoutingConfigError(
            f"{path}: deadlines: every priority needs ack_hours and resolve_hours ({exc!r})"
        ) from exc
    rules = []
    for index, raw in enumerate(data.get("rules") or []):
        owner = raw.get("owner") or {}
        where = f"{path}: rules[{index}].owner"
        department, office = owner.get("department"), owner.get("office")
        if (department is None) == (office is None):
            raise RoutingConfigError(f"{where}: give exactly one of department or office")
        if department not in (None, "category") and department not in departments:
            raise RoutingConfigError(f"{where}.department: unknown department {department!r}")
        if office not in (None, "compound", "community", "street", "district"):
            raise RoutingConfigError(f"{where}.office: unknown level {office!r}")
        rules.append(
            OwnerRule(
                categories=frozenset(raw.get("categories") or ()),
                groups=frozenset(raw.get("groups") or ()),
                department=department,
                office_level=office,
            )
        )
    if not rules or rules[-1].categories or rules[-1].groups:
        raise RoutingConfigError(f"{path}: rules: the last rule must match everything")
    return RoutingTable(tuple(rules), deadlines)

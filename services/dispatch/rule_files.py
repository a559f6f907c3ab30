"""Reads dispatch's operator data: ``routing.yaml`` (owners, deadlines, the ladder) and
``holidays.yaml`` (the working calendar). Errors name the file and the field."""

from __future__ import annotations

from dataclasses import fields
from datetime import date, time
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from services.dispatch.domain.calendar import Duration, WorkingCalendar
from services.dispatch.domain.policy import DeadlinePolicy, Deadlines, Ladder
from services.dispatch.domain.routing import OwnerRule, RoutingTable

PRIORITIES = ("low", "normal", "high", "urgent")


class RoutingConfigError(ValueError):
    """routing.yaml is wrong; the message names the file and the rule."""


def _read(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def load_routing(path: Path, departments: set[str]) -> RoutingTable:
    """Parse and check the owner rules; errors name the file and the rule."""
    data = _read(path)
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
    return RoutingTable(tuple(rules))


def _deadlines(raw: object, where: str) -> Deadlines:
    try:
        assert isinstance(raw, dict)
        return Deadlines(Duration.parse(raw["ack"]), Duration.parse(raw["resolve"]))
    except (AssertionError, KeyError, ValueError) as exc:
        raise RoutingConfigError(f"{where}: needs ack and resolve durations ({exc})") from exc


def load_policy(path: Path, categories: set[str]) -> DeadlinePolicy:
    data = _read(path)
    block = data.get("deadlines") or {}
    priorities = block.get("priorities") or {}
    by_priority = {
        p: _deadlines(priorities.get(p), f"{path}: deadlines.priorities.{p}") for p in PRIORITIES
    }
    by_category: dict[str, dict[str, Deadlines]] = {}
    for code, per in (block.get("categories") or {}).items():
        if code not in categories:
            raise RoutingConfigError(f"{path}: deadlines.categories.{code}: unknown category")
        by_category[code] = {
            p: _deadlines(v, f"{path}: deadlines.categories.{code}.{p}") for p, v in per.items()
        }
        bad = set(by_category[code]) - set(PRIORITIES)
        if bad:
            raise RoutingConfigError(f"{path}: deadlines.categories.{code}: bad priority {bad}")
    ladder_raw = data.get("ladder") or {}
    values = {}
    for f in fields(Ladder):
        if f.name not in ladder_raw:
            continue
        try:
            value = ladder_raw[f.name]
            values[f.name] = int(value) if f.name == "reopen_at_or_below" else Duration.parse(value)
        except ValueError as exc:
            raise RoutingConfigError(f"{path}: ladder.{f.name}: {exc}") from exc
    unknown = set(ladder_raw) - {f.name for f in fields(Ladder)}
    if unknown:
        raise RoutingConfigError(f"{path}: ladder: unknown setting(s) {sorted(unknown)}")
    return DeadlinePolicy(by_priority, by_category, Ladder(**values))


def _date(value: object, where: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise RoutingConfigError(f"{where}: {value!r} is not a date") from exc


def load_calendar(path: Path) -> WorkingCalendar:
    data = _read(path)
    holidays: set[date] = set()
    workdays: set[date] = set()
    years: set[int] = set()
    for year, entry in (data.get("years") or {}).items():
        where = f"{path}: years.{year}"
        years.add(int(year))
        for index, span in enumerate(entry.get("holidays") or []):
            first = _date(span.get("from"), f"{where}.holidays[{index}].from")
            last = _date(span.get("to"), f"{where}.holidays[{index}].to")
            if last < first or first.year != int(year):
                raise RoutingConfigError(f"{where}.holidays[{index}]: bad span {first}..{last}")
            holidays.update(
                date.fromordinal(o) for o in range(first.toordinal(), last.toordinal() + 1)
            )
        for index, value in enumerate(entry.get("workdays") or []):
            day = _date(value, f"{where}.workdays[{index}]")
            if day.weekday() < 5:
                raise RoutingConfigError(f"{where}.workdays[{index}]: {day} is not a weekend day")
            workdays.add(day)
    clash = holidays & workdays
    if clash:
        raise RoutingConfigError(f"{path}: both holiday and working day: {sorted(clash)}")
    start, end = (time.fromisoformat(t) for t in data.get("working_hours", ["09:00", "17:30"]))
    if end <= start:
        raise RoutingConfigError(f"{path}: working_hours: end must be after start")
    return WorkingCalendar(
        frozenset(holidays),
        frozenset(workdays),
        frozenset(years),
        ZoneInfo(data.get("timezone", "Asia/Shanghai")),
        start,
        end,
    )

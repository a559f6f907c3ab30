"""The roll: one line per household of a building, verified in person by the community
office. ``parse_roll`` reads the office's CSV and says, per rejected line, why.

Columns (a header line is required): ``building,household,phone,language``. ``phone`` may
be empty (the household votes with a paper one-time code); more phones of one household go
on more lines with the same building and household. ``language`` is zh-CN (default) or en.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field

COLUMNS = ("building", "household", "phone", "language")
HOUSEHOLD = re.compile(r"^[0-9A-Za-z][0-9A-Za-z-]{0,19}$")
PHONE = re.compile(r"^\+?[0-9][0-9 -]{5,19}$")
LANGUAGES = ("zh-CN", "en")
MAX_LINES = 20_000


@dataclass
class Household:
    building: str
    household: str
    phones: list[str] = field(default_factory=list)
    language: str = "zh-CN"

    @property
    def key(self) -> str:
        return household_key(self.building, self.household)


def household_key(building: str, household: str) -> str:
    return f"{building}|{household}"


@dataclass
class RollReport:
    households: list[Household]
    rejected: list[dict] = field(default_factory=list)  # {"line": n, "reason": "..."}


def _check(
    row: dict[str, str], building_ok: Callable[[str], str | None], seen: set[tuple[str, str]]
) -> str | None:
    building, household = row["building"], row["household"]
    phone, language = row["phone"], row["language"] or "zh-CN"
    reason = building_ok(building)
    if reason:
        return reason
    if not HOUSEHOLD.match(household):
        return "household must be 1-20 letters, digits or '-'"
    if phone and not PHONE.match(phone):
        return "phone is not a phone number"
    if language not in LANGUAGES:
        return f"language must be one of {', '.join(LANGUAGES)}"
    if (building, household, phone) in seen:
        return "the same line appears earlier in the file"
    return None


def parse_roll(text: str, building_ok: Callable[[str], str | None]) -> RollReport:
    """Households from the CSV; ``building_ok`` says why a building may not be used (None:
    it may). Lines are numbered as in the file, the header being line 1."""
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != COLUMNS:
        return RollReport([], [{"line": 1, "reason": f"header must be {','.join(COLUMNS)}"}])
    report = RollReport([])
    found: dict[str, Household] = {}
    seen: set = set()
    for number, row in enumerate(reader, start=2):
        if number > MAX_LINES + 1:
            report.rejected.append({"line": number, "reason": f"more than {MAX_LINES} lines"})
            break
        if None in row or any(v is None for v in row.values()):
            report.rejected.append({"line": number, "reason": "needs exactly 4 columns"})
            continue
        row = {k: (v or "").strip() for k, v in row.items()}
        reason = _check(row, building_ok, seen)
        if reason:
            report.rejected.append({"line": number, "reason": reason})
            continue
        seen.add((row["building"], row["household"], row["phone"]))
        key = household_key(row["building"], row["household"])
        household = found.setdefault(key, Household(row["building"], row["household"]))
        household.language = row["language"] or household.language
        if row["phone"]:
            household.phones.append(row["phone"])
    report.households = list(found.values())
    return report

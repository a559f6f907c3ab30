"""Pure helpers of the public fund page: amounts in yuan, the rows of the ledger's quarterly
disclosure, which quarters changed, and each campaign's bars (raised, spent, balance)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

ENTRY_COLUMNS = ("date", "campaign", "kind", "detail", "amount_yuan", "currency", "donor", "entry")
KEEP_ENTRIES = 100  # the newest entries a campaign's page lists; the CSV has them all


def yuan(fen: int) -> str:
    """Fen as yuan with thousands separators: 1234567 -> "12,345.67"."""
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100:,}.{abs(fen) % 100:02d}"


def disclosure_entries(text: str, campaign: str) -> list[dict[str, str]]:
    """The entry rows of one campaign in the ledger's disclosure CSV, as published (donor
    names only where the donor chose to be named; the ledger writes the rest anonymous)."""
    rows = []
    for row in csv.reader(io.StringIO(text)):
        if len(row) == len(ENTRY_COLUMNS) + 1 and row[0] == "entry" and row[2] == campaign:
            rows.append(dict(zip(ENTRY_COLUMNS, row[1:], strict=True)))
    return rows


def changed_quarters(old: dict[str, Any] | None, new: dict[str, Any]) -> set[str]:
    """Quarters whose figures differ between two public accounts of a campaign (all of the
    new one's when there was none; the newest when only the chain grew)."""
    before = (old or {}).get("quarters") or {}
    after = new.get("quarters") or {}
    changed = {q for q in after if before.get(q) != after[q]}
    moved = ((old or {}).get("chain") or {}).get("entries") != (new.get("chain") or {}).get(
        "entries"
    )
    if moved and not changed and after:  # entries that left the figures as they were
        changed.add(max(after))
    return changed


def newest_entries(by_quarter: dict[str, list[dict[str, str]]]) -> list[dict[str, str]]:
    rows = [row for quarter in sorted(by_quarter, reverse=True) for row in by_quarter[quarter]]
    rows.sort(key=lambda r: (r["date"], r["entry"]), reverse=True)
    return rows[:KEEP_ENTRIES]


@dataclass(frozen=True)
class Bar:
    key: str  # raised | spent | balance
    fen: int
    percent: float  # of the goal (raised, spent) or of what was raised (balance), 0..100


def bars(figures: dict[str, Any]) -> list[Bar]:
    """Raised and spent against the goal, the balance against what was raised."""
    goal, raised = figures["goal_fen"], figures["raised"]["total"]

    def share(part: int, whole: int) -> float:
        return round(max(0.0, min(1.0, part / whole)) * 100, 1) if whole else 0.0

    return [
        Bar("raised", raised, share(raised, goal)),
        Bar("spent", figures["spent_fen"], share(figures["spent_fen"], goal)),
        Bar("balance", figures["balance_fen"], share(figures["balance_fen"], raised)),
    ]

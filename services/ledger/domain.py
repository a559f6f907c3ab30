"""Ledger's rules: a donation becomes a balanced journal entry. No I/O.

Amounts are integer fen; the legs of an entry sum to zero per currency (debits positive).
"""

from __future__ import annotations

from dataclasses import dataclass

INCOME_ACCOUNT = {
    "online": "income:donations:online",
    "offline": "income:donations:offline",
    "in-kind": "income:donations:in-kind",
}
ASSET_ACCOUNT = {
    "online": "assets:bank:main",
    "offline": "assets:bank:main",
    "in-kind": "assets:in-kind:{campaign}",
}


@dataclass(frozen=True)
class Leg:
    account: str
    amount_fen: int
    currency: str = "CNY"


class UnbalancedEntry(ValueError):
    """Legs that do not sum to zero per currency, or fewer than two."""


def check_balanced(legs: list[Leg]) -> None:
    totals: dict[str, int] = {}
    for leg in legs:
        totals[leg.currency] = totals.get(leg.currency, 0) + leg.amount_fen
    off = {c: t for c, t in totals.items() if t != 0}
    if len(legs) < 2 or off:
        raise UnbalancedEntry(f"legs must be two or more and sum to zero per currency: {off}")


def donation_legs(channel: str, campaign: str, amount_fen: int, currency: str) -> list[Leg]:
    """Money or goods in: the asset grows against the channel's donation income; the entry is
    tagged with its campaign (restricted-fund accounting comes with the ledger's own work)."""
    legs = [
        Leg(ASSET_ACCOUNT[channel].format(campaign=campaign), amount_fen, currency),
        Leg(INCOME_ACCOUNT[channel], -amount_fen, currency),
    ]
    check_balanced(legs)
    return legs

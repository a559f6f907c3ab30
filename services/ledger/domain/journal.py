"""Journal entries: two or more legs summing to zero per currency, in integer fen; immutable;
chained by hash. A mistake is corrected by a reversing entry that points to the original.

The canonical form of an entry is its JSON with sorted keys and no spaces; its hash is the
SHA-256 of that text, and the text includes the hash of the fund's previous entry, so changing,
removing or reordering any entry breaks every link after it (one chain per fund: the fund's
single writer appends to it without a global lock; ``seq`` orders it).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.ledger.domain.accounts import CLOSING, check_account, fund_account

GENESIS = "0" * 64


@dataclass(frozen=True)
class Leg:
    account: str
    amount_fen: int
    currency: str = "CNY"


class UnbalancedEntry(ValueError):
    """Legs that do not sum to zero per currency, or fewer than two."""


def check_balanced(legs: list[Leg] | tuple[Leg, ...]) -> None:
    totals: dict[str, int] = {}
    for leg in legs:
        if not isinstance(leg.amount_fen, int) or isinstance(leg.amount_fen, bool):
            raise UnbalancedEntry(f"amount of {leg.account} must be integer fen")
        if not leg.currency or not leg.currency.isupper():
            raise UnbalancedEntry(f"currency of {leg.account} must be an ISO code")
        check_account(leg.account)
        totals[leg.currency] = totals.get(leg.currency, 0) + leg.amount_fen
    off = {c: t for c, t in totals.items() if t != 0}
    if len(legs) < 2 or off:
        raise UnbalancedEntry(f"legs must be two or more and sum to zero per currency: {off}")


@dataclass(frozen=True)
class Draft:
    """An entry before it takes its place in a fund's chain."""

    entry_id: str
    fund: str
    kind: str  # donation | disbursement | reversal
    legs: tuple[Leg, ...]
    at: datetime
    memo: str = ""
    meta: dict[str, Any] = field(default_factory=dict)  # channel, project, receipt data ...
    reverses: str | None = None
    releases_hold: str | None = None

    def __post_init__(self) -> None:
        check_balanced(self.legs)

    def content(self) -> dict[str, Any]:
        """What the client asked for: compared field by field for idempotency."""
        return {  # in the order a conflict is reported: what the client wrote comes first
            "fund": self.fund,
            "kind": self.kind,
            "meta": self.meta,
            "memo": self.memo,
            "reverses": self.reverses,
            "legs": [[leg.account, leg.amount_fen, leg.currency] for leg in self.legs],
        }


@dataclass(frozen=True)
class Entry:
    draft: Draft
    seq: int
    prev_hash: str
    body: str  # canonical JSON
    hash: str


def canonical(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()


def seal(draft: Draft, seq: int, prev_hash: str) -> Entry:
    """Give the draft its place in the chain: sequence, previous hash, canonical form, hash."""
    data = {
        **draft.content(),
        "id": draft.entry_id,
        "seq": seq,
        "prev": prev_hash,
        "at": draft.at.isoformat(),
        "releases_hold": draft.releases_hold,
    }
    body = canonical(data)
    return Entry(draft, seq, prev_hash, body, digest(body))


def legs_of(body: dict[str, Any]) -> list[Leg]:
    return [Leg(a, f, c) for a, f, c in body["legs"]]


def reversal_of(original: dict[str, Any], reversal_id: str, at: datetime, reason: str) -> Draft:
    """The entry that cancels ``original`` (a parsed canonical body): every leg negated."""
    if original["kind"] == "reversal":
        raise UnbalancedEntry("a reversal is not reversed; post a new entry instead")
    legs = tuple(Leg(a, -f, c) for a, f, c in original["legs"])
    return Draft(
        entry_id=reversal_id,
        fund=original["fund"],
        kind="reversal",
        legs=legs,
        at=at,
        memo=reason,
        meta={"original_kind": original["kind"]},
        reverses=original["id"],
    )


def net_asset_pair(fund: str, amount_fen: int, currency: str) -> tuple[Leg, Leg]:
    """The restriction half of an entry: the fund grows by ``amount_fen`` (credit) against the
    closing account; negative amounts shrink it."""
    return Leg(fund_account(fund), -amount_fen, currency), Leg(CLOSING, amount_fen, currency)

"""A fund's running state: balance (net assets), holds of requested disbursements, and the
figures of the public account, all derived from its entries' legs. No I/O.

``available = balance - held``. A restricted fund never goes below zero: an entry that would
take its balance below zero, and a hold larger than what is available, are refused with the
amount they would leave.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from services.ledger.domain.accounts import UNRESTRICTED, fund_account
from services.ledger.domain.journal import GENESIS, Entry, Leg

_INCOME = "income:donations:"
_EXPENSE = "expenses:programs:"


class Overspend(ValueError):
    """Refused: it would leave the fund (or what is available in it) below zero."""

    def __init__(self, fund: str, what: str, amount_fen: int, would_leave_fen: int):
        self.fund, self.amount_fen, self.would_leave_fen = fund, amount_fen, would_leave_fen
        super().__init__(
            f"{what} of {amount_fen} fen would leave fund {fund} at {would_leave_fen} fen"
        )


@dataclass(frozen=True)
class FundState:
    fund: str
    currency: str = "CNY"
    seq: int = 0
    head: str = GENESIS
    balance_fen: int = 0
    holds: dict[str, int] = field(default_factory=dict)
    raised: dict[str, int] = field(default_factory=dict)  # channel -> fen
    spent: dict[str, int] = field(default_factory=dict)  # project -> fen
    quarters: dict[str, dict[str, int]] = field(default_factory=dict)  # "2026Q4" -> figures

    @property
    def held_fen(self) -> int:
        return sum(self.holds.values())

    @property
    def available_fen(self) -> int:
        return self.balance_fen - self.held_fen

    def to_doc(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "seq": self.seq,
            "head": self.head,
            "balance_fen": self.balance_fen,
            "held_fen": self.held_fen,
            "holds": dict(self.holds),
            "raised": dict(self.raised),
            "spent": dict(self.spent),
            "quarters": {q: dict(v) for q, v in self.quarters.items()},
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> FundState:
        return cls(
            fund=doc["_id"],
            currency=doc.get("currency", "CNY"),
            seq=doc.get("seq", 0),
            head=doc.get("head", GENESIS),
            balance_fen=doc.get("balance_fen", 0),
            holds=dict(doc.get("holds", {})),
            raised=dict(doc.get("raised", {})),
            spent=dict(doc.get("spent", {})),
            quarters={q: dict(v) for q, v in doc.get("quarters", {}).items()},
        )


def quarter_of(iso: str) -> str:
    return f"{iso[:4]}Q{(int(iso[5:7]) - 1) // 3 + 1}"


def fund_delta(fund: str, legs: list[Leg] | tuple[Leg, ...]) -> int:
    """How much an entry adds to the fund's net assets (the fund account is credit-normal)."""
    account = fund_account(fund)
    return -sum(leg.amount_fen for leg in legs if leg.account == account)


def check_entry(state: FundState, fund: str, legs: tuple[Leg, ...], what: str) -> None:
    """Refuse an entry that would take a restricted fund below zero; a posting that releases a
    hold may use the held money, anything else only what is available."""
    delta = fund_delta(fund, legs)
    if fund == UNRESTRICTED or delta >= 0:
        return
    if state.balance_fen + delta < 0:
        raise Overspend(fund, what, -delta, state.balance_fen + delta)


def check_unheld(state: FundState, fund: str, legs: tuple[Leg, ...], what: str) -> None:
    """A reduction that releases no hold (a reversed donation) must fit in what is available."""
    delta = fund_delta(fund, legs)
    if fund != UNRESTRICTED and delta < 0 and state.available_fen + delta < 0:
        raise Overspend(fund, what, -delta, state.available_fen + delta)


def apply_entry(state: FundState, entry: Entry) -> FundState:
    """The state after ``entry`` (already checked and sealed), with its figures."""
    legs = entry.draft.legs
    return apply_legs(
        state,
        legs,
        entry.seq,
        entry.hash,
        quarter_of(entry.draft.at.isoformat()),
        entry.draft.releases_hold,
    )


def apply_legs(
    state: FundState,
    legs: tuple[Leg, ...] | list[Leg],
    seq: int,
    head: str,
    quarter: str,
    releases_hold: str | None,
) -> FundState:
    if seq != state.seq + 1:
        raise ValueError(f"entry {seq} does not follow {state.seq} in fund {state.fund}")
    raised, spent = dict(state.raised), dict(state.spent)
    q = dict(state.quarters.get(quarter, {}))
    for leg in legs:
        if leg.account.startswith(_INCOME):
            channel = leg.account[len(_INCOME) :]
            raised[channel] = raised.get(channel, 0) - leg.amount_fen
            q[f"raised_{channel}"] = q.get(f"raised_{channel}", 0) - leg.amount_fen
        elif leg.account.startswith(_EXPENSE):
            project = leg.account[len(_EXPENSE) :]
            spent[project] = spent.get(project, 0) + leg.amount_fen
            q["spent"] = q.get("spent", 0) + leg.amount_fen
    holds = dict(state.holds)
    if releases_hold:
        holds.pop(releases_hold, None)
    return replace(
        state,
        seq=seq,
        head=head,
        balance_fen=state.balance_fen + fund_delta(state.fund, legs),
        holds=holds,
        raised=raised,
        spent=spent,
        quarters={**state.quarters, quarter: q},
    )


def place_hold(state: FundState, disbursement_id: str, amount_fen: int) -> FundState:
    if disbursement_id in state.holds:
        return state
    if state.fund != UNRESTRICTED and amount_fen > state.available_fen:
        raise Overspend(state.fund, "disbursement", amount_fen, state.available_fen - amount_fen)
    return replace(state, holds={**state.holds, disbursement_id: amount_fen})


def release_hold(state: FundState, disbursement_id: str) -> FundState:
    holds = dict(state.holds)
    holds.pop(disbursement_id, None)
    return replace(state, holds=holds)

"""A fund's running state: balance (net assets), holds of requested disbursements, and the
figures of the public account, all derived from its entries' legs. No I/O.

``available = balance - held``. A restricted fund never goes below zero: an entry that would
take its balance below zero, and a hold larger than what is available, are refused with the
amount they would leave.

Goods and cash are different assets. A fund's balance is held as cash (its entries' legs on
``assets:bank:main``) and as goods, per item (its legs on ``assets:in-kind:<item>``), and
``balance = cash + goods``. A disbursement says what it pays out (``source``: ``bank`` or an
item): it may take only what the fund holds of that asset and is not held for another request,
so rice cannot be paid out as cash, nor more rice than was given; an item the fund never
received is refused (``NoSuchGoods``). A reversal may not take any asset below what is held.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from services.ledger.domain.accounts import BANK, UNRESTRICTED, fund_account, in_kind_account
from services.ledger.domain.journal import GENESIS, Entry, Leg

_INCOME = "income:donations:"
_EXPENSE = "expenses:programs:"
_GOODS = in_kind_account("")
CASH = "bank"  # the ``source`` that pays out cash


class NoSuchGoods(ValueError):
    """Refused: the fund never received (or no longer holds) goods of that item."""

    def __init__(self, fund: str, item: str):
        self.fund, self.item = fund, item
        super().__init__(f"fund {fund} holds no goods {item!r}")


class Overspend(ValueError):
    """Refused: it would leave the fund (or what is available in it) below zero."""

    def __init__(
        self, fund: str, what: str, amount_fen: int, would_leave_fen: int, asset: str = ""
    ):
        self.fund, self.amount_fen, self.would_leave_fen = fund, amount_fen, would_leave_fen
        of = f"the {asset} of fund {fund}" if asset else f"fund {fund}"
        super().__init__(f"{what} of {amount_fen} fen would leave {of} at {would_leave_fen} fen")


@dataclass(frozen=True)
class FundState:
    fund: str
    currency: str = "CNY"
    seq: int = 0
    head: str = GENESIS
    balance_fen: int = 0
    holds: dict[str, int] = field(default_factory=dict)
    hold_sources: dict[str, str] = field(default_factory=dict)  # id -> item (absent: cash)
    cash_fen: int = 0
    goods: dict[str, int] = field(default_factory=dict)  # item -> value in fen
    raised: dict[str, int] = field(default_factory=dict)  # channel -> fen
    spent: dict[str, int] = field(default_factory=dict)  # project -> fen
    quarters: dict[str, dict[str, int]] = field(default_factory=dict)  # "2026Q4" -> figures

    @property
    def held_fen(self) -> int:
        return sum(self.holds.values())

    @property
    def available_fen(self) -> int:
        return self.balance_fen - self.held_fen

    def held_of(self, source: str) -> int:
        return sum(f for i, f in self.holds.items() if self.hold_sources.get(i, CASH) == source)

    def holding(self, source: str) -> int:
        """What the fund holds of an asset: cash (``bank``) or an item of goods."""
        return self.cash_fen if source == CASH else self.goods.get(source, 0)

    def to_doc(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "seq": self.seq,
            "head": self.head,
            "balance_fen": self.balance_fen,
            "held_fen": self.held_fen,
            "holds": dict(self.holds),
            "hold_sources": dict(self.hold_sources),
            "cash_fen": self.cash_fen,
            "goods": dict(self.goods),
            "raised": dict(self.raised),
            "spent": dict(self.spent),
            "quarters": {q: dict(v) for q, v in self.quarters.items()},
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> FundState:
        goods = dict(doc.get("goods", {}))
        return cls(
            fund=doc["_id"],
            currency=doc.get("currency", "CNY"),
            seq=doc.get("seq", 0),
            head=doc.get("head", GENESIS),
            balance_fen=doc.get("balance_fen", 0),
            holds=dict(doc.get("holds", {})),
            hold_sources=dict(doc.get("hold_sources", {})),
            cash_fen=doc.get("cash_fen", doc.get("balance_fen", 0) - sum(goods.values())),
            goods=goods,
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


def asset_deltas(legs: list[Leg] | tuple[Leg, ...]) -> dict[str, int]:
    """How an entry changes each asset: ``bank`` (cash) and each item of goods."""
    deltas: dict[str, int] = {}
    for leg in legs:
        if leg.account == BANK:
            deltas[CASH] = deltas.get(CASH, 0) + leg.amount_fen
        elif leg.account.startswith(_GOODS):
            item = leg.account[len(_GOODS) :]
            deltas[item] = deltas.get(item, 0) + leg.amount_fen
    return deltas


def check_entry(
    state: FundState, fund: str, legs: tuple[Leg, ...], what: str, released: str | None = None
) -> None:
    """Refuse an entry that would take a restricted fund, or any asset it holds, below zero; a
    posting that releases a hold (``released``) may use the money held for it, anything else
    only what is available."""
    if fund == UNRESTRICTED:
        return
    delta = fund_delta(fund, legs)
    held = state.held_fen - state.holds.get(released or "", 0)
    if delta < 0 and state.balance_fen - held + delta < 0:
        raise Overspend(fund, what, -delta, state.balance_fen - held + delta)
    for asset, change in asset_deltas(legs).items():
        if change >= 0:
            continue
        mine = state.holds.get(released or "", 0)
        mine = mine if state.hold_sources.get(released or "", CASH) == asset else 0
        left = state.holding(asset) - (state.held_of(asset) - mine) + change
        if left < 0:
            kind = "cash" if asset == CASH else f"goods {asset!r}"
            raise Overspend(fund, what, -change, left, kind)


def check_unheld(state: FundState, fund: str, legs: tuple[Leg, ...], what: str) -> None:
    """A reduction that releases no hold (a reversed donation) must fit in what is available."""
    check_entry(state, fund, legs, what)


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
    holds, sources = dict(state.holds), dict(state.hold_sources)
    if releases_hold:
        holds.pop(releases_hold, None)
        sources.pop(releases_hold, None)
    goods = dict(state.goods)
    deltas = asset_deltas(legs)
    for item, change in deltas.items():
        if item != CASH:
            goods[item] = goods.get(item, 0) + change
            if goods[item] == 0:
                del goods[item]
    return replace(
        state,
        seq=seq,
        head=head,
        balance_fen=state.balance_fen + fund_delta(state.fund, legs),
        cash_fen=state.cash_fen + deltas.get(CASH, 0),
        goods=goods,
        holds=holds,
        hold_sources=sources,
        raised=raised,
        spent=spent,
        quarters={**state.quarters, quarter: q},
    )


def place_hold(
    state: FundState, disbursement_id: str, amount_fen: int, source: str = CASH
) -> FundState:
    """Reserve ``amount_fen`` of an asset (cash, or an item of goods the fund holds)."""
    if disbursement_id in state.holds:
        return state
    if source != CASH and source not in state.goods:
        raise NoSuchGoods(state.fund, source)
    if state.fund != UNRESTRICTED:
        if amount_fen > state.available_fen:
            left = state.available_fen - amount_fen
            raise Overspend(state.fund, "disbursement", amount_fen, left)
        left = state.holding(source) - state.held_of(source) - amount_fen
        if left < 0:
            kind = "cash" if source == CASH else f"goods {source!r}"
            raise Overspend(state.fund, "disbursement", amount_fen, left, kind)
    sources = dict(state.hold_sources)
    if source != CASH:
        sources[disbursement_id] = source
    return replace(state, holds={**state.holds, disbursement_id: amount_fen}, hold_sources=sources)


def release_hold(state: FundState, disbursement_id: str) -> FundState:
    holds, sources = dict(state.holds), dict(state.hold_sources)
    holds.pop(disbursement_id, None)
    sources.pop(disbursement_id, None)
    return replace(state, holds=holds, hold_sources=sources)

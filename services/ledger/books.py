"""Posting to a fund's chain: idempotency, the balance check, the hash chain, the fund's
running state. Each call is one fund; the fund's single writer (the command consumer for the
Kafka partition of the fund's key) makes calls for a fund one at a time, and the unique
``(fund, seq)`` index and the fund's ``version`` keep the chain and the balance right even when
two writers meet (a rebalance, or the donations topic), by rolling forward and retrying.

``post`` takes a batch of drafts for one fund (group commit: one read, one ``insert_many``, one
fund update), which is how bulk imports and the benchmark post; a command posts a batch of one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from services.ledger.domain.funds import (
    FundState,
    Overspend,
    apply_entry,
    check_entry,
    check_unheld,
    place_hold,
    release_hold,
)
from services.ledger.domain.idempotency import Conflict, check_same
from services.ledger.domain.journal import Draft, Entry, seal
from services.ledger.store import ChainConflict, LedgerStore, StaleFund

POSTED, EXISTS = "posted", "exists"


class UnknownFund(LookupError):
    pass


@dataclass(frozen=True)
class Posted:
    status: str  # posted | exists
    entry_id: str
    seq: int
    hash: str


def stored_content(doc: dict[str, Any]) -> dict[str, Any]:
    body = json.loads(doc["body"])
    return {k: body[k] for k in ("fund", "kind", "meta", "memo", "reverses", "legs")}


class Books:
    def __init__(self, store: LedgerStore, max_retries: int = 20):
        self.store = store
        self._max_retries = max_retries

    async def state(self, fund: str) -> tuple[FundState, int]:
        doc = await self.store.fund_doc(fund)
        if doc is None:
            raise UnknownFund(fund)
        return FundState.from_doc(doc), doc.get("version", 0)

    async def post(self, fund: str, drafts: list[Draft]) -> list[Posted | Exception]:
        """Post drafts of one fund, in order. Each result is ``Posted`` (posted or exists) or
        the refusal (``Overspend``, ``Conflict``); a refused draft does not stop the others."""
        for _ in range(self._max_retries):
            state, version = await self.state(fund)
            existing = await self.store.entries_by_id([d.entry_id for d in drafts])
            if any(d["fund"] == fund and d["seq"] > state.seq for d in existing.values()):
                await self.store.roll_forward(fund)  # a writer died before advancing the fund
                continue
            results: list[Posted | Exception] = []
            sealed: list[Entry] = []
            for draft in drafts:
                if draft.fund != fund:
                    raise ValueError(f"draft {draft.entry_id} is not for fund {fund}")
                doc = existing.get(draft.entry_id)
                if doc is not None:
                    try:
                        check_same("entry", draft.entry_id, stored_content(doc), draft.content())
                        results.append(Posted(EXISTS, draft.entry_id, doc["seq"], doc["hash"]))
                    except Conflict as exc:
                        results.append(exc)
                    continue
                try:
                    self._check(state, draft)
                except Overspend as exc:
                    results.append(exc)
                    continue
                entry = seal(draft, state.seq + 1, state.head)
                state = apply_entry(state, entry)
                sealed.append(entry)
                existing[draft.entry_id] = {
                    "body": entry.body,
                    "seq": entry.seq,
                    "hash": entry.hash,
                }
                results.append(Posted(POSTED, draft.entry_id, entry.seq, entry.hash))
            if not sealed:
                return results
            try:
                await self.store.append(sealed)
            except ChainConflict:
                await self.store.roll_forward(fund)
                continue
            try:
                await self.store.save_state(state, version)
            except StaleFund:
                await self.store.roll_forward(fund)
            return results
        raise RuntimeError(f"fund {fund}: too much contention, gave up after retries")

    @staticmethod
    def _check(state: FundState, draft: Draft) -> None:
        if draft.releases_hold and draft.releases_hold in state.holds:
            check_entry(state, draft.fund, draft.legs, draft.kind)
        else:
            check_unheld(state, draft.fund, draft.legs, draft.kind)

    async def hold(self, fund: str, disbursement_id: str, amount_fen: int) -> FundState:
        """Reserve money for a requested disbursement (``Overspend`` if not available)."""
        return await self._change(fund, lambda s: place_hold(s, disbursement_id, amount_fen))

    async def release(self, fund: str, disbursement_id: str) -> FundState:
        return await self._change(fund, lambda s: release_hold(s, disbursement_id))

    async def _change(self, fund: str, change) -> FundState:
        for _ in range(self._max_retries):
            state, version = await self.state(fund)
            new = change(state)
            if new == state:
                return state
            try:
                await self.store.save_state(new, version)
                return new
            except StaleFund:
                continue
        raise RuntimeError(f"fund {fund}: too much contention, gave up after retries")

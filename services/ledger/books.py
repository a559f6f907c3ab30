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
from services.ledger.store import LedgerStore, StaleFund

POSTED, EXISTS = "posted", "exists"


class UnknownFund(LookupError):
    """No fund (campaign) of that id has been opened."""


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
        the refusal (``Overspend``, ``Conflict``); a refused draft does not stop the others.

        Optimistic: the entries are sealed on the fund's state and inserted in one ordered
        ``insert_many``; a taken entry id (a replay) stops the insert there and is compared
        with what is stored; a taken chain link (another writer) rolls the fund forward."""
        results: list[Posted | Exception | None] = [None] * len(drafts)
        pending = list(range(len(drafts)))
        for draft in drafts:
            if draft.fund != fund:
                raise ValueError(f"draft {draft.entry_id} is not for fund {fund}")
        for _ in range(self._max_retries):
            state, version = await self.state(fund)
            sealed: list[Entry] = []
            states: list[FundState] = []
            positions: list[int] = []
            current = state
            for i in pending:
                try:
                    self._check(current, drafts[i])
                except Overspend as exc:
                    results[i] = exc
                    continue
                entry = seal(drafts[i], current.seq + 1, current.head)
                current = apply_entry(current, entry)
                sealed.append(entry)
                states.append(current)
                positions.append(i)
            if not sealed:
                break
            inserted = await self.store.append(sealed)
            if inserted:
                try:
                    await self.store.save_state(states[inserted - 1], version)
                except StaleFund:
                    await self.store.roll_forward(fund)
                for entry, i in zip(sealed[:inserted], positions, strict=False):
                    results[i] = Posted(POSTED, entry.draft.entry_id, entry.seq, entry.hash)
            if inserted == len(sealed):
                break
            stopped = positions[inserted]
            pending = [i for i in pending if i > stopped]
            for i in pending:
                results[i] = None
            doc = await self.store.entry(drafts[stopped].entry_id)
            if doc is None:  # the link was taken: another writer, or one that died half-way
                await self.store.roll_forward(fund)
                pending.insert(0, stopped)
                continue
            if (
                doc["fund"] == fund
                and doc["seq"] > (states[inserted - 1] if inserted else state).seq
            ):
                await self.store.roll_forward(fund)  # it was appended, the fund not advanced
            try:
                check_same("entry", doc["_id"], stored_content(doc), drafts[stopped].content())
                results[stopped] = Posted(EXISTS, doc["_id"], doc["seq"], doc["hash"])
            except Conflict as exc:
                results[stopped] = exc
            if not pending:
                break
        else:
            raise RuntimeError(f"fund {fund}: too much contention, gave up after retries")
        return [r for r in results if r is not None]

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

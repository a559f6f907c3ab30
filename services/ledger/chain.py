"""Checking the hash chains and exporting the journal, streaming (projection, large batches),
so a million entries never sit in memory at once.

Verification re-orders per fund on the fly: entries usually stream in the order they were
appended; one that arrives early waits in a small buffer until its predecessor has been seen.
Each entry's hash must be the SHA-256 of its canonical body, its body must name the previous
entry's hash, and its stored fund/seq/id must match the body. At the end each chain's tail must
be the head and length the fund document records (so a removed last entry is caught too), and
the fund's balance must equal the sum of its legs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from services.ledger.domain.accounts import fund_account
from services.ledger.domain.disclosure import hledger_declarations, hledger_entry
from services.ledger.domain.journal import GENESIS
from services.ledger.store import LedgerStore


@dataclass(frozen=True)
class Break:
    fund: str
    seq: int
    entry_id: str
    reason: str


@dataclass
class Verification:
    entries: int = 0
    funds: int = 0
    breaks: list[Break] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaks

    @property
    def first(self) -> Break | None:
        return min(self.breaks, key=lambda b: (b.fund, b.seq)) if self.breaks else None


@dataclass
class _Chain:
    seq: int = 0
    head: str = GENESIS
    balance: int = 0
    waiting: dict[int, tuple[str, str, str]] = field(default_factory=dict)
    broken: bool = False


def check_link(
    chain: _Chain,
    fund: str,
    doc_id: str,
    seq: int,
    body: str,
    stored_hash: str,
    breaks: list[Break],
) -> None:
    if chain.broken:
        return

    def fail(reason: str) -> None:
        chain.broken = True
        breaks.append(Break(fund, seq, doc_id, reason))

    if hashlib.sha256(body.encode()).hexdigest() != stored_hash:
        return fail("hash does not match the entry's content (entry changed)")
    data = json.loads(body)
    if data["prev"] != chain.head:
        return fail("previous-hash link broken (an entry before it changed or is missing)")
    if data["id"] != doc_id or data["fund"] != fund or data["seq"] != seq:
        return fail("stored id, fund or sequence differ from the sealed content")
    account = fund_account(fund)
    chain.balance -= sum(f for a, f, _ in data["legs"] if a == account)
    chain.seq, chain.head = seq, stored_hash


async def verify(
    store: LedgerStore, *, batch_size: int = 5000, progress: Callable[[int], None] | None = None
) -> Verification:
    result = Verification()
    chains: dict[str, _Chain] = {}
    async for doc in store.stream(batch_size):
        result.entries += 1
        if progress and result.entries % batch_size == 0:
            progress(batch_size)
        fund, seq = doc["fund"], doc["seq"]
        chain = chains.setdefault(fund, _Chain())
        if seq != chain.seq + 1:
            chain.waiting[seq] = (doc["_id"], doc["body"], doc["hash"])
            continue
        check_link(chain, fund, doc["_id"], seq, doc["body"], doc["hash"], result.breaks)
        while chain.seq + 1 in chain.waiting and not chain.broken:
            doc_id, body, h = chain.waiting.pop(chain.seq + 1)
            check_link(chain, fund, doc_id, chain.seq + 1, body, h, result.breaks)
    if progress:
        progress(result.entries % batch_size)
    fund_docs = await store.all_funds()
    for fund in sorted(set(chains) - {d["_id"] for d in fund_docs}):
        result.breaks.append(Break(fund, 1, "?", "entries of a fund that has no fund record"))
    for doc in fund_docs:
        fund = doc["_id"]
        chain = chains.get(fund, _Chain())
        result.funds += 1
        if chain.broken:
            continue
        if chain.waiting:
            first = min(chain.waiting)
            result.breaks.append(
                Break(
                    fund, chain.seq + 1, "?", f"entry {chain.seq + 1} is missing ({first} follows)"
                )
            )
        elif (doc.get("seq", 0), doc.get("head", GENESIS)) != (chain.seq, chain.head):
            result.breaks.append(
                Break(
                    fund,
                    chain.seq + 1,
                    "?",
                    f"the fund records {doc.get('seq', 0)} entries, the chain has {chain.seq}",
                )
            )
        elif doc.get("balance_fen", 0) != chain.balance:
            result.breaks.append(
                Break(
                    fund,
                    chain.seq,
                    "?",
                    f"balance {doc.get('balance_fen')} differs from the entries' {chain.balance}",
                )
            )
    return result


async def export_hledger(
    store: LedgerStore, write: Callable[[str], object], *, batch_size: int = 5000
) -> dict[str, int]:
    """Write the journal in hledger's format; the account balances it must give (fen)."""
    balances: dict[str, int] = {}
    currencies: set[str] = set()
    write("; Linli ledger export (hledger journal); amounts in yuan\n\n")
    async for doc in store.stream(batch_size):
        body = json.loads(doc["body"])
        for account, fen, currency in body["legs"]:
            balances[account] = balances.get(account, 0) + fen
            currencies.add(currency)
        write(hledger_entry(body, doc["hash"]) + "\n")
    write(hledger_declarations(balances, currencies or {"CNY"}))
    return balances

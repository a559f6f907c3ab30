"""Checking the hash chains and exporting the journal, streaming the blocks (a few hundred
entries each, compressed), so a million entries never sit in memory at once.

Verification re-orders per fund on the fly: blocks usually stream in the order they were
appended; one that arrives early waits in a small buffer until its predecessor has been seen.
Each entry's hash must be the SHA-256 of its canonical body, its body must name the previous
entry's hash, and its place (the block's fund, the block's first seq plus its position) must
match the body's fund and seq. At the end each chain's tail must be the head and length the fund
document records (so a removed last block is caught too), and the fund's balance must equal
the sum of its legs. Neither verification nor the export stops on what it finds in the books:
an entry that cannot be read (not JSON, missing fields) or with an amount outside the bound is
reported as a break, and integers beyond 64 bits are read exactly.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from hashlib import sha256
from typing import Any, Protocol

import orjson

from services.ledger.domain.accounts import fund_account
from services.ledger.domain.disclosure import hledger_declarations, hledger_entry
from services.ledger.domain.journal import GENESIS
from services.ledger.store import Block, block_id
from shared.events.ledger import MAX_AMOUNT_FEN


class ChainSource(Protocol):
    def stream_blocks(self, batch_size: int = ...) -> AsyncIterator[Block]: ...

    async def all_funds(self) -> list[dict[str, Any]]: ...


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

    def record(self, at: datetime) -> dict[str, Any]:
        """What the public account shows of this run: when, whether every chain held, and
        where the first break is (fund, position and reason; never an entry's content)."""
        first = self.first
        return {
            "at": at.isoformat(),
            "ok": self.ok,
            "entries": self.entries,
            "funds": self.funds,
            "broken_chains": len({b.fund for b in self.breaks}),
            "first_break": None
            if first is None
            else {"fund": first.fund, "seq": first.seq, "reason": first.reason},
        }


@dataclass
class _Chain:
    seq: int = 0
    head: str = GENESIS
    balance: int = 0
    waiting: dict[int, Block] = field(default_factory=dict)
    broken: bool = False


def check_block(chain: _Chain, block: Block, breaks: list[Break]) -> None:
    """Follow the chain through one block (the next one of its fund)."""
    fund = block.fund

    def fail(seq: int, entry_id: str, reason: str) -> None:
        chain.broken = True
        breaks.append(Break(fund, seq, entry_id, reason))

    if block.lines is None:
        return fail(block.first, "?", f"block {block.id} cannot be read (data damaged)")
    if block.id != block_id(fund, block.first) or block.last != block.first + len(block.lines) - 1:
        return fail(block.first, "?", f"block {block.id} is not where its fields place it")
    account = fund_account(fund)
    head, balance, seq = chain.head, chain.balance, block.first
    for stored_hash, body in block.lines:
        if sha256(body.encode()).hexdigest() != stored_hash:
            data = _parsed(body)
            return fail(
                seq, data.get("id", "?"), "hash does not match the entry's content (entry changed)"
            )
        try:  # the common case at full speed; anything unexpected is a break, not a crash
            data = orjson.loads(body)
            entry_id, linked = data["id"], data["prev"] == head
            placed = data["fund"] == fund and data["seq"] == seq
            change = 0
            for a, f, _ in data["legs"]:
                if type(f) is not int or not -MAX_AMOUNT_FEN <= f <= MAX_AMOUNT_FEN:
                    return fail(seq, str(entry_id), f"{out_of_bounds(a)}: {f!r}")
                if a == account:
                    change -= f
        except (KeyError, TypeError, ValueError):
            problem = unreadable(_parsed(body)) or "the entry cannot be read"
            return fail(seq, str(_parsed(body).get("id", "?")), problem)
        if not linked:
            return fail(
                seq,
                entry_id,
                "previous-hash link broken (an entry before it changed or is missing)",
            )
        if not placed:
            return fail(
                seq,
                entry_id,
                "stored fund or sequence differ from the sealed content (entry moved)",
            )
        balance += change
        head, seq = stored_hash, seq + 1
    chain.seq, chain.head, chain.balance = seq - 1, head, balance


def _parsed(body: str) -> dict[str, Any]:
    """An entry's body; ``{}`` if it is not a JSON object. (orjson is fast but reads an
    integer beyond 64 bits as a float: then the standard parser reads it again, exactly.)"""
    try:
        data = orjson.loads(body)
        if isinstance(data, dict) and any(
            type(leg[1]) is float for leg in data.get("legs") or () if len(leg) > 1
        ):
            data = json.loads(body)
    except (ValueError, TypeError):
        try:
            data = json.loads(body)
        except ValueError:
            return {}
    return data if isinstance(data, dict) else {}


def out_of_bounds(account: str) -> str:
    return f"an amount of {account} is not integer fen within the bound"


def unreadable(data: dict[str, Any], bounded: bool = True) -> str | None:
    """Why an entry body cannot be taken as an entry (with ``bounded``: or has an amount
    beyond the bound), or None."""
    try:
        if not all(isinstance(data[k], str) for k in ("id", "prev", "fund", "at")):
            return "the entry cannot be read (fields missing or of the wrong type)"
        if not isinstance(data["seq"], int):
            return "the entry cannot be read (no sequence number)"
        for account, fen, currency in data["legs"]:
            if not (isinstance(account, str) and isinstance(currency, str)):
                return "the entry cannot be read (a leg without account or currency)"
            if type(fen) is not int or (bounded and abs(fen) > MAX_AMOUNT_FEN):
                return f"{out_of_bounds(account)}: {fen!r}"
    except (KeyError, TypeError, ValueError):
        return "the entry cannot be read (fields missing or of the wrong type)"
    return None


async def prefetched(store: ChainSource, batch_size: int) -> AsyncIterator[Block]:
    """The blocks, read ahead by a task: while the caller checks one batch, the next one's
    request is already with the database (which works on another core)."""
    queue: asyncio.Queue[Block | None] = asyncio.Queue()

    async def read() -> None:
        try:
            async for block in store.stream_blocks(batch_size):
                queue.put_nowait(block)  # the checker takes a batch before the next comes
        finally:
            queue.put_nowait(None)

    reader = asyncio.create_task(read())
    try:
        while (block := await queue.get()) is not None:
            yield block
        await reader  # its error, if it stopped on one
    finally:
        reader.cancel()


async def verify(
    store: ChainSource, *, batch_size: int = 20, progress: Callable[[int], None] | None = None
) -> Verification:
    """Check every fund's chain; ``progress`` is told how many entries each block held."""
    result = Verification()
    chains: dict[str, _Chain] = {}
    async for block in prefetched(store, batch_size):
        n = len(block.lines or ())
        result.entries += n
        chain = chains.setdefault(block.fund, _Chain())
        if block.first != chain.seq + 1:
            chain.waiting[block.first] = block
        else:
            if not chain.broken:
                check_block(chain, block, result.breaks)
            while chain.seq + 1 in chain.waiting and not chain.broken:
                check_block(chain, chain.waiting.pop(chain.seq + 1), result.breaks)
        if progress:
            progress(n)
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
    store: ChainSource, write: Callable[[str], object], *, batch_size: int = 50
) -> dict[str, int]:
    """Write the journal in hledger's format; the account balances it must give (fen)."""
    balances: dict[str, int] = {}
    currencies: set[str] = set()
    write("; Linli ledger export (hledger journal); amounts in yuan\n\n")
    async for block in store.stream_blocks(batch_size):
        if block.lines is None:
            raise ValueError(f"block {block.id} cannot be read: run `linli ledger verify`")
        for entry_hash, text in block.lines:
            body = _parsed(text)
            problem = unreadable(body, bounded=False)  # verify reports amounts out of bounds
            if problem:
                raise ValueError(
                    f"entry {body.get('id', '?')} of block {block.id}: {problem}: "
                    "run `linli ledger verify`"
                )
            for account, fen, currency in body["legs"]:
                balances[account] = balances.get(account, 0) + fen
                currencies.add(currency)
            write(hledger_entry(body, entry_hash) + "\n")
    write(hledger_declarations(balances, currencies or {"CNY"}))
    return balances

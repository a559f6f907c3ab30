"""Posting to a fund's chain: idempotency, the balance check, the hash chain, the fund's
running state. Each call is one fund and a batch of drafts (group commit: one fund read, one
``insert_many`` of claims, one block, one fund update); a command alone posts a batch of one.

The fund's single writer (the command consumer for the Kafka partition of the fund's key, and
within a process a lock per fund) makes calls for a fund one at a time. When two writers meet
anyway (a rebalance, or the donations topic in another process), the unique claim per entry id
keeps an entry from being posted twice, the unique block ``_id`` per link keeps one chain, and
the fund's ``version`` keeps the balance: the loser rolls forward and retries.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from services.ledger.domain.funds import (
    CASH,
    FundState,
    Overspend,
    apply_entry,
    check_entry,
    check_unheld,
    place_hold,
    release_hold,
)
from services.ledger.domain.idempotency import ConflictingReplay, check_same
from services.ledger.domain.journal import Draft, Entry, seal
from services.ledger.domain.refusals import AnswerStatus
from services.ledger.store import Block, LedgerStore, StaleFund, block_id, claim_expired
from shared.events import utcnow
from shared.kafka.failures import TransientError

POSTED, EXISTS = AnswerStatus.POSTED, AnswerStatus.EXISTS


class UnknownFund(LookupError):
    """No fund (campaign) of that id has been opened."""


class Busy(TransientError):
    """Another writer is posting this entry id right now: try again later (transient)."""


class Contention(TransientError):
    """Other writers kept changing the fund: try again later (transient)."""


@dataclass(frozen=True)
class Posted:
    status: AnswerStatus  # posted | exists
    entry_id: str
    seq: int
    hash: str
    at: str = ""  # the entry's own time (ISO), as sealed: a replay answers the first one


def stored_content(doc: dict[str, Any]) -> dict[str, Any]:
    body = json.loads(doc["body"])
    return {k: body[k] for k in ("fund", "kind", "meta", "memo", "reverses", "legs")}


Result = Posted | Overspend | ConflictingReplay | Busy


def first_occurrences(ids: list[str]) -> tuple[list[int], list[int]]:
    """Positions of each id's first occurrence, and of the repeats."""
    seen: set[str] = set()
    firsts, repeats = [], []
    for n, entry_id in enumerate(ids):
        (repeats if entry_id in seen else firsts).append(n)
        seen.add(entry_id)
    return firsts, repeats


def replica_writer(instance_id: str) -> str:
    """The writer name of a replica (``Settings.group_instance_id``): the same across its
    restarts, so the claims a killed replica left are its own again at once (not ``Busy``
    until ``CLAIM_TIMEOUT``), and distinct between replicas, as their instance ids are;
    hex, as a claim's fields are separated by spaces."""
    return hashlib.sha256(f"ledger {instance_id}".encode()).hexdigest()[:32]


class Books:
    def __init__(self, store: LedgerStore, max_retries: int = 20, writer: str | None = None):
        self.store = store
        self._max_retries = max_retries
        self.writer = writer or uuid.uuid4().hex  # a replica's: ``replica_writer``
        self._locks: dict[str, asyncio.Lock] = {}
        self._tails: dict[str, tuple[int, frozenset[str]]] = {}  # fund -> last seq, quarters

    async def state(self, fund: str) -> tuple[FundState, int]:
        doc = await self.store.fund_doc(fund)
        if doc is None:
            raise UnknownFund(fund)
        return FundState.from_doc(doc), doc.get("version", 0)

    async def post(self, fund: str, drafts: list[Draft]) -> list[Result]:
        """Post drafts of one fund, in order; one result per draft: ``Posted`` (posted or
        exists) or the refusal (``Overspend``, ``ConflictingReplay``), which does not stop the
        others; ``Busy`` for a draft whose id another writer is posting right now, and for every
        draft after it (so the fund's order holds): the caller retries those later."""
        for draft in drafts:
            if draft.fund != fund:
                raise ValueError(f"draft {draft.entry_id} is not for fund {fund}")
        lock = self._locks.setdefault(fund, asyncio.Lock())
        async with lock:
            results: list[Result | None] = [None] * len(drafts)
            remaining = list(range(len(drafts)))
            while remaining:  # an id twice: the repeat goes in the next pass (a replay then)
                firsts, repeats = first_occurrences([drafts[i].entry_id for i in remaining])
                posted = await self._post(fund, [drafts[remaining[n]] for n in firsts])
                for n, result in zip(firsts, posted, strict=True):
                    results[remaining[n]] = result
                remaining = [remaining[n] for n in repeats]
            return [r for r in results if r is not None]

    async def _post(self, fund: str, drafts: list[Draft]) -> list[Result]:
        results: list[Result | None] = [None] * len(drafts)
        held: dict[int, str] = {}  # draft position -> block its claim points to
        for _ in range(self._max_retries):
            pending = [i for i, r in enumerate(results) if r is None]
            if not pending:
                break
            state, version = await self.state(fund)
            block = block_id(fund, state.seq + 1)
            sealed: list[Entry] = []
            positions: list[int] = []
            current = state
            refused: dict[int, Overspend] = {}
            for i in pending:
                try:
                    self._check(current, drafts[i])
                except Overspend as exc:
                    refused[i] = exc
                    continue
                entry = seal(drafts[i], current.seq + 1, current.head)
                current = apply_entry(current, entry)
                sealed.append(entry)
                positions.append(i)
            decided = await self._claim(fund, block, drafts, positions, held)
            if decided:  # replays or busy ids: seal again without them
                self._settle(results, decided)
                continue
            for i, exc in refused.items():
                results[i] = exc
            if not sealed:
                break
            tail = self._tails.get(fund)
            indexed = tail[1] if tail and tail[0] == state.seq else frozenset()
            quarters = await self.store.append_block(fund, sealed, indexed)
            if quarters is None:
                await self.store.roll_forward(fund)  # the link was taken: another writer
                continue
            self._tails[fund] = (sealed[-1].seq, frozenset(quarters))
            try:
                await self.store.save_state(current, version)
            except StaleFund:
                await self.store.roll_forward(fund)
            for entry, i in zip(sealed, positions, strict=True):
                at = entry.draft.at.isoformat()
                results[i] = Posted(POSTED, entry.draft.entry_id, entry.seq, entry.hash, at)
        done = [r for r in results if r is not None]
        if len(done) < len(results):
            raise Contention(f"fund {fund}: too much contention, gave up after retries")
        return done

    @staticmethod
    def _settle(results: list[Result | None], decided: dict[int, Result]) -> None:
        """Record the answers found for replayed ids; a busy id defers it and all after it."""
        busy = min((i for i, r in decided.items() if isinstance(r, Busy)), default=None)
        for i, r in decided.items():
            if busy is None or i < busy:
                results[i] = r
        if busy is not None:
            for i in range(busy, len(results)):
                if results[i] is None:
                    results[i] = Busy(str(decided[busy]))

    async def _claim(
        self,
        fund: str,
        block: str,
        drafts: list[Draft],
        positions: list[int],
        held: dict[int, str],
    ) -> dict[int, Result]:
        """Claim the sealed drafts' ids for ``block``; the answers for ids claimed already
        (replays: exists or conflict; or busy). Claims this call holds are moved along."""
        new = [i for i in positions if held.get(i) != block]
        taken = await self.store.claim(block, self.writer, [drafts[i].entry_id for i in new])
        for i in new:
            held[i] = block
        decided: dict[int, Result] = {}
        blocks: dict[str, Block | None] = {}  # read once for all the replays in it
        claims = await asyncio.gather(
            *(self.store.claim_of(drafts[new[n]].entry_id) for n in taken)
        )
        for n, claim in zip(taken, claims, strict=True):
            i = new[n]
            held.pop(i, None)
            outcome = await self._resolve(fund, block, drafts[i], claim, blocks)
            if outcome is None:
                held[i] = block
            else:
                decided[i] = outcome
        return decided

    async def _resolve(
        self,
        fund: str,
        block: str,
        draft: Draft,
        claim: dict[str, Any] | None,
        blocks: dict[str, Block | None],
    ) -> Result | None:
        """An id claimed already: its stored answer; None once the claim is ours for
        ``block``; ``Busy`` while another writer may still be posting it."""
        if claim is None:
            return Busy(draft.entry_id)
        if claim["block"] not in blocks:
            blocks[claim["block"]] = await self.store.block(claim["block"])
        stored = blocks[claim["block"]]
        if stored is not None:
            doc = stored.find(draft.entry_id)
            if doc is not None:
                try:
                    check_same("entry", doc["_id"], stored_content(doc), draft.content())
                    at = json.loads(doc["body"])["at"]
                    return Posted(EXISTS, doc["_id"], doc["seq"], doc["hash"], at)
                except ConflictingReplay as exc:
                    return exc
        if claim["block"] == block and claim["writer"] == self.writer and claim["fund"] == fund:
            return None  # ours, from an attempt of this writer that stopped before its block
        dead = (
            stored is not None  # its writer lost that link and will claim again
            or claim_expired(claim, utcnow())
            or (claim["writer"] == self.writer and claim["fund"] == fund)  # under our fund lock
        )
        if dead and await self.store.take_claim(claim, block, self.writer):
            return None
        return Busy(draft.entry_id)

    @staticmethod
    def _check(state: FundState, draft: Draft) -> None:
        if draft.releases_hold and draft.releases_hold in state.holds:
            check_entry(state, draft.fund, draft.legs, draft.kind, draft.releases_hold)
        else:
            check_unheld(state, draft.fund, draft.legs, draft.kind)

    async def hold(
        self, fund: str, disbursement_id: str, amount_fen: int, source: str = CASH
    ) -> FundState:
        """Reserve cash or goods for a requested disbursement (``Overspend`` if not
        available, ``NoSuchGoods`` for an item the fund does not hold)."""
        return await self._change(
            fund, lambda s: place_hold(s, disbursement_id, amount_fen, source)
        )

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
        raise Contention(f"fund {fund}: too much contention, gave up after retries")

"""Ledger's MongoDB adapter (database ``<prefix>ledger``). No multi-document transactions, and
FerretDB answers only exact ``{_id: value}`` filters without scanning, so every hot read and
write is by ``_id``:

- ``blocks``: a fund's hash chain in blocks, one per group commit. ``_id`` = ``<fund>/<first
  seq, 12 digits>``; ``fund``, ``first``, ``last``, ``count``, ``quarters`` and ``packed``: the
  entries as zlib-compressed lines ``<hash> <canonical body>`` (FerretDB pays per stored
  value, so one binary value per block reads ~15x faster than a document per entry). Two
  writers can never both append the link after ``seq``: both would insert the same ``_id``. A
  fund's blocks follow one another (``last + 1`` is the next block's first), so the chain is
  walked by ``_id``;
- ``entries``: a small claim per entry id (``claim``: its block, writer and time in one value),
  inserted before its block: the unique ``_id`` makes a replayed id visible before anything is
  appended, and it finds an entry's block for look-ups (reversals, replays);
- ``quarters``: per ``<fund>/<quarter>`` the first seqs of the runs of blocks holding entries
  of that quarter (the quarterly disclosure follows each run by ``_id``; a block continuing
  its predecessor's quarter adds nothing, so most group commits write no index);
- ``funds``: one document per fund, its campaign data and its running state (balance, holds,
  figures, chain head), replaced only with a ``version`` filter (optimistic concurrency). The
  blocks are the truth: if a writer dies between appending a block and advancing the fund, the
  next writer rolls the fund forward along the blocks after its ``seq``;
- ``disbursements``, ``approvers`` (hashed keys), ``outcomes`` (answers to commands as one JSON
  value each, ``outcome``; the first one recorded stays), ``reversals``;
- ``checks``: the last chain verification (``_id`` ``last-verification``), for the public.

None of these field names is part of an entry's hash: the hash covers the canonical body alone
(inside ``packed``), so naming a stored field differently never breaks a chain.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

from bson import Binary
from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.ledger.domain.funds import FundState, apply_legs, quarter_of
from services.ledger.domain.journal import Entry, legs_of
from shared.events import utcnow

# stored fields that hold one packed value each (FerretDB pays per stored value)
PACKED = "packed"  # a block's entries: zlib-compressed lines ``<hash> <canonical body>``
CLAIM = "claim"  # an entry id's claim: ``<block> <writer> <time in ms>``
OUTCOME = "outcome"  # a command's answer as JSON


class StaleFund(Exception):
    """The fund document changed since it was read."""


def block_id(fund: str, first: int) -> str:
    return f"{fund}/{first:012d}"


def pack(lines: list[tuple[str, str]]) -> bytes:
    """A block's entries, ``(hash, canonical body)`` in chain order, as stored (canonical
    bodies never hold a raw newline)."""
    return zlib.compress("".join(f"{h} {b}\n" for h, b in lines).encode(), 1)


def unpack(blob: bytes) -> list[tuple[str, str]]:
    text = zlib.decompress(blob).decode()
    return [(line[:64], line[65:]) for line in text.split("\n") if line]


@dataclass(frozen=True)
class Block:
    """A stored block: ``lines`` is None when its data cannot be read (a damaged block)."""

    id: str
    fund: str
    first: int
    last: int
    lines: list[tuple[str, str]] | None

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Block:
        try:
            lines: list[tuple[str, str]] | None = unpack(bytes(doc[PACKED]))
        except (KeyError, TypeError, ValueError, zlib.error):
            lines = None
        return cls(doc["_id"], doc.get("fund", ""), doc.get("first", 0), doc.get("last", 0), lines)

    @cached_property
    def positions(self) -> dict[str, int]:
        """Entry id -> position in the block (built once per block read)."""
        return {json.loads(body)["id"]: i for i, (_, body) in enumerate(self.lines or ())}

    def find(self, entry_id: str) -> dict[str, Any] | None:
        """The entry of that id in this block, as ``entry`` returns it."""
        i = self.positions.get(entry_id)
        if i is None or self.lines is None:
            return None
        h, body = self.lines[i]
        return {
            "_id": entry_id,
            "fund": self.fund,
            "seq": self.first + i,
            "body": body,
            "hash": h,
            "block": self.id,
        }


def block_doc(fund: str, entries: list[Entry]) -> dict[str, Any]:
    first, last = entries[0].seq, entries[-1].seq
    return {
        "_id": block_id(fund, first),
        "fund": fund,
        "first": first,
        "last": last,
        "count": len(entries),
        "quarters": sorted({quarter_of(e.draft.at.isoformat()) for e in entries}),
        PACKED: Binary(pack([(e.hash, e.body) for e in entries])),
        "at": utcnow(),
    }


def entry_doc(entry: Entry) -> dict[str, Any]:
    """One document per entry: what a naive journal would store (the benchmark's baseline)."""
    d = entry.draft
    return {
        "_id": d.entry_id,
        "fund": d.fund,
        "seq": entry.seq,
        "kind": d.kind,
        "quarter": quarter_of(d.at.isoformat()),
        "at": d.at,
        "body": entry.body,
        "hash": entry.hash,
    }


def claim_text(block: str, writer: str, at: datetime) -> str:
    """A claim in one value (FerretDB pays per stored value): block, writer, time (ms)."""
    return f"{block} {writer} {int(at.timestamp() * 1000)}"


def _json_default(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot store {value!r} in an outcome")


def _duplicates(exc: BulkWriteError) -> list[int]:
    """Indexes of the operations refused as duplicate keys; other errors are raised."""
    errors = exc.details.get("writeErrors") or []
    if not errors or any(e.get("code") != 11000 for e in errors):
        raise exc
    return [int(e["index"]) for e in errors]


class LedgerStore:
    def __init__(self, db: AsyncDatabase):
        self.db = db
        self.blocks = db["blocks"]
        self.entries = db["entries"]
        self.quarters = db["quarters"]
        self.funds = db["funds"]
        self.disbursements = db["disbursements"]
        self.approvers = db["approvers"]
        self.outcomes = db["outcomes"]
        self.checks = db["checks"]

    async def prepare(self) -> None:
        await self.approvers.create_index([("key_hash", ASCENDING)], unique=True)
        await self.disbursements.create_index([("fund", ASCENDING)])

    # funds -------------------------------------------------------------------------------
    async def fund_doc(self, fund: str) -> dict[str, Any] | None:
        return await self.funds.find_one({"_id": fund})

    async def create_fund(self, doc: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        """Insert once; (False, stored) when the id exists."""
        try:
            await self.funds.insert_one(
                {**FundState(fund=doc["_id"]).to_doc(), "version": 0, **doc}
            )
            return True, doc
        except DuplicateKeyError:
            return False, await self.fund_doc(doc["_id"]) or {}

    async def all_funds(self) -> list[dict[str, Any]]:
        return await self.funds.find({}).sort("_id", ASCENDING).to_list()

    async def save_state(self, state: FundState, version: int) -> None:
        result = await self.funds.update_one(
            {"_id": state.fund, "version": version},
            {"$set": {**state.to_doc(), "version": version + 1}},
        )
        if result.matched_count != 1:
            raise StaleFund(state.fund)

    async def roll_forward(self, fund: str) -> tuple[FundState, int]:
        """The fund's state including every block already in its chain; saved if it moved."""
        while True:
            doc = await self.fund_doc(fund)
            if doc is None:
                raise KeyError(fund)
            state, version = FundState.from_doc(doc), doc.get("version", 0)
            moved = False
            while (block := await self.block(block_id(fund, state.seq + 1))) is not None:
                if block.lines is None:
                    raise RuntimeError(f"block {block.id} cannot be read")
                for h, body in block.lines:
                    data = json.loads(body)
                    state = apply_legs(
                        state,
                        legs_of(data),
                        data["seq"],
                        h,
                        quarter_of(data["at"]),
                        data["releases_hold"],
                    )
                await self.index_quarters(fund, block.first, self._quarters_of(block))
                moved = True
            if not moved:
                return state, version
            try:
                await self.save_state(state, version)
                return state, version + 1
            except StaleFund:
                continue

    @staticmethod
    def _quarters_of(block: Block) -> list[str]:
        return sorted({quarter_of(json.loads(b)["at"]) for _, b in block.lines or ()})

    # the chain ---------------------------------------------------------------------------
    async def claim(self, block: str, writer: str, ids: list[str]) -> list[int]:
        """Claim entry ids for ``block``; the positions of those already claimed."""
        if not ids:
            return []
        claim = claim_text(block, writer, utcnow())
        try:
            await self.entries.insert_many([{"_id": i, CLAIM: claim} for i in ids], ordered=False)
            return []
        except BulkWriteError as exc:
            return _duplicates(exc)

    async def claim_of(self, entry_id: str) -> dict[str, Any] | None:
        """``_id``, ``claim`` (as stored), ``fund``, ``block``, ``writer`` and ``at`` of an
        entry id's claim."""
        doc = await self.entries.find_one({"_id": entry_id})
        if doc is None:
            return None
        block, writer, at_ms = doc[CLAIM].split(" ")
        return {
            "_id": entry_id,
            CLAIM: doc[CLAIM],
            "fund": block.rsplit("/", 1)[0],
            "block": block,
            "writer": writer,
            "at": datetime.fromtimestamp(int(at_ms) / 1000, UTC),
        }

    async def take_claim(self, old: dict[str, Any], block: str, writer: str) -> bool:
        """Move a claim to ``block`` if it is still ``old`` (compare-and-set: the filter is not
        by ``_id`` alone, so FerretDB scans; only a dead or beaten writer's claim comes here)."""
        result = await self.entries.update_one(
            {"_id": old["_id"], CLAIM: old[CLAIM]},
            {"$set": {CLAIM: claim_text(block, writer, utcnow())}},
        )
        return result.matched_count == 1

    async def append_block(
        self, fund: str, entries: list[Entry], indexed: frozenset[str] = frozenset()
    ) -> list[str] | None:
        """Append sealed entries (the link after the fund's ``seq``); the block's quarters, or
        None if the link is taken. ``indexed``: quarters of the block just before it, whose run
        of blocks the quarter index already starts earlier (the disclosure walks runs)."""
        doc = block_doc(fund, entries)
        try:
            await self.blocks.insert_one(doc)
        except DuplicateKeyError:
            return None
        await self.index_quarters(
            fund, doc["first"], [q for q in doc["quarters"] if q not in indexed]
        )
        return doc["quarters"]

    async def index_quarters(self, fund: str, first: int, quarters: list[str]) -> None:
        """Mark ``first`` as the start of a run of blocks holding entries of ``quarters``."""
        if not quarters:
            return
        await self.quarters.bulk_write(
            [
                UpdateOne({"_id": f"{fund}/{q}"}, {"$addToSet": {"firsts": first}}, upsert=True)
                for q in quarters
            ]
        )

    async def block(self, block: str) -> Block | None:
        doc = await self.blocks.find_one({"_id": block})
        return Block.from_doc(doc) if doc else None

    async def entry(self, entry_id: str) -> dict[str, Any] | None:
        """A posted entry (``_id``, ``fund``, ``seq``, ``body``, ``hash``), or None (also for
        a claim whose block never got written)."""
        claim = await self.claim_of(entry_id)
        if claim is None:
            return None
        block = await self.block(claim["block"])
        return block.find(entry_id) if block else None

    async def entries_of_quarter(self, quarter: str) -> list[dict[str, Any]]:
        """Parsed bodies of the entries of a quarter, by fund and seq: the index gives where
        each run of blocks with entries of that quarter starts; a run is followed block by
        block (by ``_id``) while the blocks hold entries of the quarter."""
        bodies = []
        for fund in await self.all_funds():
            index = await self.quarters.find_one({"_id": f"{fund['_id']}/{quarter}"})
            seen: set[int] = set()
            for first in sorted((index or {}).get("firsts", [])):
                while first not in seen:
                    doc = await self.blocks.find_one({"_id": block_id(fund["_id"], first)})
                    if doc is None or quarter not in doc.get("quarters", ()):
                        break
                    seen.add(first)
                    for _, body in Block.from_doc(doc).lines or ():
                        data = json.loads(body)
                        if quarter_of(data["at"]) == quarter:
                            bodies.append(data)
                    first = doc["last"] + 1
        return bodies

    async def stream_blocks(self, batch_size: int = 50) -> AsyncIterator[Block]:
        """Every block, in storage order (verification re-orders per fund)."""
        cursor = self.blocks.find({}, {"fund": 1, "first": 1, "last": 1, PACKED: 1})
        async for doc in cursor.batch_size(batch_size):
            yield Block.from_doc(doc)

    async def count_entries(self) -> int:
        return sum(doc.get("seq", 0) for doc in await self.all_funds())

    # disbursements -----------------------------------------------------------------------
    async def disbursement(self, disbursement_id: str) -> dict[str, Any] | None:
        return await self.disbursements.find_one({"_id": disbursement_id})

    async def insert_disbursement(self, doc: dict[str, Any]) -> bool:
        try:
            await self.disbursements.insert_one({**doc, "version": 0})
            return True
        except DuplicateKeyError:
            return False

    async def update_disbursement(self, disbursement_id: str, version: int, changes: dict) -> bool:
        result = await self.disbursements.update_one(
            {"_id": disbursement_id, "version": version},
            {"$set": {**changes, "version": version + 1, "updated_at": utcnow()}},
        )
        return result.matched_count == 1

    async def disbursements_of(self, fund: str) -> list[dict[str, Any]]:
        return await self.disbursements.find({"fund": fund}).sort("_id", ASCENDING).to_list()

    async def claim_reversal(self, original_id: str, reversal_id: str) -> str:
        """An entry is reversed at most once: the first reversal id to claim it wins."""
        try:
            await self.db["reversals"].insert_one({"_id": original_id, "by": reversal_id})
            return reversal_id
        except DuplicateKeyError:
            doc = await self.db["reversals"].find_one({"_id": original_id})
            return doc["by"] if doc else reversal_id

    async def release_reversal(self, original_id: str, reversal_id: str) -> None:
        """Give up the claim of a refused reversal (the fund's single writer calls this), so
        that another reversal of the entry may be tried later."""
        doc = await self.db["reversals"].find_one({"_id": original_id})
        if doc is not None and doc["by"] == reversal_id:
            await self.db["reversals"].delete_one({"_id": original_id})

    # approvers and outcomes --------------------------------------------------------------
    async def add_approver(self, doc: dict[str, Any]) -> None:
        await self.approvers.insert_one(doc)

    async def approver_by_hash(self, key_hash: str) -> dict[str, Any] | None:
        return await self.approvers.find_one({"key_hash": key_hash, "active": True})

    async def record_outcome(self, command_id: str, outcome: dict[str, Any]) -> None:
        """Record a command's answer; a redelivered command keeps the first one recorded."""
        await self.record_outcomes([(command_id, outcome)])

    async def record_outcomes(self, outcomes: list[tuple[str, dict[str, Any]]]) -> None:
        """Record many answers with one write; those already recorded stay as they were."""
        if not outcomes:
            return
        try:
            await self.outcomes.insert_many(
                [
                    {"_id": command_id, OUTCOME: json.dumps(outcome, default=_json_default)}
                    for command_id, outcome in outcomes
                ],
                ordered=False,
            )
        except BulkWriteError as exc:
            _duplicates(exc)

    async def outcome(self, command_id: str) -> dict[str, Any] | None:
        """A command's answer (stored as one JSON value: FerretDB pays per stored value)."""
        doc = await self.outcomes.find_one({"_id": command_id})
        return json.loads(doc[OUTCOME]) if doc else None

    # verification -------------------------------------------------------------------------
    async def save_verification(self, record: dict[str, Any]) -> None:
        """Keep the outcome of the latest ``linli ledger verify`` (replacing the previous)."""
        await self.checks.replace_one({"_id": LAST_VERIFICATION}, record, upsert=True)

    async def last_verification(self) -> dict[str, Any] | None:
        doc = await self.checks.find_one({"_id": LAST_VERIFICATION})
        return None if doc is None else {k: v for k, v in doc.items() if k != "_id"}


LAST_VERIFICATION = "last-verification"
CLAIM_TIMEOUT = timedelta(seconds=15)


def claim_expired(claim: dict[str, Any], now: datetime) -> bool:
    """A claim whose block never came within ``CLAIM_TIMEOUT``: its writer died."""
    at = claim.get("at")
    return at is None or now - (at if at.tzinfo else at.replace(tzinfo=now.tzinfo)) > CLAIM_TIMEOUT

"""Ledger's MongoDB adapter (database ``<prefix>ledger``). No multi-document transactions:

- ``journal``: one immutable document per entry, ``_id`` = the client-chosen entry id, unique
  ``(fund, seq)``: two writers can never both append the same link of a fund's chain;
- ``funds``: one document per fund, its campaign data and its running state (balance, holds,
  figures, chain head), replaced only with a ``version`` filter (optimistic concurrency). The
  journal is the truth: if a writer dies between appending entries and advancing the fund, the
  next writer rolls the fund forward from the entries after its ``seq``;
- ``disbursements``, ``approvers`` (hashed keys), ``outcomes`` (answers to commands).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.ledger.domain.funds import FundState, apply_legs, quarter_of
from services.ledger.domain.journal import Entry, legs_of
from shared.events import utcnow


class StaleFund(Exception):
    """The fund document changed since it was read."""


def entry_doc(entry: Entry) -> dict[str, Any]:
    d = entry.draft
    return {
        "_id": d.entry_id,
        "fund": d.fund,
        "seq": entry.seq,
        "kind": d.kind,
        "q": quarter_of(d.at.isoformat()),
        "at": d.at,
        "body": entry.body,
        "hash": entry.hash,
    }


class LedgerStore:
    def __init__(self, db: AsyncDatabase):
        self.db = db
        self.journal = db["journal"]
        self.funds = db["funds"]
        self.disbursements = db["disbursements"]
        self.approvers = db["approvers"]
        self.outcomes = db["outcomes"]

    async def prepare(self) -> None:
        await self.journal.create_index([("fund", ASCENDING), ("seq", ASCENDING)], unique=True)
        await self.journal.create_index([("q", ASCENDING), ("fund", ASCENDING)])
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

    async def complete_fund(self, fund: str, campaign: dict[str, Any]) -> bool:
        """Give a fund opened by a donation its campaign data (once)."""
        result = await self.funds.update_one(
            {"_id": fund, "opened_by_donation": True},
            {"$set": {**campaign, "opened_by_donation": False}},
        )
        return result.modified_count == 1

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
        """The fund's state including every entry already in its chain; saved if it moved."""
        while True:
            doc = await self.fund_doc(fund)
            if doc is None:
                raise KeyError(fund)
            state, version = FundState.from_doc(doc), doc.get("version", 0)
            later = await self.journal.find(
                {"fund": fund, "seq": {"$gt": state.seq}}, {"body": 1, "hash": 1, "q": 1}
            ).to_list()
            if not later:
                return state, version
            for e in sorted(later, key=lambda d: json.loads(d["body"])["seq"]):
                body = json.loads(e["body"])
                state = apply_legs(
                    state, legs_of(body), body["seq"], e["hash"], e["q"], body["releases_hold"]
                )
            try:
                await self.save_state(state, version)
                return state, version + 1
            except StaleFund:
                continue

    # journal -----------------------------------------------------------------------------
    async def append(self, entries: list[Entry]) -> int:
        """Insert sealed entries in order; how many went in before a taken id or link."""
        if not entries:
            return 0
        try:
            await self.journal.insert_many([entry_doc(e) for e in entries], ordered=True)
            return len(entries)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors") or []
            if not errors or errors[0].get("code") != 11000:
                raise
            return int(errors[0]["index"])

    async def entry(self, entry_id: str) -> dict[str, Any] | None:
        return await self.journal.find_one({"_id": entry_id})

    async def entries_of_quarter(self, quarter: str) -> list[dict[str, Any]]:
        docs = await self.journal.find({"q": quarter}, {"body": 1, "fund": 1}).to_list()
        return sorted(docs, key=lambda d: (d["fund"], json.loads(d["body"])["seq"]))

    async def stream(self, batch_size: int = 5000) -> AsyncIterator[dict[str, Any]]:
        """Every entry, in storage order (verification re-orders per fund)."""
        cursor = self.journal.find({}, {"fund": 1, "seq": 1, "body": 1, "hash": 1}).batch_size(
            batch_size
        )
        async for doc in cursor:
            yield doc

    async def count_entries(self) -> int:
        return await self.journal.count_documents({})

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

    # approvers and outcomes --------------------------------------------------------------
    async def add_approver(self, doc: dict[str, Any]) -> None:
        await self.approvers.insert_one(doc)

    async def approver_by_hash(self, key_hash: str) -> dict[str, Any] | None:
        return await self.approvers.find_one({"key_hash": key_hash, "active": True})

    async def record_outcome(self, command_id: str, outcome: dict[str, Any]) -> None:
        await self.outcomes.replace_one(
            {"_id": command_id}, {**outcome, "at": utcnow()}, upsert=True
        )

    async def outcome(self, command_id: str) -> dict[str, Any] | None:
        return await self.outcomes.find_one({"_id": command_id})

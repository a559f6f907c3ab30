"""Dispatch's MongoDB adapter (database ``<prefix>dispatch``).

- ``cases``: one document per case (``_id`` = issue id) holding the machine's state, a
  ``version`` for optimistic concurrency, the ``outbox`` of events not yet acknowledged by
  Kafka, the applied ``actions`` ids and the ``history`` of duties that ended.
- ``timers``: one document per pending timer (``_id`` = issue id + lane), indexed by due time;
  replicas claim a due timer with a lease (findAndModify), so each fires on one replica.
- ``keys``: hashed API keys scoped to a department or an office node.
"""

from __future__ import annotations

import hashlib
from contextlib import suppress
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.dispatch.domain.machine import Case, Duty, Holder, Timer


def case_to_doc(case: Case) -> dict[str, Any]:
    doc = asdict(case)
    doc["_id"] = doc.pop("issue_id")
    return doc


def case_from_doc(doc: dict[str, Any]) -> Case:
    duties = tuple(Duty(**{**d, "holder": Holder(**d["holder"])}) for d in doc.get("duties") or ())
    return Case(
        issue_id=doc["_id"],
        category=doc["category"],
        priority=doc["priority"],
        node_id=doc["node_id"],
        status=doc["status"],
        owner=Holder(**doc["owner"]),
        duties=duties,
        supervisor=doc["supervisor"],
        version=doc["version"],
        resolved_at=doc.get("resolved_at"),
        visit_at=doc.get("visit_at"),
        rating=doc.get("rating"),
        merged_into=doc.get("merged_into"),
        closed_reason=doc.get("closed_reason"),
    )


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class Conflict(Exception):
    """Someone else changed the case first (its version moved): reload and decide again."""


class CaseStore:
    def __init__(self, db: AsyncDatabase):
        self.cases = db["cases"]
        self.timers = db["timers"]
        self.keys = db["keys"]

    async def prepare(self) -> None:
        await self.cases.create_index([("duties.holder.code", ASCENDING)])
        await self.cases.create_index([("history.holder.code", ASCENDING)])
        await self.cases.create_index([("places", ASCENDING), ("status", ASCENDING)])
        await self.cases.create_index([("reported_month", ASCENDING)])
        await self.cases.create_index([("outbox_at", ASCENDING)])

    # -- cases ------------------------------------------------------------------------------
    async def insert(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Insert a new case; on a redelivery the stored one wins (same decision replayed)."""
        try:
            await self.cases.insert_one(doc)
            return doc
        except DuplicateKeyError:
            existing = await self.cases.find_one({"_id": doc["_id"]})
            assert existing is not None
            return existing

    async def get(self, issue_id: str) -> dict[str, Any] | None:
        return await self.cases.find_one({"_id": issue_id})

    async def replace(self, expected_version: int, doc: dict[str, Any]) -> None:
        """Write ``doc`` only if the stored case is still at ``expected_version``."""
        result = await self.cases.replace_one({"_id": doc["_id"], "version": expected_version}, doc)
        if result.matched_count != 1:
            raise Conflict(doc["_id"])

    async def set_outbox(
        self, issue_id: str, version: int, outbox: list, oldest: datetime | None
    ) -> bool:
        """Keep only ``outbox`` (published entries removed) if the case is still at ``version``."""
        result = await self.cases.update_one(
            {"_id": issue_id, "version": version},
            {"$set": {"outbox": outbox, "outbox_at": oldest}},
        )
        return result.matched_count == 1

    async def with_outbox(self, stored_before: datetime, limit: int = 100) -> list[dict[str, Any]]:
        """Cases with events stored before ``stored_before`` and still not published."""
        return (
            await self.cases.find({"outbox_at": {"$lte": stored_before}})
            .sort("outbox_at", ASCENDING)
            .limit(limit)
            .to_list()
        )

    async def visible(self, query: dict[str, Any], limit: int) -> list[dict[str, Any]]:
        return await self.cases.find(query).sort("_id", ASCENDING).limit(limit).to_list()

    async def of_month(self, month: str) -> list[dict[str, Any]]:
        return await self.cases.find(
            {"reported_month": month}, {"outbox": 0, "actions": 0}
        ).to_list()

    # -- timers -----------------------------------------------------------------------------
    # FerretDB v1 answers only exact ``_id`` look-ups without scanning a collection, so due
    # timers are found through a two-level wheel: minute buckets ("min:<m>") list their
    # timers with due times, hour buckets ("hour:<h>") list their non-empty minutes, and a
    # shared cursor holds the last minute fully handled. A tick reads, by exact id, the hours
    # and minutes between the cursor and now: its cost depends on the time elapsed and the
    # timers coming due, never on how many are pending.
    @staticmethod
    def minute_of(moment: datetime) -> int:
        return int(moment.timestamp()) // 60

    async def _enlist(self, timer_id: str, due: datetime) -> None:
        minute = self.minute_of(due)
        await self.timers.update_one(
            {"_id": f"min:{minute}"},
            {"$push": {"timers": {"id": timer_id, "due": due}}},
            upsert=True,
        )
        await self.timers.update_one(
            {"_id": f"hour:{minute // 60}"}, {"$addToSet": {"minutes": minute}}, upsert=True
        )

    async def sync_timers(
        self, case: Case, wanted: tuple[Timer, ...], now: datetime, candidates: set[str]
    ) -> None:
        """Make the stored timers of ``case`` exactly ``wanted`` (``candidates``: every key it
        may have had); a writer that saw an older case version never overwrites a newer one."""
        keys = set()
        cursor = await self.cursor(now)
        for timer in wanted:
            timer_id = f"{case.issue_id}|{timer.key}"
            keys.add(timer.key)
            fields = {
                "issue_id": case.issue_id,
                "target": timer.target,
                "kind": timer.kind,
                "due": timer.due,
                "case_version": case.version,
            }
            existing = await self.timers.find_one({"_id": timer_id})
            if existing is not None and all(existing.get(k) == v for k, v in fields.items()):
                continue  # unchanged (a redelivery): already enlisted
            with suppress(DuplicateKeyError):  # a newer case version already wrote it
                result = await self.timers.update_one(
                    {"_id": timer_id, "case_version": {"$lte": case.version}},
                    {"$set": {**fields, "status": "pending", "lease_until": None}},
                    upsert=True,
                )
                if result.matched_count or result.upserted_id is not None:
                    # a due time in a minute already handled goes to the current minute
                    listed = (
                        max(timer.due, now) if self.minute_of(timer.due) <= cursor else timer.due
                    )
                    await self._enlist(timer_id, listed)
        for key in candidates - keys:
            await self.timers.delete_one(
                {"_id": f"{case.issue_id}|{key}", "case_version": {"$lte": case.version}}
            )

    async def cursor(self, now: datetime) -> int:
        """The last minute every timer of which was handled (created on first use)."""
        doc = await self.timers.find_one({"_id": "cursor"})
        if doc is None:
            with suppress(DuplicateKeyError):
                await self.timers.insert_one({"_id": "cursor", "minute": self.minute_of(now) - 1})
            doc = await self.timers.find_one({"_id": "cursor"})
        assert doc is not None
        return int(doc["minute"])

    async def advance(self, old: int, new: int) -> None:
        """Move the cursor from ``old`` to ``new`` (if no other replica moved it)."""
        await self.timers.update_one({"_id": "cursor", "minute": old}, {"$set": {"minute": new}})

    async def minutes_between(self, after: int, upto: int) -> list[int]:
        """Non-empty minutes in (after, upto], from the hour buckets."""
        found = []
        for hour in range((after + 1) // 60, upto // 60 + 1):
            doc = await self.timers.find_one({"_id": f"hour:{hour}"})
            if doc:
                found += [m for m in doc["minutes"] if after < m <= upto]
        return sorted(found)

    async def minute_timers(self, minute: int) -> list[dict]:
        doc = await self.timers.find_one({"_id": f"min:{minute}"})
        return list(doc["timers"]) if doc else []

    async def drop_minute(self, minute: int) -> None:
        await self.timers.delete_one({"_id": f"min:{minute}"})

    async def claim_timer(
        self, timer_id: str, now: datetime, lease: timedelta, owner: str
    ) -> dict | None:
        """Claim a due timer (or one whose claimer died: lease expired) for ``owner``; it is
        enlisted again after the lease, in case this replica dies before firing it."""
        update = {"$set": {"status": "claimed", "lease_until": now + lease, "claimed_by": owner}}
        for query in (
            {"_id": timer_id, "status": "pending", "due": {"$lte": now}},
            {"_id": timer_id, "status": "claimed", "lease_until": {"$lte": now}},
        ):
            doc = await self.timers.find_one_and_update(
                query, update, return_document=ReturnDocument.AFTER
            )
            if doc is not None:
                await self._enlist(timer_id, now + lease)
                return doc
        return None

    async def release_timer(self, timer: dict) -> None:
        """Drop a claimed timer that nothing wants any more (the case sync replaced it)."""
        await self.timers.delete_one(
            {"_id": timer["_id"], "status": "claimed", "claimed_by": timer["claimed_by"]}
        )

    # -- keys -------------------------------------------------------------------------------
    async def add_key(self, key: str, kind: str, code: str, at: datetime) -> None:
        await self.keys.insert_one({"_id": hash_key(key), "kind": kind, "code": code, "at": at})

    async def principal(self, key: str) -> Holder | None:
        doc = await self.keys.find_one({"_id": hash_key(key)})
        return None if doc is None else Holder(doc["kind"], doc["code"])

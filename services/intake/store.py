"""Intake's MongoDB adapter: the issues read model (database ``<prefix>intake``)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.intake.domain.open311 import RequestQuery
from services.intake.domain.status import CaseStatus, Open311Status, open311_status

_DUPLICATE_KEY = 11000


class IssueStore:
    def __init__(self, db: AsyncDatabase):
        self._issues = db["issues"]

    async def prepare(self) -> None:
        await self._issues.create_index([("resident_ref", ASCENDING), ("reported_at", ASCENDING)])
        await self._issues.create_index([("followers", ASCENDING)])
        await self._issues.create_index([("reported_at", DESCENDING)])
        await self._issues.create_index(
            [("category", ASCENDING), ("open311_status", ASCENDING), ("reported_at", DESCENDING)]
        )

    async def record_reported_many(
        self, reports: list[tuple[dict[str, Any], datetime]]
    ) -> list[bool]:
        """Record reports once each, in one unordered insert (cheap, where an update is not
        on FerretDB). For a document that exists, either this is a redelivery (it has
        ``reported_at``: nothing to do) or the lifecycle arrived first (fill it in).
        One answer per report: False for a duplicate. Any other failure raises."""
        entries = [
            {"status": CaseStatus.REPORTED.value, "at": at, "note": None, "sequence": 0}
            for _, at in reports
        ]
        documents = [
            {
                "_id": fields["issue_id"],
                **{k: v for k, v in fields.items() if k != "issue_id"},
                "status": CaseStatus.REPORTED.value,
                "open311_status": Open311Status.OPEN.value,
                "sequence": 0,
                "history": [entry],
            }
            for (fields, _), entry in zip(reports, entries, strict=True)
        ]
        existing: list[int] = []
        try:
            await self._issues.insert_many(documents, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if exc.details.get("writeConcernErrors") or any(
                e.get("code") != _DUPLICATE_KEY for e in errors
            ):
                raise
            existing = sorted(e["index"] for e in errors)
        recorded = [True] * len(documents)
        for index in existing:  # in offset order, one at a time (rare)
            recorded[index] = await self._fill_in(reports[index][0], entries[index])
        return recorded

    async def _fill_in(self, fields: dict[str, Any], entry: dict[str, Any]) -> bool:
        issue_id = fields["issue_id"]
        found = await self._issues.find_one({"_id": issue_id}, {"reported_at": 1})
        if found is None or found.get("reported_at") is not None:
            return False
        await self._issues.update_one(
            {"_id": issue_id},
            {
                "$set": {k: v for k, v in fields.items() if k != "issue_id"},
                "$push": {"history": entry},
            },
        )
        return True

    async def record_transition(
        self, issue_id: str, sequence: int, status: str, at: datetime, fields: dict[str, Any]
    ) -> bool:
        """Apply a transition unless the document already holds this or a later version
        (events are ordered per issue by ``sequence``). False when it was stale."""
        entry = {
            "status": status,
            "at": at,
            "note": fields.get("status_note"),
            "sequence": sequence,
        }
        try:
            result = await self._issues.update_one(
                # every document has a sequence (a report inserts 0)
                {"_id": issue_id, "sequence": {"$lt": sequence}},
                {
                    "$set": {
                        "status": status,
                        "open311_status": open311_status(status).value,
                        "sequence": sequence,
                        "updated_at": at,
                        **fields,
                    },
                    "$push": {"history": entry},
                },
                upsert=True,
            )
        except DuplicateKeyError:
            return False  # the document exists with this sequence or a later one
        return result.matched_count > 0 or result.upserted_id is not None

    async def get(self, issue_id: str) -> dict[str, Any] | None:
        return await self._issues.find_one({"_id": issue_id})

    async def query(self, query: RequestQuery) -> list[dict[str, Any]]:
        if query.ids:
            return await self._by_ids(query)
        selector: dict[str, Any] = {"reported_at": {"$gte": query.start, "$lte": query.end}}
        if query.service_codes:
            selector["category"] = {"$in": list(query.service_codes)}
        if query.statuses:
            selector["open311_status"] = {"$in": list(query.statuses)}
        cursor = (
            self._issues.find(selector, {"history": 0})
            .sort([("reported_at", DESCENDING), ("_id", ASCENDING)])
            .skip(query.skip)
            .limit(query.page_size)
        )
        return [doc async for doc in cursor]

    async def _by_ids(self, query: RequestQuery) -> list[dict[str, Any]]:
        """Requests by id, one lookup each (``_id $in`` would make FerretDB scan), in the
        search's order: newest first, then by id."""
        found = await asyncio.gather(
            *(self._issues.find_one({"_id": i}, {"history": 0}) for i in dict.fromkeys(query.ids))
        )
        docs = sorted((d for d in found if d is not None), key=lambda d: d["_id"])
        docs.sort(key=_newest_first)
        return docs[query.skip : query.skip + query.page_size]

    async def open_of_category(
        self, category: str, since: datetime, limit: int = 200
    ) -> list[dict[str, Any]]:
        cursor = (
            self._issues.find(
                {
                    "category": category,
                    "open311_status": Open311Status.OPEN.value,
                    "reported_at": {"$gte": since},
                },
                {"history": 0},
            )
            .sort("reported_at", DESCENDING)
            .limit(limit)
        )
        return [doc async for doc in cursor]

    async def of_resident(self, ref: str, limit: int = 200) -> list[dict[str, Any]]:
        """Reports the resident filed or follows, newest first. Two equality reads, each on
        its own index (an ``$or`` of them would make FerretDB scan every issue)."""
        found: dict[str, dict[str, Any]] = {}
        for field in ("resident_ref", "followers"):
            cursor = self._issues.find({field: ref}).sort("reported_at", DESCENDING).limit(limit)
            found |= {doc["_id"]: doc async for doc in cursor}
        return sorted(found.values(), key=_newest_first)[:limit]

    async def add_follower(self, issue_id: str, ref: str) -> bool:
        result = await self._issues.update_one({"_id": issue_id}, {"$addToSet": {"followers": ref}})
        return result.matched_count > 0


def _newest_first(doc: dict[str, Any]) -> tuple[bool, Any]:
    """Sort key: newest report first, those not reported yet last (as MongoDB sorts them)."""
    at = doc.get("reported_at")
    return (at is None, -at.timestamp() if at is not None else 0)

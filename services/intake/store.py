"""Intake's MongoDB adapter: the issues read model (database ``<prefix>intake``)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.intake.domain.open311 import RequestQuery, open311_status

_DUPLICATE_KEY = 11000


class InsertBatcher:
    """Inserts that callers make at about the same time (the consumer handles a batch's keys
    concurrently) go to the database as one unordered ``insert_many``: one round trip and one
    command instead of one per document. Each caller still waits for its own document's
    acknowledged write, and learns whether it was inserted (True) or already there (False)."""

    def __init__(self, collection: AsyncCollection, max_batch: int = 500):
        self._collection = collection
        self._max = max_batch
        self._pending: list[tuple[dict[str, Any], asyncio.Future[bool]]] = []
        self._flushing: asyncio.Task[None] | None = None

    async def insert(self, document: dict[str, Any]) -> bool:
        ack: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((document, ack))
        if self._flushing is None:
            # started on the next turn of the loop, after the concurrent callers have queued
            self._flushing = asyncio.create_task(self._flush())
        return await ack

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[: self._max], self._pending[self._max :]
                await self._write(batch)
        finally:
            self._flushing = None

    async def _write(self, batch: list[tuple[dict[str, Any], asyncio.Future[bool]]]) -> None:
        failed: dict[int, BaseException | None] = {}  # index -> error (None: duplicate)
        try:
            await self._collection.insert_many([doc for doc, _ in batch], ordered=False)
        except BulkWriteError as exc:
            if exc.details.get("writeConcernErrors"):
                failed.update(dict.fromkeys(range(len(batch)), exc))
            for error in exc.details.get("writeErrors", []):
                duplicate = error.get("code") == _DUPLICATE_KEY
                failed[error["index"]] = None if duplicate else RuntimeError(repr(error))
        except Exception as exc:
            for _, ack in batch:
                if not ack.done():
                    ack.set_exception(exc)
            return
        for index, (_, ack) in enumerate(batch):
            if ack.done():  # its caller was cancelled
                continue
            error = failed.get(index, False)
            if error is False:
                ack.set_result(True)
            elif error is None:
                ack.set_result(False)
            else:
                ack.set_exception(error)


class IssueStore:
    def __init__(self, db: AsyncDatabase):
        self._issues = db["issues"]
        self._inserts = InsertBatcher(self._issues)

    async def prepare(self) -> None:
        await self._issues.create_index([("resident_ref", ASCENDING), ("reported_at", ASCENDING)])
        await self._issues.create_index([("followers", ASCENDING)])
        await self._issues.create_index([("reported_at", DESCENDING)])
        await self._issues.create_index(
            [("category", ASCENDING), ("open311_status", ASCENDING), ("reported_at", DESCENDING)]
        )

    async def record_reported(self, fields: dict[str, Any], at: datetime) -> bool:
        """Record a report once. The common case is one insert (cheap, where an update is
        not on FerretDB); if the document exists, either this is a redelivery (it has
        ``reported_at``: nothing to do) or the lifecycle arrived first (fill it in).
        False for a duplicate."""
        entry = {"status": "reported", "at": at, "note": None, "sequence": 0}
        document = {
            "_id": fields["issue_id"],
            **{k: v for k, v in fields.items() if k != "issue_id"},
            "status": "reported",
            "open311_status": "open",
            "sequence": 0,
            "history": [entry],
        }
        if await self._inserts.insert(document):
            return True
        existing = await self._issues.find_one({"_id": document["_id"]}, {"reported_at": 1})
        if existing is None or existing.get("reported_at") is not None:
            return False
        await self._issues.update_one(
            {"_id": document["_id"]},
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
                        "open311_status": open311_status(status),
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
            selector: dict[str, Any] = {"_id": {"$in": list(query.ids)}}
        else:
            selector = {"reported_at": {"$gte": query.start, "$lte": query.end}}
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

    async def open_of_category(
        self, category: str, since: datetime, limit: int = 200
    ) -> list[dict[str, Any]]:
        cursor = (
            self._issues.find(
                {
                    "category": category,
                    "open311_status": "open",
                    "reported_at": {"$gte": since},
                },
                {"history": 0},
            )
            .sort("reported_at", DESCENDING)
            .limit(limit)
        )
        return [doc async for doc in cursor]

    async def of_resident(self, ref: str, limit: int = 200) -> list[dict[str, Any]]:
        cursor = (
            self._issues.find({"$or": [{"resident_ref": ref}, {"followers": ref}]})
            .sort("reported_at", DESCENDING)
            .limit(limit)
        )
        return [doc async for doc in cursor]

    async def add_follower(self, issue_id: str, ref: str) -> bool:
        result = await self._issues.update_one({"_id": issue_id}, {"$addToSet": {"followers": ref}})
        return result.matched_count > 0

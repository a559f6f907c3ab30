"""Intake's MongoDB adapter: the issues read model (database ``<prefix>intake``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from shared.mongo import ProcessedEvents


class IssueStore:
    def __init__(self, db: AsyncDatabase):
        self._issues = db["issues"]
        self.processed = ProcessedEvents(db["processed_events"], "intake")

    async def prepare(self) -> None:
        await self._issues.create_index([("resident_ref", ASCENDING), ("reported_at", ASCENDING)])
        await self._issues.create_index([("node_id", ASCENDING), ("category", ASCENDING)])

    async def record_reported(self, fields: dict[str, Any], at: datetime) -> None:
        """Upsert: the lifecycle may have arrived first (they travel on different topics)."""
        await self._issues.update_one(
            {"_id": fields["issue_id"]},
            {
                "$set": {k: v for k, v in fields.items() if k != "issue_id"},
                "$setOnInsert": {"status": "reported"},
                "$push": {"history": {"status": "reported", "at": at}},
            },
            upsert=True,
        )

    async def record_status(
        self, issue_id: str, status: str, at: datetime, fields: dict[str, Any]
    ) -> None:
        await self._issues.update_one(
            {"_id": issue_id},
            {
                "$set": {"status": status, "updated_at": at, **fields},
                "$push": {"history": {"status": status, "at": at}},
            },
            upsert=True,
        )

    async def get(self, issue_id: str) -> dict[str, Any] | None:
        return await self._issues.find_one({"_id": issue_id})

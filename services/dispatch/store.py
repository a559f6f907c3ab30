"""Dispatch's MongoDB adapter: one document per case (database ``<prefix>dispatch``)."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.mongo import ProcessedEvents


class CaseStore:
    def __init__(self, db: AsyncDatabase):
        self._cases = db["cases"]
        self.processed = ProcessedEvents(db["processed_events"], "dispatch")

    async def prepare(self) -> None:
        await self._cases.create_index([("owner.code", ASCENDING), ("status", ASCENDING)])
        await self._cases.create_index([("resolve_due", ASCENDING)])

    async def open_case(self, case: dict[str, Any]) -> dict[str, Any]:
        """Insert the case; if it exists (a redelivery), the stored one wins, so replays
        publish exactly what the first attempt decided."""
        try:
            await self._cases.insert_one(case)
            return case
        except DuplicateKeyError:
            existing = await self._cases.find_one({"_id": case["_id"]})
            assert existing is not None
            return existing

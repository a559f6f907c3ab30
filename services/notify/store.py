"""Notify's MongoDB adapter: residents' contacts and in-app inboxes (``<prefix>notify``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.mongo import ProcessedEvents


class NotifyStore:
    def __init__(self, db: AsyncDatabase):
        self._residents = db["residents"]
        self._inbox = db["inbox"]
        self.processed = ProcessedEvents(db["processed_events"], "notify")

    async def prepare(self) -> None:
        await self._inbox.create_index([("resident_ref", 1), ("created_at", DESCENDING)])

    async def save_contact(self, ref: str, contact: dict[str, Any], updated_at: datetime) -> bool:
        """Keep the newest contact per resident; an older record changes nothing."""
        try:
            await self._residents.update_one(
                {"_id": ref, "updated_at": {"$lt": updated_at}},
                {"$set": {**contact, "updated_at": updated_at}},
                upsert=True,
            )
            return True
        except DuplicateKeyError:  # a newer record exists: the filter missed, upsert collided
            return False

    async def language_of(self, ref: str) -> str:
        doc = await self._residents.find_one({"_id": ref}, {"language": 1})
        return (doc or {}).get("language") or "zh-CN"

    async def deliver_to_inbox(self, message_id: str, message: dict[str, Any]) -> bool:
        """Insert once: the id is (source event, recipient), so a redelivery adds nothing."""
        try:
            await self._inbox.insert_one({"_id": message_id, **message})
            return True
        except DuplicateKeyError:
            return False

    async def inbox(self, ref: str, limit: int) -> list[dict[str, Any]]:
        cursor = self._inbox.find({"resident_ref": ref}).sort("created_at", DESCENDING)
        return await cursor.limit(limit).to_list()

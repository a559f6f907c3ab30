"""Ledger's MongoDB adapter: the journal (database ``<prefix>ledger``)."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError


class Journal:
    def __init__(self, db: AsyncDatabase):
        self._entries = db["journal"]

    async def prepare(self) -> None:
        await self._entries.create_index([("campaign", ASCENDING), ("posted_at", ASCENDING)])

    async def post(self, entry_id: str, entry: dict[str, Any]) -> bool:
        """Insert once per client-chosen id; a replay changes nothing."""
        try:
            await self._entries.insert_one({"_id": entry_id, **entry})
            return True
        except DuplicateKeyError:
            return False

    async def raised_by_campaign(self) -> list[dict[str, Any]]:
        pipeline = [
            {"$match": {"kind": "donation"}},
            {
                "$group": {
                    "_id": {"campaign": "$campaign", "channel": "$channel"},
                    "fen": {"$sum": "$amount_fen"},
                    "count": {"$sum": 1},
                }
            },
            {"$sort": {"_id.campaign": 1, "_id.channel": 1}},
        ]
        return await (await self._entries.aggregate(pipeline)).to_list()

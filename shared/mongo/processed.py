"""The idempotent-consumer record: one document per (consumer, event id), inserted first.

``begin`` inserts the marker before the side effect. A duplicate key means the event was seen:
if it was finished, the consumer skips it; if an earlier attempt died half-way, ``begin``
answers True again and the (idempotent, keyed) side effect is redone, then ``finish`` marks it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from shared.events import utcnow


class ProcessedEvents:
    def __init__(self, collection: AsyncCollection, consumer: str):
        self._collection = collection
        self._consumer = consumer

    def _key(self, event_id: str) -> str:
        return f"{self._consumer}:{event_id}"

    async def begin(self, event_id: str) -> bool:
        """True when the side effect must run (new event, or a previous attempt unfinished)."""
        key = self._key(event_id)
        try:
            await self._collection.insert_one({"_id": key, "done": False, "at": utcnow()})
            return True
        except DuplicateKeyError:
            seen = await self._collection.find_one({"_id": key}, {"done": 1})
            return not (seen and seen.get("done"))

    async def finish(self, event_id: str) -> None:
        await self._collection.update_one(
            {"_id": self._key(event_id)}, {"$set": {"done": True, "done_at": utcnow()}}
        )

    async def once(self, event_id: str, work: Callable[[], Awaitable[object]]) -> str:
        """Run ``work`` unless this event was already processed; the outcome for metrics."""
        if not await self.begin(event_id):
            return "duplicate"
        await work()
        await self.finish(event_id)
        return "ok"

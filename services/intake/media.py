"""Photos stored in intake's own database, one document each (FerretDB v1 has no GridFS
guarantees; the size cap keeps every document far below the 16 MiB limit)."""

from __future__ import annotations

import hashlib
from typing import Any

from bson import Binary
from pymongo.asynchronous.collection import AsyncCollection

from shared.events import utcnow
from shared.ids import new_id


class MediaStore:
    def __init__(self, collection: AsyncCollection):
        self._collection = collection

    async def save(self, data: bytes, content_type: str) -> str:
        media_id = new_id("med")
        await self._collection.insert_one(
            {
                "_id": media_id,
                "content_type": content_type,
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "data": Binary(data),
                "at": utcnow(),
            }
        )
        return media_id

    async def get(self, media_id: str) -> dict[str, Any] | None:
        return await self._collection.find_one({"_id": media_id})

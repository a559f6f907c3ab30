"""Idempotency-Key for the native API: the same key and body replay the first answer, a
different body is a conflict, and the issue id is derived from the key and body so a retried
publish carries the same event id (consumers drop the duplicate)."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from shared.events import utcnow


def issue_id_for_key(key: str, scope: str = "idem") -> str:
    digest = hashlib.sha256(f"{scope}:{key}".encode()).digest()
    return "iss_" + base64.b32encode(digest).decode().rstrip("=").lower()[:26]


def body_fingerprint(body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotencyRecords:
    def __init__(self, collection: AsyncCollection):
        self._collection = collection

    async def find(self, key: str) -> dict[str, Any] | None:
        return await self._collection.find_one({"_id": _id(key)})

    async def remember(
        self, key: str, fingerprint: str, status: int, response: dict
    ) -> dict[str, Any]:
        """Store the first answer; if another request stored one meanwhile, return that."""
        doc = {
            "_id": _id(key),
            "fingerprint": fingerprint,
            "status": status,
            "response": response,
            "at": utcnow(),
        }
        try:
            await self._collection.insert_one(doc)
        except DuplicateKeyError:
            return await self._collection.find_one({"_id": doc["_id"]}) or doc
        return doc


def _id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()

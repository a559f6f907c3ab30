"""Open311 API keys: issued by operators (``linli keys create``), stored only as SHA-256."""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

KEY_PREFIX = "lk_"


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(24)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_document(key: str, name: str, now: datetime) -> dict[str, Any]:
    """What is stored: the hash (as _id), the name and when; never the key itself."""
    return {"_id": hash_api_key(key), "name": name, "created_at": now, "revoked": False}


class ApiKeys:
    """Checks keys against the collection, remembering answers for a short while."""

    def __init__(self, collection: AsyncCollection, cache_s: float = 30.0):
        self._collection = collection
        self._cache_s = cache_s
        self._cache: dict[str, tuple[float, str | None]] = {}

    async def name_of(self, key: str) -> str | None:
        """The key's name, or None for an unknown or revoked key."""
        digest = hash_api_key(key)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and now - cached[0] < self._cache_s:
            return cached[1]
        doc = await self._collection.find_one({"_id": digest})
        name = doc["name"] if doc and not doc.get("revoked") else None
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (now, name)
        return name

"""Writes that two replicas may race on, answered the same way everywhere.

An upsert of a missing document by two writers at once collides on ``_id``: one insert wins
and the other gets ``DuplicateKeyError``; the loser then updates the winner's document (the
server does not retry the upsert for us: no sessions on FerretDB v1)."""

from __future__ import annotations

from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError


async def upsert(
    collection: AsyncCollection, query: dict[str, Any], update: dict[str, Any]
) -> bool:
    """Update the document ``query`` finds, creating it if missing; False when a document
    with the id exists but the rest of ``query`` does not match it (e.g. a newer version)."""
    try:
        await collection.update_one(query, update, upsert=True)
        return True
    except DuplicateKeyError:
        result = await collection.update_one(query, update)
        return result.matched_count == 1


async def upsert_returning(
    collection: AsyncCollection, doc_id: str, update: dict[str, Any]
) -> dict[str, Any]:
    """Update one document by ``_id``, creating it if missing; the document after. A lost
    race is tried again (the winner's document is then updated), twice at most."""
    for attempt in range(3):
        try:
            return await collection.find_one_and_update(
                {"_id": doc_id}, update, upsert=True, return_document=ReturnDocument.AFTER
            )
        except DuplicateKeyError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")

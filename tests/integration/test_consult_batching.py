"""The insert batcher against the real store: concurrent inserts share round trips, and each
caller learns about its own document (inserted, or its ``_id`` already there)."""

import asyncio

import pytest

from services.consult.batching import InsertBatcher
from shared.mongo import make_client


@pytest.mark.asyncio
async def test_each_caller_hears_about_its_own_document(settings) -> None:
    client = make_client(settings.mongodb_url, app_name="test")
    collection = client[settings.database_name("consult")]["batched"]
    await collection.insert_one({"_id": "taken"})
    batcher = InsertBatcher(max_batch=7)
    ids = [f"d{i}" for i in range(40)] + ["taken", "d3"]
    answers = await asyncio.gather(*(batcher.insert(collection, {"_id": i}) for i in ids))
    assert answers == [True] * 40 + [False, False]
    assert await collection.count_documents({}) == 41
    await client.close()

"""The shared racing writes against the real database: replicas creating the same document at
once never see the losing insert's duplicate-key error; each gets its answer (or the document)
and the one document exists. (Whether concurrent read-modify-write operators such as
``$addToSet`` all land is the server's affair: this FerretDB build loses some.)"""

import asyncio
import uuid

import pytest

from shared.mongo import make_client, upsert, upsert_returning

pytestmark = pytest.mark.integration


async def test_concurrent_upserts_of_a_new_document_all_land(servers):
    mongo = make_client(servers.mongodb_url, app_name="writes-test")
    collection = mongo[f"writes_{uuid.uuid4().hex[:8]}"]["docs"]
    try:
        answers = await asyncio.gather(
            *(upsert(collection, {"_id": "one"}, {"$addToSet": {"by": n}}) for n in range(8))
        )
        assert answers == [True] * 8
        assert (await collection.find_one({"_id": "one"}))["by"]
        docs = await asyncio.gather(
            *(upsert_returning(collection, "two", {"$set": {"n": 1}}) for _ in range(8))
        )
        assert [doc["n"] for doc in docs] == [1] * 8
        stale = await upsert(collection, {"_id": "one", "by": 99}, {"$set": {"x": 1}})
        assert stale is False  # the id exists, the rest of the filter does not match
    finally:
        await mongo.drop_database(collection.database.name)
        await mongo.close()

"""Reads by a secondary index's field, and conditional writes by ``_id``, do not scan.

FerretDB v1.24.2's SQLite backend narrows a query in SQL only for a filter that is exactly
``{_id: x}``; anything else read and decoded the whole collection: a resident's inbox
(``{resident_ref: r}`` with an index on it) took 115 ms at 2,400 messages and seconds at
200,000, and every conditional update (``{_id: x, status: ...}``) scanned too. The local build
adds a pushdown (``_patch_pushdown`` in services/ops/infra/install.py). These tests check the plans
(on FerretDB), that results are what MongoDB's equality gives (arrays holding the value
included), and that the inbox read's cost does not grow with the collection.
"""

import random
import statistics
import time
from datetime import timedelta

import pytest

from services.notify.store import NotifyStore
from shared.events import utcnow
from shared.mongo import make_client
from shared.settings import Settings

pytestmark = pytest.mark.integration

SMALL, LARGE = 200, 20_000  # messages in the store
PER_RESIDENT = 10


def _message(resident: int, n: int, at) -> dict:
    return {
        "_id": f"ev{resident}-{n}:res_{resident:06d}:inbox",
        "resident_ref": f"res_{resident:06d}",
        "kind": "issue.received",
        "title": "t",
        "body": "b" * 100,
        "language": "zh-CN",
        "created_at": at - timedelta(seconds=n),
        "read": False,
    }


async def _fill(store: NotifyStore, messages: int) -> None:
    await store.prepare()
    now = utcnow()
    docs = [_message(i // PER_RESIDENT, i % PER_RESIDENT, now) for i in range(messages)]
    for start in range(0, len(docs), 2000):
        await store.inbox_messages.insert_many(docs[start : start + 2000], ordered=False)


async def _plan(db, command: dict) -> list[str]:
    return (await db.command("explain", command))["queryPlanner"]["Plan"]


@pytest.fixture
async def client(settings: Settings):
    client = make_client(settings.mongodb_url, app_name="test", timeout_ms=60000)
    yield client
    await client.close()


async def test_plans_search_the_index(settings: Settings, client) -> None:
    if "ferretdbVersion" not in await client.admin.command("buildInfo"):
        pytest.skip("plans are FerretDB's; MongoDB uses its indexes anyway")
    db = client[f"{settings.db_prefix}pushdown_plans"]
    store = NotifyStore(db)
    try:
        await _fill(store, SMALL)
        for name, flt in {
            "secondary field": {"resident_ref": "res_000007"},
            "secondary field and a range": {
                "resident_ref": "res_000007",
                "created_at": {"$gt": utcnow()},
            },
            "_id and a condition": {"_id": "ev7-1:res_000007:inbox", "read": False},
        }.items():
            plan = await _plan(db, {"find": "inbox", "filter": flt})
            assert any("USING INDEX" in step for step in plan), (name, plan)
            assert not any("SCAN" in step for step in plan), (name, plan)
    finally:
        await client.drop_database(db.name)


async def test_results_are_mongodb_equality(settings: Settings, client) -> None:
    """Arrays holding the value match; values not pushed down (not plain) still match."""
    db = client[f"{settings.db_prefix}pushdown_results"]
    coll = db["things"]
    try:
        await coll.create_index([("tag", 1)])
        await coll.insert_many(
            [
                {"_id": "scalar", "tag": "a", "n": 1},
                {"_id": "array", "tag": ["b", "a"], "n": 2},
                {"_id": "other", "tag": "b", "n": 3},
                {"_id": "missing", "n": 5},
                {"_id": "chinese", "tag": "红旗", "n": 6},
                {"_id": "number", "tag": 7, "n": 7},
            ]
        )

        async def ids(flt: dict) -> set[str]:
            return {d["_id"] for d in await coll.find(flt).to_list()}

        assert await ids({"tag": "a"}) == {"scalar", "array"}
        assert await ids({"tag": "b"}) == {"array", "other"}
        assert await ids({"tag": "红旗"}) == {"chinese"}
        assert await ids({"tag": 7}) == {"number"}
        assert await ids({"tag": "a", "n": {"$gt": 1}}) == {"array"}
        assert await ids({"_id": "array", "n": 2}) == {"array"}
        assert await ids({"_id": "array", "n": 3}) == set()
        changed = await coll.update_one({"_id": "other", "n": 3}, {"$set": {"n": 30}})
        assert changed.modified_count == 1
        assert await coll.count_documents({"tag": "b", "n": 30}) == 1
        assert (await coll.delete_many({"tag": "a"})).deleted_count == 2
    finally:
        await client.drop_database(db.name)


async def test_inbox_read_does_not_grow_with_the_store(settings: Settings, client) -> None:
    stores = {}
    try:
        for size in (SMALL, LARGE):
            stores[size] = NotifyStore(client[f"{settings.db_prefix}pushdown_{size}"])
            await _fill(stores[size], size)
        # Interleaved, so a busy machine slows both sides alike; medians shrug off stray pauses.
        # Scanning, a read at 20,000 messages is ~100x one at 200.
        rng = random.Random(11)
        took: dict[int, list[float]] = {SMALL: [], LARGE: []}
        for _ in range(40):
            for size, store in stores.items():
                resident = rng.randrange(SMALL // PER_RESIDENT)
                started = time.perf_counter()
                docs = await store.inbox(f"res_{resident:06d}", 50)
                took[size].append(time.perf_counter() - started)
                assert len(docs) == PER_RESIDENT
                assert [d["created_at"] for d in docs] == sorted(
                    (d["created_at"] for d in docs), reverse=True
                )
        small_ms, large_ms = (statistics.median(took[k]) * 1000 for k in (SMALL, LARGE))
        assert large_ms < 5 * small_ms, f"inbox read: {small_ms:.2f} ms vs {large_ms:.2f} ms"
    finally:
        for store in stores.values():
            await client.drop_database(store.db.name)


async def test_broadcast_walk_keeps_the_natural_order(settings: Settings, client) -> None:
    """A resumed broadcast counts on residents coming in the order they were stored; read
    through the ``nodes`` index they would come sorted by their places instead."""
    store = NotifyStore(client[f"{settings.db_prefix}pushdown_walk"])
    try:
        await store.prepare()
        leaves = ["sz.c", "sz.b", "sz.a", "sz.d"]  # stored in this order, not sorted
        await store.residents.insert_many(
            [{"_id": f"res_{i}", "nodes": ["sz", leaf]} for i, leaf in enumerate(leaves)]
        )
        walked = [doc["_id"] async for doc in store.residents_below("sz", 2)]
        assert walked == [f"res_{i}" for i in range(len(leaves))]
    finally:
        await client.drop_database(store.db.name)

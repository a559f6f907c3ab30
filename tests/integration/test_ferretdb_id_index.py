"""Lookups by _id use the _id index, so their cost does not grow with the collection.

FerretDB v1.24.2's SQLite backend would scan the whole collection for every find, update and
delete by _id; the local build patches that (see ``_patch_ferretdb`` in
services/ops/infra/install.py).
On FerretDB, ``explain`` reports SQLite's query plan, which must SEARCH the index, not SCAN.
"""

import random
import statistics
import time

import pytest

from shared.mongo import make_client
from shared.settings import Settings

pytestmark = pytest.mark.integration

SMALL, LARGE = 200, 20_000


def doc_id(i: int) -> str:
    return f"doc-{i:06d}"


async def fill(coll, count: int) -> None:
    for start in range(0, count, 1000):
        batch = range(start, min(count, start + 1000))
        await coll.insert_many([{"_id": doc_id(i), "n": 0, "pad": "x" * 100} for i in batch])


async def test_by_id_uses_the_index_and_does_not_grow_with_the_collection(
    settings: Settings,
) -> None:
    client = make_client(settings.mongodb_url, app_name="test", timeout_ms=10000)
    db = client[f"{settings.db_prefix}idindex"]
    try:
        small, large = db["small"], db["large"]
        await fill(small, SMALL)
        await fill(large, LARGE)

        if "ferretdbVersion" in await client.admin.command("buildInfo"):
            last = {"find": "large", "filter": {"_id": doc_id(LARGE - 1)}}
            plan = (await db.command("explain", last))["queryPlanner"]["Plan"]
            assert any("USING INDEX" in step for step in plan), plan
            assert not any("SCAN" in step for step in plan), plan

        # Interleaved, so a busy machine slows both sides alike; medians shrug off stray pauses.
        # Without the index an update at 20,000 documents is ~80x slower than at 200.
        rng = random.Random(7)
        took: dict[str, list[float]] = {"small": [], "large": []}
        for _ in range(50):
            for coll, count in ((small, SMALL), (large, LARGE)):
                started = time.perf_counter()
                res = await coll.update_one(
                    {"_id": doc_id(rng.randrange(count))}, {"$inc": {"n": 1}}
                )
                took[coll.name].append(time.perf_counter() - started)
                assert res.modified_count == 1
        small_ms, large_ms = (statistics.median(took[k]) * 1000 for k in ("small", "large"))
        assert large_ms < 5 * small_ms, f"update_one by _id: {small_ms:.2f} ms vs {large_ms:.2f} ms"
    finally:
        await client.drop_database(db.name)
        await client.close()

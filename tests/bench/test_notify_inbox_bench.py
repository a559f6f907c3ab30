"""A resident's inbox read with 100,000 residents and 2,000,000 messages in the store, beside a
bare ``_id`` read of one message from the same run (floor: inbox p95 at most 20 ms, asserted
with ``LINLI_BENCH_ASSERT_FLOORS=1``; always asserted: the read's p50 at most 10x the ``_id``
read's). Measured on the shared 2-core machine: at a load average of ~10, inbox p50 6.2 ms,
p95 15.7 ms beside an ``_id`` read's 1.3 / 5.9 ms (floor met); at ~15, 19.5 / 76.7 ms beside
6.8 / 30.5 ms (not met; an ``_id`` read took 20-100x its quiet-machine 0.3 ms there).

The messages are bulk-inserted in the inbox's own shape (20 per resident, the residents
interleaved as broadcasts leave them); the read measured is notify's HTTP API (token check,
``NotifyStore.inbox``, the response model) in this process. Before the FerretDB pushdown
(``_patch_pushdown`` in services/ops/infra/install.py) this read scanned the whole collection: 115
ms at 2,400 messages, ~2 s at 20,000.
"""

import asyncio
import os
import random
import time
from datetime import datetime, timedelta

import pytest

from services.notify.app import create_app
from services.notify.store import NotifyStore
from shared.events import utcnow
from shared.mongo import make_client
from tests.helpers import serving
from tests.notify.kit import auth, module_settings

pytestmark = pytest.mark.bench

RESIDENTS = 100_000
PER_RESIDENT = 20
READS = 400
FLOOR_MS = 20.0
RATIO_CAP = 10.0  # inbox read p50 against a bare _id read's, same run
ASSERT_FLOORS = os.environ.get("LINLI_BENCH_ASSERT_FLOORS", "") == "1"


def _ref(index: int) -> str:
    return f"res_bench{index:015d}"


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def _load(store: NotifyStore, batch: int = 5000, writers: int = 3) -> None:
    await store.prepare()
    now = utcnow()
    total = RESIDENTS * PER_RESIDENT
    starts = iter(range(0, total, batch))

    async def writer() -> None:
        for start in starts:  # shared: each batch goes to one writer
            await store.inbox_messages.insert_many(_batch(start, batch, now), ordered=False)

    await asyncio.gather(*(writer() for _ in range(writers)))


def _batch(start: int, batch: int, now: datetime) -> list[dict]:
    """Messages ``start`` on, in the inbox's shape: residents interleaved, 20 each."""
    docs = []
    for i in range(start, min(RESIDENTS * PER_RESIDENT, start + batch)):
        resident, n = i % RESIDENTS, i // RESIDENTS
        docs.append(
            {
                "_id": f"ev{n}:{_ref(resident)}:inbox",
                "resident_ref": _ref(resident),
                "issue_id": None,
                "kind": "broadcast",
                "title": "暴雨预警",
                "body": "今晚有暴雨，请勿外出。",
                "language": "zh-CN",
                "source_event": f"ev{n}",
                "urgent": True,
                "created_at": now - timedelta(minutes=PER_RESIDENT - n),
                "read": False,
            }
        )
    return docs


@pytest.mark.timeout(3600)  # loading 2,000,000 messages takes minutes on a busy machine
async def test_inbox_read_with_2m_messages_beside_an_id_read(servers):
    config = module_settings(servers)
    client = make_client(config.mongodb_url, app_name="bench", timeout_ms=120000)
    store = NotifyStore(client[config.database_name("notify")])
    try:
        started = time.perf_counter()
        await _load(store)
        loaded = time.perf_counter() - started
        total = RESIDENTS * PER_RESIDENT
        print(f"\n[inbox bench] loaded {total:,} messages in {loaded:.0f} s")
        rng = random.Random(3)
        inbox: list[float] = []
        by_id: list[float] = []
        async with serving(create_app(config)) as [notify]:
            for n in range(READS + 20):  # the first 20 warm up
                resident = _ref(rng.randrange(RESIDENTS))
                headers = auth(config, resident)
                began = time.perf_counter()
                response = await notify.get(f"/api/v1/residents/{resident}/inbox", headers=headers)
                took = time.perf_counter() - began
                assert response.status_code == 200
                messages = response.json()["messages"]
                assert len(messages) == PER_RESIDENT
                assert messages[0]["id"] == f"ev{PER_RESIDENT - 1}:{resident}:inbox"
                began = time.perf_counter()
                doc = await store.inbox_messages.find_one({"_id": messages[-1]["id"]})
                took_id = time.perf_counter() - began
                assert doc is not None
                if n >= 20:
                    inbox.append(took)
                    by_id.append(took_id)
        p95, id_p95 = _p(inbox, 0.95), _p(by_id, 0.95)
        print(
            f"[inbox bench] {RESIDENTS:,} residents, {total:,} messages: inbox read over HTTP "
            f"p50 {_p(inbox, 0.5):.1f} ms, p95 {p95:.1f} ms; bare _id read p50 "
            f"{_p(by_id, 0.5):.1f} ms, p95 {id_p95:.1f} ms; ratio of p95s {p95 / id_p95:.1f}x; "
            f"floor {FLOOR_MS:.0f} ms: {'met' if p95 <= FLOOR_MS else 'NOT met'}"
        )
        # The floor holds on a quiet machine; the ratio to an _id read holds on a busy one too
        # (a scan would be thousands of times one: ~2 s at 20,000 messages).
        ratio = _p(inbox, 0.5) / _p(by_id, 0.5)
        assert ratio <= RATIO_CAP, f"inbox read p50 is {ratio:.1f}x an _id read's"
        if ASSERT_FLOORS:
            assert p95 <= FLOOR_MS, f"inbox read p95 {p95:.1f} ms (an _id read: {id_p95:.1f} ms)"
    finally:
        await client.drop_database(store.db.name)
        await client.close()

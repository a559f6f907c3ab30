"""Dispatch's queue documents under writers racing on one document, on the real server.

FerretDB v1 applies an update as read, modify, write back, with no check that the document
did not change in between: of two concurrent updates of one document one can be lost, and
a replace conditioned on a version (``{_id, rev}``) can succeed for both writers. Only an
insert is decided by the server (unique ``_id``). These tests run writers at once, in one
process and as two replicas, and require every case's row to be found afterwards."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from pymongo import AsyncMongoClient

from services.dispatch.domain.machine import Timer
from services.dispatch.queue_store import QueueStore
from services.dispatch.wheel import WheelStore, _listing, entries_of, minute_of
from shared.settings import Settings

pytestmark = pytest.mark.integration

AT = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)
PLACES = ["sz", "sz.tongjiang", "sz.tongjiang.niuerqiao", "sz.tongjiang.niuerqiao.hongqi"]


def _case(n: int, month: str) -> dict:
    due = AT + timedelta(hours=n)
    duty = {"holder": {"kind": "department", "code": "urban-mgmt"}, "status": "summoned",
            "since": AT, "ack_due": due, "resolve_due": due + timedelta(days=1)}  # fmt: skip
    return {
        "_id": f"iss_race{n:08d}", "category": "streetlight-out", "priority": "normal",
        "node_id": PLACES[-1], "status": "assigned", "version": 1, "owner": duty["holder"],
        "supervisor": "sz.tongjiang", "duties": [duty], "assigned_at": AT,
        "reported_month": month, "places": PLACES,
    }  # fmt: skip


@pytest.fixture
async def db(settings: Settings):
    client = AsyncMongoClient(settings.mongodb_url, tz_aware=True)
    database = client[f"{settings.db_prefix}queue_races"]
    await client.drop_database(database.name)
    yield database
    await client.drop_database(database.name)
    await client.close()


async def _listed(db, scope: str) -> set[str]:
    """The scope's rows as a replica that has read nothing yet sees them."""
    return {r.issue_id for r in (await QueueStore(db).rows(scope)).rows}


async def test_one_replica_writing_many_shards_of_a_scope_at_once(db) -> None:
    """Each put raises the scope's stamp for its own shard; puts at once in one process
    (a routed batch beside actions) raise the same stamp document."""
    store = QueueStore(db)
    months = [f"2025-{m:02d}" for m in range(1, 13)]
    cases = [_case(n, months[n % 12]) for n in range(48)]
    for _ in range(3):
        await asyncio.gather(*(store.put([c]) for c in cases))
    wanted = {c["_id"] for c in cases}
    for scope in ("n:sz", "n:sz.tongjiang.niuerqiao", "d:urban-mgmt"):
        assert await _listed(db, scope) == wanted, scope


async def test_two_replicas_writing_one_shard_at_once(db) -> None:
    """Two replicas (each its own in-process locks) put different cases into the same shard
    (a community's month is one shard) at the same moment."""
    replicas = [QueueStore(db), QueueStore(db)]
    cases = [_case(n, "2026-03") for n in range(40)]
    await asyncio.gather(*(replicas[n % 2].put([c]) for n, c in enumerate(cases)))
    assert await _listed(db, "n:sz.tongjiang.niuerqiao") == {c["_id"] for c in cases}


async def test_timer_wheel_writers_and_a_tick_at_once(db) -> None:
    """Two replicas place timers in the same minutes while a third seals them: every entry
    is either listed in a minute the tick reads or moved after the seal, never lost."""
    writers = [WheelStore(db), WheelStore(db)]
    ticker = WheelStore(db)
    base = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)
    now = base - timedelta(minutes=1)
    await ticker.cursor(minute_of(now))
    minutes = [base + timedelta(minutes=m, seconds=5) for m in range(4)]
    writes = [
        writers[n % 2].enlist(entries_of(f"iss_timer{n:06d}", [_timer(minutes[n % 4])]), now)
        for n in range(64)
    ]
    sealed = ticker.seal(minute_of(now), minute_of(minutes[1]))
    await asyncio.gather(*writes, sealed)
    listed = []
    for minute in await ticker.seal(minute_of(now), minute_of(minutes[3]) + 5):
        chunks = await ticker.chunks(await ticker.chunk_ids(minute))
        listed += [e["i"] for entries in chunks.values() for e in entries]
    assert sorted(listed) == [f"iss_timer{n:06d}" for n in range(64)]


def _timer(due: datetime) -> Timer:
    return Timer(target="urban-mgmt", kind="ack", due=due)


async def test_a_head_behind_its_newest_version_is_not_trusted(db) -> None:
    """A tick has inserted the hour's seal (version 2) but not yet replaced the head: a writer
    registering a minute the head already lists must still see the seal (else it would place
    timers in a minute the tick has passed)."""
    wheel = WheelStore(db)
    await db["wheel"].insert_one({"_id": "hour:1", "rev": 1, "minutes": [65]})
    await db["wheel_versions"].insert_one({"_id": "hour:1#2", "rev": 2, "minutes": [65],
                                           "passed": 70})  # fmt: skip
    hour = await wheel._change("hour:1", _listing("minutes", 65))
    assert hour["passed"] == 70


async def test_timers_listed_by_the_code_before_still_fire(db) -> None:
    """A minute's chunks listed in one ``min:<minute>`` document (before this layout) are read
    beside those listed since, and dropped with them."""
    wheel = WheelStore(db)
    await db["wheel"].insert_many([
        {"_id": "min:100", "chunks": ["chunk:100:old"]},
        {"_id": "chunk:100:old", "entries": []},
    ])  # fmt: skip
    await wheel._list_chunk(100, "chunk:100:new")
    assert await wheel.chunk_ids(100) == ["chunk:100:old", "chunk:100:new"]
    await wheel.drop({100: ["chunk:100:old", "chunk:100:new"]})
    assert await db["wheel"].count_documents({}) == 0


async def test_a_version_its_writer_did_not_copy_is_copied_by_the_next_write(db) -> None:
    """A writer died after inserting a stamp's version, before replacing the head: writing
    the same again (the sweeper) finds nothing to change and copies it to the head."""
    store = QueueStore(db)
    await store.put([_case(1, "2026-03")])
    head = await db["queue_stamps"].find_one({"_id": "n:sz"})
    [bucket] = head["revs"]
    await db["queue_versions"].insert_one(
        {"_id": f"n:sz#{head['rev'] + 1}", "rev": head["rev"] + 1, "revs": {bucket: 7}}
    )
    await store._raise_stamp("n:sz", {bucket: 7})
    assert (await db["queue_stamps"].find_one({"_id": "n:sz"}))["revs"] == {bucket: 7}

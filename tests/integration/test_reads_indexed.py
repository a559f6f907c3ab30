"""The hot request paths and consumer steps ask the store only what an index answers.

Each store call below runs under PyMongo's command monitoring; every filter it sends (find,
count, update, delete, findAndModify) is then explained on the same server, and on FerretDB
the plan must SEARCH an index, never SCAN the collection (docs/storage.md lists the paths).
"""

from datetime import UTC, datetime, timedelta

import pytest
from pymongo import AsyncMongoClient, monitoring

from services.dispatch.domain.queue import QueueQuery
from services.dispatch.store import CaseStore
from services.intake.domain.open311 import RequestQuery
from services.intake.store import IssueStore
from services.notify.store import NotifyStore
from shared.reference import load_reference
from shared.settings import Settings

pytestmark = pytest.mark.integration

AT = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)


class Filters(monitoring.CommandListener):
    """The (collection, filter) of every read or write command sent while recording."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict]] = []
        self.on = False

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if not self.on:
            return
        cmd, name = event.command, event.command_name
        if name in ("find", "count", "findAndModify"):
            self.seen.append((cmd[name], cmd.get("filter", cmd.get("query")) or {}))
        elif name in ("update", "delete"):
            key = "updates" if name == "update" else "deletes"
            self.seen += [(cmd[name], statement["q"]) for statement in cmd[key]]

    def succeeded(self, event) -> None: ...

    def failed(self, event) -> None: ...


@pytest.fixture
async def monitored(settings: Settings):
    filters = Filters()
    client = AsyncMongoClient(
        settings.mongodb_url, event_listeners=[filters], tz_aware=True, retryWrites=False
    )
    if "ferretdbVersion" not in await client.admin.command("buildInfo"):
        await client.close()
        pytest.skip("plans are FerretDB's; MongoDB uses its indexes anyway")
    yield client, filters
    await client.close()


async def _assert_indexed(db, filters: Filters, call, pointers: tuple[str, ...] = ()) -> None:
    """``pointers``: small collections of pending work, read whole on purpose."""
    filters.seen.clear()
    filters.on = True
    try:
        await call
    finally:
        filters.on = False
    assert filters.seen, "the call sent no filter"
    for collection, flt in filters.seen:
        if collection in pointers:
            continue
        plan = (await db.command("explain", {"find": collection, "filter": flt}))["queryPlanner"]
        steps = plan["Plan"]
        assert not any("SCAN" in step for step in steps), (collection, flt, steps)


async def test_notify_inbox_and_retry_claim(settings: Settings, monitored) -> None:
    client, filters = monitored
    db = client[f"{settings.db_prefix}indexed_notify"]
    store = NotifyStore(db)
    try:
        await store.prepare()
        await store.inbox_messages.insert_many(
            [
                {"_id": f"m{i}", "resident_ref": f"res_{i % 3}", "created_at": AT, "read": False}
                for i in range(30)
            ]
        )
        await store.claim("d1", {"resident_ref": "res_1", "channel": "email"})
        await store.settle("d1", "retrying")
        await _assert_indexed(db, filters, store.inbox("res_1", 50))
        await _assert_indexed(db, filters, store.inbox("res_1", 50, after=AT - timedelta(1)))
        await _assert_indexed(db, filters, store.claim_retry("d1", 2))
    finally:
        await client.drop_database(db.name)


async def test_intake_own_reports_and_transitions(settings: Settings, monitored) -> None:
    client, filters = monitored
    db = client[f"{settings.db_prefix}indexed_intake"]
    store = IssueStore(db)
    try:
        await store.prepare()
        fields = {"category": "streetlight-out", "reported_at": AT}
        await db["issues"].insert_many(
            [
                {"_id": "iss_1", "resident_ref": "res_a", "sequence": 0, **fields},
                {"_id": "iss_2", "resident_ref": "res_b", "followers": ["res_a"], **fields},
                {"_id": "iss_3", "resident_ref": "res_c", "sequence": 0, **fields},
            ]
        )
        own = store.of_resident("res_a")
        await _assert_indexed(db, filters, own)
        assert {d["_id"] for d in await store.of_resident("res_a")} == {"iss_1", "iss_2"}
        moved = store.record_transition("iss_1", 1, "assigned", AT, {})
        await _assert_indexed(db, filters, moved)
        by_ids = RequestQuery(ids=("iss_3", "iss_1", "iss_9"), page=1, page_size=50)
        await _assert_indexed(db, filters, store.query(by_ids))
        assert [d["_id"] for d in await store.query(by_ids)] == ["iss_1", "iss_3"]
    finally:
        await client.drop_database(db.name)


async def test_notify_broadcast_lease(settings: Settings, monitored) -> None:
    client, filters = monitored
    db = client[f"{settings.db_prefix}indexed_broadcasts"]
    store = NotifyStore(db)
    try:
        await store.prepare()
        done = [{"_id": f"bc_old{i}", "status": "done", "created_at": AT} for i in range(20)]
        await store.broadcasts.insert_many(done)
        await store.create_broadcast(
            {"_id": "bc_new", "status": "queued", "lease_until": None, "created_at": AT}
        )
        now = AT + timedelta(minutes=5)
        lease = store.lease_broadcast("me", now, now + timedelta(minutes=1))
        await _assert_indexed(db, filters, lease, pointers=("broadcasts_unfinished",))
        assert (await store.broadcast("bc_new"))["lease_owner"] == "me"
        await store.finish_broadcast("bc_new", "me")
        assert await store.lease_broadcast("me", now, now) is None
        assert await store.unfinished.count_documents({}) == 0
    finally:
        await client.drop_database(db.name)


async def test_dispatch_case_queue(settings: Settings, monitored) -> None:
    """The staff's case queue (dispatch's ``GET /queue``) reads documents by ``_id``; its
    writes (a routed batch, a later change) address them by ``_id`` too. The task list it
    replaces filtered on the array fields ``places``/``holders`` (a scan)."""
    client, filters = monitored
    db = client[f"{settings.db_prefix}indexed_dispatch"]
    store = CaseStore(db)
    reference = load_reference(settings.config_dir)
    try:
        await store.prepare()
        docs = [_routed_case(f"iss_queue{i:06d}", i) for i in range(40)]
        await _assert_indexed(db, filters, store.insert_cases(docs))
        changed = {**docs[3], "version": 2, "status": "acknowledged"}
        await _assert_indexed(db, filters, store.queue.put([changed]))
        reader = CaseStore(db).queue  # a replica that has read nothing yet
        query = QueueQuery(status="acknowledged")
        chosen = reader.select("n:sz.tongjiang", query, AT, reference.tree.is_within)
        await _assert_indexed(db, filters, chosen)
        found = await reader.select("n:sz.tongjiang", query, AT, reference.tree.is_within)
        assert [r.issue_id for r in found.rows] == ["iss_queue000003"]
        assert found.counts == {"acknowledged": 1, "assigned": 39}
        mine = await reader.select("d:urban-mgmt", QueueQuery(), AT, reference.tree.is_within)
        assert len(mine.rows) == 40
    finally:
        await client.drop_database(db.name)


def _routed_case(issue_id: str, i: int) -> dict:
    due = AT + timedelta(hours=i)
    duty = {"holder": {"kind": "department", "code": "urban-mgmt"}, "status": "summoned",
            "since": AT, "ack_due": due, "resolve_due": due + timedelta(days=1)}  # fmt: skip
    return {
        "_id": issue_id, "category": "streetlight-out", "priority": "normal",
        "node_id": "sz.tongjiang.niuerqiao.hongqi", "status": "assigned", "version": 1,
        "owner": duty["holder"], "supervisor": "sz.tongjiang", "duties": [duty],
        "assigned_at": AT, "reported_month": "2026-03",
        "places": ["sz", "sz.tongjiang", "sz.tongjiang.niuerqiao", "sz.tongjiang.niuerqiao.hongqi"],
    }  # fmt: skip

"""The hot request paths and consumer steps ask the store only what an index answers.

Each store call below runs under PyMongo's command monitoring; every filter it sends (find,
count, update, delete, findAndModify) is then explained on the same server, and on FerretDB
the plan must SEARCH an index, never SCAN the collection (docs/storage.md lists the paths).
"""

from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest
from pymongo import AsyncMongoClient, monitoring

from services.dispatch.domain.queue import QueueQuery
from services.dispatch.store import CaseStore
from services.intake.application.read_model import ReadModel
from services.intake.domain.buckets import nearby_keys
from services.intake.domain.duplicates import pick_duplicates
from services.intake.domain.open311 import RequestQuery
from services.intake.store import IssueStore
from services.notify.store import NotifyStore
from shared.events import IssueReportedV1
from shared.events.lifecycle import IssueTransitionV1
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


@asynccontextmanager
async def _prepared(settings: Settings, monitored, name: str, make_store):
    """A store on its own database (its indexes made), the monitor's filters, then the
    database dropped."""
    client, filters = monitored
    db = client[f"{settings.db_prefix}indexed_{name}"]
    store = make_store(db)
    try:
        await store.prepare()
        yield db, filters, store
    finally:
        await client.drop_database(db.name)


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
    async with _prepared(settings, monitored, "notify", NotifyStore) as (db, filters, store):
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


async def test_intake_own_reports_and_transitions(settings: Settings, monitored) -> None:
    async with _prepared(settings, monitored, "intake", IssueStore) as (db, filters, store):
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


async def test_notify_broadcast_lease(settings: Settings, monitored) -> None:
    async with _prepared(settings, monitored, "broadcasts", NotifyStore) as (db, filters, store):
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


async def test_notify_broadcast_reach_read_by_id(settings: Settings, monitored) -> None:
    async with _prepared(settings, monitored, "reach", NotifyStore) as (db, filters, store):
        await store.replace_reach({f"sz.n{i}": {"residents": i} for i in range(30)})
        await _assert_by_id(db, filters, store.reach("sz.n7"))
        assert (await store.reach("sz.n7"))["residents"] == 7
        await store.replace_reach({"sz.n7": {"residents": 8}})
        assert await store.reach_counts.count_documents({}) == 1


async def _assert_by_id(db, filters: Filters, call) -> None:
    """Stricter than ``_assert_indexed``: every filter the call sends is an exact ``_id``
    (an equality on another field is narrowed by our build's pushdown 2 only: it still reads
    every document holding that value)."""
    await _assert_indexed(db, filters, call)
    for collection, flt in filters.seen:
        assert isinstance(flt.get("_id"), str), (collection, flt)


REF = load_reference()
COMPOUNDS = [n for n in REF.tree.at_level("compound") if n.location is not None][:4]


def _reported(n: int) -> IssueReportedV1:
    """Reports over three days, two categories, four compounds; every third with its own
    point ~50 m from its compound."""
    place = COMPOUNDS[n % 4]
    point = {"lat": place.location.lat + 0.0004, "lon": place.location.lon} if n % 3 == 0 else {}
    return IssueReportedV1(
        issue_id=f"iss_{n:012d}",
        category=("streetlight-out", "water-outage")[n % 2],
        node_id=place.id,
        description="x",
        priority="normal",
        reported_at=AT + timedelta(hours=7 * n),
        **point,
    )


async def _scanned_open(db, category: str, since: datetime) -> list[dict]:
    """What the duplicate offer read before: a filter on category, status and time."""
    flt = {"category": category, "open311_status": "open", "reported_at": {"$gte": since}}
    return [d async for d in db["issues"].find(flt, {"history": 0}).sort("reported_at", -1)]


async def _scanned_requests(db, query: RequestQuery) -> list[dict]:
    """What Open311's search by dates read before."""
    flt: dict = {"reported_at": {"$gte": query.start, "$lte": query.end}}
    if query.service_codes:
        flt["category"] = {"$in": list(query.service_codes)}
    if query.statuses:
        flt["open311_status"] = {"$in": list(query.statuses)}
    cursor = db["issues"].find(flt, {"history": 0}).sort([("reported_at", -1), ("_id", 1)])
    return [d async for d in cursor.skip(query.skip).limit(query.page_size)]


def _picked(docs: list[dict], place) -> list[str]:
    """The duplicate offer's choice among candidates (all of them, nearest first)."""
    point = (place.location.lat, place.location.lon)
    found = pick_duplicates(
        docs, compound_id=place.id, point=point, radius_km=0.15, tree=REF.tree, limit=100
    )
    return [d["_id"] for d in found]


def _transition(issue_id: str, sequence: int, status: str) -> IssueTransitionV1:
    return IssueTransitionV1(
        issue_id=issue_id, sequence=sequence, status=status, category="streetlight-out",
        node_id=COMPOUNDS[0].id, at=AT + timedelta(days=5),
    )  # fmt: skip


async def test_intake_duplicate_offer_and_open311_dates_read_by_id(settings, monitored) -> None:
    client, filters = monitored
    db = client[f"{settings.db_prefix}indexed_intake_keyed"]
    store = IssueStore(db)
    read_model = ReadModel(store, REF.tree)
    try:
        await store.prepare()
        await read_model.reported([_reported(n) for n in range(12)])
        await read_model.record(_reported(12))  # the Open311 path records one at once
        await read_model.reported([_reported(11), _reported(13)])  # a redelivery among them
        await read_model.transition(_transition("iss_000000000000", 1, "resolved"))
        await read_model.transition(_transition("iss_000000000004", 1, "closed"))
        await read_model.transition(_transition("iss_000000000004", 2, "reopened"))
        await read_model.transition(_transition("iss_000000000008", 1, "acknowledged"))
        since, offers = AT - timedelta(days=1), 0
        for category in ("streetlight-out", "water-outage"):
            for place in COMPOUNDS:
                point = (place.location.lat, place.location.lon)
                keys = nearby_keys(category, place.id, point, 0.15)
                near = store.open_of_category(category, keys, since)
                await _assert_by_id(db, filters, near)
                offered = _picked(await store.open_of_category(category, keys, since), place)
                assert offered == _picked(await _scanned_open(db, category, since), place)
                offers += len(offered)
        assert offers >= 8  # the closed ones are not offered, the reopened one is
        windows = [
            RequestQuery(start=AT, end=AT + timedelta(days=2), page_size=1000),
            RequestQuery(start=AT + timedelta(hours=6), end=AT + timedelta(days=90)),
            RequestQuery(start=AT, end=AT + timedelta(days=3), statuses=("closed",)),
            RequestQuery(
                start=AT,
                end=AT + timedelta(days=3),
                statuses=("open",),
                page=2,
                page_size=3,
                service_codes=("streetlight-out",),
            ),
            RequestQuery(  # more services than per-service documents are read for
                start=AT,
                end=AT + timedelta(days=3),
                page=2,
                page_size=2,
                service_codes=("water-outage", *(f"other-{n}" for n in range(8))),
            ),
        ]
        for query in windows:
            await _assert_by_id(db, filters, store.query(query))
            found = [d["_id"] for d in await store.query(query)]
            assert found == [d["_id"] for d in await _scanned_requests(db, query)], query
        assert await store.query(windows[2]) != [] and await store.query(windows[4]) != []
        filters.seen.clear()
        filters.on = True
        await store.query(windows[3])
        filters.on = False
        # one service's search reads that service's days, not every report of each day
        assert {collection for collection, _ in filters.seen} == {
            "reports_by_service_day",
            "issues",
        }
    finally:
        await client.drop_database(db.name)


async def test_dispatch_case_queue(settings: Settings, monitored) -> None:
    """The staff's case queue (dispatch's ``GET /queue``) reads documents by ``_id``; its
    writes (a routed batch, a later change) address them by ``_id`` too."""
    reference = load_reference(settings.config_dir)
    async with _prepared(settings, monitored, "dispatch", CaseStore) as (db, filters, store):
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


async def test_dispatch_task_list_and_open_counts(settings: Settings, monitored) -> None:
    """``GET /tasks`` (a department's cases, an office's subtree) and the public open counts
    read the queue's documents and then each case by ``_id``; they filtered on the array
    fields ``holders``/``places`` and on ``status`` before (a scan of every case)."""
    tree = load_reference(settings.config_dir).tree
    async with _prepared(settings, monitored, "tasks", CaseStore) as (db, filters, store):
        docs = [_routed_case(f"iss_tasks{i:06d}", i) for i in range(12)]
        await store.insert_cases(docs)
        await store.put_head({**docs[2], "version": 2, "status": "closed"})
        # a change whose queue row is not written yet (its writer died): the case decides
        await store.commit({**docs[5], "version": 2, "status": "closed"}, [])
        mine = store.listed("d:urban-mgmt", "", True, 4, tree.is_within)
        await _assert_by_id(db, filters, mine)
        found = await CaseStore(db).listed("d:urban-mgmt", "", True, 4, tree.is_within)
        assert [d["_id"] for d in found] == [f"iss_tasks{i:06d}" for i in (0, 1, 3, 4)]
        every = await store.listed("d:urban-mgmt", "", False, 500, tree.is_within)
        assert len(every) == 12 and every[2]["status"] == "closed"
        compound = "sz.tongjiang.niuerqiao.hongqi"
        office = await store.listed("n:sz.tongjiang.niuerqiao", compound, True, 100, tree.is_within)
        assert len(office) == 10 and {d["node_id"] for d in office} == {compound}
        assert await store.listed("n:sz.tongjiang.niuerqiao", "sz.x", True, 9, tree.is_within) == []
        await _assert_by_id(db, filters, store.open_nodes(tree.root.id))
        # reading the case rolled it forward and wrote its row
        assert await store.open_nodes(tree.root.id) == [compound] * 10
        await _assert_indexed(db, filters, store.of_month("2026-03"))  # pushdown 2: one month


async def test_dispatch_queue_stamp_read_by_id_and_moves_with_a_change(
    settings: Settings, monitored
) -> None:
    """The console's live board asks for the scope's stamp every few seconds: one ``_id``
    read, and it moves when a case of the scope changes (not when another scope's does)."""
    within = load_reference(settings.config_dir).tree.is_within
    async with _prepared(settings, monitored, "stamp", CaseStore) as (db, filters, store):
        docs = [_routed_case(f"iss_stamp{i:06d}", i) for i in range(10)]
        await store.insert_cases(docs)
        await _assert_by_id(db, filters, store.queue.stamp("n:sz.tongjiang", "", within))
        street = await store.queue.stamp("n:sz.tongjiang", "", within)
        place = await store.queue.stamp("n:sz.tongjiang.niuerqiao", HONGQI, within)
        other = await store.queue.stamp("n:sz.haitang", "", within)
        await store.queue.put([{**docs[3], "version": 2, "status": "acknowledged"}])
        assert await store.queue.stamp("n:sz.tongjiang", "", within) != street
        assert await store.queue.stamp("n:sz.tongjiang.niuerqiao", HONGQI, within) != place
        assert await store.queue.stamp("n:sz.haitang", "", within) == other
        again = await store.queue.stamp("n:sz.tongjiang", "", within)
        await store.queue.put([{**docs[3], "version": 2, "status": "acknowledged"}])  # a replay
        assert await store.queue.stamp("n:sz.tongjiang", "", within) == again


HONGQI = "sz.tongjiang.niuerqiao.hongqi"


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

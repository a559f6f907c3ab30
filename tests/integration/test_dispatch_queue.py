"""Dispatch's paged case queue (``GET /api/v1/dispatch/queue``) against the real servers:
scopes as the task list's (an office its subtree, a department the cases it holds or held),
filters, counts and paging; rows follow each change; a writer that died between a queue shard
and its stamp is repaired by writing the same rows again (what the outbox sweeper does)."""

import secrets
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.dispatch.app import create_app
from services.dispatch.domain.queue import QueueQuery, row_of, shards_of
from services.dispatch.queue_store import QueueStore
from shared.events import IssueReportedV1
from tests.helpers import serving
from tests.servers import isolated_settings

pytestmark = pytest.mark.integration
HONGQI = "sz.tongjiang.niuerqiao.hongqi"
AT = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


CLOCK = Clock(AT)


@pytest.fixture(scope="module")
async def world(servers):
    settings = isolated_settings(servers, dispatch_timer_interval_s=0)
    app = create_app(settings, clock=CLOCK)
    async with serving(app) as [client]:
        store, keys = app.state.store, {}
        for kind, code in [("department", "urban-mgmt"), ("department", "water"),
                           ("office", "sz.tongjiang"), ("office", "sz.haitang"),
                           ("office", HONGQI)]:  # fmt: skip
            keys[code] = secrets.token_urlsafe(24)
            await store.add_key(keys[code], kind, code, AT)
        ids = []
        for i in range(7):
            event = IssueReportedV1(
                issue_id="iss_" + uuid.uuid4().hex[:20], category="streetlight-out",
                node_id=HONGQI, description=f"路灯不亮 {i}", reported_at=AT,
            )  # fmt: skip
            await app.state.dispatcher.route([(None, event)])
            ids.append(event.issue_id)
        yield app, client, keys, ids


async def queue(client, key, **params):
    answer = await client.get(
        "/api/v1/dispatch/queue", params=params, headers={"Authorization": f"Bearer {key}"}
    )
    return answer


async def test_scopes_filters_counts_and_paging(world) -> None:
    _app, client, keys, ids = world
    street = (await queue(client, keys["sz.tongjiang"], size=3, sort="newest")).json()
    assert street["total"] == 7 and street["pages"] == 3 and len(street["rows"]) == 3
    assert street["counts"] == {"assigned": 7}
    assert street["places"] == {HONGQI: 7}
    last = (await queue(client, keys["sz.tongjiang"], size=3, page=3)).json()
    assert last["page"] == 3 and len(last["rows"]) == 1
    assert (await queue(client, keys["sz.haitang"])).json()["total"] == 0
    compound = (await queue(client, keys[HONGQI])).json()  # its community's queue, filtered
    assert compound["total"] == 7 and compound["places"] == {HONGQI: 7}
    niuerqiao = (await queue(client, keys["sz.tongjiang"], node="sz.tongjiang.niuerqiao")).json()
    assert niuerqiao["total"] == 7
    assert (await queue(client, keys["water"])).json()["total"] == 0
    mine = (await queue(client, keys["urban-mgmt"], node=HONGQI)).json()
    assert {r["issue_id"] for r in mine["rows"]} == set(ids)
    assert mine["rows"][0]["duties"][0]["holder"] == "urban-mgmt"
    outside = await queue(client, keys["sz.haitang"], node=HONGQI)
    assert outside.status_code == 404 and outside.json()["errors"][0]["field"] == "query.node"
    assert (await queue(client, keys["sz.tongjiang"], flag="late")).status_code == 422
    assert (await queue(client, "nobody")).status_code == 401


async def test_rows_follow_changes_and_department_joins(world) -> None:
    _app, client, keys, ids = world
    auth = {"Authorization": f"Bearer {keys['urban-mgmt']}"}
    done = await client.post(
        f"/api/v1/dispatch/cases/{ids[0]}/actions", headers=auth,
        json={"action_id": uuid.uuid4().hex, "action": "acknowledge"},
    )  # fmt: skip
    assert done.status_code == 200, done.text
    acked = (await queue(client, keys["sz.tongjiang"], status="acknowledged")).json()
    assert [r["issue_id"] for r in acked["rows"]] == [ids[0]]
    assert acked["counts"] == {"acknowledged": 1, "assigned": 6}
    flagged = (await queue(client, keys["sz.tongjiang"], flag="due-soon")).json()
    assert flagged["total"] >= 1  # an acknowledgement is due within hours of the report


async def test_a_lost_stamp_is_repaired_by_writing_the_same_rows(world) -> None:
    app, _client, _keys, ids = world
    store = app.state.store
    reader = QueueStore(store.db)
    before = await reader.select("n:sz.tongjiang", QueueQuery(), AT, lambda a, b: True)
    doc = await store.get(ids[1])
    moved = {**doc, "version": doc["version"] + 5, "status": "in_progress"}
    row = row_of(moved)
    # the writer dies after the shard, before its stamp: a reader with a copy sees the old row
    shard = dict(shards_of(moved))["n:sz.tongjiang"]
    await store.queue._put_shard("n:sz.tongjiang", shard, [row])
    stale = await reader.select("n:sz.tongjiang", QueueQuery(status="in_progress"), AT,
                                lambda a, b: True)  # fmt: skip
    assert stale.rows == [] and len(before.rows) == 7
    await store.queue.put([moved])  # the sweeper writes the change's rows again
    fresh = await reader.select("n:sz.tongjiang", QueueQuery(status="in_progress"), AT,
                                lambda a, b: True)  # fmt: skip
    assert [r.issue_id for r in fresh.rows] == [ids[1]]
    older = {**doc, "status": "assigned"}  # a late write of an older version changes nothing
    await store.queue.put([older])
    again = await QueueStore(store.db).select("n:sz.tongjiang", QueueQuery(status="in_progress"),
                                              AT, lambda a, b: True)  # fmt: skip
    assert [r.issue_id for r in again.rows] == [ids[1]]


async def test_the_timeline_holds_every_event_and_offices_urge_and_reprimand(world) -> None:
    _app, client, keys, ids = world
    issue_id = ids[2]

    async def post(key, **body):
        return await client.post(
            f"/api/v1/dispatch/cases/{issue_id}/actions",
            headers={"Authorization": f"Bearer {keys[key]}"},
            json={"action_id": uuid.uuid4().hex, **body},
        )

    urged = await post("sz.tongjiang", action="urge", holder="urban-mgmt", reason="请尽快")
    assert urged.status_code == 200, urged.text
    early = await post("sz.tongjiang", action="reprimand", holder="urban-mgmt", reason="超时")
    assert early.status_code == 409 and early.json()["errors"][0]["code"] == "not_overdue"
    missing = await post("sz.tongjiang", action="reprimand", holder="urban-mgmt")
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "body.reason"
    foreign = await post("sz.haitang", action="urge", holder="urban-mgmt")
    assert foreign.status_code == 404  # not in its subtree: no such case for it
    CLOCK.now = AT + timedelta(days=5)  # past every deadline
    try:
        flagged = await post("sz.tongjiang", action="reprimand", holder="urban-mgmt",
                             reason="超时未签收")  # fmt: skip
    finally:
        CLOCK.now = AT
    assert flagged.status_code == 200, flagged.text
    assert flagged.json()["case"]["duties"][0]["reprimanded"] is True
    seen = await client.get(f"/api/v1/dispatch/cases/{issue_id}/timeline",
                            headers={"Authorization": f"Bearer {keys['urban-mgmt']}"})  # fmt: skip
    assert seen.status_code == 200, seen.text
    events = seen.json()["events"]
    assert [e["version"] for e in events] == sorted(e["version"] for e in events)
    kinds = [(e["event_type"].split(".")[2], e["task"]) for e in events]
    assert kinds == [
        ("assigned", None), ("task", "new"), ("reminded", None),
        ("task", "reminder"), ("reprimanded", None), ("task", "escalation"),
    ]  # fmt: skip
    assert events[2]["actor"] == "sz.tongjiang" and events[2]["reason"] == "请尽快"
    assert events[4]["reason"] == "超时未签收" and events[4]["status"] == "assigned"
    other = await client.get(f"/api/v1/dispatch/cases/{issue_id}/timeline",
                             headers={"Authorization": f"Bearer {keys['water']}"})  # fmt: skip
    assert other.status_code == 404

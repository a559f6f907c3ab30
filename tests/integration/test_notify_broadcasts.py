"""Area broadcasts against real Kafka and FerretDB: scoped operator keys, each resident below
the node reached once (none outside), urgent over quiet hours, progress, cancelling, and a
fan-out taken over half-way from a replica that died between its inserts and its progress."""

import asyncio
import json
from datetime import timedelta

import pytest

from services.notify.app import create_app
from services.notify.broadcasts import new_broadcast_id
from services.notify.domain import delivery_id
from services.notify.operators import create_operator
from services.notify.seeding import demo_ref, seed
from shared.events import utcnow
from shared.reference import load_reference
from tests.helpers import eventually, serving
from tests.notify.kit import auth, module_settings, opened_store, ref
from tests.notify.receivers import read_log, receiver

pytestmark = pytest.mark.integration

STREET, OTHER_STREET = "sz.tongjiang", "sz.haitang"
COMMUNITY = "sz.tongjiang.niuerqiao"
IN_STREET, ELSEWHERE = 300, 40


@pytest.fixture(scope="module")
def hooks(tmp_path_factory):
    log = tmp_path_factory.mktemp("bc") / "hooks.jsonl"
    with receiver("http", str(log), json.dumps({"night-owl": "owl-secret-1"})) as (port, _):
        yield port, log


@pytest.fixture(scope="module")
def config(servers):
    return module_settings(
        servers, notify_broadcast_batch=64, notify_broadcast_lease_s=2.0, notify_reach_every_s=0.5
    )


@pytest.fixture(scope="module")
async def store(config):
    async with opened_store(config) as store:
        yield store


@pytest.fixture(scope="module")
async def notify(config, store):
    tree = load_reference().tree
    await seed(store.db, tree, STREET, IN_STREET)
    await seed(store.db, tree, OTHER_STREET, ELSEWHERE, first=IN_STREET)
    async with serving(create_app(config)) as [client]:
        yield client


def _bearer(key):
    return {"Authorization": f"Bearer {key}"}


MESSAGE = {
    "zh-CN": {"title": "暴雨预警", "body": "今晚有暴雨，请勿外出。"},
    "en": {"title": "Rainstorm warning", "body": "Heavy rain tonight; stay indoors."},
}


async def _done(notify, key, broadcast_id):
    body = (await notify.get(f"/api/v1/broadcasts/{broadcast_id}", headers=_bearer(key))).json()
    return body if body["status"] == "done" else None


async def _counts(store, source):
    pipeline = [
        {"$match": {"source_event": source}},
        {"$group": {"_id": "$resident_ref", "n": {"$sum": 1}}},
    ]
    return {d["_id"]: d["n"] async for d in await store.inbox_messages.aggregate(pipeline)}


async def test_a_broadcast_to_a_street_reaches_each_resident_below_it_once(notify, store):
    key = await create_operator(store, node_id=STREET, name="street duty officer")
    body = {"node_id": STREET, "urgent": False, **MESSAGE}
    response = await notify.post("/api/v1/broadcasts", json=body, headers=_bearer(key))
    assert response.status_code == 202, response.text
    broadcast_id = response.json()["id"]
    done = await eventually(lambda: _done(notify, key, broadcast_id), timeout_s=30)
    assert done["progress"]["recipients"] == IN_STREET
    assert done["progress"]["sent"] == {"inbox": IN_STREET}
    counts = await _counts(store, broadcast_id)
    assert counts == {demo_ref(i): 1 for i in range(IN_STREET)}
    english = await store.inbox_messages.find_one(
        {"_id": delivery_id(broadcast_id, demo_ref(0), "inbox")}
    )
    chinese = await store.inbox_messages.find_one(
        {"_id": delivery_id(broadcast_id, demo_ref(1), "inbox")}
    )
    assert english["title"] == "Rainstorm warning" and chinese["title"] == "暴雨预警"


async def test_operators_are_scoped_to_their_node(notify, store):
    key = await create_operator(store, node_id=COMMUNITY)
    body = {"node_id": STREET, **MESSAGE}
    response = await notify.post("/api/v1/broadcasts", json=body, headers=_bearer(key))
    assert response.status_code == 403
    assert response.json()["errors"][0]["field"] == "body.node_id"
    response = await notify.post(
        "/api/v1/broadcasts", json={**body, "node_id": "sz.nowhere"}, headers=_bearer(key)
    )
    assert response.status_code == 404
    for bad in ("", "opk_x.y", key + "x"):
        response = await notify.post("/api/v1/broadcasts", json=body, headers=_bearer(bad))
        assert response.status_code == 401
    stored = await store.operators.find_one({"node_id": COMMUNITY})
    assert key.split(".", 1)[1] not in json.dumps(stored, default=str)


async def test_urgent_overrides_quiet_hours_and_opt_outs(notify, store, config, hooks):
    port, log = hooks
    owl = ref("night-owl")
    local_hour = (utcnow() + timedelta(hours=8)).hour
    await store.residents.insert_one(
        {"_id": owl, "node_id": COMMUNITY, "nodes": ["sz", STREET, COMMUNITY]}
    )
    prefs = {
        "channels": ["webhook"],
        "quiet_hours": {
            "start": f"{(local_hour - 1) % 24:02d}:00",
            "end": f"{(local_hour + 2) % 24:02d}:00",
        },
        "opt_outs": ["broadcast"],
        "webhook": {"url": f"http://127.0.0.1:{port}/robot/night-owl", "secret": "owl-secret-1"},
    }
    response = await notify.put(
        f"/api/v1/residents/{owl}/preferences", json=prefs, headers=auth(config, owl)
    )
    assert response.status_code == 200
    key = await create_operator(store, node_id=COMMUNITY)
    quiet = {"node_id": COMMUNITY, "urgent": False, **MESSAGE}
    first = (await notify.post("/api/v1/broadcasts", json=quiet, headers=_bearer(key))).json()
    done = await eventually(lambda: _done(notify, key, first["id"]))
    assert done["progress"]["skipped"] == 1  # opted out, not urgent
    urgent = {**quiet, "urgent": True}
    second = (await notify.post("/api/v1/broadcasts", json=urgent, headers=_bearer(key))).json()
    done = await eventually(lambda: _done(notify, key, second["id"]))
    assert done["progress"]["sent"]["webhook"] == 1
    [hook] = read_log(log)
    assert hook["body"]["text"]["content"].startswith("【紧急】暴雨预警")


@pytest.mark.parametrize("progress", ["walked", "cursor"])
async def test_a_fan_out_resumes_after_a_replica_died_half_way_without_second_copies(
    notify, store, progress
):
    """``walked``: the count of residents walked in natural order; ``cursor``: the last id of
    a walk in id order, as kept by a broadcast begun by an earlier version."""
    key = await create_operator(store, node_id=OTHER_STREET)  # no other test adds anyone there
    broadcast_id = new_broadcast_id()
    # the dead replica had counted 16 residents, then inserted 8 more before dying
    # (seeded in id order, so the natural order is the id order here)
    refs = sorted(demo_ref(i) for i in range(IN_STREET, IN_STREET + ELSEWHERE))
    for r in refs[:24]:
        await store.inbox_messages.insert_one(
            {
                "_id": delivery_id(broadcast_id, r, "inbox"),
                "resident_ref": r,
                "source_event": broadcast_id,
                "kind": "broadcast",
                "title": "t",
                "body": "b",
                "language": "zh-CN",
                "created_at": utcnow(),
                "read": False,
            }
        )
    await store.create_broadcast(
        {
            "_id": broadcast_id,
            "node_id": OTHER_STREET,
            "urgent": True,
            "messages": MESSAGE,
            "operator": "x",
            "status": "sending",
            **({"walked": 16} if progress == "walked" else {"cursor": refs[15]}),
            "lease_owner": "dead",
            "lease_until": utcnow() + timedelta(seconds=1),
            "created_at": utcnow(),
            "progress": {
                "recipients": 16,
                "skipped": 0,
                "queued": {},
                "sent": {"inbox": 16},
                "failed": {},
            },
        }
    )
    done = await eventually(lambda: _done(notify, key, broadcast_id), timeout_s=30)
    assert done["progress"]["recipients"] == ELSEWHERE
    assert done["progress"]["sent"] == {"inbox": ELSEWHERE}
    counts = await _counts(store, broadcast_id)
    assert len(counts) == ELSEWHERE and set(counts.values()) == {1}


async def test_a_broadcast_can_be_cancelled_and_then_stops(notify, store):
    key = await create_operator(store, node_id=STREET)
    broadcast_id = new_broadcast_id()
    await store.create_broadcast(
        {
            "_id": broadcast_id,
            "node_id": STREET,
            "urgent": False,
            "messages": MESSAGE,
            "operator": "x",
            "status": "sending",
            "cursor": None,
            "lease_owner": "slow",
            "lease_until": utcnow() + timedelta(minutes=5),
            "created_at": utcnow(),
            "progress": {"recipients": 0},
        }
    )
    url = f"/api/v1/broadcasts/{broadcast_id}"
    response = await notify.post(url + "/cancel", headers=_bearer(key))
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert not await store.advance_broadcast(broadcast_id, "slow", 1, {}, utcnow())
    assert (await notify.post(url + "/cancel", headers=_bearer(key))).status_code == 409
    other = await create_operator(store, node_id=OTHER_STREET)
    assert (await notify.get(url, headers=_bearer(other))).status_code == 404


async def _reach(notify, key, node):
    answer = await notify.get("/api/v1/broadcasts/reach", params={"node_id": node},
                              headers=_bearer(key))  # fmt: skip
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_the_reach_of_a_node_is_counted_per_first_channel_and_scoped(notify, store):
    key = await create_operator(store, node_id=STREET)
    below = await store.residents.count_documents({"nodes": STREET})
    opted_out = await store.residents.count_documents(
        {"nodes": STREET, "prefs.opt_outs": "broadcast"}
    )
    seen = await eventually(lambda: _reach_is(notify, key, STREET, below), timeout_s=20)
    assert below >= IN_STREET and seen["not_opted_out"] == below - opted_out
    assert sum(seen["first_channel"].values()) == below and seen["counted_at"]
    newcomer = ref("newcomer")
    await store.residents.insert_one(
        {"_id": newcomer, "node_id": COMMUNITY, "nodes": ["sz", STREET, COMMUNITY],
         "phone": "13900000000", "prefs": {"channels": ["sms", "inbox"]}}
    )  # fmt: skip
    await eventually(lambda: _reach_is(notify, key, STREET, below + 1), timeout_s=20)
    elsewhere = await _reach(notify, await create_operator(store, node_id="sz"), OTHER_STREET)
    assert elsewhere["residents"] == await store.residents.count_documents({"nodes": OTHER_STREET})
    for node, status in ((OTHER_STREET, 403), ("sz.nowhere", 404)):
        answer = await notify.get("/api/v1/broadcasts/reach", params={"node_id": node},
                                  headers=_bearer(key))  # fmt: skip
        assert answer.status_code == status, answer.text
        assert "errors" in answer.json()
    bad = await notify.get("/api/v1/broadcasts/reach", params={"node_id": STREET})
    assert bad.status_code == 401


async def _reach_is(notify, key, node, residents):
    found = await _reach(notify, key, node)
    return found if found["residents"] == residents else None


async def test_one_replica_a_period_walks_the_residents_for_the_reach(config, notify, store):
    """Two replicas' tallies in one period: the first counts, the other leaves it (each walk
    reads every resident, so replicas would multiply the load); the next period counts again."""
    from datetime import UTC, datetime

    from services.notify.reach import Reach

    deliverer = create_app(config).state.notify["deliverer"]  # built, not started
    tree = load_reference().tree
    at = [datetime(2031, 1, 1, 0, 0, 1, tzinfo=UTC)]
    replicas = [Reach(store, deliverer, tree, clock=lambda: at[0]) for _ in range(2)]
    first, second = await asyncio.gather(*(r.tally_if_first(300) for r in replicas))
    assert sorted([first is None, second is None]) == [False, True], (first, second)
    at[0] = datetime(2031, 1, 1, 0, 5, 1, tzinfo=UTC)  # the next period
    assert await replicas[1].tally_if_first(300) is not None

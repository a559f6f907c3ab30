"""Dispatch against the real servers, in-process with an injected clock: a report becomes a
case and a department task; departments act by HTTP and by Kafka within their scope; timers
remind, formally remind, escalate and reprimand exactly once as time is moved; ratings close
or reopen; the month's rates come out of the cases."""

import json
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.dispatch.app import create_app
from shared.events import Envelope, IssueReportedV1
from shared.events.dispatch import DepartmentActionV1, signed
from shared.events.lifecycle import IssueRatedV1
from shared.topics import (
    DEPT_ACTIONS,
    ISSUES_FEEDBACK,
    ISSUES_LIFECYCLE,
    ISSUES_REPORTED,
    dead_letters,
    dept_outcomes,
    dept_tasks,
)
from tests.helpers import eventually, produce, read_topic, serving
from tests.servers import isolated_settings

pytestmark = pytest.mark.integration
PLACE = "sz.tongjiang.niuerqiao.hongqi"
SHANGHAI = ZoneInfo("Asia/Shanghai")
EARLY = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai
START = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)  # a week later (the clock only moves on)


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
async def world(servers):
    settings = isolated_settings(
        servers,
        dispatch_timer_interval_s=0,  # the test ticks the timers itself
    )
    clock = Clock(EARLY)
    app = create_app(settings, clock=clock)
    async with serving(app) as [client]:
        store = app.state.store
        keys = {}
        for kind, code in [
            ("department", "urban-mgmt"),
            ("department", "water"),
            ("department", "power"),
            ("office", "sz.tongjiang"),
            ("office", "sz.tongjiang.niuerqiao"),
            ("office", "sz.haitang"),
        ]:
            keys[code] = secrets.token_urlsafe(24)
            await store.add_key(keys[code], kind, code, START)
        yield settings, clock, app, client, keys


def _headers(event) -> list[tuple[str, bytes]]:
    env = Envelope(type=event.event_type, source="/test", subject=event.issue_id)
    return env.record_headers()


async def report(settings, category="streetlight-out", priority="normal") -> str:
    issue_id = "iss_" + uuid.uuid4().hex[:20]
    event = IssueReportedV1(
        issue_id=issue_id,
        category=category,
        node_id=PLACE,
        description="路灯不亮",
        priority=priority,
        resident_ref="res_" + "a" * 20,
        reported_at=START,
    )
    await produce(
        settings.kafka_bootstrap,
        settings.topic_prefix + ISSUES_REPORTED,
        event.model_dump_json().encode(),
        key=issue_id.encode(),
        headers=_headers(event),
    )
    return issue_id


async def case_of(client, key, issue_id):
    async def probe():
        r = await client.get(
            f"/api/v1/dispatch/cases/{issue_id}", headers={"Authorization": f"Bearer {key}"}
        )
        return r.json() if r.status_code == 200 else None

    return await eventually(probe)


async def act(client, key, issue_id, action, **fields):
    return await client.post(
        f"/api/v1/dispatch/cases/{issue_id}/actions",
        headers={"Authorization": f"Bearer {key}"},
        json={"action_id": uuid.uuid4().hex, "action": action, **fields},
    )


async def lifecycle(settings, issue_id, expect):
    records = await read_topic(
        settings.kafka_bootstrap,
        settings.topic_prefix + ISSUES_LIFECYCLE,
        expect=10_000,
        timeout_s=1.5,
    )
    mine = [r for r in records if r.key.decode() == issue_id]
    ids = [dict(r.headers)["ce_id"] for r in mine]
    assert len(ids) == len(set(ids)), "an event was published twice"
    return [dict(r.headers)["ce_type"].decode().split(".")[2] for r in mine]


async def tasks(settings, department, issue_id):
    records = await read_topic(
        settings.kafka_bootstrap,
        settings.topic_prefix + dept_tasks(department),
        expect=10_000,
        timeout_s=1.5,
    )
    return [json.loads(r.value) for r in records if r.key.decode() == issue_id]


async def test_departments_act_by_http_only_on_their_own_tasks(world):
    settings, _, _, client, keys = world
    issue_id = await report(settings)
    case = await case_of(client, keys["urban-mgmt"], issue_id)
    assert case["status"] == "assigned" and case["owner"]["code"] == "urban-mgmt"
    [task] = await tasks(settings, "urban-mgmt", issue_id)
    assert task["action"] == "new" and task["resolve_due"]

    other = await client.get(
        f"/api/v1/dispatch/cases/{issue_id}", headers={"Authorization": f"Bearer {keys['water']}"}
    )
    assert other.status_code == 404
    refused = await act(client, keys["water"], issue_id, "acknowledge")
    assert refused.status_code == 404
    assert (await client.get("/api/v1/dispatch/tasks")).status_code == 401
    listed = await client.get(
        "/api/v1/dispatch/tasks", headers={"Authorization": f"Bearer {keys['sz.haitang']}"}
    )
    assert issue_id not in [c["issue_id"] for c in listed.json()["cases"]]
    listed = await client.get(
        "/api/v1/dispatch/tasks", headers={"Authorization": f"Bearer {keys['sz.tongjiang']}"}
    )
    assert issue_id in [c["issue_id"] for c in listed.json()["cases"]]

    early = await act(client, keys["urban-mgmt"], issue_id, "resolve", note="done")
    assert early.status_code == 409 and early.json()["errors"][0]["code"] == "not_acknowledged"
    assert (await act(client, keys["urban-mgmt"], issue_id, "acknowledge")).status_code == 200
    assert (
        await act(client, keys["urban-mgmt"], issue_id, "progress", note="lamp ordered")
    ).status_code == 200
    done = await act(
        client,
        keys["urban-mgmt"],
        issue_id,
        "resolve",
        note="replaced",
        photo_url="https://img.example/1.jpg",
    )
    assert done.status_code == 200 and done.json()["case"]["status"] == "resolved"
    names = await lifecycle(settings, issue_id, 4)
    assert names == ["assigned", "acknowledged", "progressed", "resolved"]


async def test_kafka_actions_apply_once_and_the_street_whistles(world):
    settings, _, _, client, keys = world
    issue_id = await report(settings, category="neighbour-mediation")
    case = await case_of(client, keys["sz.tongjiang.niuerqiao"], issue_id)
    assert case["owner"] == {"kind": "office", "code": "sz.tongjiang.niuerqiao"}
    called = await act(
        client, keys["sz.tongjiang.niuerqiao"], issue_id, "call-up", reason="police needed"
    )
    assert called.json()["case"]["status"] == "called_up", called.text
    whistled = await act(
        client, keys["sz.tongjiang"], issue_id, "whistle", departments=["water", "power"]
    )
    assert whistled.status_code == 200, whistled.text
    assert (await tasks(settings, "water", issue_id))[0]["action"] == "new"

    action = DepartmentActionV1(
        action_id="kafka-ack-" + issue_id,
        issue_id=issue_id,
        actor="water",
        action="acknowledge",
        sent_at=START,
    )
    for _ in range(2):  # the same action twice: applied once
        await send(settings, signed(action, keys["water"]))

    async def acked():
        doc = await case_of(client, keys["water"], issue_id)
        duty = next(d for d in doc["duties"] if d["holder"]["code"] == "water")
        return doc if duty["status"] == "acknowledged" else None

    await eventually(acked)
    rejected = await act(client, keys["power"], issue_id, "reject", reason="no power issue here")
    assert rejected.status_code == 200
    names = await lifecycle(settings, issue_id, 5)
    assert names == ["assigned", "called-up", "whistled", "acknowledged", "rejected"]
    # power's rejection leaves the water duty: the street still owns the case
    assert rejected.json()["case"]["owner"]["code"] == "sz.tongjiang"


async def test_ratings_reopen_or_close_and_the_month_has_rates(world):
    settings, clock, app, client, keys = world
    clock.now = EARLY
    ids = [await report(settings, category="water-outage") for _ in range(2)]
    for issue_id in ids:
        await case_of(client, keys["water"], issue_id)
        await act(client, keys["water"], issue_id, "acknowledge")
        await act(client, keys["water"], issue_id, "resolve", note="fixed")
    clock.now = EARLY + timedelta(hours=9)  # the return visit: one working day later

    async def visited(issue_id):
        # the resolutions' timers are placed as their events are published: tick until due
        while await app.state.timers.tick():
            pass
        return await _status_is(client, keys, issue_id, "return_visit")

    for issue_id, rating in zip(ids, (5, 1), strict=True):
        await eventually(lambda i=issue_id: visited(i))
        rated = IssueRatedV1(
            issue_id=issue_id, rating=rating, resident_ref="res_" + "a" * 20, rated_at=START
        )
        await produce(
            settings.kafka_bootstrap,
            settings.topic_prefix + ISSUES_FEEDBACK,
            rated.model_dump_json().encode(),
            key=issue_id.encode(),
            headers=_headers(rated),
        )
    await eventually(lambda: _status_is(client, keys, ids[0], "closed"))
    reopened = await eventually(lambda: _status_is(client, keys, ids[1], "reopened"))
    assert reopened["owner"]["code"] == "water"
    r = await client.get(
        "/api/v1/dispatch/rates?month=2026-11&dimension=department",
        headers={"Authorization": f"Bearer {keys['sz.tongjiang']}"},
    )
    assert r.status_code == 200
    water = next(row for row in r.json()["rankings"]["department"] if row["key"] == "water")
    assert water["rated"] == 2 and water["rates"]["satisfaction"] == 0.5
    metrics = (await client.get("/metrics")).text
    assert 'linli_dispatch_rate{dimension="department",key="water"' in metrics


async def test_deadlines_climb_the_ladder_exactly_once(world):
    settings, clock, app, client, keys = world
    clock.now = START
    issue_id = await report(settings)
    await case_of(client, keys["urban-mgmt"], issue_id)
    wheel = app.state.timers
    seen = []
    # ack due 13:00 (4 working hours): reminder 11:00, 催办 13:00, escalation 14:00, ...
    for hours in (2.1, 4.0, 5.1, 30, 60, 200):
        clock.now = START + timedelta(hours=hours)
        while await wheel.tick():  # drain: several steps may be due at once
            pass
        seen.append(len(await lifecycle(settings, issue_id, 1)))
    names = await lifecycle(settings, issue_id, 6)
    assert seen[:3] == [2, 3, 4]  # one step per move of the clock, none twice
    assert names[:4] == ["assigned", "reminded", "reminded", "escalated"]
    assert names.count("reprimanded") == 1
    actions = [t["action"] for t in await tasks(settings, "urban-mgmt", issue_id)]
    assert actions[:4] == ["new", "reminder", "reminder", "escalation"]
    doc = await case_of(client, keys["urban-mgmt"], issue_id)
    assert doc["supervisor"] == "sz"  # escalated from the street to the district


async def send(settings, action: DepartmentActionV1) -> None:
    await produce(
        settings.kafka_bootstrap,
        settings.topic_prefix + DEPT_ACTIONS,
        action.model_dump_json().encode(),
        key=action.issue_id.encode(),
        headers=_headers(action),
    )


def kafka_action(issue_id, actor, action, actor_kind="department", **fields):
    return DepartmentActionV1(
        action_id=uuid.uuid4().hex,
        issue_id=issue_id,
        actor_kind=actor_kind,
        actor=actor,
        action=action,
        sent_at=START,
        **fields,
    )


async def outcomes(settings, department, action_ids, timeout_s=20.0):
    """The outcome events of these actions on the department's outcome topic."""

    async def probe():
        records = await read_topic(
            settings.kafka_bootstrap,
            settings.topic_prefix + dept_outcomes(department),
            expect=10_000,
            timeout_s=1.0,
        )
        found = {}
        for record in records:
            body = json.loads(record.value)
            if body["action_id"] in action_ids:
                assert dict(record.headers)["ce_type"] == b"linli.dept.outcome.v1"
                found[body["action_id"]] = body
        return found if len(found) == len(action_ids) else None

    return await eventually(probe, timeout_s=timeout_s)


async def dead_lettered(settings, action_ids, timeout_s=20.0):
    async def probe():
        records = await read_topic(
            settings.kafka_bootstrap,
            settings.topic_prefix + dead_letters("dispatch"),
            expect=10_000,
            timeout_s=1.0,
        )
        found = {}
        for record in records:
            body = json.loads(record.value)
            if body.get("action_id") in action_ids:
                found[body["action_id"]] = dict(record.headers)["dlq_error"].decode()
        return found if len(found) == len(action_ids) else None

    return await eventually(probe, timeout_s=timeout_s)


async def _status_is(client, keys, issue_id, status):
    doc = await case_of(client, keys["water"], issue_id)
    return doc if doc["status"] == status else None


async def test_a_batch_left_by_a_dead_writer_is_swept_once(world, monkeypatch):
    """A routing batch whose cases were stored but whose events never reached Kafka (the
    writer died): its one outbox pointer lets the sweeper publish them, once; a report
    redelivered afterwards changes nothing."""
    settings, _, app, _, _ = world
    dispatcher, store = app.state.dispatcher, app.state.store
    events = [
        IssueReportedV1(
            issue_id="iss_" + uuid.uuid4().hex[:20],
            category="streetlight-out",
            node_id=PLACE,
            description="路灯不亮",
            reported_at=START,
        )
        for _ in range(3)
    ]
    items = [(Envelope(type=e.event_type, source="/test", subject=e.issue_id), e) for e in events]
    publisher = dispatcher._publisher

    async def dies(records):
        raise RuntimeError("the writer dies before Kafka acknowledges")

    monkeypatch.setattr(publisher, "publish_raw_many", dies)
    with pytest.raises(ExceptionGroup):
        await dispatcher.route(items)
    monkeypatch.undo()
    ids = sorted(e.issue_id for e in events)
    [pointer] = await store.outbox.find({"issues": ids[0]}).to_list()
    assert sorted(pointer["issues"]) == ids
    assert await store.cases.count_documents({"_id": {"$in": ids}}) == 3
    await store.outbox.update_one(
        {"_id": pointer["_id"]}, {"$set": {"stored": pointer["stored"] - timedelta(minutes=1)}}
    )
    assert await dispatcher.sweep_outbox() >= 1
    assert await store.outbox.count_documents({"_id": pointer["_id"]}) == 0
    assert await dispatcher.route(items[:1]) == ["duplicate"]  # confirmed: nothing again
    for issue_id in ids:
        assert await lifecycle(settings, issue_id, 1) == ["assigned"]
        assert [t["action"] for t in await tasks(settings, "urban-mgmt", issue_id)] == ["new"]


async def test_merge_refuses_an_unknown_target_and_merges_a_duplicate(world):
    """Issue 12: any merge answered 500 (IndexError); now an unknown target is a 404 naming
    ``into``, a merge works, and over Kafka a refused merge is dead-lettered at once while
    the next action on the same issue (same partition) is applied."""
    settings, _, _, client, keys = world
    first, duplicate = await report(settings), await report(settings)
    await case_of(client, keys["urban-mgmt"], first)
    await case_of(client, keys["urban-mgmt"], duplicate)
    street = keys["sz.tongjiang"]
    missing = await act(client, street, duplicate, "merge", into="iss_" + "0" * 20)
    assert missing.status_code == 404, missing.text
    assert missing.json()["errors"][0] == {
        "field": "body.into",
        "code": "unknown_case",
        "message": f"no case iss_{'0' * 20} for sz.tongjiang",
    }
    itself = await act(client, street, duplicate, "merge", into=duplicate)
    assert itself.status_code == 422 and itself.json()["errors"][0]["field"] == "body.into"
    merged = await act(client, street, duplicate, "merge", into=first, reason="same lamp")
    assert merged.status_code == 200, merged.text
    assert merged.json()["case"]["status"] == "merged"
    assert merged.json()["case"]["merged_into"] == first
    closure = [t["action"] for t in await tasks(settings, "urban-mgmt", duplicate)]
    assert closure == ["new", "closure"]

    poison = kafka_action(
        first, "sz.tongjiang", "merge", actor_kind="office", into="iss_" + "1" * 20
    )
    after = kafka_action(first, "urban-mgmt", "acknowledge")
    await send(settings, signed(poison, street))
    await send(settings, signed(after, keys["urban-mgmt"]))
    [applied] = (await outcomes(settings, "urban-mgmt", {after.action_id})).values()
    assert applied["outcome"] == "applied" and applied["status"] == "acknowledged"
    errors = await dead_lettered(settings, {poison.action_id})
    assert "unknown_case" in errors[poison.action_id]


async def test_every_kafka_action_of_a_department_is_answered(world):
    """Refused actions no longer vanish: each one has an outcome on dept.<code>.outcomes."""
    settings, _, _, client, keys = world
    issue_id = await report(settings)
    await case_of(client, keys["urban-mgmt"], issue_id)
    key = keys["urban-mgmt"]
    early = kafka_action(issue_id, "urban-mgmt", "resolve", note="done")
    unknown = kafka_action("iss_" + "2" * 20, "urban-mgmt", "acknowledge")
    ack = kafka_action(issue_id, "urban-mgmt", "acknowledge")
    later = datetime(2046, 1, 1, tzinfo=UTC)
    extension = kafka_action(
        issue_id, "urban-mgmt", "request-extension", until=later, reason="parts"
    )
    not_holder = signed(kafka_action(issue_id, "water", "acknowledge"), keys["water"])
    for action in (early, unknown, ack, extension):
        await send(settings, signed(action, key))
    await send(settings, not_holder)
    mine = await outcomes(
        settings,
        "urban-mgmt",
        {early.action_id, unknown.action_id, ack.action_id, extension.action_id},
    )
    assert (mine[early.action_id]["outcome"], mine[early.action_id]["code"]) == (
        "refused",
        "not_acknowledged",
    )
    assert mine[unknown.action_id]["code"] == "unknown_case"
    assert mine[ack.action_id]["outcome"] == "applied"
    assert (mine[extension.action_id]["code"], mine[extension.action_id]["field"]) == (
        "extension_too_long",
        "until",
    )
    [theirs] = (await outcomes(settings, "water", {not_holder.action_id})).values()
    assert theirs["code"] == "not_holder"


async def test_a_forged_or_unsigned_kafka_action_is_refused(world):
    """Power's key cannot act as water; an unsigned or altered action is refused too: all
    dead-lettered with the reason, the case unchanged."""
    settings, _, _, client, keys = world
    issue_id = await report(settings, category="water-outage")
    await case_of(client, keys["water"], issue_id)
    forged = signed(kafka_action(issue_id, "power", "acknowledge"), keys["power"])
    forged = forged.model_copy(update={"actor": "water"})  # power claims to be water
    forged = signed(forged, keys["power"])  # validly signed with power's own key
    unsigned = kafka_action(issue_id, "water", "acknowledge")
    altered = signed(kafka_action(issue_id, "water", "progress", note="ok"), keys["water"])
    altered = altered.model_copy(update={"note": "changed on the way"})
    for action in (forged, unsigned, altered):
        await send(settings, action)
    errors = await dead_lettered(
        settings, {forged.action_id, unsigned.action_id, altered.action_id}
    )
    assert "forged actor" in errors[forged.action_id]
    assert "unsigned" in errors[unsigned.action_id]
    assert "bad signature" in errors[altered.action_id]
    doc = await case_of(client, keys["water"], issue_id)
    assert doc["version"] == 1 and doc["duties"][0]["status"] == "summoned"


async def test_extensions_are_decided_by_the_supervisor_within_the_bound(world):
    settings, _, _, client, keys = world
    issue_id = await report(settings)
    case = await case_of(client, keys["urban-mgmt"], issue_id)
    assert case["supervisor"] == "sz.tongjiang"
    await act(client, keys["urban-mgmt"], issue_id, "acknowledge")
    ten_years = await act(
        client, keys["urban-mgmt"], issue_id, "request-extension",
        until="2036-11-30T01:00:00Z", reason="parts",
    )  # fmt: skip
    assert ten_years.status_code == 422
    assert ten_years.json()["errors"][0]["field"] == "body.until"
    due = datetime.fromisoformat(case["duties"][0]["resolve_due"])
    until = (due + timedelta(days=1)).isoformat()
    asked = await act(
        client, keys["urban-mgmt"], issue_id, "request-extension", until=until, reason="parts"
    )
    assert asked.status_code == 200, asked.text
    for office in ("sz.tongjiang.niuerqiao", "sz.haitang"):
        wrong = await act(
            client, keys[office], issue_id, "decide-extension", holder="urban-mgmt", approve=True
        )
        assert wrong.status_code in (404, 409), wrong.text  # sz.haitang cannot even see it
        if wrong.status_code == 409:
            assert wrong.json()["errors"][0]["code"] == "not_supervisor"
    right = await act(
        client, keys["sz.tongjiang"], issue_id, "decide-extension",
        holder="urban-mgmt", approve=True,
    )  # fmt: skip
    assert right.status_code == 200, right.text
    task = (await tasks(settings, "urban-mgmt", issue_id))[-1]
    assert task["action"] == "extension" and task["note"].startswith("approved")


async def test_a_partial_resolution_is_progress_not_resolution(world):
    settings, clock, _, client, keys = world
    issue_id = await report(settings, category="neighbour-mediation")
    await case_of(client, keys["sz.tongjiang.niuerqiao"], issue_id)
    await act(client, keys["sz.tongjiang.niuerqiao"], issue_id, "call-up", reason="police")
    await act(client, keys["sz.tongjiang"], issue_id, "whistle", departments=["water", "power"])
    for department in ("water", "power"):
        await act(client, keys[department], issue_id, "acknowledge")
    part = await act(client, keys["water"], issue_id, "resolve", note="pipe fixed")
    assert part.json()["case"]["status"] == "acknowledged"
    done = await act(client, keys["power"], issue_id, "resolve", note="cable fixed")
    assert done.json()["case"]["status"] == "resolved"
    names = await lifecycle(settings, issue_id, 9)
    assert names[-2:] == ["progressed", "resolved"] and names.count("resolved") == 1

    # the community called up and the street whistled at once: both responded, and offices
    # rank under "office", not among the departments
    month = clock.now.astimezone(SHANGHAI).strftime("%Y-%m")
    r = await client.get(
        f"/api/v1/dispatch/rates?month={month}",
        headers={"Authorization": f"Bearer {keys['sz.tongjiang']}"},
    )
    rankings = r.json()["rankings"]
    offices = {row["key"]: row for row in rankings["office"]}
    for office in ("sz.tongjiang", "sz.tongjiang.niuerqiao"):
        assert offices[office]["rates"]["response"] == 1.0, offices[office]
    assert not {row["key"] for row in rankings["department"]} & set(offices)

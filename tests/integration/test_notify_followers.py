"""Following a report, end to end against the real servers (intake, dispatch and notify
in-process): the follower hears every later status change once, on their own channel and in
their own language; only the reporter is asked for a rating; a redelivered follow changes
nothing; nobody dead-letters the new event type."""

import json
import uuid

import pytest

from services.dispatch.app import create_app as dispatch_app
from services.intake.app import create_app as intake_app
from services.notify.app import create_app as notify_app
from shared.events import utcnow
from shared.events.dispatch import DepartmentActionV1, signed
from shared.events.lifecycle import IssueReturnVisitV1
from shared.topics import DEPT_ACTIONS, ISSUES_LIFECYCLE, ISSUES_REPORTED, dead_letters
from tests.helpers import eventually, produce, produce_event, read_topic, serving
from tests.servers import isolated_settings
from tests.signin import minted, sign_in

pytestmark = pytest.mark.integration

PLACE = "sz.tongjiang.niuerqiao.hongqi"
REPORTER = {"phone": "13800000011", "language": "en"}
FOLLOWER = {"phone": "13800000022", "language": "zh-CN"}
KEYS: dict[str, str] = {}  # departments' dispatch keys


@pytest.fixture(scope="module")
async def platform(servers):
    settings = isolated_settings(servers)
    notify, dispatch = notify_app(settings), dispatch_app(settings)
    async with serving(intake_app(settings), dispatch, notify) as clients:
        for department in ("urban-mgmt", "water"):  # their Kafka actions are signed
            KEYS[department] = uuid.uuid4().hex
            await dispatch.state.store.add_key(KEYS[department], "department", department, utcnow())
        yield settings, *clients, notify.state.notify["store"]


async def _inbox(notify, who, kind=None):
    """``who``: a resident's (reference, bearer header), from their sign-in."""
    ref, bearer = who
    response = await notify.get(f"/api/v1/residents/{ref}/inbox", headers=bearer)
    assert response.status_code == 200, response.text
    return [m for m in response.json()["messages"] if kind is None or m["kind"] == kind]


async def _act(settings, issue_id, department, action, **fields):
    event = DepartmentActionV1(
        action_id=uuid.uuid4().hex,
        issue_id=issue_id,
        actor=department,
        action=action,
        sent_at=utcnow(),
        **fields,
    )
    event = signed(event, KEYS[department])
    await produce_event(
        settings.kafka_bootstrap, settings.topic_prefix + DEPT_ACTIONS, event, key=issue_id
    )


async def _lifecycle(settings, model, issue_id, resident_ref):
    event = model(
        issue_id=issue_id,
        sequence=50,
        status="return_visit",
        category="streetlight-out",
        node_id=PLACE,
        resident_ref=resident_ref,
        at=utcnow(),
    )
    await produce_event(
        settings.kafka_bootstrap, settings.topic_prefix + ISSUES_LIFECYCLE, event, key=issue_id
    )


async def _post(intake, path, body, status, again=(503,)):
    """POST as a client does: a 503 (nothing accepted, e.g. topics still electing leaders
    just after the test created them) is tried again."""

    async def attempt():
        response = await intake.post(path, json=body)
        return None if response.status_code in again else response

    response = await eventually(attempt)
    assert response.status_code == status, response.text
    return response.json()


async def _follow(intake, issue_id, contact):
    # a new report can be followed once intake's read model holds it (until then: 404)
    path = f"/api/v1/issues/{issue_id}/followers"
    return await _post(intake, path, {"contact": contact}, 201, again=(404, 503))


async def _followed_records(settings, issue_id):
    records = await read_topic(
        settings.kafka_bootstrap,
        settings.topic_prefix + ISSUES_REPORTED,
        expect=10_000,
        timeout_s=1.5,
    )
    return [
        r
        for r in records
        if r.key.decode() == issue_id and dict(r.headers)["ce_type"] == b"linli.issues.followed.v1"
    ]


async def test_a_follower_hears_later_status_changes_once_but_only_the_reporter_rates(platform):
    settings, intake, _, notify, store = platform
    report = {
        "category": "streetlight-out",
        "node_id": PLACE,
        "description": "红旗巷路灯不亮",
        "contact": REPORTER,
    }
    issue_id = (await _post(intake, "/api/v1/issues", report, 202))["issue_id"]
    reporter = await sign_in(notify, REPORTER["phone"])
    await eventually(lambda: _inbox(notify, reporter, "issue.assigned"))

    followed = await _follow(intake, issue_id, FOLLOWER)
    assert followed["issue_id"] == issue_id and "resident_token" not in followed
    follower = await sign_in(notify, FOLLOWER["phone"])
    assert follower[0] != reporter[0]
    # the follow is on issues.reported, keyed by the issue, with an id derived from its inputs
    [record] = await _followed_records(settings, issue_id)
    body = json.loads(record.value)
    assert body["resident_ref"] == follower[0]
    assert body["reporter_ref"] == reporter[0] and body["language"] == "zh-CN"
    await eventually(lambda: store.db["followers"].find_one({"_id": issue_id}))

    # a redelivery of the very record, and the same resident following again
    await produce(
        settings.kafka_bootstrap,
        record.topic,
        record.value,
        key=record.key,
        headers=list(record.headers),
    )
    again = await _follow(intake, issue_id, FOLLOWER)
    assert again == followed
    records = await _followed_records(settings, issue_id)
    assert len(records) == 3 and len({dict(r.headers)["ce_id"] for r in records}) == 1

    await _act(settings, issue_id, "urban-mgmt", "acknowledge")
    [heard] = await eventually(lambda: _inbox(notify, follower, "issue.acknowledged"))
    assert heard["language"] == "zh-CN" and heard["issue_id"] == issue_id
    [told] = await eventually(lambda: _inbox(notify, reporter, "issue.acknowledged"))
    assert told["language"] == "en"
    assert heard["id"].split(":")[0] == told["id"].split(":")[0]  # one source event

    await _act(settings, issue_id, "urban-mgmt", "resolve", note="灯已修好")
    await eventually(lambda: _inbox(notify, follower, "issue.resolved"))
    # dispatch asks for the rating a working day later: the test publishes that step itself
    await _lifecycle(settings, IssueReturnVisitV1, issue_id, reporter[0])
    # on the same partition as the rest: once the reporter has the rating request, the
    # follower's share of that event is settled too
    [visit] = await eventually(lambda: _inbox(notify, reporter, "issue.return-visit"))
    assert "/rate/" in visit["body"]

    kinds = sorted(m["kind"] for m in await _inbox(notify, follower))
    assert kinds == ["issue.acknowledged", "issue.resolved"]
    kinds = sorted(m["kind"] for m in await _inbox(notify, reporter))
    assert kinds == [
        "issue.acknowledged",
        "issue.assigned",
        "issue.received",
        "issue.resolved",
        "issue.return-visit",
    ]
    followers = await store.db["followers"].find_one({"_id": issue_id})
    assert followers["refs"] == [follower[0]]
    assert followers["languages"] == {follower[0]: "zh-CN"}


async def test_followers_of_an_anonymous_report_hear_of_it_too(platform):
    settings, intake, _, notify, store = platform
    report = {
        "category": "water-pipe-burst",
        "node_id": PLACE,
        "description": "巷口水管爆裂",
        "attributes": {"severity": "spraying", "location-detail": "3号楼旁"},
    }
    issue_id = (await _post(intake, "/api/v1/issues", report, 202))["issue_id"]
    await _follow(intake, issue_id, {"email": "neighbour@example.cn", "language": "en"})
    # sign-in is by phone alone: this follower's token is minted as setup
    follower = minted(settings.resident_secret.get_secret_value(), email="neighbour@example.cn")
    await eventually(lambda: store.db["followers"].find_one({"_id": issue_id}))
    await _act(settings, issue_id, "water", "acknowledge")
    [heard] = await eventually(lambda: _inbox(notify, follower, "issue.acknowledged"))
    assert heard["language"] == "en" and heard["issue_id"] == issue_id


async def test_no_service_dead_letters_the_follow(platform):
    settings, *_ = platform
    for service in ("intake", "dispatch", "notify"):
        topic = settings.topic_prefix + dead_letters(service)
        assert await read_topic(settings.kafka_bootstrap, topic, timeout_s=1) == [], service

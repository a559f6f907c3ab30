"""A report through intake, dispatch and notify, in-process against the real servers:
durability of the 202, the department task, the inbox, dead letters and duplicates."""

import json
import secrets

import pytest

from services.dispatch.app import create_app as dispatch_app
from services.intake.app import create_app as intake_app
from services.notify.app import create_app as notify_app
from shared.events import Envelope, utcnow
from shared.mongo import make_client
from shared.topics import ISSUES_REPORTED, dead_letters, dept_tasks
from tests.helpers import eventually, produce, read_topic, serving
from tests.signin import sign_in

pytestmark = pytest.mark.integration

REPORT = {
    "category": "streetlight-out",
    "node_id": "sz.tongjiang.niuerqiao.hongqi",
    "description": "红旗巷路灯不亮",
    "contact": {"phone": "13800000001", "email": "resident@example.cn", "language": "en"},
}


@pytest.fixture
async def platform(settings):
    async with serving(intake_app(settings), dispatch_app(settings), notify_app(settings)) as apps:
        yield apps


async def _inbox(notify, ref, signed_in):
    response = await notify.get(f"/api/v1/residents/{ref}/inbox", headers=signed_in)
    assert response.status_code == 200
    return [m for m in response.json()["messages"] if m["kind"] == "issue.assigned"]


async def test_a_report_reaches_the_department_topic_and_the_inbox(settings, platform):
    intake, _, notify = platform
    response = await intake.post("/api/v1/issues", json=REPORT)
    assert response.status_code == 202, response.text
    accepted = response.json()

    [reported] = await read_topic(settings.kafka_bootstrap, settings.topic_prefix + ISSUES_REPORTED)
    assert reported.key.decode() == accepted["issue_id"]
    headers = {k: v.decode() for k, v in reported.headers}
    assert headers["ce_type"] == "linli.issues.reported.v1"
    assert headers["ce_id"] == accepted["issue_id"]

    [task] = await read_topic(
        settings.kafka_bootstrap, settings.topic_prefix + dept_tasks("urban-mgmt")
    )
    body = json.loads(task.value)
    assert body["issue_id"] == accepted["issue_id"]
    ref, signed_in = await sign_in(notify, REPORT["contact"]["phone"])
    assert body["resident_ref"] == ref
    raw = task.value.decode()
    assert "13800000001" not in raw and "resident@example.cn" not in raw

    [message] = await eventually(lambda: _inbox(notify, ref, signed_in))
    assert message["issue_id"] == accepted["issue_id"]
    assert message["language"] == "en" and "Urban Management" in message["body"]

    view = await eventually(lambda: _assigned_view(intake, accepted))
    assert view["owner"]["code"] == "urban-mgmt"
    assert [h["status"] for h in view["history"]] == ["reported", "assigned"]


async def test_the_task_carries_the_description_with_contact_details_masked(settings):
    """Residents write their phone, email or ID card into the description: the department's
    task carries it masked, the office's own view of the case keeps it as written."""
    dispatch = dispatch_app(settings)
    async with serving(intake_app(settings), dispatch) as [intake, client]:
        await _masked_task_and_whole_case(settings, intake, client, dispatch.state.store)


async def _masked_task_and_whole_case(settings, intake, dispatch, store):
    key = secrets.token_urlsafe(24)
    await store.add_key(key, "office", "sz.tongjiang", utcnow())
    text = "红旗巷路灯不亮，请联系我138-0000-0000，邮箱wang@example.cn，身份证51010219900101123X"
    response = await intake.post("/api/v1/issues", json={**REPORT, "description": text})
    assert response.status_code == 202, response.text
    issue_id = response.json()["issue_id"]

    [task] = await read_topic(
        settings.kafka_bootstrap, settings.topic_prefix + dept_tasks("urban-mgmt")
    )
    assert json.loads(task.value)["issue_id"] == issue_id
    assert json.loads(task.value)["description"] == (
        "红旗巷路灯不亮，请联系我[电话]，邮箱[邮箱]，身份证[证件号]"
    )
    # anywhere in the task (its times may hold "0000", so the number is looked for whole)
    for detail in ("138-0000-0000", "13800000000", "wang@example.cn", "123X"):
        assert detail not in task.value.decode()

    case = await dispatch.get(
        f"/api/v1/dispatch/cases/{issue_id}", headers={"Authorization": f"Bearer {key}"}
    )
    assert case.status_code == 200, case.text
    assert case.json()["description"] == text


async def _assigned_view(intake, accepted):
    response = await intake.get(
        f"/api/v1/issues/{accepted['issue_id']}",
        headers={"Authorization": f"Bearer {accepted['report_token']}"},
    )
    return (
        response.json()
        if response.status_code == 200 and response.json()["status"] == "assigned"
        else None
    )


async def test_the_inbox_and_the_issue_need_the_residents_token(settings, platform):
    intake, _, notify = platform
    accepted = (await intake.post("/api/v1/issues", json=REPORT)).json()
    ref, _ = await sign_in(notify, REPORT["contact"]["phone"])
    response = await notify.get(f"/api/v1/residents/{ref}/inbox")
    assert response.status_code == 401
    assert response.json()["errors"][0]["field"] == "header.authorization"
    report_only = {"Authorization": f"Bearer {accepted['report_token']}"}
    response = await notify.get(f"/api/v1/residents/{ref}/inbox", headers=report_only)
    assert response.status_code == 401
    assert response.json()["errors"][0]["field"] == "header.authorization"
    response = await intake.get(
        f"/api/v1/issues/{accepted['issue_id']}", headers={"Authorization": "Bearer wrong"}
    )
    assert response.status_code == 404


async def test_bad_reports_get_field_errors_and_nothing_is_published(settings, platform):
    intake, _, _ = platform
    cases = [
        ({**REPORT, "category": "nope"}, 400, "body.category"),
        ({**REPORT, "description": "<b>x</b>"}, 400, "body.description"),
        ({k: v for k, v in REPORT.items() if k != "node_id"}, 422, "body.node_id"),
        ({**REPORT, "extra": 1}, 422, "body.extra"),
    ]
    for body, status, field in cases:
        response = await intake.post("/api/v1/issues", json=body)
        assert response.status_code == status, response.text
        assert response.json()["errors"][0]["field"] == field
    response = await intake.post(
        "/api/v1/issues", content=b"x" * 70000, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert (
        await read_topic(
            settings.kafka_bootstrap, settings.topic_prefix + ISSUES_REPORTED, expect=1, timeout_s=2
        )
        == []
    )


async def test_poison_goes_to_dead_letters_and_the_consumer_carries_on(settings, platform):
    intake, _, notify = platform
    topic = settings.topic_prefix + ISSUES_REPORTED
    envelope = Envelope(type="linli.issues.reported.v1", source="/test", subject="x")
    headers = envelope.record_headers()
    await produce(settings.kafka_bootstrap, topic, b"{not json", key=b"x", headers=headers)
    binary = [*headers[:1], ("ce_id", b"\xff\xfe"), *headers[2:]]
    await produce(settings.kafka_bootstrap, topic, b"{}", key=b"y", headers=binary)

    assert (await intake.post("/api/v1/issues", json=REPORT)).status_code == 202
    ref, signed_in = await sign_in(notify, REPORT["contact"]["phone"])
    await eventually(lambda: _inbox(notify, ref, signed_in))

    dead_records = await read_topic(
        settings.kafka_bootstrap, settings.topic_prefix + dead_letters("dispatch"), expect=2
    )
    assert len(dead_records) == 2
    dead = next(r for r in dead_records if r.key == b"x")
    dead_headers = {k: v.decode() for k, v in dead.headers}
    assert dead.value == b"{not json"
    assert dead_headers["ce_id"] == envelope.id
    assert dead_headers["dlq_source_topic"] == topic
    assert "invalid" in dead_headers["dlq_error"]


async def test_a_redelivered_event_changes_nothing(settings, platform):
    intake, _, notify = platform
    accepted = (await intake.post("/api/v1/issues", json=REPORT)).json()
    ref, signed_in = await sign_in(notify, REPORT["contact"]["phone"])
    await eventually(lambda: _inbox(notify, ref, signed_in))
    [original] = await read_topic(settings.kafka_bootstrap, settings.topic_prefix + ISSUES_REPORTED)
    await produce(
        settings.kafka_bootstrap,
        original.topic,
        original.value,
        key=original.key,
        headers=list(original.headers),
    )
    tasks = settings.topic_prefix + dept_tasks("urban-mgmt")
    await read_topic(settings.kafka_bootstrap, original.topic, expect=2)

    client = make_client(settings.mongodb_url, app_name="test")
    try:
        # dispatch dedupes by the case's own _id (the issue id): a redelivery finds the case
        cases_of = client[settings.database_name("dispatch")]["cases"]
        await eventually(
            lambda: cases_of.count_documents({"_id": accepted["issue_id"], "outbox_at": None})
        )
        cases = await client[settings.database_name("dispatch")]["cases"].count_documents({})
        assert cases == 1
    finally:
        await client.close()
    assert len(await read_topic(settings.kafka_bootstrap, tasks, expect=2, timeout_s=3)) == 1
    assert len(await _inbox(notify, ref, signed_in)) == 1

"""Notify against real Kafka and FerretDB, a real SMTP server (STARTTLS + AUTH) and a real
HTTP receiver for robot webhooks and the SMS gateway, each its own process on loopback:
a report's life on each channel in each language, ratings, failover, retries, quiet hours,
opt-outs and redelivery."""

import json
import re
from datetime import timedelta

import pytest

from services.notify.app import create_app
from services.notify.rendering import Templates
from shared.events import IssueReportedV1, ResidentContactV1, utcnow
from shared.events.lifecycle import (
    IssueAcknowledgedV1,
    IssueClosedV1,
    IssueProgressedV1,
    IssueResolvedV1,
    IssueReturnVisitV1,
    IssueWhistledV1,
)
from shared.mongo import make_client
from shared.topics import (
    ISSUES_FEEDBACK,
    ISSUES_LIFECYCLE,
    ISSUES_REPORTED,
    NOTIFICATIONS_DEAD,
    NOTIFICATIONS_DELIVERED,
    NOTIFICATIONS_FAILED,
    RESIDENTS_CONTACTS,
)
from tests.helpers import eventually, read_topic, serving
from tests.notify import receivers
from tests.notify.kit import (
    HONGQI,
    NOW,
    Emitter,
    assigned,
    auth,
    issue,
    mails,
    receiver_settings,
    ref,
    transition,
)
from tests.notify.receivers import read_log

pytestmark = pytest.mark.integration

SECRETS = {
    "sms": "gateway-secret-1",
    "robot-b": "robot-secret-b",
    "reject-e": "robot-secret-e",
    "flaky-f": "robot-secret-f",
}
A, B, C, D = ref("a"), ref("b"), ref("c"), ref("d")
E, F, G, H = ref("e"), ref("f"), ref("g"), ref("h")


smtp, hooks = receivers.smtp, receivers.hooks  # the module's receivers (fixtures)


@pytest.fixture(scope="module")
def config(servers, smtp, hooks):
    return receiver_settings(
        servers,
        smtp,
        sms_gateway_url=f"http://127.0.0.1:{hooks[0]}/sms",
        sms_gateway_secret=SECRETS["sms"],
        notify_retry_base_s=0.3,
        notify_retry_max_s=2.0,
        notify_retry_max_attempts=4,
        web_public_url="http://web.test",
    )


@pytest.fixture(scope="module")
async def notify(config):
    async with serving(create_app(config)) as [client]:
        yield client


@pytest.fixture(scope="module")
async def emitter(config):
    async with Emitter(config) as emitter:
        yield emitter


async def _resident(notify, emitter, config, who, *, language, prefs, email=None, phone=None):
    contact = ResidentContactV1(
        resident_ref=who,
        email=email,
        phone=phone,
        language=language,
        node_id=HONGQI,
        updated_at=utcnow(),
    )
    await emitter.emit(RESIDENTS_CONTACTS, contact, who)
    response = await notify.put(
        f"/api/v1/residents/{who}/preferences", json=prefs, headers=auth(config, who)
    )
    assert response.status_code == 200, response.text
    # contacts and events travel on different topics: start the story once notify has it
    mongo = make_client(config.mongodb_url, app_name="test")
    residents = mongo[config.database_name("notify")]["residents"]
    await eventually(lambda: residents.count_documents({"_id": who, "updated_at": {"$ne": None}}))
    await mongo.close()
    return response.json()


def _hook(port, name):
    return {"url": f"http://127.0.0.1:{port}/robot/{name}", "secret": SECRETS[name]}


async def _life(emitter, who):
    """A report's life as intake and dispatch publish it; the kinds the resident hears of."""
    iid = issue(f"life-{who}")
    reported = IssueReportedV1(
        issue_id=iid,
        category="streetlight-out",
        node_id=HONGQI,
        description="路灯不亮",
        resident_ref=who,
        reported_at=NOW,
    )
    await emitter.emit(ISSUES_REPORTED, reported, iid)
    await emitter.emit(ISSUES_LIFECYCLE, assigned(iid, who), iid)
    steps = [
        (IssueWhistledV1, {"departments": ("urban-mgmt", "water")}),
        (IssueAcknowledgedV1, {"actor": "urban-mgmt"}),
        (IssueResolvedV1, {"public_note": "已更换灯泡"}),
        (IssueReturnVisitV1, {}),
        (IssueClosedV1, {"status": "closed"}),
    ]
    for sequence, (model, fields) in enumerate(steps, start=2):
        await emitter.emit(ISSUES_LIFECYCLE, transition(model, iid, who, sequence, **fields), iid)
    return iid, [
        "issue.received",
        "issue.assigned",
        "issue.whistled",
        "issue.acknowledged",
        "issue.resolved",
        "issue.return-visit",
        "issue.closed",
    ]


async def _inbox(notify, config, who):
    response = await notify.get(f"/api/v1/residents/{who}/inbox", headers=auth(config, who))
    assert response.status_code == 200
    return response.json()["messages"]


TITLES = {
    (kind, lang): Templates()
    .render(
        kind,
        lang,
        {
            "issue_id": "x",
            "owner_name": "",
            "departments": "",
            "actor_name": "",
            "reason": None,
            "public_note": None,
            "resolve_due": "",
            "rating_url": "",
            "rating_expires": "",
        },
    )
    .title
    for kind in (
        "issue.received",
        "issue.assigned",
        "issue.whistled",
        "issue.acknowledged",
        "issue.resolved",
        "issue.return-visit",
        "issue.closed",
    )
    for lang in ("zh-CN", "en")
}


async def test_a_reports_life_on_each_channel_in_each_language(
    config, notify, emitter, smtp, hooks
):
    port, log = hooks
    await _resident(
        notify,
        emitter,
        config,
        A,
        language="zh-CN",
        email="a@example.cn",
        prefs={"channels": ["email", "inbox"]},
    )
    await _resident(
        notify,
        emitter,
        config,
        B,
        language="en",
        prefs={"channels": ["webhook"], "language": "en", "webhook": _hook(port, "robot-b")},
    )
    await _resident(
        notify,
        emitter,
        config,
        C,
        language="en",
        phone="13900000003",
        prefs={"channels": ["sms", "inbox"], "language": "en"},
    )
    await _resident(notify, emitter, config, D, language="zh-CN", prefs={"channels": ["inbox"]})
    lives = {who: await _life(emitter, who) for who in (A, B, C, D)}

    # email, in Chinese, over STARTTLS with credentials
    emails = await eventually(lambda: _at_least(mails(smtp[1]), 7), timeout_s=40)
    assert len(emails) == 7 and {m["to"] for m in emails} == {"a@example.cn"}
    assert sorted(m["subject"] for m in emails) == sorted(TITLES[(k, "zh-CN")] for k in lives[A][1])
    assert len({m["delivery"] for m in emails}) == 7
    assert any(lives[A][0] in m["body"] and "城管局" in m["body"] for m in emails)

    # the robot webhook and the SMS gateway, in English, signatures verified by the receiver
    records = await eventually(lambda: _at_least(read_log(log), 14), timeout_s=40)
    robot = [r for r in records if r["path"] == "/robot/robot-b"]
    sms = [r for r in records if r["path"] == "/sms"]
    assert len(robot) == 7 and len(sms) == 7
    assert sorted(r["body"]["text"]["content"].split("\n")[0] for r in robot) == sorted(
        TITLES[(k, "en")] for k in lives[B][1]
    )
    assert {r["body"]["to"] for r in sms} == {"13900000003"}
    assert all(r["body"]["text"].startswith("[Linli] ") for r in sms)
    assert any("Urban Management Bureau, Water Supply Company" in r["body"]["text"] for r in sms)

    # the inbox, in Chinese; the others' inboxes stay empty (their first channel worked)
    inbox = await eventually(lambda: _at_least(_inbox(notify, config, D), 7))
    assert sorted(m["kind"] for m in inbox) == sorted(lives[D][1])
    assert all(m["language"] == "zh-CN" and m["issue_id"] == lives[D][0] for m in inbox)
    for who in (A, B, C):
        assert await _inbox(notify, config, who) == []

    delivered = await read_topic(
        config.kafka_bootstrap, config.topic_prefix + NOTIFICATIONS_DELIVERED, expect=28
    )
    bodies = [json.loads(r.value) for r in delivered]
    assert len({b["delivery_id"] for b in bodies}) == 28
    assert {(b["resident_ref"], b["channel"]) for b in bodies} == {
        (A, "email"),
        (B, "webhook"),
        (C, "sms"),
        (D, "inbox"),
    }
    raw = b"".join(r.value for r in delivered).decode()
    assert "a@example.cn" not in raw and "13900000003" not in raw

    # the return visit's signed link takes one rating, published for dispatch
    [visit] = [m for m in inbox if m["kind"] == "issue.return-visit"]
    token = re.search(r"http://web\.test/rate/(\S+)", visit["body"]).group(1)
    path = f"/api/v1/ratings/{token}"  # the web's rating page posts here
    assert (await notify.get(path)).json() == {"issue_id": lives[D][0], "answered": False}
    response = await notify.post(path, json={"rating": 4, "comment": "修得快"})
    assert response.status_code == 202, response.text
    assert (await notify.post(path, json={"rating": 1})).status_code == 409
    assert (await notify.post(path[:-3] + "abc", json={"rating": 1})).status_code == 404
    assert (await notify.post(path, json={"rating": 6})).status_code == 422
    [rated] = await read_topic(config.kafka_bootstrap, config.topic_prefix + ISSUES_FEEDBACK)
    assert rated.key.decode() == lives[D][0]
    assert json.loads(rated.value)["rating"] == 4
    assert dict(rated.headers)["ce_type"] == b"linli.issues.rated.v1"


async def _at_least(items, n):
    items = await items if hasattr(items, "__await__") else items
    return items if len(items) >= n else None


async def test_failover_retries_quiet_hours_opt_outs_and_redelivery(
    config, notify, emitter, smtp, hooks
):
    port, log = hooks
    await _resident(
        notify,
        emitter,
        config,
        E,
        language="en",
        email="e@example.cn",
        prefs={
            "channels": ["webhook", "email"],
            "language": "en",
            "webhook": _hook(port, "reject-e"),
        },
    )
    await _resident(
        notify,
        emitter,
        config,
        F,
        language="zh-CN",
        prefs={"channels": ["webhook"], "webhook": _hook(port, "flaky-f")},
    )
    local_hour = (utcnow() + timedelta(hours=8)).hour
    quiet = {"start": f"{(local_hour - 1) % 24:02d}:00", "end": f"{(local_hour + 2) % 24:02d}:00"}
    await _resident(
        notify,
        emitter,
        config,
        G,
        language="zh-CN",
        phone="13900000007",
        prefs={"channels": ["sms"], "quiet_hours": quiet},
    )
    await _resident(
        notify,
        emitter,
        config,
        H,
        language="zh-CN",
        prefs={"channels": ["inbox"], "opt_outs": ["issue.progressed"]},
    )
    events = {}
    for who in (E, F, G, H):
        iid = issue(f"more-{who}")
        progressed = transition(IssueProgressedV1, iid, who, 3, public_note="在修")
        events[who] = await emitter.emit(ISSUES_LIFECYCLE, progressed, iid)
        resolved = transition(IssueResolvedV1, iid, who, 4)
        await emitter.emit(ISSUES_LIFECYCLE, resolved, iid)

    # E: the robot refuses for good -> failed + dead letter, then the email channel
    failed = await read_topic(
        config.kafka_bootstrap, config.topic_prefix + NOTIFICATIONS_FAILED, expect=2
    )
    assert {json.loads(f.value)["failover_to"] for f in failed} == {"email"}
    assert all(json.loads(f.value)["reason"] == "http 400" for f in failed)
    dead = await read_topic(
        config.kafka_bootstrap, config.topic_prefix + NOTIFICATIONS_DEAD, expect=2
    )
    assert len(dead) == 2 and json.loads(dead[0].value)["channel"] == "webhook"
    to_e = await eventually(
        lambda: _at_least([m for m in mails(smtp[1]) if m["to"] == "e@example.cn"], 2)
    )
    assert sorted(m["subject"] for m in to_e) == [
        "Progress on your report",
        "Your report is resolved",
    ]

    # F: the robot is busy twice, the retry topic brings each message through on attempt 3
    flaky = await eventually(
        lambda: _at_least([r for r in read_log(log) if r["path"] == "/robot/flaky-f"], 2)
    )
    assert len(flaky) == 2 and len({r["delivery"] for r in flaky}) == 2
    delivered = await read_topic(
        config.kafka_bootstrap,
        config.topic_prefix + NOTIFICATIONS_DELIVERED,
        expect=200,
        timeout_s=3,
    )
    to_f = [json.loads(r.value) for r in delivered if json.loads(r.value)["resident_ref"] == F]
    assert sorted(d["attempts"] for d in to_f) == [3, 3]

    # G: quiet hours now, so the SMS waits (deferred, nothing sent)
    mongo = make_client(config.mongodb_url, app_name="test")
    deliveries = mongo[config.database_name("notify")]["deliveries"]
    deferred = await eventually(
        lambda: deliveries.count_documents({"resident_ref": G, "status": "deferred"})
    )
    assert deferred == 2
    await mongo.close()
    assert not [
        r for r in read_log(log) if r["path"] == "/sms" and r["body"]["to"] == "13900000007"
    ]

    # H: opted out of progress notes, still told of the resolution
    inbox = await eventually(lambda: _inbox(notify, config, H))
    assert [m["kind"] for m in inbox] == ["issue.resolved"]

    # redelivering E's event (same id) sends nothing twice
    iid = issue(f"more-{E}")
    progressed = transition(IssueProgressedV1, iid, E, 3, public_note="在修")
    await emitter.emit(ISSUES_LIFECYCLE, progressed, iid, event_id=events[E].id)
    marker = transition(IssueClosedV1, iid, E, 5, status="closed")
    await emitter.emit(ISSUES_LIFECYCLE, marker, iid)
    await eventually(lambda: _at_least([m for m in mails(smtp[1]) if m["to"] == "e@example.cn"], 3))
    to_e = [m for m in mails(smtp[1]) if m["to"] == "e@example.cn"]
    assert len(to_e) == 3 and len({m["delivery"] for m in to_e}) == 3
    assert len([r for r in read_log(log) if r["path"] == "/robot/flaky-f"]) == 2


async def test_preferences_need_the_token_and_valid_values(config, notify):
    who = ref("prefs")
    url = f"/api/v1/residents/{who}/preferences"
    assert (await notify.get(url)).status_code == 401
    response = await notify.get(url, headers=auth(config, who))
    assert response.json()["channels"] == ["inbox"] and response.json()["language"] == "zh-CN"
    bad = [
        ({"channels": ["pigeon"]}, "body.channels.0"),
        ({"channels": ["webhook"]}, "body.webhook"),
        ({"quiet_hours": {"start": "7", "end": "08:00"}}, "body.quiet_hours.start"),
        ({"language": "fr"}, "body.language"),
    ]
    for body, field in bad:
        response = await notify.put(url, json=body, headers=auth(config, who))
        assert response.status_code in (400, 422), response.text
        assert response.json()["errors"][0]["field"] == field
    body = {
        "channels": ["webhook", "inbox"],
        "language": "en",
        "webhook": {"url": "http://127.0.0.1:9/robot/x", "secret": "very-secret"},
    }
    response = await notify.put(url, json=body, headers=auth(config, who))
    assert response.status_code == 200
    assert "very-secret" not in response.text
    assert response.json()["webhook_url"] == "http://127.0.0.1:9/robot/x"

"""Seams residents and operators found in notify, against real Kafka and FerretDB, a real SMTP
server and a real HTTP receiver for robots (each its own process on loopback), and notify
served by uvicorn for the event stream: a robot URL's own query, the email's Date, quiet
hours, a broadcast's language and its progress after retries, the event stream after a
reconnect, and the campaign's name in the thanks for a donation."""

import asyncio
import json
import os
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx
import pytest
import uvicorn

from services.notify.app import create_app
from services.notify.operators import create_operator
from shared.events import ResidentContactV1, utcnow
from shared.events.lifecycle import IssueProgressedV1, ReceiptIssuedV1
from shared.topics import ISSUES_LIFECYCLE, LEDGER_RECEIPTS, RESIDENTS_CONTACTS
from tests.helpers import eventually
from tests.notify import receivers
from tests.notify.kit import (
    HONGQI,
    Emitter,
    auth,
    issue,
    mails,
    opened_store,
    receiver_settings,
    ref,
    transition,
)
from tests.notify.receivers import read_log

pytestmark = pytest.mark.integration

SECRETS = {"token-a": "robot-secret-a", "quiet-c": "robot-secret-c", "flaky-bc": "robot-secret-f"}
BROADCAST_NODE = "sz.tongjiang.chafang"  # only this test's broadcast readers live below it
# notify under uvicorn for the event stream: an ephemeral port unless one is given
HTTP_PORT = int(os.environ.get("LINLI_TEST_NOTIFY_HTTP_PORT", "0"))


smtp, hooks = receivers.smtp, receivers.hooks  # the module's receivers (fixtures)


@pytest.fixture(scope="module")
def config(servers, smtp, hooks):
    return receiver_settings(servers, smtp, notify_retry_base_s=0.3, notify_retry_max_s=1.0)


@pytest.fixture(scope="module")
async def base_url(config):
    """Notify served by uvicorn on loopback, in this loop; its base URL once ready."""
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config), host="127.0.0.1", port=HTTP_PORT, log_config=None, lifespan="on"
        )
    )
    task = asyncio.create_task(server.serve())
    await eventually(lambda: _started(server, task), timeout_s=30)
    port = server.servers[0].sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=url) as client:
        await eventually(lambda: _ready(client), timeout_s=30)
    yield url
    server.should_exit = True
    await asyncio.wait_for(task, 15)


async def _started(server, task):
    assert not task.done(), "notify stopped while starting"
    return server.started


async def _ready(client):
    return (await client.get("/readyz")).status_code == 200


@pytest.fixture(scope="module")
async def notify(base_url):
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
async def store(config):
    async with opened_store(config) as store:
        yield store


@pytest.fixture(scope="module")
async def emitter(config):
    async with Emitter(config) as emitter:
        yield emitter


async def _resident(
    notify, emitter, store, config, who, *, language, prefs, email=None, node=HONGQI
):
    contact = ResidentContactV1(
        resident_ref=who, email=email, language=language, node_id=node, updated_at=utcnow()
    )
    await emitter.emit(RESIDENTS_CONTACTS, contact, who)
    await eventually(lambda: store.residents.count_documents({"_id": who, "nodes": node}))
    response = await notify.put(
        f"/api/v1/residents/{who}/preferences", json=prefs, headers=auth(config, who)
    )
    assert response.status_code == 200, response.text


def _hook(port, name, query=""):
    return {"url": f"http://127.0.0.1:{port}/robot/{name}{query}", "secret": SECRETS[name]}


async def _inbox(notify, config, who):
    response = await notify.get(f"/api/v1/residents/{who}/inbox", headers=auth(config, who))
    assert response.status_code == 200
    return response.json()["messages"]


async def _progressed(emitter, who, name, sequence=3):
    iid = issue(f"{name}-{who}-{sequence}")
    event = transition(IssueProgressedV1, iid, who, sequence, public_note=f"在修 {sequence}")
    await emitter.emit(ISSUES_LIFECYCLE, event, iid)
    return iid


def _quiet_now():
    hour = (utcnow() + timedelta(hours=8)).hour
    return {"start": f"{(hour - 1) % 24:02d}:00", "end": f"{(hour + 2) % 24:02d}:00"}


async def test_a_robot_url_keeps_its_own_access_token(notify, emitter, store, config, hooks):
    port, log = hooks
    who = ref("seams-token")
    hook = _hook(port, "token-a", "?access_token=tok-123")
    prefs = {"channels": ["webhook"], "webhook": hook}
    await _resident(notify, emitter, store, config, who, language="zh-CN", prefs=prefs)
    await _progressed(emitter, who, "token")
    [sent] = await eventually(lambda: _posted(log, "/robot/token-a"))
    assert sent["query"] == {"access_token": "tok-123"}  # and the signature held
    assert sent["body"]["text"]["content"].startswith("处理进展\n")


async def _posted(log, path):
    return [r for r in read_log(log) if r["path"] == path]


async def test_an_email_has_a_date_and_a_message_id(notify, emitter, store, config, smtp):
    who = ref("seams-mail")
    prefs = {"channels": ["email"], "language": "en"}
    await _resident(
        notify, emitter, store, config, who, language="en", prefs=prefs, email="m@example.cn"
    )
    before = datetime.now(UTC).replace(microsecond=0)
    await _progressed(emitter, who, "mail")
    [mail] = await eventually(lambda: _mails_to(smtp[1], "m@example.cn"))
    assert mail["date"] is not None, "no Date header"
    sent_at = parsedate_to_datetime(mail["date"])
    assert before <= sent_at <= datetime.now(UTC) + timedelta(seconds=1)
    assert mail["message_id"].startswith("<") and mail["message_id"].endswith("@localhost>")


async def _mails_to(maildir, address):
    return [m for m in mails(maildir) if m["to"] == address]


async def test_quiet_hours_put_a_robot_message_in_the_inbox_at_once(
    notify, emitter, store, config, hooks
):
    """Quiet hours use only the silent inbox: the message is there at once; the robot's copy
    waits for the end of the quiet hours."""
    port, log = hooks
    who = ref("seams-quiet")
    prefs = {
        "channels": ["webhook"],
        "webhook": _hook(port, "quiet-c"),
        "quiet_hours": _quiet_now(),
    }
    await _resident(notify, emitter, store, config, who, language="zh-CN", prefs=prefs)
    iid = await _progressed(emitter, who, "quiet")
    [message] = await eventually(lambda: _inbox(notify, config, who))
    assert message["issue_id"] == iid and message["kind"] == "issue.progressed"
    deferred = await eventually(
        lambda: store.deliveries.find_one({"resident_ref": who, "status": "deferred"})
    )
    assert deferred["channel"] == "webhook"
    assert await _posted(log, "/robot/quiet-c") == []


async def test_a_broadcast_labels_the_language_it_is_in_and_counts_retried_sends(
    notify, emitter, store, config, hooks
):
    """A broadcast written in Chinese only reaches an English reader in Chinese, labelled so;
    a robot that is busy twice takes the third try, and the progress counts it as sent."""
    port, log = hooks
    reader, robot = ref("seams-bc-en"), ref("seams-bc-robot")
    node = f"{BROADCAST_NODE}.demo-y003"
    await _resident(
        notify, emitter, store, config, reader, language="en", prefs={"language": "en"}, node=node
    )
    prefs = {"channels": ["webhook"], "webhook": _hook(port, "flaky-bc")}
    await _resident(notify, emitter, store, config, robot, language="zh-CN", prefs=prefs, node=node)
    key = await create_operator(store, node_id=BROADCAST_NODE)
    body = {"node_id": BROADCAST_NODE, "zh-CN": {"title": "停水通知", "body": "明天上午停水。"}}
    response = await notify.post(
        "/api/v1/broadcasts", json=body, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 202, response.text
    url = f"/api/v1/broadcasts/{response.json()['id']}"
    [message] = await eventually(lambda: _inbox(notify, config, reader))
    assert message["title"] == "停水通知" and message["language"] == "zh-CN"

    async def settled():
        view = (await notify.get(url, headers={"Authorization": f"Bearer {key}"})).json()
        progress = view["progress"]
        return view if progress["sent"].get("webhook") and not progress["queued"] else None

    view = await eventually(settled, timeout_s=30)
    assert view["progress"]["sent"] == {"inbox": 1, "webhook": 1}
    assert view["progress"]["recipients"] == 2 and view["progress"]["failed"] == {}
    assert len(await _posted(log, "/robot/flaky-bc")) == 1  # the third try, the first to land


async def test_the_event_stream_replays_what_came_after_last_event_id(
    notify, emitter, store, config
):
    """An EventSource reconnects with the id of the last message it got: the messages stored
    since come first, oldest first, then new ones live."""
    who = ref("seams-stream")
    await _resident(notify, emitter, store, config, who, language="zh-CN", prefs={})
    for sequence in (3, 4, 5):
        await _progressed(emitter, who, "stream", sequence)
    inbox = await eventually(lambda: _at_least(_inbox(notify, config, who), 3))
    oldest, *missed = reversed(inbox)  # the inbox is newest first
    headers = {**auth(config, who), "Last-Event-ID": oldest["id"]}
    url = f"/api/v1/residents/{who}/inbox/stream"
    async with notify.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200
        events = _events(response.aiter_lines())
        replayed = [await asyncio.wait_for(anext(events), 5) for _ in missed]
        assert [e["id"] for e in replayed] == [m["id"] for m in missed]
        await _progressed(emitter, who, "stream", 6)
        live = await asyncio.wait_for(anext(events), 10)
        assert live["body"].endswith("在修 6") and live["id"] not in {m["id"] for m in inbox}


async def _at_least(items, n):
    items = await items
    return items if len(items) >= n else None


async def _events(lines):
    """The data of each ``message`` event of a Server-Sent Events stream."""
    event_id = None
    async for line in lines:
        if line.startswith("id: "):
            event_id = line[4:]
        elif line.startswith("data: "):
            data = json.loads(line[6:])
            assert data["id"] == event_id
            yield data


async def test_the_thanks_for_a_donation_names_the_campaign(notify, emitter, store, config):
    donor = ref("seams-donor")
    await _resident(notify, emitter, store, config, donor, language="zh-CN", prefs={})
    receipt = ReceiptIssuedV1(
        receipt_no="R2026-winter-warmth-000001",
        donation_id="desk-0001",
        campaign="winter-warmth",
        campaign_name="儿童冬季温暖包",
        channel="offline",
        amount_fen=200_000,
        donor_ref=donor,
        issued_at=utcnow(),
    )
    await emitter.emit(LEDGER_RECEIPTS, receipt, receipt.donation_id)
    [message] = await eventually(lambda: _inbox(notify, config, donor))
    assert message["body"].startswith("感谢您为“儿童冬季温暖包”捐赠 2000.00 元")

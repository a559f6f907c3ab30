"""Kafka goes away while an office opens a poll: the office hears 503 with Retry-After (the
poll is stored open, its announcement not sent), the voters can still vote (ballots need only
the database), and once Kafka is back the retried opening announces the poll to the roll
(as the same event, whatever copies the timed-out sends left).

It stops the local Kafka the suite started, so it runs only in that set-up, then brings
Kafka back for whatever follows."""

import json
import os
import secrets
import signal

import pytest

from services.consult.access import create_key
from services.consult.app import create_app
from services.ops.infra.local import status, up
from services.ops.infra.processes import wait_gone
from shared.residents import normalise_contact, resident_ref, resident_token
from tests.helpers import eventually, read_topic, serving

pytestmark = pytest.mark.integration
BUILDING = "sz.haitang.xianjie.jiading.b01"


async def test_an_opening_during_a_kafka_outage_is_announced_when_retried(servers, settings):
    if servers.local is None:
        pytest.skip("needs the local Kafka process that this suite started")
    settings = settings.model_copy(update={"consult_tick_s": 0, "publish_timeout_s": 2.0})
    app = create_app(settings)
    async with serving(app) as [client]:
        consult = app.state.consult
        _, key = await create_key(consult.store, consult.tree, name="o", node=BUILDING, party=None)
        office = {"Authorization": f"Bearer {key}"}
        roll = f"building,household,phone,language\n{BUILDING},101,13900000101,zh-CN\n"
        await client.post(
            "/api/v1/consult/rolls", content=roll, headers={**office, "content-type": "text/csv"}
        )
        body = {"poll_id": "poll_outage", "node_id": BUILDING, "question": "?", "kind": "single"}
        body["options"] = [{"id": "y", "label": "Yes"}, {"id": "n", "label": "No"}]
        assert (await client.post("/api/v1/consult/polls", json=body, headers=office)).is_success

        pid = status(servers.local)["kafka"]["pid"]
        os.killpg(pid, signal.SIGTERM)
        assert wait_gone(pid, 30)
        try:
            opened = await client.post("/api/v1/consult/polls/poll_outage/open", headers=office)
            assert opened.status_code == 503 and int(opened.headers["Retry-After"]) > 0
            assert opened.json()["errors"][0]["code"] == "unavailable"
            secret = settings.resident_secret.get_secret_value()
            ref = resident_ref(secret, normalise_contact("13900000101", None))
            cast = await client.post(
                "/api/v1/consult/polls/poll_outage/ballots",
                json={
                    "resident_ref": ref,
                    "choice": ["y"],
                    "ballot_key": secrets.token_urlsafe(32),
                },
                headers={"Authorization": f"Bearer {resident_token(secret, ref)}"},
            )
            assert cast.status_code == 201
        finally:
            up(servers.local, progress=lambda line: None)

        async def reopened():
            r = await client.post("/api/v1/consult/polls/poll_outage/open", headers=office)
            return r.status_code == 200

        await eventually(reopened, timeout_s=60, interval_s=0.5)
    topic = settings.topic_prefix + "consult.notices"
    notices = await read_topic(settings.kafka_bootstrap, topic, expect=1, timeout_s=30)
    # the sends that timed out may have reached Kafka too: the same event again, same id
    # (notify delivers per event id once)
    bodies = [json.loads(n.value) for n in notices]
    assert {(b["kind"], b["notice_id"]) for b in bodies} == {
        ("poll-opened", bodies[0]["notice_id"])
    }
    assert len({dict(n.headers)["ce_id"] for n in notices}) == 1

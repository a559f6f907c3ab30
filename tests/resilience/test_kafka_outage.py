"""Kafka goes away under a running intake and dispatch: clients hear 503 with Retry-After
quickly, readiness turns false and back to true by itself, and nothing accepted is lost.

It stops the local Kafka the suite started, so it runs only in that set-up (and last: the
folder sorts after the others), then brings Kafka back for whatever follows."""

import os
import signal
import time

import pytest

from services.dispatch.app import create_app as dispatch_app
from services.intake.app import create_app as intake_app
from services.ops.infra.local import status, up
from services.ops.infra.processes import wait_gone
from shared.mongo import make_client
from tests.helpers import eventually, serving

pytestmark = pytest.mark.integration

REPORT = {
    "category": "streetlight-out",
    "node_id": "sz.tongjiang.niuerqiao.hongqi",
    "description": "路灯不亮",
}


async def test_kafka_outage_is_reported_and_nothing_accepted_is_lost(servers, settings):
    if servers.local is None:
        pytest.skip("needs the local Kafka process that this suite started")
    async with serving(intake_app(settings), dispatch_app(settings)) as (intake, _):
        accepted = []
        for _ in range(3):
            response = await intake.post("/api/v1/issues", json=REPORT)
            assert response.status_code == 202
            accepted.append(response.json()["issue_id"])

        pid = status(servers.local)["kafka"]["pid"]
        os.killpg(pid, signal.SIGTERM)
        assert wait_gone(pid, 30)
        try:
            began = time.perf_counter()
            response = await intake.post("/api/v1/issues", json=REPORT)
            took = time.perf_counter() - began
            assert response.status_code == 503
            assert int(response.headers["Retry-After"]) > 0
            assert response.json()["errors"][0]["code"] == "unavailable"
            assert took < 5.0, f"503 took {took:.1f}s"

            async def not_ready():
                r = await intake.get("/readyz")
                return r.status_code == 503 and r.json()["kafka"] is False

            await eventually(not_ready, timeout_s=15)
        finally:
            up(servers.local, progress=lambda line: None)

        async def ready_again():
            return (await intake.get("/readyz")).status_code == 200

        await eventually(ready_again, timeout_s=60, interval_s=0.5)

        async def accepted_again():
            r = await intake.post("/api/v1/issues", json=REPORT)
            return r.json()["issue_id"] if r.status_code == 202 else None

        accepted.append(await eventually(accepted_again, timeout_s=30, interval_s=0.5))

    client = make_client(settings.mongodb_url, app_name="test")
    try:
        cases = client[settings.database_name("dispatch")]["cases"]
        async with serving(dispatch_app(settings)):

            async def all_routed():
                return await cases.count_documents({"_id": {"$in": accepted}}) == len(accepted)

            await eventually(all_routed, timeout_s=60, interval_s=0.5)
    finally:
        await client.close()

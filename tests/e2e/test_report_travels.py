"""One report through all four services running as processes, read back as a department and
as the resident would."""

import json
import time

import httpx
import pytest

from shared.topics import dept_tasks
from tests.helpers import eventually, read_topic
from tests.signin import sign_in

pytestmark = pytest.mark.e2e


async def test_a_report_reaches_the_department_topic_and_the_inbox_within_two_seconds(platform):
    settings, processes = platform
    async with httpx.AsyncClient(timeout=10) as http:
        # the resident signs in by phone first (intake's answer opens the report alone)
        ref, signed_in = await sign_in(http, "13900000000", processes.url("notify"))
        started = time.perf_counter()
        response = await http.post(
            f"{processes.url('intake')}/api/v1/issues",
            json={
                "category": "garbage-overflow",
                "node_id": "sz.haitang.fujie",
                "description": "府街垃圾桶满了 / bins overflowing",
                "contact": {"phone": "13900000000", "language": "zh-CN"},
            },
        )
        assert response.status_code == 202, response.text
        accepted = response.json()

        async def inbox():
            r = await http.get(
                f"{processes.url('notify')}/api/v1/residents/{ref}/inbox", headers=signed_in
            )
            return r.json()["messages"] if r.status_code == 200 else None

        messages = await eventually(inbox, timeout_s=10, interval_s=0.02)
        latency = time.perf_counter() - started

    department = "huanwei"
    [task] = await read_topic(
        settings.kafka_bootstrap, settings.topic_prefix + dept_tasks(department)
    )
    body = json.loads(task.value)
    assert body["issue_id"] == accepted["issue_id"]
    assert "13900000000" not in task.value.decode()
    assert messages[0]["issue_id"] == accepted["issue_id"]
    print(f"\nend-to-end: report accepted to inbox message in {latency * 1000:.0f} ms")
    assert latency < 2.0


async def test_every_service_is_healthy_ready_and_exports_metrics(platform):
    _, processes = platform
    async with httpx.AsyncClient(timeout=5) as http:
        for service in ("intake", "dispatch", "notify", "ledger"):
            base = processes.url(service)
            assert (await http.get(f"{base}/healthz")).json()["service"] == service
            assert (await http.get(f"{base}/readyz")).json()["ready"] is True
            metrics = (await http.get(f"{base}/metrics")).text
            assert "linli_dependency_up" in metrics

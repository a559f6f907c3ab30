"""What the cluster tests share: the services' environment on the three-broker cluster, free
ports, and a steady stream of reports that records every answer."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import time
from collections import defaultdict
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from services.ops.infra.local import LocalServers
from services.ops.infra.processes import log_tail
from shared.topics import dept_tasks
from tests.helpers import eventually, read_topic
from tests.signin import minted

CATEGORY, DEPARTMENT = "streetlight-out", "urban-mgmt"
NODE = "sz.tongjiang.niuerqiao.hongqi"
RESIDENT_SECRET = "cluster-resident-secret"  # mints the reporters' tokens (as a sign-in would)


def cluster_env(cluster: LocalServers, run: str) -> dict[str, str]:
    """The services' settings on the cluster: replication 3, their own topics and databases."""
    return {
        "LINLI_ENV": "test",
        "LINLI_KAFKA_BOOTSTRAP": cluster.kafka_bootstrap,
        "LINLI_MONGODB_URL": cluster.mongodb_url,
        "LINLI_TOPIC_PREFIX": f"k{run}.",
        "LINLI_DB_PREFIX": f"k{run}_",
        "LINLI_TOPIC_PARTITIONS": "3",
        "LINLI_TOPIC_REPLICATION": "3",
        "LINLI_RESIDENT_SECRET": RESIDENT_SECRET,
        "LINLI_INTAKE_RATE_PER_CLIENT": "0",
        "LINLI_LOG_FORMAT": "json",
        "LINLI_LOG_LEVEL": os.environ.get("LINLI_TEST_SERVICE_LOG_LEVEL", "WARNING"),
    }


def free_ports(services: Iterable[str]) -> dict[str, int]:
    ports = {}
    for service in services:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            ports[service] = sock.getsockname()[1]
    return ports


@dataclass
class Reports:
    """A steady stream of reports to one or more intakes (a load balancer's round robin) and
    what came back: the accepted answers, and every answer's time and status."""

    intakes: list[str]
    rate_per_s: float = 20.0
    accepted: dict[str, dict] = field(default_factory=dict)  # issue id -> answer and phone
    answers: list[tuple[float, int]] = field(default_factory=list)  # (when, status; 0: none)
    stop: bool = False

    async def _report(self, http: httpx.AsyncClient, url: str, n: int) -> None:
        body = {
            "category": CATEGORY,
            "node_id": NODE,
            "description": f"红旗巷路灯不亮 #{n}",
            "contact": {"phone": f"139{n:08d}", "language": "zh-CN"},
        }
        try:
            response = await http.post(f"{url}/api/v1/issues", json=body, timeout=15)
        except httpx.HTTPError:
            self.answers.append((time.monotonic(), 0))
            return
        self.answers.append((time.monotonic(), response.status_code))
        if 200 <= response.status_code < 300:
            answer = response.json()
            self.accepted[answer["issue_id"]] = {**answer, "phone": body["contact"]["phone"]}

    async def run(self) -> None:
        """Send until ``stop``; then wait for the answers still on their way."""
        pending: set[asyncio.Task] = set()
        async with httpx.AsyncClient() as http:
            n = 0
            began = time.monotonic()
            while not self.stop:
                url = self.intakes[n % len(self.intakes)]
                pending.add(asyncio.create_task(self._report(http, url, n)))
                n += 1
                pending = {t for t in pending if not t.done()}
                await asyncio.sleep(max(0.0, began + n / self.rate_per_s - time.monotonic()))
            await asyncio.gather(*pending)


async def every_report_reached_its_department_once(
    cluster: LocalServers, prefix: str, reports: Reports, log: Path, pid: int | None = None
) -> None:
    """Every accepted report is on its department's topic, as one task under one event id
    (what a consumer that dedupes on the event id sees); ``log``: dispatch's, said on failure,
    after dispatch (``pid``) was asked to write where each of its tasks waits (SIGUSR1)."""
    accepted = set(reports.accepted)
    missing: set[str] = set()

    async def tasks_arrived():
        records = await read_topic(
            cluster.kafka_bootstrap.split(","),
            prefix + dept_tasks(DEPARTMENT),
            expect=10**9,
            timeout_s=10,
        )
        missing.clear()
        missing.update(accepted - {r.key.decode() for r in records})
        return records if not missing else None

    try:
        records = await eventually(tasks_arrived, timeout_s=120, interval_s=1)
    except AssertionError:
        if pid is not None:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGUSR1)
            await asyncio.sleep(2)
        raise AssertionError(
            f"{len(missing)} of {len(accepted)} accepted reports reached no task, e.g. "
            f"{sorted(missing)[:3]}; dispatch's log ends:\n{log_tail(log, 40)}"
        ) from None
    event_ids: dict[str, set[str]] = defaultdict(set)
    task_ids: dict[str, set[str]] = defaultdict(set)
    for record in records:
        issue = record.key.decode()
        event_ids[issue].add(dict(record.headers)["ce_id"])
        task_ids[issue].add(json.loads(record.value)["task_id"])
    assert {i: ids for i, ids in event_ids.items() if len(ids) != 1} == {}
    assert {i: ids for i, ids in task_ids.items() if len(ids) != 1} == {}
    repeats = len(records) - len(event_ids)
    print(f"department records {len(records)} for {len(event_ids)} tasks "
          f"(same-id re-sends: {repeats})")  # fmt: skip


async def every_reporter_heard(notify_url: str, reports: Reports) -> None:
    """Every accepted report's message is in its reporter's inbox."""
    async with httpx.AsyncClient() as http:

        async def heard(answer: dict) -> bool:
            # about delivery, not sign-in: each reporter's token minted as setup
            ref, bearer = minted(RESIDENT_SECRET, answer["phone"])
            response = await http.get(f"{notify_url}/api/v1/residents/{ref}/inbox", headers=bearer)
            return response.status_code == 200 and answer["issue_id"] in response.text

        async def none_missing() -> bool:
            for answer in reports.accepted.values():
                if not await heard(answer):
                    return False
            return True

        await eventually(none_missing, timeout_s=90, interval_s=2)

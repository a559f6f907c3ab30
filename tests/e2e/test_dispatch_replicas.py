"""Two dispatch replicas as OS processes in one consumer group share the partitions of
``issues.reported``; one is killed with SIGKILL mid-stream. Every report still gets exactly
one case, one assignment event and one department task (by id) — nothing lost, no second
task for a duty. The killed replica is restarted as a new process, as an orchestrator would."""

import json
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from datetime import UTC, datetime

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from pymongo import MongoClient

from shared.events import Envelope, IssueReportedV1
from shared.settings import REPO_ROOT
from shared.topics import ISSUES_LIFECYCLE, ISSUES_REPORTED, dept_tasks
from tests.helpers import eventually, read_topic

pytestmark = pytest.mark.e2e
REPORTS = 600
PORTS = (18281, 18282)
RESTART_PORT = 18283
CATEGORY, DEPARTMENT = "streetlight-out", "urban-mgmt"


def start_replica(env: dict, port: int, log_path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "services.dispatch"],
        cwd=REPO_ROOT,
        env={**env, "LINLI_DISPATCH_PORT": str(port)},
        stdout=open(log_path, "wb"),
        stderr=subprocess.STDOUT,
    )


async def produce_reports(bootstrap: str, topic: str, ids: list[str]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        for issue_id in ids:
            event = IssueReportedV1(
                issue_id=issue_id,
                category=CATEGORY,
                node_id="sz.tongjiang.niuerqiao.hongqi",
                description="路灯不亮",
                reported_at=datetime.now(UTC),
            )
            env = Envelope(type=event.event_type, source="/test", subject=issue_id, id=issue_id)
            headers = env.record_headers()
            await producer.send(
                topic, event.model_dump_json().encode(), key=issue_id.encode(), headers=headers
            )
        await producer.flush()
    finally:
        await producer.stop()


async def test_a_killed_replica_loses_and_duplicates_nothing(servers, tmp_path):
    run = uuid.uuid4().hex[:8]
    prefix, db_prefix = f"t{run}.", f"t{run}_"
    env = {
        **os.environ,
        "LINLI_ENV": "test",
        "LINLI_KAFKA_BOOTSTRAP": servers.kafka_bootstrap,
        "LINLI_MONGODB_URL": servers.mongodb_url,
        "LINLI_TOPIC_PREFIX": prefix,
        "LINLI_DB_PREFIX": db_prefix,
        "LINLI_TOPIC_PARTITIONS": "4",
        "LINLI_LOG_LEVEL": os.environ.get("LINLI_TEST_SERVICE_LOG_LEVEL", "WARNING"),
    }
    replicas = [start_replica(env, port, tmp_path / f"r{port}.log") for port in PORTS]
    cases = MongoClient(servers.mongodb_url)[f"{db_prefix}dispatch"]["cases"]
    try:
        async with httpx.AsyncClient() as http:

            async def both_ready():
                for port in PORTS:
                    try:
                        r = await http.get(f"http://127.0.0.1:{port}/readyz")
                    except httpx.HTTPError:
                        return False
                    if r.status_code != 200:
                        return False
                return True

            await eventually(both_ready, timeout_s=60)
        ids = [f"iss_{run}{i:06d}" for i in range(REPORTS)]
        await produce_reports(servers.kafka_bootstrap, prefix + ISSUES_REPORTED, ids)
        await eventually(lambda: _at_least(cases, REPORTS // 4), timeout_s=60, interval_s=0.02)
        replicas[0].send_signal(signal.SIGKILL)  # mid-stream: no shutdown, no commit
        replicas[0].wait(10)
        # the orchestrator restarts the killed replica (a new process, same group)
        replicas.append(start_replica(env, RESTART_PORT, tmp_path / "restarted.log"))
        await eventually(lambda: _all_done(cases), timeout_s=60, interval_s=0.5)
        docs = list(cases.find({}, {"assigned_by": 1}))
        assert sorted(d["_id"] for d in docs) == sorted(ids)
        by_replica = Counter(d["assigned_by"] for d in docs)
        assert len(by_replica) >= 2, by_replica  # the replicas shared the partitions

        lifecycle = await read_topic(
            servers.kafka_bootstrap, prefix + ISSUES_LIFECYCLE, expect=REPORTS * 3, timeout_s=4
        )
        tasks = await read_topic(
            servers.kafka_bootstrap,
            prefix + dept_tasks(DEPARTMENT),
            expect=REPORTS * 3,
            timeout_s=4,
        )
        assigned = {}
        for record in lifecycle:
            assigned.setdefault(record.key.decode(), set()).add(dict(record.headers)["ce_id"])
        task_ids = {}
        for record in tasks:
            task_ids.setdefault(record.key.decode(), set()).add(json.loads(record.value)["task_id"])
        assert set(assigned) == set(ids) and set(task_ids) == set(ids)  # nothing lost
        assert all(len(v) == 1 for v in assigned.values())  # one assignment per case
        assert all(len(v) == 1 for v in task_ids.values())  # one task per duty
        repeats = len(tasks) - REPORTS
        print(f"\nreplicas {dict(by_replica)}; task records {len(tasks)} for {REPORTS} tasks "
              f"(same-id re-sends after the kill: {repeats})")  # fmt: skip
    finally:
        for proc in replicas:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in replicas:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


async def _at_least(cases, n: int) -> bool:
    return cases.count_documents({}) >= n


async def _all_done(cases) -> bool:
    return (
        cases.count_documents({}) >= REPORTS and cases.database["outbox"].count_documents({}) == 0
    )

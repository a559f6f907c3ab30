"""Two replicas of every consuming service on the three-broker cluster, as an orchestrator runs
them. Under a steady stream of reports (round robin over both intakes), every process of
replica set A is killed with SIGKILL at once (a node lost): within 10 s each consumer group's
partitions are all held by set B; nothing answered 2xx is lost or doubled. Then set A starts
again under the same names and each of its services is serving (ready and holding partitions
of its groups again) within 10 s of its start."""

from __future__ import annotations

import asyncio
import signal
import socket
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

from services.ops.infra import services as procs
from services.ops.infra.local import LocalServers
from services.ops.infra.processes import send_group, wait_gone
from tests.cluster.kit import (
    Reports,
    cluster_env,
    every_report_reached_its_department_once,
    every_reporter_heard,
    free_ports,
)

pytestmark = pytest.mark.e2e

REPLICATED = ("intake", "dispatch", "notify", "ledger", "consult")  # the services that consume
PARTITIONS = 3
WITHIN_S = 10.0
STEADY_S = 4.0


@pytest.fixture
def pair(cluster: LocalServers, tmp_path) -> Iterator[tuple[procs.ServiceProcesses, ...]]:
    env = cluster_env(cluster, uuid.uuid4().hex[:8])
    sets = tuple(
        procs.ServiceProcesses(tmp_path / name, env=env, ports=free_ports(REPLICATED))
        for name in "ab"
    )
    try:
        for replicas in sets:
            procs.start(replicas, REPLICATED, progress=lambda _: None)
        for replicas in sets:
            procs.wait_ready(replicas, REPLICATED, timeout_s=120, progress=lambda _: None)
        yield sets
    finally:
        for replicas in sets:
            procs.stop(replicas, REPLICATED, progress=lambda _: None)


def member_name(replicas: procs.ServiceProcesses, service: str) -> str:
    """The replica's static member name (``Settings.group_instance_id``'s default)."""
    return f"{socket.gethostname()}-{service}-{replicas.ports[service]}"


class Groups:
    """The run's consumer groups as the brokers describe them: who holds which partitions."""

    def __init__(self, admin: AIOKafkaAdminClient, prefix: str):
        self.admin, self.prefix = admin, prefix

    async def names(self) -> list[str]:
        listed = await self.admin.list_consumer_groups()
        return sorted(g[0] for g in listed if g[0].startswith(f"{self.prefix}linli-"))

    async def holders(self, group: str) -> tuple[str, dict[str, int]]:
        """The group's state and, per member id, how many partitions it holds."""
        (response,) = await self.admin.describe_consumer_groups([group])
        (described,) = response.to_object()["groups"]
        held = {}
        for member in described["members"]:
            raw = member["member_assignment"]
            parts = ConsumerProtocolMemberAssignment.decode(raw).partitions() if raw else []
            held[member["member_id"]] = len(parts)
        return described["state"], held

    async def only_held_by(self, group: str, name: str) -> bool:
        state, held = await self.holders(group)
        return (
            state == "Stable"
            and bool(held)
            and all(m.startswith(name) for m in held)
            and sum(held.values()) == PARTITIONS
        )

    async def holds_some(self, group: str, name: str) -> bool:
        state, held = await self.holders(group)
        return state == "Stable" and any(m.startswith(name) and n for m, n in held.items())


def service_of(group: str, prefix: str) -> str:
    return group.removeprefix(f"{prefix}linli-").split(".", 1)[0]


async def seconds_until(probe, began: float, give_up_s: float = 60.0) -> float:
    while time.monotonic() - began < give_up_s:
        if await probe():
            return time.monotonic() - began
        await asyncio.sleep(0.2)
    return float("inf")


async def ready(url: str) -> bool:
    async with httpx.AsyncClient() as http:
        try:
            return (await http.get(f"{url}/readyz", timeout=2)).status_code == 200
        except httpx.HTTPError:
            return False


@pytest.mark.timeout(600)
async def test_a_lost_replica_set_hands_over_and_comes_back_within_ten_seconds(
    cluster: LocalServers, pair
) -> None:
    a, b = pair
    prefix = a.env["LINLI_TOPIC_PREFIX"]
    admin = AIOKafkaAdminClient(bootstrap_servers=cluster.kafka_bootstrap.split(","))
    await admin.start()
    reports = Reports([a.url("intake"), b.url("intake")], rate_per_s=10)
    stream = asyncio.create_task(reports.run())
    try:
        groups = Groups(admin, prefix)
        names = await groups.names()
        assert {service_of(g, prefix) for g in names} >= {"intake", "dispatch", "notify"}, names
        for group in names:  # both sets share every group's partitions
            service = service_of(group, prefix)
            for replicas in pair:
                began = time.monotonic()
                assert (
                    await seconds_until(
                        lambda g=group, n=member_name(replicas, service): groups.holds_some(g, n),
                        began,
                    )
                    < 60
                ), f"{group}: {await groups.holders(group)}"
        await asyncio.sleep(STEADY_S)

        killed_at = time.monotonic()
        for service in REPLICATED:
            pid, _ = a.pids(service).live_pid()
            send_group(pid, signal.SIGKILL)
        for service in REPLICATED:
            assert wait_gone(a.pids(service).live_pid()[0], 10)
        waits = [
            seconds_until(
                lambda g=g, n=member_name(b, service_of(g, prefix)): groups.only_held_by(g, n),
                killed_at,
            )
            for g in names
        ]
        moved = dict(zip(names, await asyncio.gather(*waits), strict=True))
        report = {g.removeprefix(prefix): round(s, 1) for g, s in moved.items()}
        print(f"\nkill -9 of set A: every partition held by set B after (s): {report}")
        assert all(await asyncio.gather(*(ready(b.url(s)) for s in REPLICATED)))

        async def holding(service: str) -> bool:
            mine = [g for g in names if service_of(g, prefix) == service]
            name = member_name(a, service)
            return all([await groups.holds_some(g, name) for g in mine])

        readiness, serving = {}, {}
        for service in REPLICATED:  # as an orchestrator restarts each crashed pod
            started = time.monotonic()
            procs.start(a, [service], progress=lambda _: None)
            readiness[service] = await seconds_until(lambda s=service: ready(a.url(s)), started)
            serving[service] = await seconds_until(lambda s=service: holding(s), started)
        print(f"set A restarted: ready after (s) { {s: round(t, 1) for s, t in readiness.items()} }"
              f"; serving (ready, holding partitions) after (s) "
              f"{ {s: round(t, 1) for s, t in serving.items()} }")  # fmt: skip
        await asyncio.sleep(STEADY_S)
    finally:
        reports.stop = True
        await stream
        await admin.close()

    assert len(reports.accepted) >= 10 * STEADY_S
    assert {g: s for g, s in moved.items() if s > WITHIN_S} == {}
    assert {s: t for s, t in serving.items() if t > WITHIN_S} == {}
    await every_report_reached_its_department_once(
        cluster, prefix, reports, log=b.log("dispatch"), pid=b.pids("dispatch").live_pid()[0]
    )
    await every_reporter_heard(b.url("notify"), reports)

"""Apply the topic catalogue to a cluster: create what is missing, align the rest."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from shared.settings import Settings
from shared.topics import Topic

_TOPIC_ALREADY_EXISTS = 36
_UNKNOWN_TOPIC = 3


@dataclass
class ApplyReport:
    created: list[str] = field(default_factory=list)
    grown: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


async def _wait_visible(admin: AIOKafkaAdminClient, names: list[str], timeout_s: float) -> None:
    """New topics reach the broker's metadata a moment after creation; wait for them so a
    consumer subscribing right after finds its partitions."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    pending = list(names)
    while pending:
        described = await admin.describe_topics(pending)
        pending = [t["topic"] for t in described if t["error_code"] != 0 or not t["partitions"]]
        if pending and asyncio.get_running_loop().time() > deadline:
            raise RuntimeError(f"topics not visible after {timeout_s:.0f}s: {pending}")
        if pending:
            await asyncio.sleep(0.1)


async def apply_topics(
    bootstrap: str | list[str],
    topics: list[Topic],
    *,
    prefix: str = "",
    default_partitions: int = 6,
    replication: int = 1,
    timeout_ms: int = 15000,
) -> ApplyReport:
    """Idempotently create the topics and bring their partitions and configs in line."""
    report = ApplyReport()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=timeout_ms)
    await admin.start()
    try:
        wanted = {prefix + t.name: t for t in topics}
        existing = {
            t["topic"]: len(t["partitions"])
            for t in await admin.describe_topics(list(wanted))
            if t["error_code"] != _UNKNOWN_TOPIC  # e.g. a leader still being elected
        }
        missing = [
            NewTopic(
                name,
                t.partitions or default_partitions,
                replication,
                topic_configs=t.configs(replication),
            )
            for name, t in wanted.items()
            if name not in existing
        ]
        if missing:
            response = await admin.create_topics(missing, timeout_ms=timeout_ms)
            for name, code, *_ in response.topic_errors:
                if code not in (0, _TOPIC_ALREADY_EXISTS):
                    raise RuntimeError(f"could not create topic {name}: error code {code}")
                if code == 0:
                    report.created.append(name)
            await _wait_visible(admin, [t.name for t in missing], timeout_ms / 1000)
        grow = {
            name: NewPartitions(t.partitions or default_partitions)
            for name, t in wanted.items()
            if name in existing and existing[name] < (t.partitions or default_partitions)
        }
        if grow:
            await admin.create_partitions(grow, timeout_ms=timeout_ms)
            report.grown = sorted(grow)
        present = [name for name in wanted if name in existing]
        if present:
            await admin.alter_configs(
                [
                    ConfigResource(
                        ConfigResourceType.TOPIC, name, wanted[name].configs(replication)
                    )
                    for name in present
                ]
            )
        report.unchanged = [n for n in present if n not in grow]
        return report
    finally:
        await admin.close()


async def apply_with_settings(settings: Settings, topics: list[Topic]) -> ApplyReport:
    """``apply_topics`` with the prefix, partitions and replication the settings name."""
    return await apply_topics(
        settings.kafka_servers,
        topics,
        prefix=settings.topic_prefix,
        default_partitions=settings.topic_partitions,
        replication=settings.topic_replication,
    )

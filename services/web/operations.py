"""What the operators' overview reads from Kafka: each consumer group's lag per topic (the
records its services have not finished yet) and the records waiting in each dead-letter topic.
Read with a short-lived admin client and consumer per view (an occasional page, not a hot
path); the platform's own groups only (those under the topic prefix's ``linli-``)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.topics import SERVICES, dead_letters


@dataclass(frozen=True)
class Lag:
    group: str
    topic: str
    lag: int


async def kafka_overview(bootstrap: list[str], prefix: str) -> tuple[list[Lag], dict[str, int]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    await admin.start()
    await consumer.start()
    try:
        committed: dict[str, dict[TopicPartition, int]] = {}
        for group, *_ in await admin.list_consumer_groups():
            if group.startswith(f"{prefix}linli-"):
                offsets = await admin.list_consumer_group_offsets(group)
                committed[group] = {tp: meta.offset for tp, meta in offsets.items()}
        dlq = [f"{prefix}{dead_letters(s)}" for s in SERVICES]
        dlq_parts = [
            TopicPartition(topic["topic"], part["partition"])
            for topic in await admin.describe_topics(dlq)
            for part in topic["partitions"]
        ]
        wanted = {tp for offsets in committed.values() for tp in offsets} | set(dlq_parts)
        ends = await consumer.end_offsets(list(wanted)) if wanted else {}
        starts = await consumer.beginning_offsets(dlq_parts) if dlq_parts else {}
    finally:
        await consumer.stop()
        await admin.close()
    lags: dict[tuple[str, str], int] = defaultdict(int)
    for group, offsets in committed.items():
        for tp, offset in offsets.items():
            lags[(group.removeprefix(prefix), tp.topic.removeprefix(prefix))] += max(
                0, ends.get(tp, 0) - max(offset, 0)
            )
    dead: dict[str, int] = defaultdict(int)
    for tp in dlq_parts:
        dead[tp.topic.removeprefix(prefix)] += ends.get(tp, 0) - starts.get(tp, 0)
    return [Lag(g, t, n) for (g, t), n in sorted(lags.items())], dict(sorted(dead.items()))

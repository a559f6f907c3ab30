"""``linli topics``: the topic catalogue and applying it to the cluster."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console
from rich.table import Table

from shared.kafka.admin import apply_with_settings
from shared.service import platform_topics
from shared.settings import Settings

app = typer.Typer(help="Kafka topics: list the catalogue, apply it (idempotent).")
console = Console()


@app.command("list")
def list_topics() -> None:
    """Print the catalogue: name, key, partitions, retention, purpose."""
    settings = Settings()
    table = Table("topic", "key", "partitions", "cleanup", "retention", "purpose")
    for t in platform_topics(settings):
        table.add_row(
            settings.topic_prefix + t.name,
            t.key,
            str(t.partitions or settings.topic_partitions),
            "compact" if t.compacted else "delete",
            "forever" if t.retention_days is None else f"{t.retention_days} d",
            t.description,
        )
    console.print(table)


@app.command("apply")
def apply() -> None:
    """Create missing topics and align partitions and configs with the catalogue."""
    settings = Settings()
    report = asyncio.run(apply_with_settings(settings, platform_topics(settings)))
    console.print(
        f"topics on {settings.kafka_bootstrap}: {len(report.created)} created, "
        f"{len(report.grown)} grown, {len(report.unchanged)} already in line"
    )


@app.command("tail")
def tail(
    topic: str = typer.Argument(help="Topic name without the prefix, e.g. dept.urban-mgmt.tasks"),
    count: int = typer.Option(20, help="Stop after this many records."),
    timeout_s: float = typer.Option(3.0, help="Stop when nothing arrives for this long."),
) -> None:
    """Print a topic's records from the beginning: CloudEvents headers, key and JSON body."""
    settings = Settings()
    asyncio.run(_tail(settings, settings.topic_prefix + topic, count, timeout_s))


async def _tail(settings: Settings, topic: str, count: int, timeout_s: float) -> None:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_servers,
        auto_offset_reset="earliest",
        group_id=None,
        enable_auto_commit=False,
    )
    await consumer.start()
    seen = 0
    try:
        while seen < count:
            batches = await consumer.getmany(timeout_ms=int(timeout_s * 1000), max_records=count)
            if not batches:
                break
            for records in batches.values():
                for record in records[: count - seen]:
                    headers = {k: v.decode(errors="replace") for k, v in record.headers or ()}
                    console.rule(f"{record.topic}[{record.partition}]@{record.offset}")
                    console.print(
                        {"key": (record.key or b"").decode(errors="replace"), "headers": headers}
                    )
                    console.print_json((record.value or b"null").decode(errors="replace"))
                    seen += 1
    finally:
        await consumer.stop()
    console.print(f"{seen} record(s) from {topic}")

"""``linli topics``: the topic catalogue and applying it to the cluster."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console
from rich.table import Table

from shared.kafka.admin import apply_topics
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
    report = asyncio.run(
        apply_topics(
            settings.kafka_bootstrap,
            platform_topics(settings),
            prefix=settings.topic_prefix,
            default_partitions=settings.topic_partitions,
            replication=settings.topic_replication,
        )
    )
    console.print(
        f"topics on {settings.kafka_bootstrap}: {len(report.created)} created, "
        f"{len(report.grown)} grown, {len(report.unchanged)} already in line"
    )

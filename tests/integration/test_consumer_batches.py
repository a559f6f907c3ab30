"""Batch handlers of the shared consumer against real Kafka: one call per fetched batch with
the events in offset order, a per-event poison outcome dead-lettered alone, a raised error
redelivering the batch, and the other handlers of the topic still called."""

import asyncio
from datetime import UTC, datetime

import pytest
from pymongo.errors import AutoReconnect

from shared.events import Envelope, IssueReportedV1
from shared.events.lifecycle import IssueRatedV1
from shared.kafka.consumer import PoisonMessage
from shared.service import build_parts
from shared.topics import ISSUES_REPORTED, dead_letters
from tests.helpers import eventually, produce, read_topic, serving
from tests.servers import isolated_settings

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def _record(event) -> tuple[bytes, list[tuple[str, bytes]]]:
    envelope = Envelope(type=event.event_type, source="/test", subject=event.issue_id)
    return event.model_dump_json().encode(), envelope.record_headers()


def _report(n: int, category: str = "streetlight-out") -> IssueReportedV1:
    return IssueReportedV1(
        issue_id=f"iss_batch{n:05d}",
        category=category,
        node_id="sz.tongjiang.niuerqiao.hongqi",
        description=f"#{n}",
        reported_at=NOW,
    )


async def test_batches_go_to_one_call_with_per_event_outcomes(servers):
    settings = isolated_settings(servers, "b", topic_partitions=1)
    parts = build_parts(settings, "dispatch")
    calls: list[list[str]] = []
    handled: list[str] = []
    singles: list[str] = []
    failures = [AutoReconnect("database away")]  # the first call fails once

    async def on_reports(items):
        calls.append([event.issue_id for _, event in items])
        if failures:
            raise failures.pop()
        handled.extend(event.issue_id for _, event in items)
        return [
            PoisonMessage("no such category") if event.category == "nonsense" else "ok"
            for _, event in items
        ]

    async def on_rated(envelope, event) -> None:
        singles.append(event.issue_id)

    parts.consume(
        ISSUES_REPORTED,
        {IssueRatedV1: on_rated},
        batch_handlers={IssueReportedV1: on_reports},
        batch_size=50,
    )
    app = parts.app(title="t", description="t", routers=[], prepare_db=lambda: asyncio.sleep(0))
    topic = settings.topic_prefix + ISSUES_REPORTED
    events = [_report(1), _report(2, "nonsense"), _report(3)]
    rated = IssueRatedV1(
        issue_id="iss_batch00009", rating=5, resident_ref="res_" + "a" * 20, rated_at=NOW
    )
    async with serving(app):
        for event in (*events, rated):
            value, headers = _record(event)
            await produce(
                settings.kafka_bootstrap, topic, value, key=event.issue_id.encode(), headers=headers
            )
        await produce(
            settings.kafka_bootstrap,
            topic,
            b"{not json",
            key=b"iss_batch00004",
            headers=_record(_report(4))[1],
        )
        await eventually(lambda: asyncio.sleep(0, result=len(handled) >= 3 and singles))

    assert calls[0][0] == "iss_batch00001"
    # after the failed call its events came again: each handled once, in offset order
    assert handled == ["iss_batch00001", "iss_batch00002", "iss_batch00003"]
    assert singles == ["iss_batch00009"]
    dead = await read_topic(
        settings.kafka_bootstrap, settings.topic_prefix + dead_letters("dispatch"), expect=2
    )
    errors = sorted(dict(r.headers)["dlq_error"].decode() for r in dead)
    assert len(errors) == 2
    assert any("no such category" in e for e in errors)
    assert any("invalid" in e for e in errors)

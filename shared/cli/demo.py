"""Demo data for ``make up``: reports from the article's places, and campaign donations."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from datetime import UTC, datetime

from rich.progress import track

from shared.events import DonationReceivedV1
from shared.kafka.broker import make_broker
from shared.kafka.publisher import EventPublisher
from shared.settings import Settings
from shared.topics import LEDGER_DONATIONS

DEMO_REPORTS = [
    ("streetlight-out", "sz.tongjiang.niuerqiao.hongqi", "红旗小区门口巷道路灯不亮", "zh-CN"),
    ("sewer-blockage", "sz.tongjiang.niuerqiao.hongqi", "雨后巷口积水，下水道堵塞", "zh-CN"),
    ("water-pipe-burst", "sz.tongjiang.niuerqiao.hongqi.b03", "3号楼外供水管破裂", "zh-CN"),
    ("garbage-overflow", "sz.tongjiang.niuerqiao.hongqi", "Bins at the gate overflowing", "en"),
    (
        "overhead-cable-tangle",
        "sz.tongjiang.niuerqiao.hongqi.b01",
        "楼道外飞线缠绕，存在隐患",
        "zh-CN",
    ),
]

DEMO_DONATIONS = [
    ("demo-online-0001", "winter-warmth", "online", 50_000, None),
    ("demo-offline-0001", "winter-warmth", "offline", 200_000, "嘉州爱心车队"),
    ("demo-inkind-0001", "winter-warmth", "in-kind", 38_000, None),
]


def post_reports(intake_url: str) -> list[dict]:
    answers = []
    for index, (category, node, text, language) in enumerate(
        track(DEMO_REPORTS, description="demo reports")
    ):
        body = {
            "category": category,
            "node_id": node,
            "description": text,
            "contact": {"phone": f"1380000{index:04d}", "language": language},
        }
        request = urllib.request.Request(
            f"{intake_url}/api/v1/issues",
            data=json.dumps(body).encode(),
            headers={"content-type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            answers.append(json.loads(response.read()))
    return answers


async def publish_donations(settings: Settings) -> int:
    broker = make_broker(settings, "cli")
    publisher = EventPublisher(
        broker, service="cli", prefix=settings.topic_prefix, timeout_s=settings.publish_timeout_s
    )
    publisher.declare(LEDGER_DONATIONS, DonationReceivedV1)
    await broker.start()
    try:
        for donation_id, campaign, channel, fen, donor in DEMO_DONATIONS:
            event = DonationReceivedV1(
                donation_id=donation_id,
                campaign=campaign,
                channel=channel,
                amount_fen=fen,
                donor_name=donor,
                received_at=datetime.now(UTC),
            )
            await publisher.publish(LEDGER_DONATIONS, event, key=campaign)
    finally:
        await broker.stop()
    return len(DEMO_DONATIONS)


def load_demo(settings: Settings, intake_url: str) -> tuple[list[dict], int]:
    reports = post_reports(intake_url)
    donations = asyncio.run(publish_donations(settings))
    return reports, donations

"""Intake's lookup documents (``open_reports``, ``reports_by_day``) are created by whichever
writer comes first: reports recorded at the same moment into the same new buckets (Open311's
read-your-write beside the consumer, or two replicas) must all land, none failing on the
duplicate key of the bucket's creation."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from pymongo import AsyncMongoClient

from services.intake.application.read_model import ReadModel
from services.intake.store import IssueStore
from shared.events import IssueReportedV1
from shared.reference import load_reference
from shared.settings import Settings

pytestmark = pytest.mark.integration

REF = load_reference()
PLACE = next(n for n in REF.tree.at_level("compound") if n.location is not None)
AT = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)


def _reported(round_: int, n: int) -> IssueReportedV1:
    return IssueReportedV1(
        issue_id=f"iss_{round_:04d}{n:08d}",
        category=sorted(REF.categories)[round_],
        node_id=PLACE.id,
        description="x",
        reported_at=AT + timedelta(days=round_),
    )


async def test_concurrent_first_writes_into_new_buckets_all_land(settings: Settings) -> None:
    client = AsyncMongoClient(settings.mongodb_url, tz_aware=True)
    db = client[f"{settings.db_prefix}intake_lookup_writes"]
    store = IssueStore(db)
    read_model = ReadModel(store, REF.tree)
    try:
        await store.prepare()
        for round_ in range(6):  # each round: buckets and a day that do not exist yet
            events = [_reported(round_, n) for n in range(8)]
            await asyncio.gather(*(read_model.record(e) for e in events))
            key = f"{events[0].category}|compound|{PLACE.id}"
            bucket = await db["open_reports"].find_one({"_id": key})
            assert bucket is not None and len(bucket["issue_ids"]) == 8
            day = await db["reports_by_day"].find_one(
                {"_id": events[0].reported_at.date().isoformat()}
            )
            assert day is not None and len(day["reports"]) == 8
    finally:
        await client.drop_database(db.name)
        await client.close()

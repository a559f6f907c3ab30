"""Intake's two keyed reads with 100,000 reports in the store, each beside a bare ``_id`` read
of one report from the same run: the duplicate offer (open reports of a category at a compound
or within 150 m, ``Nearby.open_reports``) and Open311's search by dates (one service's open
requests over the default 90 days, and every request of one week: ``Reading.requests``, the
page's reports read one by one). A few runs of the filters these replaced (a scan of the
issues on FerretDB) are timed too, for scale.

The reports are bulk-inserted in the read model's own shape, their lookup documents built
with the same keys (``services.intake.domain.buckets``): 90 days of reports (~1,100 a day),
every category, every compound of the reference tree, a third with their own point, 70 %
closed. Always asserted: the duplicate offer's p50 at most 50x the ``_id`` read's (a scan is
thousands of times one)."""

import asyncio
import os
import random
import time
from datetime import timedelta

import pytest

from services.intake.application import Nearby, Reading
from services.intake.domain.buckets import day_entry, day_key, open_keys, service_day_key
from services.intake.domain.places import Places
from services.intake.domain.status import CaseStatus
from services.intake.media import MediaStore
from services.intake.store import IssueStore
from shared.events import utcnow
from shared.mongo import make_client
from shared.reference import load_reference
from tests.servers import isolated_settings

pytestmark = pytest.mark.bench

REPORTS = int(os.environ.get("LINLI_BENCH_INTAKE_REPORTS", "100000"))
DAYS = 90
CLOSED_SHARE = 0.7
READS = 40
SEARCHES = 6  # each Open311 search reads up to 91 days and a page of up to 1000
SCANS = 3
RATIO_CAP = 50.0
REF = load_reference()
COMPOUNDS = [n for n in REF.tree.at_level("compound") if n.location is not None]
CATEGORIES = sorted(REF.categories)


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _report(n: int, now, rng: random.Random) -> dict:
    place, category = rng.choice(COMPOUNDS), rng.choice(CATEGORIES)
    point = (place.location.lat, place.location.lon)
    doc = {"_id": f"iss_bench{n:017d}", "category": category, "node_id": place.id}
    if n % 3 == 0:
        point = (point[0] + rng.uniform(-0.002, 0.002), point[1] + rng.uniform(-0.002, 0.002))
        doc.update(lat=point[0], lon=point[1])
    closed = rng.random() < CLOSED_SHARE
    status = CaseStatus.CLOSED if closed else CaseStatus.ASSIGNED
    at = now - timedelta(seconds=DAYS * 86400 * n / REPORTS)
    doc.update(
        description="路灯不亮 / the light is out",
        priority="normal",
        channel="api",
        reported_at=at,
        compound_id=place.id,
        open_keys=open_keys(category, place.id, point),
        status=status.value,
        open311_status="closed" if closed else "open",
        sequence=2,
        history=[{"status": "reported", "at": at, "note": None, "sequence": 0}],
    )
    return doc


async def _load(db, now) -> list[tuple[str, str]]:
    """Load the store; the (category, compound) of each report open and of the last 30 days."""
    rng = random.Random(5)
    docs = [_report(n, now, rng) for n in range(REPORTS)]
    opened: dict[str, list[str]] = {}
    days: dict[str, dict] = {}
    service_days: dict[str, dict] = {}
    for d in docs:
        entry = day_entry(d["_id"], d["category"], d["reported_at"])
        key = day_key(d["reported_at"])
        pieces = (
            days.setdefault(key, {"reports": [], "closed": []}),
            service_days.setdefault(
                service_day_key(d["category"], key), {"reports": [], "closed": []}
            ),
        )
        for piece in pieces:
            piece["reports"].append(entry)
        if d["open311_status"] == "closed":
            for piece in pieces:
                piece["closed"].append(d["_id"])
        else:
            for key in d["open_keys"]:
                opened.setdefault(key, []).append(d["_id"])
    parts = [docs[i : i + 5000] for i in range(0, len(docs), 5000)]
    await asyncio.gather(*(db["issues"].insert_many(p, ordered=False) for p in parts))
    await db["open_reports"].insert_many([{"_id": k, "issue_ids": v} for k, v in opened.items()])
    await db["reports_by_day"].insert_many([{"_id": k, **v} for k, v in days.items()])
    pieces = [{"_id": k, **v} for k, v in service_days.items()]
    await db["reports_by_service_day"].insert_many(pieces)
    recent = now - timedelta(days=30)
    return [
        (d["category"], d["compound_id"])
        for d in docs
        if d["open311_status"] == "open" and d["reported_at"] >= recent
    ]


async def _timed(call) -> tuple[float, object]:
    began = time.perf_counter()
    result = await call
    return time.perf_counter() - began, result


@pytest.mark.timeout(900)
async def test_duplicate_offer_and_open311_dates_beside_an_id_read(servers):
    config = isolated_settings(servers)
    client = make_client(config.mongodb_url, app_name="bench", timeout_ms=120000)
    db = client[config.database_name("intake")]
    store, places, now = IssueStore(db), Places(REF.tree), utcnow()
    nearby = Nearby(store, REF.categories, places, radius_km=0.15, days=30, clock=lambda: now)
    reading = Reading(
        store=store, media=MediaStore(db["media"]), categories=REF.categories,
        places=places, secret="s" * 32, clock=lambda: now,
    )  # fmt: skip
    load_before = os.getloadavg()[0]
    try:
        await store.prepare()
        loaded, open_places = await _timed(_load(db, now))
        print(f"\n[intake reads bench] loaded {REPORTS:,} reports in {loaded:.0f} s")
        rng = random.Random(7)
        times: dict[str, list[float]] = {"offer": [], "service": [], "week": [], "_id": []}
        sizes: dict[str, list[int]] = {"offer": [], "service": [], "week": []}
        for n in range(READS + 5):  # the first 5 warm up
            category, compound = rng.choice(open_places)
            place = REF.tree.get(compound)
            assert place is not None and place.location is not None
            calls = {
                "offer": nearby.open_reports(
                    category, place.id, place.location.lat, place.location.lon
                ),
                "_id": store.get(f"iss_bench{rng.randrange(REPORTS):017d}"),
            }
            if n >= 5 and (n - 5) % (READS // SEARCHES) == 0:
                start = (now - timedelta(days=rng.randrange(7, DAYS))).isoformat()
                end = (now - timedelta(days=rng.randrange(0, 7))).isoformat()
                params = {"service_code": category, "status": "open"}
                calls["service"] = reading.requests(params, "en")
                calls["week"] = reading.requests({"start_date": start, "end_date": end}, "en")
            for name, call in calls.items():
                took, result = await _timed(call)
                assert result
                if n >= 5:
                    times[name].append(took)
                    if name in sizes:
                        sizes[name].append(len(result))  # type: ignore[arg-type]
        scans = []
        for _ in range(SCANS):
            flt = {"category": rng.choice(CATEGORIES), "open311_status": "open",
                   "reported_at": {"$gte": now - timedelta(days=30)}}  # fmt: skip
            took, _ = await _timed(db["issues"].find(flt, {"history": 0}).to_list(None))
            scans.append(took)
        former = {"service": [], "week": []}  # Open311's former filters (scans), same shapes
        for _ in range(SCANS):
            category, week_start = rng.choice(CATEGORIES), now - timedelta(days=30)
            flts = {
                "service": {"reported_at": {"$gte": now - timedelta(days=90)},
                            "category": category, "open311_status": "open"},
                "week": {"reported_at": {"$gte": week_start, "$lte": now - timedelta(days=3)}},
            }  # fmt: skip
            for name, flt in flts.items():
                cursor = db["issues"].find(flt, {"history": 0})
                cursor = cursor.sort([("reported_at", -1), ("_id", 1)]).limit(1000)
                took, _ = await _timed(cursor.to_list(None))
                former[name].append(took)
        id50 = _p(times["_id"], 0.5)
        scan50 = {"offer": _p(scans, 0.5), **{n: _p(t, 0.5) for n, t in former.items()}}
        print(
            f"[intake reads bench] {REPORTS:,} reports: bare _id read p50 {id50:.1f} ms, "
            f"p95 {_p(times['_id'], 0.95):.1f} ms"
        )
        labels = {
            "offer": "duplicate offer (buckets, then each candidate by _id)",
            "service": "Open311 one service's open requests, 90 days",
            "week": "Open311 every request of a 1-7 week window (page <= 1000)",
        }
        for name, label in labels.items():
            mean = sum(sizes[name]) / len(sizes[name])
            print(
                f"[intake reads bench] {label}: p50 {_p(times[name], 0.5):.1f} ms, p95 "
                f"{_p(times[name], 0.95):.1f} ms, {mean:.0f} results on average; "
                f"p50 {_p(times[name], 0.5) / id50:.1f}x the _id read's, "
                f"{_p(times[name], 0.5) / scan50[name]:.2f}x the former scan's "
                f"({scan50[name]:.0f} ms)"
            )
        print(
            f"[intake reads bench] the filter the duplicate offer sent before (a scan): "
            f"{', '.join(f'{t * 1000:.0f}' for t in scans)} ms; load average "
            f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
        )
        assert _p(times["offer"], 0.5) <= RATIO_CAP * id50
    finally:
        await client.drop_database(db.name)
        await client.close()

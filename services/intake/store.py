"""Intake's MongoDB adapter: the issues read model (database ``<prefix>intake``) and the
lookup documents that make its two searches reads by ``_id`` (``domain/buckets.py``):
``open_reports`` (open report ids per category and compound or grid cell),
``reports_by_day`` (each UTC day's reports, with the ids of those closed) and
``reports_by_service_day`` (the same per service and day). Both are written
by the same code that records a report (idempotent: ``$addToSet``) and follow its status;
every search re-checks what it found against the reports themselves, so a lookup document
that lags (an id left over) never changes an answer."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.intake.domain.buckets import (
    day_entry,
    day_key,
    days_between,
    epoch_ms,
    read_day_entry,
    service_day_key,
)
from services.intake.domain.open311 import RequestQuery
from services.intake.domain.status import CaseStatus, Open311Status, open311_status

_DUPLICATE_KEY = 11000
_SUMMARY = {"history": 0}
_STRIPES = 64
_WRITES_IN_FLIGHT = 8  # lookup-document updates at once (FerretDB: keep update bulks small)


# Open311's window is read newest first in rounds of days, each twice the last: a whole day
# (~1,100 entries here, 20-40 ms to decode under load) often fills a page alone; a service's
# days are small, so its first round is a week.
_SERVICE_DAYS_FIRST = 7
# a search for more services than this reads whole days (a day decodes in 20-40 ms under
# load, a service's day in about the 1-2 ms of any read)
_SERVICE_DOCS_AT_MOST = 8


def _rounds(days: list[str], first: int) -> list[list[str]]:
    """``days`` in consecutive rounds of ``first``, then twice as many each time."""
    rounds, start, size = [], 0, first
    while start < len(days):
        rounds.append(days[start : start + size])
        start, size = start + size, size * 2
    return rounds


class IssueStore:
    def __init__(self, db: AsyncDatabase):
        self._issues = db["issues"]
        self._open = db["open_reports"]
        self._days = db["reports_by_day"]
        self._service_days = db["reports_by_service_day"]
        # one writer at a time per lookup document in this process: FerretDB v1 loses
        # concurrent updates of one document (see ``_add_to_set``)
        self._stripes = [asyncio.Lock() for _ in range(_STRIPES)]

    def _lock(self, key: str) -> asyncio.Lock:
        return self._stripes[hash(key) % _STRIPES]

    async def _add(self, collection, key: str, added: dict[str, Any]) -> None:
        async with self._lock(key):
            await _add_to_set(collection, key, added)

    async def _pull(self, collection, key: str, removed: dict[str, Any]) -> None:
        async with self._lock(key):
            await collection.update_one({"_id": key}, {"$pull": removed})

    async def prepare(self) -> None:
        await self._issues.create_index([("resident_ref", ASCENDING), ("reported_at", ASCENDING)])
        await self._issues.create_index([("followers", ASCENDING)])
        await self._issues.create_index([("reported_at", DESCENDING)])
        await self._issues.create_index(
            [("category", ASCENDING), ("open311_status", ASCENDING), ("reported_at", DESCENDING)]
        )

    async def record_reported_many(
        self, reports: list[tuple[dict[str, Any], datetime]]
    ) -> list[bool]:
        """Record reports once each, in one unordered insert (cheap, where an update is not
        on FerretDB). For a document that exists, either this is a redelivery (it has
        ``reported_at``: nothing to do) or the lifecycle arrived first (fill it in).
        One answer per report: False for a duplicate. Any other failure raises."""
        entries = [
            {"status": CaseStatus.REPORTED.value, "at": at, "note": None, "sequence": 0}
            for _, at in reports
        ]
        documents = [
            {
                "_id": fields["issue_id"],
                **{k: v for k, v in fields.items() if k != "issue_id"},
                "status": CaseStatus.REPORTED.value,
                "open311_status": Open311Status.OPEN.value,
                "sequence": 0,
                "history": [entry],
            }
            for (fields, _), entry in zip(reports, entries, strict=True)
        ]
        existing: list[int] = []
        try:
            await self._issues.insert_many(documents, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if exc.details.get("writeConcernErrors") or any(
                e.get("code") != _DUPLICATE_KEY for e in errors
            ):
                raise
            existing = sorted(e["index"] for e in errors)
        recorded = [True] * len(documents)
        closed: list[dict[str, Any]] = []
        for index in existing:  # in offset order, one at a time (rare)
            recorded[index] = await self._fill_in(reports[index][0], entries[index], closed)
        # every report, a redelivered one too (its first attempt may have stopped before this)
        await self._index([fields for fields, _ in reports], closed)
        return recorded

    async def _fill_in(
        self, fields: dict[str, Any], entry: dict[str, Any], closed: list[dict[str, Any]]
    ) -> bool:
        """Fill in a document the lifecycle created first; one already closed then is added
        to ``closed``."""
        issue_id = fields["issue_id"]
        found = await self._issues.find_one({"_id": issue_id}, {"reported_at": 1, "status": 1})
        if found is None or found.get("reported_at") is not None:
            return False
        if open311_status(found.get("status")) == Open311Status.CLOSED:
            closed.append(fields)
        await self._issues.update_one(
            {"_id": issue_id},
            {
                "$set": {k: v for k, v in fields.items() if k != "issue_id"},
                "$push": {"history": entry},
            },
        )
        return True

    async def record_transition(
        self, issue_id: str, sequence: int, status: str, at: datetime, fields: dict[str, Any]
    ) -> bool:
        """Apply a transition unless the document already holds this or a later version
        (events are ordered per issue by ``sequence``). False when it was stale. When the
        report turns closed (or open again) its lookup documents follow."""
        entry = {
            "status": status,
            "at": at,
            "note": fields.get("status_note"),
            "sequence": sequence,
        }
        now_open = open311_status(status)
        try:
            before = await self._issues.find_one_and_update(
                # every document has a sequence (a report inserts 0)
                {"_id": issue_id, "sequence": {"$lt": sequence}},
                {
                    "$set": {
                        "status": status,
                        "open311_status": now_open.value,
                        "sequence": sequence,
                        "updated_at": at,
                        **fields,
                    },
                    "$push": {"history": entry},
                },
                upsert=True,  # no projection: FerretDB v1 does not take one here
                return_document=ReturnDocument.BEFORE,
            )
        except DuplicateKeyError:
            return False  # the document exists with this sequence or a later one
        if before is not None and before.get("open311_status") != now_open.value:
            await self._follow_status(issue_id, before, now_open)
        return True

    async def _follow_status(self, issue_id: str, doc: dict[str, Any], now: Open311Status) -> None:
        """Out of (or back into) the open buckets, into (or out of) its day's closed ids. A
        document without ``reported_at`` is not indexed yet: recording it does this."""
        if doc.get("reported_at") is None:
            return
        days = self._day_docs(doc.get("category", ""), doc["reported_at"])
        if now == Open311Status.CLOSED:
            for collection, key in days:
                await self._add(collection, key, {"closed": issue_id})
            for key in doc.get("open_keys", []):
                await self._pull(self._open, key, {"issue_ids": issue_id})
        else:
            for collection, key in days:
                await self._pull(collection, key, {"closed": issue_id})
            for key in doc.get("open_keys", []):
                await self._add(self._open, key, {"issue_ids": issue_id})

    def _day_docs(self, category: str, reported_at: datetime) -> list[tuple[Any, str]]:
        """The report's day document and its service's day document."""
        day = day_key(reported_at)
        return [(self._days, day), (self._service_days, service_day_key(category, day))]

    async def _index(self, reports: list[dict[str, Any]], closed: list[dict[str, Any]]) -> None:
        """Each report into its open buckets and its day (idempotent), one update per
        document touched; those already closed into their day's closed ids."""
        opened: dict[str, list[str]] = {}
        days: dict[tuple[Any, str], list[str]] = {}
        shut = {fields["issue_id"] for fields in closed}
        for fields in reports:
            issue_id, category = fields["issue_id"], fields["category"]
            if issue_id not in shut:
                for key in fields.get("open_keys", []):
                    opened.setdefault(key, []).append(issue_id)
            entry = day_entry(issue_id, category, fields["reported_at"])
            for doc in self._day_docs(category, fields["reported_at"]):
                days.setdefault(doc, []).append(entry)
        writes = [(self._open, k, {"issue_ids": {"$each": v}}) for k, v in opened.items()]
        writes += [(c, k, {"reports": {"$each": v}}) for (c, k), v in days.items()]
        for fields in closed:
            for collection, key in self._day_docs(fields["category"], fields["reported_at"]):
                writes.append((collection, key, {"closed": fields["issue_id"]}))
        gate = asyncio.Semaphore(_WRITES_IN_FLIGHT)

        async def write(collection, key: str, added: dict[str, Any]) -> None:
            async with gate:
                await self._add(collection, key, added)

        await asyncio.gather(*(write(*w) for w in writes))

    async def get(self, issue_id: str) -> dict[str, Any] | None:
        return await self._issues.find_one({"_id": issue_id})

    async def query(self, query: RequestQuery) -> list[dict[str, Any]]:
        """Open311's search, newest first then by id: by ids, or from the days of the window
        (one ``_id`` read a day), the page's reports then read one by one. Days are read newest
        first, in growing rounds, and no further once the page is full: every older day's
        reports come after it, so a first page reads a few days, not the whole window."""
        if query.ids:
            return await self._by_ids(query)
        assert query.start is not None and query.end is not None
        window = (epoch_ms(query.start), epoch_ms(query.end))
        wanted = query.skip + query.page_size
        newest_first = days_between(query.start, query.end)[::-1]
        found: set[tuple[int, str]] = set()
        small = bool(query.service_codes) and len(set(query.service_codes)) <= _SERVICE_DOCS_AT_MOST
        first = _SERVICE_DAYS_FIRST if small else 1
        for some_days in _rounds(newest_first, first):
            days = await asyncio.gather(
                *(
                    collection.find_one({"_id": key})
                    for day in some_days
                    for collection, key in self._search_docs(day, query.service_codes)
                )
            )
            for day in filter(None, days):
                closed = set(day.get("closed", ()))
                for entry in day.get("reports", ()):
                    at, issue_id, category = read_day_entry(entry)
                    if _matches(at, issue_id, category, window, query, closed):
                        found.add((at, issue_id))
            if len(found) >= wanted:
                break
        ordered = sorted(found, key=lambda pair: (-pair[0], pair[1]))
        page = ordered[query.skip : query.skip + query.page_size]
        docs = await asyncio.gather(*(self._issues.find_one({"_id": i}, _SUMMARY) for _, i in page))
        statuses = set(query.statuses)
        return [
            d
            for d in docs
            if d is not None and (not statuses or d.get("open311_status") in statuses)
        ]

    def _search_docs(self, day: str, services: tuple[str, ...]) -> list[tuple[Any, str]]:
        """What a search reads of ``day``: each service's document, else (no service, or so
        many that their reads would cost more) the whole day's."""
        if not services or len(set(services)) > _SERVICE_DOCS_AT_MOST:
            return [(self._days, day)]
        return [(self._service_days, service_day_key(c, day)) for c in dict.fromkeys(services)]

    async def _by_ids(self, query: RequestQuery) -> list[dict[str, Any]]:
        """Requests by id, one lookup each (``_id $in`` would make FerretDB scan), in the
        search's order: newest first, then by id."""
        found = await asyncio.gather(
            *(self._issues.find_one({"_id": i}, {"history": 0}) for i in dict.fromkeys(query.ids))
        )
        docs = sorted((d for d in found if d is not None), key=lambda d: d["_id"])
        docs.sort(key=_newest_first)
        return docs[query.skip : query.skip + query.page_size]

    async def open_of_category(
        self, category: str, keys: list[str], since: datetime
    ) -> list[dict[str, Any]]:
        """Open reports of ``category`` since ``since`` in the buckets ``keys``, newest
        first: one ``_id`` read per bucket, then one per report."""
        buckets = await asyncio.gather(*(self._open.find_one({"_id": k}) for k in keys))
        ids = dict.fromkeys(i for b in buckets if b is not None for i in b.get("issue_ids", ()))
        docs = await asyncio.gather(*(self._issues.find_one({"_id": i}, _SUMMARY) for i in ids))
        found = [
            doc
            for doc in docs
            if doc is not None
            and doc.get("category") == category
            and doc.get("open311_status") == Open311Status.OPEN.value
            and doc.get("reported_at") is not None
            and doc["reported_at"] >= since
        ]
        found.sort(key=lambda doc: doc["_id"])
        return sorted(found, key=_newest_first)

    async def of_resident(self, ref: str, limit: int = 200) -> list[dict[str, Any]]:
        """Reports the resident filed or follows, newest first. Two equality reads, each on
        its own index (an ``$or`` of them would make FerretDB scan every issue)."""
        found: dict[str, dict[str, Any]] = {}
        for field in ("resident_ref", "followers"):
            cursor = self._issues.find({field: ref}).sort("reported_at", DESCENDING).limit(limit)
            found |= {doc["_id"]: doc async for doc in cursor}
        return sorted(found.values(), key=_newest_first)[:limit]

    async def add_follower(self, issue_id: str, ref: str) -> bool:
        result = await self._issues.update_one({"_id": issue_id}, {"$addToSet": {"followers": ref}})
        return result.matched_count > 0


async def _add_to_set(collection, key: str, added: dict[str, Any]) -> None:
    """``$addToSet`` into the document ``key``, created first if absent (an insert is unique
    by ``_id``). FerretDB v1 (SQLite) loses concurrent updates of one document: of 8 sent at
    once to an existing document, often 1-4 landed (measured here), and upserts of a new one
    likewise; so the store sends one at a time per document (``IssueStore._lock``). MongoDB
    applies each atomically."""
    update = {"$addToSet": added}
    if (await collection.update_one({"_id": key}, update)).matched_count:
        return
    with contextlib.suppress(DuplicateKeyError):  # another writer created it
        await collection.insert_one({"_id": key, **{field: [] for field in added}})
    await collection.update_one({"_id": key}, update)


def _matches(
    at: int,
    issue_id: str,
    category: str,
    window: tuple[int, int],
    query: RequestQuery,
    closed: set[str],
) -> bool:
    """A day's report against the search's window, services and statuses."""
    if not window[0] <= at <= window[1]:
        return False
    if query.service_codes and category not in query.service_codes:
        return False
    status = Open311Status.CLOSED if issue_id in closed else Open311Status.OPEN
    return not query.statuses or status.value in query.statuses


def _newest_first(doc: dict[str, Any]) -> tuple[bool, Any]:
    """Sort key: newest report first, those not reported yet last (as MongoDB sorts them)."""
    at = doc.get("reported_at")
    return (at is None, -at.timestamp() if at is not None else 0)

"""The timer wheel's storage (collections ``wheel`` and ``claims``), built for FerretDB v1:
only inserts and exact-``_id`` reads, replaces and deletes; no document grows without
bound and a tick's reads do not depend on how many timers are pending.

- ``chunk:<minute>:<uuid>``: an immutable document holding the entries (issue, target,
  kind, due) one write placed in that minute: one chunk per write per minute.
- ``min:<minute>#<n>``: the ``n``-th chunk listed in that minute (inserted at the first free
  ``n``: a unique ``_id`` decides between writers; a reader reads from the first ``n`` it has
  not read to the first missing).
- ``hour:<hour>``: the minutes of that hour that have chunks, and ``passed``: the last minute
  a tick has sealed. Registering a minute and sealing are changes of this one document in
  one order, so a writer that registers a minute already passed sees it in the answer and
  puts its entries in a later minute instead: no entry falls behind a tick. Hour documents
  are kept (tiny) so the seal stays.
- ``hour:`` documents are changed as versions inserted into ``wheel_versions``
  (``versioned.py``): FerretDB v1 applies an update as read, change, write back, and of
  concurrent updates of one document kept only some (one writer placing timers in eight
  minutes of an hour lost the minutes of most of them: they never fired). An inserted
  version's unique ``_id`` puts the changes in one order, as MongoDB's atomic updates did.
- ``cursor``: the last minute whose entries were all fired; minutes up to it are dropped.
  Entries due before the cursor's first position (its ``origin``) go to the minute after.
- ``claims``: one document per entry being fired (``<entry>#<generation>``, unique insert =
  exclusive claim between replicas; a lease, checked in Python, lets another replica take
  over from a dead one with the next generation; a replica knows which of its own claims it
  fired, and another replica's claim counts as pending until its lease ends). Dropped with
  their minute, so the collection stays small. Firing is exactly-once anyway (the case's
  compare-and-set and the machine refusing a timer it no longer wants); claims only save
  replicas from doing the same work.
"""

from __future__ import annotations

import asyncio
import uuid
import zlib
from collections.abc import Iterable
from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any, Literal

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.dispatch.domain.machine import Timer
from services.dispatch.store import insert_new
from services.dispatch.versioned import Change, Fields, Versioned

Entry = dict[str, Any]  # {"i": issue id, "t": target, "k": kind, "d": due}
CONCURRENCY = 32
MAX_GENERATIONS = 8
LOCKS = 64  # index documents written one at a time per process (fewer lost races)


def _listing(field: str, value: Any) -> Change:
    """The change adding ``value`` to the list ``field`` (if not there yet)."""

    def change(found: Fields | None) -> Fields | None:
        listed = list((found or {}).get(field, ()))
        if value in listed:
            return None
        return {**(found or {}), field: [*listed, value]}

    return change


def _sealing(passed: int) -> Change:
    """The change raising the hour's ``passed`` (the last minute sealed) to ``passed``."""

    def change(found: Fields | None) -> Fields | None:
        if found is not None and found.get("passed", -1) >= passed:
            return None
        return {**(found or {}), "passed": passed}

    return change


def minute_of(moment: datetime) -> int:
    return int(moment.timestamp()) // 60


def entries_of(issue_id: str, wanted: Iterable[Timer]) -> list[Entry]:
    return [{"i": issue_id, "t": t.target, "k": t.kind, "d": t.due} for t in wanted]


async def bounded(coros: Iterable[Any], limit: int = CONCURRENCY) -> list[Any]:
    """Await ``coros`` with at most ``limit`` at a time; results in order."""
    gate = asyncio.Semaphore(limit)

    async def one(coro: Any) -> Any:
        async with gate:
            return await coro

    return list(await asyncio.gather(*(one(c) for c in coros)))


class WheelStore:
    def __init__(self, db: AsyncDatabase):
        self.wheel = db["wheel"]
        self.claims = db["claims"]
        self.index = Versioned(self.wheel, db["wheel_versions"])
        self._locks = [asyncio.Lock() for _ in range(LOCKS)]
        self._listed: dict[int, list[str]] = {}  # each minute's chunk ids read so far
        self._free: dict[int, int] = {}  # per minute, a number below which all are taken
        self._legacy: dict[int, list[str]] = {}  # chunks of a ``min:<minute>`` list of before
        self._origin: int | None = None
        self._sealed = -1  # the last minute this process sealed (seals only move forward)
        self._group: tuple[list[Entry], asyncio.Future[None]] | None = None
        self._writing: set[asyncio.Task[None]] = set()

    # -- writers ----------------------------------------------------------------------------
    async def enlist(self, entries: list[Entry], now: datetime) -> None:
        """Store entries, one chunk per minute of their due time (bulk: one insert for all
        chunks, then two small updates per minute); ``now`` places the cursor on first use.
        Concurrent calls are written together (one group of writes for a tick's firings)."""
        if not entries:
            return
        if self._origin is None:
            await self._cursor_doc(minute_of(now) - 1)
        if self._group is None:
            self._group = ([], asyncio.get_running_loop().create_future())
            task = asyncio.create_task(self._write_group())
            self._writing.add(task)
            task.add_done_callback(self._writing.discard)
        queued, written = self._group
        queued.extend(entries)
        await asyncio.shield(written)

    async def _write_group(self) -> None:
        await asyncio.sleep(0)  # writers that are ready now join this group
        assert self._group is not None
        (entries, written), self._group = self._group, None
        try:
            await self._write(entries)
        except Exception as exc:
            written.set_exception(exc)
        else:
            written.set_result(None)

    async def _write(self, entries: list[Entry]) -> None:
        assert self._origin is not None
        by_minute: dict[int, list[Entry]] = {}
        for entry in entries:
            minute = max(minute_of(entry["d"]), self._origin + 1)
            by_minute.setdefault(minute, []).append(entry)
        while by_minute:
            by_minute = await self._place(by_minute)

    async def _place(self, by_minute: dict[int, list[Entry]]) -> dict[int, list[Entry]]:
        """Place each minute's entries; answer those that landed in a minute already sealed,
        moved to the first minute after the seal."""
        tag = uuid.uuid4().hex[:12]
        chunks = {m: f"chunk:{m}:{tag}" for m in by_minute}
        docs = [{"_id": chunks[m], "entries": e} for m, e in by_minute.items()]
        for start in range(0, len(docs), 500):
            await insert_new(self.wheel, docs[start : start + 500])

        async def register(minute: int) -> int | None:
            await self._list_chunk(minute, chunks[minute])
            hour = await self._change(f"hour:{minute // 60}", _listing("minutes", minute))
            passed = hour.get("passed")
            if passed is not None and passed >= minute:
                await self.wheel.delete_one({"_id": chunks[minute]})
                return int(passed) + 1
            return None

        moved: dict[int, list[Entry]] = {}
        targets = await bounded(register(m) for m in by_minute)
        for minute, target in zip(by_minute, targets, strict=True):
            if target is not None:
                moved.setdefault(target, []).extend(by_minute[minute])
        return moved

    async def _change(self, doc_id: str, change: Change) -> dict[str, Any]:
        """Change one index document (``min:``, ``hour:``) as one versioned write (a
        version inserted by ``_id``: FerretDB v1 loses one of two concurrent updates of a
        document, which here lost whole minutes of timers); the fields after it."""
        async with self._locks[zlib.crc32(doc_id.encode()) % LOCKS]:
            return (await self.index.write(doc_id, change))[1] or {}

    async def _list_chunk(self, minute: int, chunk_id: str) -> None:
        """List a chunk in its minute: insert ``min:<minute>#<n>`` at the first free ``n``
        (numbers are taken in order, so a reader that stops at the first missing one has
        seen every chunk listed before it)."""
        n = max(self._free.get(minute, 0), len(self._listed.get(minute, ())))
        while True:
            try:
                await self.wheel.insert_one({"_id": f"min:{minute}#{n}", "chunk": chunk_id})
                self._free[minute] = n + 1
                return
            except DuplicateKeyError:
                n += 1

    async def _read(self, doc_id: str) -> dict[str, Any]:
        return (await self.index.latest(doc_id))[1] or {}

    # -- ticks ------------------------------------------------------------------------------
    async def cursor(self, current: int) -> int:
        """The last minute whose entries were all handled."""
        return int((await self._cursor_doc(current - 1))["minute"])

    async def _cursor_doc(self, floor: int) -> dict[str, Any]:
        """The cursor, created at ``floor`` on first use; its ``origin`` (where it started)
        never changes: entries go to minutes after it, which the ticks all see."""
        doc = await self.wheel.find_one({"_id": "cursor"})
        if doc is None:
            with suppress(DuplicateKeyError):
                await self.wheel.insert_one({"_id": "cursor", "minute": floor, "origin": floor})
            doc = await self.wheel.find_one({"_id": "cursor"})
        assert doc is not None
        self._origin = int(doc["origin"])
        return doc

    async def seal(self, after: int, upto: int) -> list[int]:
        """Seal the minutes in (after, upto] (writers place entries after them from now on)
        and answer the minutes in (after, upto + 1] that have chunks."""
        hours = range((after + 1) // 60, (upto + 1) // 60 + 1)

        async def one(hour: int) -> list[int]:
            passed = min(upto, hour * 60 + 59)
            if passed <= self._sealed:  # sealed by this process already: a read will do
                doc = await self._read(f"hour:{hour}")
            else:
                doc = await self._change(f"hour:{hour}", _sealing(passed))
            return [m for m in doc.get("minutes", ()) if after < m <= upto + 1]

        minutes = sorted(m for found in await bounded(one(h) for h in hours) for m in found)
        self._sealed = max(self._sealed, upto)
        return minutes

    async def chunk_ids(self, minute: int) -> list[str]:
        """The minute's chunks: those read before, then ``min:<minute>#<n>`` from the first
        unread ``n`` to the first missing."""
        if minute not in self._legacy:  # listed by the code before (immutable since)
            legacy = await self.wheel.find_one({"_id": f"min:{minute}"})
            self._legacy[minute] = list((legacy or {}).get("chunks", ()))
        listed = self._listed.setdefault(minute, [])
        while True:
            found = await self.wheel.find_one({"_id": f"min:{minute}#{len(listed)}"})
            if found is None:
                return [*self._legacy[minute], *listed]
            listed.append(found["chunk"])

    async def chunks(self, ids: list[str]) -> dict[str, list[Entry]]:
        docs = await bounded(self.wheel.find_one({"_id": i}) for i in ids)
        return {i: (d["entries"] if d else []) for i, d in zip(ids, docs, strict=True)}

    async def advance(self, minute: int) -> None:
        await self.wheel.update_one({"_id": "cursor"}, {"$max": {"minute": minute}})

    async def drop(self, minutes: dict[int, list[str]]) -> None:
        """Forget handled minutes: their chunks, index documents and claims."""
        counts = {m: len(self._listed.get(m, chunks)) for m, chunks in minutes.items()}
        ids = [f"min:{m}#{n}" for m, count in counts.items() for n in range(count)]
        ids += [f"min:{m}" for m in minutes] + [c for chunks in minutes.values() for c in chunks]
        await bounded(self.wheel.delete_one({"_id": i}) for i in ids)
        for minute in minutes:
            self._listed.pop(minute, None)
            self._free.pop(minute, None)
            self._legacy.pop(minute, None)
        await self.claims.delete_many({"minute": {"$in": list(minutes)}})

    # -- claims -----------------------------------------------------------------------------
    async def claim(
        self, entry_id: str, minute: int, now: datetime, lease: timedelta, owner: str
    ) -> tuple[Literal["mine", "busy"], datetime]:
        """Claim an entry to fire it: ("mine", lease end), or ("busy", lease end) while
        another replica holds it (it fired it, or it is firing it, or it died: then the
        entry is claimed again, with the next generation, once the lease ends)."""
        for generation in range(MAX_GENERATIONS):
            claim_id = f"{entry_id}#{generation}"
            try:
                await self.claims.insert_one(
                    {"_id": claim_id, "minute": minute, "by": owner, "until": now + lease}
                )
                return "mine", now + lease
            except DuplicateKeyError:
                held = await self.claims.find_one({"_id": claim_id})
            if held is None:
                continue  # dropped meanwhile: try again
            if held["until"] > now:
                return "busy", held["until"]
        return "busy", now + lease

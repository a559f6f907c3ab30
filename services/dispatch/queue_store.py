"""The staff's case queue, stored for reads by ``_id`` only (FerretDB v1 scans any other
filter): ``GET /queue``, the task list and the public open counts read it.

Collections (database ``<prefix>dispatch``):

- ``queue``: shards of a scope's rows, ``_id`` = ``<scope>|<month>[_<n>]`` (scope ``n:<node>``
  for each place on a case's path, ``d:<department>`` for each department that holds or held
  a duty on it; the case's reported month, and in the district's, a street's or a
  department's scope a hash bucket of its id, ``BUCKETS`` a month: ``domain/queue.py``).
  A shard is ``{rev, rows}``: ``rows`` is one text field, a line per case (see
  ``domain/queue.py``). A writer keeps each row at the highest case version it has seen. A
  late or repeated write of an older version changes nothing, so every write is idempotent
  and versions never go back.
- ``queue_stamps``: one document per scope, ``_id`` = the scope, ``revs`` = the latest
  ``rev`` of each of its shards, raised after the shard is written. Readers read the stamp
  (one ``_id`` read), then only the shards whose ``rev`` moved since they last read them.
- ``queue_versions``: shards and stamps are written by several writers at once (a replica's
  batches and actions, other replicas), and FerretDB v1 can lose one of two concurrent
  updates of a document or let a ``{_id, rev}`` replace succeed twice; so each new version
  is first inserted here as ``<id>#<rev>`` (the unique ``_id`` decides the race), then
  copied to the head (``versioned.py``).

The queue is written by the same code as the case (``CaseStore.insert_cases`` and
``put_head``) after the case itself and before the change's outbox pointer is dropped. A
writer that dies between the case and the queue, or between a shard and its stamp, leaves
its pointer; the sweeper then writes the case's rows and stamps again (same rows: no
change but the stamp raised). Until then a reader sees the case's previous row (the row
lags the case by at most the sweep delay; the case page reads the case itself). No
multi-document transaction is needed: each write is one document by ``_id``.
"""

from __future__ import annotations

import asyncio
import zlib
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from services.dispatch.domain.queue import (
    SEP,
    QueueQuery,
    Row,
    Selection,
    revs_stamp,
    row_of,
    rows_stamp,
    select,
    shards_of,
)
from services.dispatch.versioned import Versioned

CACHED_SCOPES = 32
CACHED_SELECTIONS = 16
SHARD_WRITES = 16  # shards written at once by one put
LOCKS = 256


@dataclass
class Scope:
    """A reader's copy of one scope: each shard's rev and rows, and recent selections."""

    shards: dict[str, tuple[int, list[Row]]] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    selections: OrderedDict[tuple, Selection] = field(default_factory=OrderedDict)


def _version(line: str) -> tuple[str, int]:
    issue_id, version, _ = line.split(SEP, 2)
    return issue_id, int(version)


class QueueStore:
    def __init__(self, db: AsyncDatabase):
        self.shards = Versioned(db["queue"], db["queue_versions"])
        self.stamps = Versioned(db["queue_stamps"], db["queue_versions"])
        self._scopes: OrderedDict[str, Scope] = OrderedDict()
        self._locks = [asyncio.Lock() for _ in range(LOCKS)]
        self._writes = asyncio.Semaphore(SHARD_WRITES)

    # -- writes -------------------------------------------------------------------------------
    async def put(self, docs: list[dict[str, Any]]) -> None:
        """List (or update) the cases ``docs`` in every scope they belong to."""
        wanted: dict[tuple[str, str], list[Row]] = defaultdict(list)
        for doc in docs:
            row = row_of(doc)
            for scope, shard in shards_of(doc):
                wanted[scope, shard].append(row)
        keys = list(wanted)
        revs = await asyncio.gather(*(self._put_shard(s, b, wanted[s, b]) for s, b in keys))
        stamps: dict[str, dict[str, int]] = defaultdict(dict)
        for (scope, bucket), rev in zip(keys, revs, strict=True):
            stamps[scope][bucket] = rev
        await asyncio.gather(*(self._raise_stamp(s, raised) for s, raised in stamps.items()))

    async def _put_shard(self, scope: str, bucket: str, rows: list[Row]) -> int:
        """Write ``rows`` into one shard (each kept at its highest version); the shard's rev
        that holds them."""

        def change(found: dict[str, Any] | None) -> dict[str, Any] | None:
            text = (found or {}).get("rows", "")
            lines = dict((_version(line)[0], line) for line in text.split("\n") if line)
            changed = False
            for row in rows:
                known = lines.get(row.issue_id)
                if known is None or _version(known)[1] < row.version:
                    lines[row.issue_id], changed = row.line(), True
            return {"rows": "\n".join(lines.values())} if changed or found is None else None

        shard_id = f"{scope}|{bucket}"
        async with self._writes, self._lock(shard_id):
            return (await self.shards.write(shard_id, change))[0]

    async def _raise_stamp(self, scope: str, raised: dict[str, int]) -> None:
        """Raise the scope's stamp to at least ``raised`` (shard -> rev)."""

        def change(found: dict[str, Any] | None) -> dict[str, Any] | None:
            revs = dict((found or {}).get("revs") or {})
            if found is not None and all(revs.get(b, 0) >= r for b, r in raised.items()):
                return None
            return {"revs": {b: max(revs.get(b, 0), raised.get(b, 0)) for b in revs | raised}}

        async with self._lock(f"stamp:{scope}"):
            await self.stamps.write(scope, change)

    def _lock(self, key: str) -> asyncio.Lock:
        return self._locks[zlib.crc32(key.encode()) % LOCKS]

    # -- reads --------------------------------------------------------------------------------
    async def rows(self, scope: str) -> Scope:
        """The scope's rows as stored now: the stamp, then the shards that moved."""
        _, stamp = await self.stamps.latest(scope)
        revs: dict[str, int] = {b: int(r) for b, r in ((stamp or {}).get("revs") or {}).items()}
        cached = self._scopes.pop(scope, None) or Scope()
        self._scopes[scope] = cached
        while len(self._scopes) > CACHED_SCOPES:
            self._scopes.popitem(last=False)
        moved = [b for b, rev in revs.items() if cached.shards.get(b, (0, []))[0] < rev]
        if not moved:
            return cached
        found = await asyncio.gather(*(self._shard(f"{scope}|{b}", revs[b]) for b in moved))
        for bucket, (rev, shard) in zip(moved, found, strict=True):
            if shard is not None:
                parsed = [Row.parse(line) for line in shard["rows"].split("\n") if line]
                cached.shards[bucket] = (rev, parsed)
        cached.rows = [row for _, rows in cached.shards.values() for row in rows]
        cached.selections.clear()
        return cached

    async def _shard(self, shard_id: str, stamped: int) -> tuple[int, dict[str, Any] | None]:
        """The shard's head, rolled forward if it lags behind the rev its stamp names (its
        writer has not replaced it yet)."""
        head = await self.shards.heads.find_one({"_id": shard_id})
        rev = int(head["rev"]) if head is not None else 0
        if rev >= stamped:
            return rev, head
        return await self.shards.newer(shard_id, rev, head)

    async def stamp(self, scope: str, place: str, within: Any) -> str:
        """What changes whenever a case of ``scope`` (filtered to ``place`` if given) does:
        the stamp alone (read by ``_id``), or for a place the versions of its rows."""
        if not place:
            _, stamp = await self.stamps.latest(scope)
            return revs_stamp({b: int(r) for b, r in ((stamp or {}).get("revs") or {}).items()})
        cached = await self.rows(scope)
        return rows_stamp(r for r in cached.rows if within(r.node_id, place))

    async def select(self, scope: str, q: QueueQuery, now: datetime, within: Any) -> Selection:
        """The query's rows of ``scope`` (a selection is reused within the same minute while
        no shard of the scope moved)."""
        cached = await self.rows(scope)
        key = (q, int(now.timestamp() // 60))
        hit = cached.selections.get(key)
        if hit is None:
            hit = select(cached.rows, q, now, within)
            cached.selections[key] = hit
            while len(cached.selections) > CACHED_SELECTIONS:
                cached.selections.popitem(last=False)
        return hit

"""The staff's case queue, stored for reads by ``_id`` only (FerretDB v1 scans any other
filter; dispatch's tasks query on ``holders``/``places`` read the whole ``cases`` collection).

Collections (database ``<prefix>dispatch``):

- ``queue``: shards of a scope's rows, ``_id`` = ``<scope>|<month>[_<n>]`` (scope ``n:<node>``
  for each place on a case's path, ``d:<department>`` for each department that holds or held
  a duty on it; the case's reported month, and in the district's, a street's or a
  department's scope a hash bucket of its id, ``BUCKETS`` a month: ``domain/queue.py``).
  A shard is ``{rev, rows}``: ``rows`` is one text field, a line per case (see
  ``domain/queue.py``). A writer reads the shard, keeps each row at the highest case version
  it has seen, and replaces the shard only if ``rev`` did not move (compare-and-set by
  ``_id``; a lost race reads again). A late or repeated write of an older version changes
  nothing, so every write is idempotent and versions never go back.
- ``queue_stamps``: one document per scope, ``_id`` = the scope, ``revs`` = the latest
  ``rev`` of each of its shards, raised with ``$max`` after the shard is written. Readers
  read the stamp (one ``_id`` read), then only the shards whose ``rev`` moved since they
  last read them.

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
from pymongo.errors import DuplicateKeyError

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
from shared.kafka.failures import TransientError
from shared.mongo.writes import upsert

CACHED_SCOPES = 32
CACHED_SELECTIONS = 16
SHARD_WRITES = 16  # shards written at once by one put
LOCKS = 256


class QueueBusy(TransientError):
    """A queue shard kept changing under this writer: try the change's effects again."""


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
        self.shards = db["queue"]
        self.stamps = db["queue_stamps"]
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
            stamps[scope][f"revs.{bucket}"] = rev
        await asyncio.gather(
            *(
                upsert(self.stamps, {"_id": scope}, {"$max": raised})  # a lost race updates
                for scope, raised in stamps.items()
            )
        )

    async def _put_shard(self, scope: str, bucket: str, rows: list[Row]) -> int:
        """Write ``rows`` into one shard; its rev afterwards."""
        shard_id = f"{scope}|{bucket}"
        async with self._writes, self._locks[zlib.crc32(shard_id.encode()) % LOCKS]:
            for _ in range(20):
                found = await self.shards.find_one({"_id": shard_id})
                lines = dict(
                    (_version(line)[0], line) for line in (found or {}).get("rows", "").split("\n")
                    if line
                )  # fmt: skip
                changed = False
                for row in rows:
                    known = lines.get(row.issue_id)
                    if known is None or _version(known)[1] < row.version:
                        lines[row.issue_id], changed = row.line(), True
                if found is not None and not changed:
                    return int(found["rev"])
                text = "\n".join(lines.values())
                if found is None:
                    try:
                        await self.shards.insert_one({"_id": shard_id, "rev": 1, "rows": text})
                    except DuplicateKeyError:
                        continue
                    return 1
                rev = int(found["rev"])
                done = await self.shards.replace_one(
                    {"_id": shard_id, "rev": rev}, {"rev": rev + 1, "rows": text}
                )
                if done.matched_count == 1:
                    return rev + 1
        raise QueueBusy(shard_id)

    # -- reads --------------------------------------------------------------------------------
    async def rows(self, scope: str) -> Scope:
        """The scope's rows as stored now: the stamp, then the shards that moved."""
        stamp = await self.stamps.find_one({"_id": scope}) or {}
        revs: dict[str, int] = {b: int(r) for b, r in (stamp.get("revs") or {}).items()}
        cached = self._scopes.pop(scope, None) or Scope()
        self._scopes[scope] = cached
        while len(self._scopes) > CACHED_SCOPES:
            self._scopes.popitem(last=False)
        moved = [b for b, rev in revs.items() if cached.shards.get(b, (0, []))[0] < rev]
        if not moved:
            return cached
        found = await asyncio.gather(
            *(self.shards.find_one({"_id": f"{scope}|{b}"}) for b in moved)
        )
        for bucket, shard in zip(moved, found, strict=True):
            if shard is not None:
                parsed = [Row.parse(line) for line in shard["rows"].split("\n") if line]
                cached.shards[bucket] = (int(shard["rev"]), parsed)
        cached.rows = [row for _, rows in cached.shards.values() for row in rows]
        cached.selections.clear()
        return cached

    async def stamp(self, scope: str, place: str, within: Any) -> str:
        """What changes whenever a case of ``scope`` (filtered to ``place`` if given) does:
        the stamp alone (one ``_id`` read), or for a place the versions of its rows."""
        if not place:
            stamp = await self.stamps.find_one({"_id": scope}) or {}
            return revs_stamp({b: int(r) for b, r in (stamp.get("revs") or {}).items()})
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

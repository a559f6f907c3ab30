"""The staff's case queue as rows: what a queue row holds, how a case becomes one, and the
page a query answers (filters, counts, sorting, paging). Pure: ``now`` is an argument.

A row is one line of text (fields joined by ``SEP``) so a shard of thousands of rows is one
string field in the store (FerretDB's cost grows with the number of fields it converts).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from services.dispatch.domain.machine import ACTIVE, FINAL

SEP = "\x1f"
DUE_SOON = timedelta(hours=24)
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
BUCKETS = 8  # shards per wide scope and month: a routing batch touches at most this many
WIDE_LEVELS = 2  # the district and its streets (the first places of a path)
SCOPED_LEVELS = 3  # queues kept for the district, streets and communities


class Sort(StrEnum):
    DEADLINE = "deadline"
    NEWEST = "newest"
    OLDEST = "oldest"
    STATUS = "status"
    CATEGORY = "category"


class Flag(StrEnum):
    OVERDUE = "overdue"
    DUE_SOON = "due-soon"


@dataclass(frozen=True)
class DutyDue:
    holder: str
    status: str
    due: int  # epoch seconds of the duty's next deadline


@dataclass(frozen=True)
class Row:
    issue_id: str
    version: int
    status: str
    category: str
    node_id: str
    reported: int  # epoch seconds
    due: int  # the earliest next deadline of the case's active duties; 0: none
    duties: tuple[DutyDue, ...] = ()

    def line(self) -> str:
        duties = ",".join(f"{d.holder}:{d.status}:{d.due}" for d in self.duties)
        fields = (self.issue_id, self.version, self.status, self.category, self.node_id,
                  self.reported, self.due, duties)  # fmt: skip
        return SEP.join(str(f) for f in fields)

    @classmethod
    def parse(cls, line: str) -> Row:
        issue_id, version, status, category, node_id, reported, due, duties = line.split(SEP)
        parsed = []
        for part in filter(None, duties.split(",")):
            holder, state, at = part.rsplit(":", 2)
            parsed.append(DutyDue(holder, state, int(at)))
        return cls(issue_id, int(version), status, category, node_id, int(reported), int(due),
                   tuple(parsed))  # fmt: skip


def _epoch(moment: datetime | None) -> int:
    return int(moment.timestamp()) if moment is not None else 0


def row_of(doc: dict[str, Any]) -> Row:
    """The queue row of a stored case document."""
    duties = tuple(
        DutyDue(
            d["holder"]["code"],
            d["status"],
            _epoch(d["ack_due"] if d["status"] == "summoned" else d["resolve_due"]),
        )
        for d in doc.get("duties") or ()
        if d["status"] in ACTIVE
    )
    reported = doc.get("assigned_at") or doc.get("reported_at")
    return Row(doc["_id"], doc["version"], doc["status"], doc["category"], doc["node_id"],
               _epoch(reported), min((d.due for d in duties), default=0), duties)  # fmt: skip


def scopes_of(doc: dict[str, Any]) -> list[str]:
    """The queues a case is listed in: each place on its path down to its community
    (offices see their subtree; a compound's or building's office reads its community's
    queue filtered to its place) and each department that holds or held a duty on it. A
    case only ever joins scopes."""
    held = {d["holder"]["code"] for d in (*doc.get("duties", ()), *doc.get("history", ()))
            if d["holder"]["kind"] == "department"}  # fmt: skip
    places = (doc.get("places") or (doc["node_id"],))[:SCOPED_LEVELS]
    return [*(f"n:{p}" for p in places), *(f"d:{c}" for c in sorted(held))]


def shards_of(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """(scope, shard) of each row of the case: its reported month, and in the wide scopes
    (the district, a street, a department) also a hash bucket of its id, so a month of a
    wide scope is ``BUCKETS`` shards; a community or a smaller place keeps a month in one."""
    month = doc.get("reported_month") or "0000-00"
    digest = hashlib.blake2b(doc["_id"].encode(), digest_size=2).digest()
    spread = f"{month}_{int.from_bytes(digest) % BUCKETS}"
    scopes = scopes_of(doc)
    depth = min(len(doc.get("places") or ()), SCOPED_LEVELS)
    return [(s, spread if (i < WIDE_LEVELS or i >= depth) else month) for i, s in enumerate(scopes)]


def flag_of(due: int, now: datetime) -> str:
    if not due:
        return ""
    left = due - now.timestamp()
    if left < 0:
        return Flag.OVERDUE
    return Flag.DUE_SOON if left <= DUE_SOON.total_seconds() else ""


@dataclass(frozen=True)
class QueueQuery:
    status: str = ""
    category: str = ""
    node: str = ""
    flag: str = ""
    sort: Sort = Sort.DEADLINE
    open_only: bool = False


@dataclass
class Selection:
    """The rows a query chose, sorted, with the counts of the scope (after the place and
    category filters: per status, per category, per place one level down)."""

    rows: list[Row]
    counts: dict[str, int] = field(default_factory=dict)
    categories: dict[str, int] = field(default_factory=dict)
    places: dict[str, int] = field(default_factory=dict)

    def page(self, number: int, size: int) -> tuple[list[Row], int, int]:
        """(rows of page ``number``, the page answered, pages in all)."""
        pages = max(1, -(-len(self.rows) // size))
        number = min(max(1, number), pages)
        return self.rows[(number - 1) * size : number * size], number, pages


def _sort_key(sort: Sort) -> Callable[[Row], Any]:
    if sort is Sort.STATUS:
        return lambda r: (r.status, r.issue_id)
    if sort is Sort.CATEGORY:
        return lambda r: (r.category, r.issue_id)
    if sort in (Sort.NEWEST, Sort.OLDEST):
        return lambda r: (r.reported, r.issue_id)
    return lambda r: (r.due or 2**62, r.issue_id)


def select(
    rows: Iterable[Row], q: QueueQuery, now: datetime, within: Callable[[str, str], bool]
) -> Selection:
    """``within(node_id, ancestor)``: the tree's subtree test, for the place filter."""
    scoped = [
        r
        for r in rows
        if (not q.node or r.node_id == q.node or within(r.node_id, q.node))
        and (not q.open_only or r.status not in FINAL)
    ]
    categories = dict(sorted(Counter(r.category for r in scoped).items()))
    scoped = [r for r in scoped if not q.category or r.category == q.category]
    counts = dict(sorted(Counter(r.status for r in scoped).items()))
    places = dict(Counter(r.node_id for r in scoped))
    chosen = [
        r
        for r in scoped
        if (not q.status or r.status == q.status) and (not q.flag or flag_of(r.due, now) == q.flag)
    ]
    chosen.sort(key=_sort_key(q.sort), reverse=q.sort is Sort.NEWEST)
    return Selection(chosen, counts, categories, places)


def listed(
    rows: Iterable[Row], node: str, open_only: bool, within: Callable[[str, str], bool]
) -> list[str]:
    """The task list's cases among a scope's rows, by id: those at or below ``node`` (every
    row when empty), only those not final if ``open_only``."""
    return sorted(
        r.issue_id
        for r in rows
        if (not node or r.node_id == node or within(r.node_id, node))
        and (not open_only or r.status not in FINAL)
    )


def at(epoch: int) -> datetime | None:
    return datetime.fromtimestamp(epoch, UTC) if epoch else None


def revs_stamp(revs: dict[str, int]) -> str:
    """A scope's change stamp from its shards' revs: it moves whenever a shard does."""
    text = ",".join(f"{shard}={rev}" for shard, rev in sorted(revs.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def rows_stamp(rows: Iterable[Row]) -> str:
    """The change stamp of some rows (a place inside a stored scope): it moves when one of
    them gets a new version, or one comes or goes."""
    text = ",".join(sorted(f"{row.issue_id}:{row.version}" for row in rows))
    return hashlib.sha256(text.encode()).hexdigest()[:16]

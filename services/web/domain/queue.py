"""The case queue: filters, counts, sorting and paging over the cases of one's scope, and the
deadline facts (overdue, due soon) a row shows. Pure: cases are dispatch's case views with
their times parsed; ``now`` is an argument."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

PAGE_SIZE = 50
DUE_SOON = timedelta(hours=24)
SORTS = ("deadline", "newest", "oldest", "status", "category")
FLAGS = ("overdue", "due-soon")
ACTIVE = ("summoned", "acknowledged", "in_progress")

Case = dict[str, Any]


@dataclass(frozen=True)
class QueueQuery:
    status: str = ""
    category: str = ""
    node: str = ""
    flag: str = ""
    sort: str = "deadline"
    page: int = 1


@dataclass
class QueuePage:
    rows: list[Case]
    total: int
    page: int
    pages: int
    counts: dict[str, int] = field(default_factory=dict)


def next_deadline(case: Case) -> datetime | None:
    """The earliest deadline of the case's open duties (acknowledge, then resolve)."""
    due = [
        d["ack_due"] if d["status"] == "summoned" else d["resolve_due"]
        for d in case.get("duties", ())
        if d["status"] in ACTIVE
    ]
    return min(due) if due else None


def deadline_flag(case: Case, now: datetime) -> str:
    due = next_deadline(case)
    if due is None:
        return ""
    if due < now:
        return "overdue"
    return "due-soon" if due - now <= DUE_SOON else ""


def _sort_key(sort: str, now: datetime) -> Callable[[Case], Any]:
    far = datetime.max.replace(tzinfo=now.tzinfo)
    if sort == "status":
        return lambda c: (c["status"], c["issue_id"])
    if sort == "category":
        return lambda c: (c["category"], c["issue_id"])
    if sort in ("newest", "oldest"):
        return lambda c: c["issue_id"]  # issue ids grow with time
    return lambda c: (next_deadline(c) or far, c["issue_id"])


def build_page(
    cases: list[Case], q: QueueQuery, now: datetime, within: Callable[[str, str], bool]
) -> QueuePage:
    """``within(node_id, ancestor)``: the tree's subtree test, for the place filter."""
    scoped = [c for c in cases if not q.node or within(c["node_id"], q.node)]
    scoped = [c for c in scoped if not q.category or c["category"] == q.category]
    counts = dict(sorted(Counter(c["status"] for c in scoped).items()))
    chosen = [
        c
        for c in scoped
        if (not q.status or c["status"] == q.status)
        and (not q.flag or deadline_flag(c, now) == q.flag)
    ]
    chosen.sort(key=_sort_key(q.sort, now), reverse=q.sort == "newest")
    pages = max(1, -(-len(chosen) // PAGE_SIZE))
    page = min(max(1, q.page), pages)
    rows = chosen[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    return QueuePage(rows=rows, total=len(chosen), page=page, pages=pages, counts=counts)


def time_left(due: datetime | None, now: datetime) -> tuple[int, int] | None:
    """(hours, minutes) left, negative when past; None without a deadline. Dispatch sets the
    deadlines in working time; this is the wall-clock time to them."""
    if due is None:
        return None
    minutes = int((due - now).total_seconds() // 60)
    sign = -1 if minutes < 0 else 1
    return sign * (abs(minutes) // 60), sign * (abs(minutes) % 60)

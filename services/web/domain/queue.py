"""The case queue as the console shows it: the query a person's filter form makes, the page
dispatch answers for it (dispatch filters, counts, sorts and pages its own queue documents;
``GET /api/v1/dispatch/queue``), the table's lines in the reader's words, and the time left
to a deadline. Pure: ``now`` and the words are arguments."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

PAGE_SIZE = 50
DUE_SOON = timedelta(hours=24)  # as dispatch's due-soon flag
SORTS = ("deadline", "newest", "oldest", "status", "category")
FLAGS = ("overdue", "due-soon")


@dataclass(frozen=True)
class QueueQuery:
    status: str = ""
    category: str = ""
    node: str = ""
    flag: str = ""
    sort: str = "deadline"
    page: int = 1

    def params(self, open_only: bool, size: int = PAGE_SIZE) -> dict[str, Any]:
        """Dispatch's query parameters for this page (empty filters left out)."""
        given = {"status": self.status, "category": self.category, "node": self.node,
                 "flag": self.flag}  # fmt: skip
        return {**{k: v for k, v in given.items() if v}, "sort": self.sort, "page": self.page,
                "size": size, "open": str(open_only).lower()}  # fmt: skip


@dataclass
class QueuePage:
    rows: list[dict[str, Any]]
    total: int
    page: int
    pages: int
    counts: dict[str, int] = field(default_factory=dict)
    categories: dict[str, int] = field(default_factory=dict)
    places: dict[str, int] = field(default_factory=dict)


def queue_page(answer: dict[str, Any]) -> QueuePage:
    """Dispatch's queue answer with its times parsed."""
    rows = []
    for row in answer["rows"]:
        row = {**row, "next_due": _time(row.get("next_due"))}
        row["duties"] = [{**d, "due": _time(d["due"])} for d in row.get("duties", ())]
        rows.append(row)
    return QueuePage(rows, answer["total"], answer["page"], answer["pages"], answer["counts"],
                     answer.get("categories", {}), answer.get("places", {}))  # fmt: skip


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def time_left(due: datetime | None, now: datetime) -> tuple[int, int] | None:
    """(hours, minutes) left, negative when past; None without a deadline. Dispatch sets the
    deadlines in working time; this is the wall-clock time to them."""
    if due is None:
        return None
    minutes = int((due - now).total_seconds() // 60)
    sign = -1 if minutes < 0 else 1
    return sign * (abs(minutes) // 60), sign * (abs(minutes) % 60)


@dataclass(frozen=True, slots=True)
class Line:
    """One case as a line of the queue's table, every cell already in the reader's words (the
    template prints them: no lookups per cell while rendering)."""

    issue_id: str
    status: str
    category: str
    place: str
    deadline: str  # "3h20m left", "-1h-5m late"; empty without a deadline
    flag: str  # "overdue", "due-soon" or empty: the line's class
    flag_word: str  # the flag in words, shown only beside a deadline


def lines(
    rows: list[dict[str, Any]],
    now: datetime,
    word: Callable[[str], str],
    category: Callable[[str], str],
    place: Callable[[str], str],
) -> list[Line]:
    """The table's lines of a page's ``rows``: ``word`` translates a key, ``category`` and
    ``place`` name a code, all in the reader's language."""
    left_word, late_word = word("left"), word("late")
    out = []
    for row in rows:
        flag = row.get("flag") or ""
        left = time_left(row.get("next_due"), now)
        deadline = ""
        if left is not None:
            hours, minutes = left
            late = hours < 0 or minutes < 0
            deadline = f"{hours}h{minutes}m {late_word if late else left_word}"
        out.append(
            Line(row["issue_id"], word(f"s.{row['status']}"), category(row["category"]),
                 place(row["node_id"]), deadline, flag, word(flag) if flag and deadline else "")
        )  # fmt: skip
    return out

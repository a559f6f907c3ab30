"""The monthly rates offices and departments are ranked on. Pure.

Counted per duty (one department or office summoned to one case), in the month the case was
reported (Asia/Shanghai), grouped by department (the duty's holder), street, community or
category:

- response rate (响应率): duties acknowledged / duties assigned
- on-time response rate: acknowledged by the acknowledgement deadline / assigned
- resolution rate (解决率): duties resolved / assigned
- on-time resolution rate: resolved by the resolution deadline in force / assigned
- satisfaction rate (满意率): rated cases with 4 or 5 / rated cases (unanswered excluded;
  a rating of 3 closes the case but is not "satisfied"; 1-2 reopen it)

The monthly ranking orders a dimension's groups by the mean of response, resolution and
satisfaction (a group without ratings counts satisfaction as its mean of the other two).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

RATES = ("response", "on_time_response", "resolution", "on_time_resolution", "satisfaction")
DIMENSIONS = ("department", "street", "community", "category")


@dataclass(frozen=True)
class DutyRecord:
    holder: str
    street: str | None
    community: str | None
    category: str
    ack_due: datetime
    acked_at: datetime | None
    resolve_due: datetime
    resolved_at: datetime | None
    rating: int | None  # the case's rating, if any

    def key(self, dimension: str) -> str | None:
        return {
            "department": self.holder,
            "street": self.street,
            "community": self.community,
            "category": self.category,
        }[dimension]


@dataclass
class Tally:
    assigned: int = 0
    acked: int = 0
    acked_on_time: int = 0
    resolved: int = 0
    resolved_on_time: int = 0
    rated: int = 0
    satisfied: int = 0
    cases: set = field(default_factory=set)

    def rates(self) -> dict[str, float | None]:
        def share(part: int, whole: int) -> float | None:
            return round(part / whole, 4) if whole else None

        return {
            "response": share(self.acked, self.assigned),
            "on_time_response": share(self.acked_on_time, self.assigned),
            "resolution": share(self.resolved, self.assigned),
            "on_time_resolution": share(self.resolved_on_time, self.assigned),
            "satisfaction": share(self.satisfied, self.rated),
        }


@dataclass(frozen=True)
class RateRow:
    dimension: str
    key: str
    rank: int
    assigned: int
    rated: int
    rates: dict[str, float | None]
    score: float


def rates(records: list[tuple[str, DutyRecord]], dimension: str) -> list[RateRow]:
    """Rates per group of ``dimension``, ranked; ``records`` are (issue id, duty) pairs."""
    tallies: dict[str, Tally] = defaultdict(Tally)
    for issue_id, r in records:
        key = r.key(dimension)
        if key is None:
            continue
        t = tallies[key]
        t.assigned += 1
        if r.acked_at is not None:
            t.acked += 1
            t.acked_on_time += r.acked_at <= r.ack_due
        if r.resolved_at is not None:
            t.resolved += 1
            t.resolved_on_time += r.resolved_at <= r.resolve_due
        if r.rating is not None and (key, issue_id) not in t.cases:
            t.cases.add((key, issue_id))
            t.rated += 1
            t.satisfied += r.rating >= 4
    rows = []
    for key, t in tallies.items():
        values = t.rates()
        main = [values["response"] or 0.0, values["resolution"] or 0.0]
        satisfaction = values["satisfaction"]
        score = sum([*main, satisfaction if satisfaction is not None else sum(main) / 2]) / 3
        rows.append(RateRow(dimension, key, 0, t.assigned, t.rated, values, round(score, 4)))
    rows.sort(key=lambda row: (-row.score, row.key))
    return [
        RateRow(r.dimension, r.key, i + 1, r.assigned, r.rated, r.rates, r.score)
        for i, r in enumerate(rows)
    ]

"""The monthly rates offices and departments are ranked on. Pure.

Counted per duty (one department or office summoned to one case: the holder that was asked),
in the month the case was reported (Asia/Shanghai), grouped by department (duties held by a
department), office (duties held by an office), street, community or category:

- response rate (响应率): duties answered / duties assigned. A duty is answered when its
  holder acknowledged it, or acted on it in its own name: an office calling the street up
  (社区呼叫), a street whistling departments (街道吹哨), a transfer or a rejection (退单).
  A duty taken away by escalation was not answered by its holder.
- on-time response rate: answered by the acknowledgement deadline / assigned
- resolution rate (解决率): duties resolved / assigned
- on-time resolution rate: resolved by the resolution deadline in force / assigned
- satisfaction rate (满意率): ratings of 4 or 5 / ratings, counting every rating of a case
  (a case reopened by a 1-star rating and then rated 5 counts one unsatisfied and one
  satisfied rating); a case's ratings count once per group; unanswered visits are not
  ratings; a rating of 3 closes the case but is not "satisfied"; 1-2 reopen it.

The monthly ranking orders a dimension's groups by the mean of response, resolution and
satisfaction (a group without ratings counts satisfaction as its mean of the other two),
best first, ties by key.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

RATES = ("response", "on_time_response", "resolution", "on_time_resolution", "satisfaction")
DIMENSIONS = ("department", "office", "street", "community", "category")


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
    ratings: tuple[int, ...] = ()  # every rating of the case, in order
    holder_kind: str = "department"  # or office
    answered_at: datetime | None = None  # an office's call-up/whistle, a transfer, a rejection

    @property
    def responded_at(self) -> datetime | None:
        """When the holder responded: its acknowledgement or its own action on the duty."""
        return self.acked_at or self.answered_at

    def key(self, dimension: str) -> str | None:
        return {
            "department": self.holder if self.holder_kind == "department" else None,
            "office": self.holder if self.holder_kind == "office" else None,
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
        responded = r.responded_at
        if responded is not None:
            t.acked += 1
            t.acked_on_time += responded <= r.ack_due
        if r.resolved_at is not None:
            t.resolved += 1
            t.resolved_on_time += r.resolved_at <= r.resolve_due
        if r.ratings and (key, issue_id) not in t.cases:
            t.cases.add((key, issue_id))
            t.rated += len(r.ratings)
            t.satisfied += sum(rating >= 4 for rating in r.ratings)
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

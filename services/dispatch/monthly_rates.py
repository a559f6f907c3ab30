"""The monthly rates read from the cases (API, Prometheus gauges and CSV export)."""

from __future__ import annotations

import csv
import io
from datetime import datetime

from prometheus_client import Gauge

from services.dispatch.domain.rates import DIMENSIONS, RATES, DutyRecord, RateRow, rates
from services.dispatch.store import CaseStore
from shared.reference.tree import Tree

RATE_GAUGE = Gauge(
    "linli_dispatch_rate",
    "Monthly rate (0..1) per dimension group: response, on-time, resolution, satisfaction.",
    ["month", "dimension", "key", "rate"],
)
RANK_GAUGE = Gauge(
    "linli_dispatch_rank",
    "Monthly rank per dimension group (1 = best).",
    ["month", "dimension", "key"],
)


# transitions by which a duty's holder answered it in its own name (its response)
ANSWERS = frozenset({"called-up", "whistled", "transferred", "rejected"})


def _ratings(doc: dict) -> tuple[int, ...]:
    """Every rating of the case (a case stored before ratings were kept: its last one)."""
    if doc.get("ratings"):
        return tuple(doc["ratings"])
    return () if doc.get("rating") is None else (doc["rating"],)


def _answered_at(duty: dict) -> datetime | None:
    """When the holder ended its duty by its own answer (not escalation, not someone else)."""
    own = duty.get("ended_actor") == duty["holder"]["code"]
    return duty.get("ended_at") if own and duty.get("ended_by") in ANSWERS else None


def duty_records(doc: dict, tree: Tree) -> list[tuple[str, DutyRecord]]:
    node = doc["node_id"]
    street = tree.ancestor_at(node, "street") if node in tree else None
    community = tree.ancestor_at(node, "community") if node in tree else None
    records = []
    for duty in [*doc.get("history", ()), *doc.get("duties", ())]:
        records.append(
            (
                doc["_id"],
                DutyRecord(
                    holder=duty["holder"]["code"],
                    street=street.id if street else None,
                    community=community.id if community else None,
                    category=doc["category"],
                    ack_due=duty["ack_due"],
                    acked_at=duty.get("acked_at"),
                    resolve_due=duty["resolve_due"],
                    resolved_at=duty.get("resolved_at"),
                    ratings=_ratings(doc),
                    holder_kind=duty["holder"]["kind"],
                    answered_at=_answered_at(duty),
                ),
            )
        )
    return records


async def month_rates(store: CaseStore, tree: Tree, month: str) -> dict[str, list[RateRow]]:
    records = [r for doc in await store.of_month(month) for r in duty_records(doc, tree)]
    result = {dimension: rates(records, dimension) for dimension in DIMENSIONS}
    for dimension, rows in result.items():
        for row in rows:
            RANK_GAUGE.labels(month, dimension, row.key).set(row.rank)
            for name, value in row.rates.items():
                if value is not None:
                    RATE_GAUGE.labels(month, dimension, row.key, name).set(value)
    return result


def to_csv(month: str, result: dict[str, list[RateRow]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["month", "dimension", "key", "rank", "assigned", "rated", *RATES, "score"])
    for dimension in DIMENSIONS:
        for row in result.get(dimension, []):
            values = ["" if row.rates[r] is None else f"{row.rates[r]:.4f}" for r in RATES]
            writer.writerow(
                [
                    month,
                    dimension,
                    row.key,
                    row.rank,
                    row.assigned,
                    row.rated,
                    *values,
                    f"{row.score:.4f}",
                ]
            )
    return out.getvalue()

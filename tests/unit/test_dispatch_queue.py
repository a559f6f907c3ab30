"""Dispatch's case queue rows, pure: a case's row and scopes, the text a row is stored as,
and a query's selection (filters, counts, sorting, paging)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.dispatch.domain.queue import (
    PAGE_SIZE,
    QueueQuery,
    Row,
    Sort,
    flag_of,
    row_of,
    scopes_of,
    select,
    shards_of,
)

pytestmark = pytest.mark.unit
NOW = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)


def within(node: str, ancestor: str) -> bool:
    return node == ancestor or node.startswith(ancestor + ".")


def doc(n: int, status: str = "assigned", due_h: float = 48, category: str = "a") -> dict:
    due = NOW + timedelta(hours=due_h)
    duty = {"holder": {"kind": "department", "code": "zhujian"}, "status": "summoned",
            "ack_due": due, "resolve_due": due + timedelta(days=3)}  # fmt: skip
    node = "sz.tongjiang.x" if n % 2 else "sz.haitang.y"
    return {"_id": f"iss_{n:012d}", "version": 1, "status": status, "category": category,
            "node_id": node, "duties": [duty], "reported_month": "2026-12",
            "assigned_at": NOW + timedelta(minutes=n),
            "places": ["sz", node.rsplit(".", 1)[0], node],
            "history": [{"holder": {"kind": "department", "code": "water"}}]}  # fmt: skip


def test_a_row_round_trips_and_names_its_scopes():
    d = doc(3)
    row = row_of(d)
    assert Row.parse(row.line()) == row
    assert row.due == int((NOW + timedelta(hours=48)).timestamp())
    assert scopes_of(d) == ["n:sz", "n:sz.tongjiang", "n:sz.tongjiang.x", "d:water", "d:zhujian"]
    shards = dict(shards_of(d))
    assert shards["n:sz"].startswith("2026-12_") and shards["n:sz"] == shards["d:zhujian"]
    assert shards["n:sz.tongjiang.x"] == "2026-12"  # a small place: one shard a month
    deeper = {**d, "places": [*d["places"], "sz.tongjiang.x.c"], "node_id": "sz.tongjiang.x.c"}
    assert scopes_of(deeper)[:3] == ["n:sz", "n:sz.tongjiang", "n:sz.tongjiang.x"]
    assert "n:sz.tongjiang.x.c" not in scopes_of(deeper)  # read as its community's, filtered
    acked = {**d, "duties": [{**d["duties"][0], "status": "acknowledged"}]}
    assert row_of(acked).due == int((NOW + timedelta(hours=48, days=3)).timestamp())
    resolved = {**d, "duties": [{**d["duties"][0], "status": "resolved"}]}
    assert row_of(resolved).due == 0 and flag_of(0, NOW) == ""


def test_the_queue_filters_counts_sorts_and_pages():
    rows = [
        row_of(doc(i, "assigned" if i % 3 else "whistled", due_h=i - 10)) for i in range(1, 121)
    ]
    everything = select(rows, QueueQuery(), NOW, within)
    page, number, pages = everything.page(1, PAGE_SIZE)
    assert len(everything.rows) == 120 and pages == 3 and len(page) == PAGE_SIZE
    assert page[0].issue_id == "iss_000000000001"  # earliest deadline first
    assert everything.counts == {"assigned": 80, "whistled": 40}
    overdue = select(rows, QueueQuery(flag="overdue"), NOW, within)
    assert len(overdue.rows) == 9 and all(flag_of(r.due, NOW) == "overdue" for r in overdue.rows)
    assert len(select(rows, QueueQuery(flag="due-soon"), NOW, within).rows) == 25
    odd = select(rows, QueueQuery(node="sz.tongjiang", status="whistled"), NOW, within)
    assert len(odd.rows) == 20 and odd.counts == {"assigned": 40, "whistled": 20}
    assert odd.places == {"sz.tongjiang.x": 60}
    last, number, _ = select(rows, QueueQuery(sort=Sort.NEWEST), NOW, within).page(99, PAGE_SIZE)
    assert number == 3 and last[-1].issue_id == "iss_000000000001"
    closed = [row_of(doc(200, "closed")), *rows[:2]]
    assert len(select(closed, QueueQuery(open_only=True), NOW, within).rows) == 2

"""The monthly rates and ranking on a scripted month."""

from datetime import UTC, datetime, timedelta

import pytest

from services.dispatch.domain.rates import DutyRecord, rates
from services.dispatch.monthly_rates import duty_records, to_csv
from shared.reference import load_reference

pytestmark = pytest.mark.unit
T = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
H = timedelta(hours=1)


def duty(holder, *, acked=None, resolved=None, rating=None, community="sz.t.a", category="c1"):
    return DutyRecord(
        holder=holder,
        street="sz.t",
        community=community,
        category=category,
        ack_due=T + 4 * H,
        acked_at=None if acked is None else T + acked * H,
        resolve_due=T + 24 * H,
        resolved_at=None if resolved is None else T + resolved * H,
        ratings=() if rating is None else (rating,),
    )


# The scripted month: water gets 4 duties, power 2, one case shared by both.
MONTH = [
    ("iss_1", duty("water", acked=1, resolved=10, rating=5)),  # all on time, satisfied
    ("iss_2", duty("water", acked=6, resolved=30, rating=2)),  # late twice, unsatisfied
    ("iss_3", duty("water", acked=2)),  # acknowledged, not resolved
    ("iss_4", duty("water", community="sz.t.b")),  # never answered
    ("iss_5", duty("power", acked=1, resolved=5, rating=4, category="c2")),
    ("iss_5", duty("water", acked=3, resolved=20, rating=4, category="c2")),
]


def test_department_rates_and_ranking():
    rows = {r.key: r for r in rates(MONTH, "department")}
    water = rows["water"]
    assert water.assigned == 5 and water.rated == 3
    assert water.rates == {
        "response": 0.8,  # 4 of 5 acknowledged
        "on_time_response": 0.6,  # iss_2 was late
        "resolution": 0.6,  # iss_1, iss_2, iss_5
        "on_time_resolution": 0.4,  # iss_2 late
        "satisfaction": round(2 / 3, 4),  # iss_1 (5), iss_5 (4); iss_2 (2) not
    }
    assert rows["power"].rates["resolution"] == 1.0
    assert [rows["power"].rank, water.rank] == [1, 2]


def test_street_community_and_category_groupings():
    community = {r.key: r for r in rates(MONTH, "community")}
    assert community["sz.t.b"].rates["response"] == 0.0
    assert community["sz.t.a"].assigned == 5
    category = {r.key: r for r in rates(MONTH, "category")}
    assert category["c2"].rated == 1  # one case rated once, though two duties
    assert rates(MONTH, "street")[0].assigned == 6


def test_csv_has_one_row_per_group_and_empty_cells_for_no_data():
    text = to_csv("2026-11", {"department": rates(MONTH, "department")})
    lines = text.splitlines()
    assert lines[0].startswith("month,dimension,key,rank,assigned,rated,response")
    assert lines[1].startswith("2026-11,department,power,1,1,1,1.0000")
    only_unrated = to_csv(
        "2026-11", {"department": rates([("iss_9", duty("zhujian"))], "department")}
    )
    assert only_unrated.splitlines()[1].split(",")[10] == ""  # satisfaction unknown, not 0


REF = load_reference()
STREET = "sz.tongjiang"
PLACE = "sz.tongjiang.niuerqiao.hongqi"


def _duty(kind, code, **extra):
    return {
        "holder": {"kind": kind, "code": code},
        "status": "summoned",
        "ack_due": T + 4 * H,
        "resolve_due": T + 24 * H,
        **extra,
    }


def _case(issue_id, duties, history=(), ratings=(), rating=None):
    return {
        "_id": issue_id,
        "node_id": PLACE,
        "category": "neighbour-mediation",
        "duties": list(duties),
        "history": list(history),
        "ratings": list(ratings),
        "rating": rating,
    }


def _month(*docs):
    return [r for doc in docs for r in duty_records(doc, REF.tree)]


def test_a_street_that_whistled_at_once_responded_and_offices_rank_apart():
    """The street's duty ends by its own whistle seconds after the call: a response (on
    time), not 0.0; offices rank under ``office``, never under ``department``."""
    whistled = _duty(
        "office", STREET, since=T, ended_at=T + timedelta(seconds=5),
        ended_by="whistled", ended_actor=STREET,
    )  # fmt: skip
    escalated = _duty(
        "office", "sz.haitang", ended_at=T + 6 * H, ended_by="escalated", ended_actor=None
    )
    water = _duty("department", "water", acked_at=T + H)
    records = _month(_case("iss_w1", [water], [whistled]), _case("iss_w2", [], [escalated]))
    offices = {r.key: r for r in rates(records, "office")}
    assert offices[STREET].rates["response"] == 1.0
    assert offices[STREET].rates["on_time_response"] == 1.0
    assert offices["sz.haitang"].rates["response"] == 0.0  # escalation is not an answer
    assert offices[STREET].rank == 1
    assert [r.key for r in rates(records, "department")] == ["water"]


def test_every_rating_of_a_reopened_case_counts():
    """1 star reopened the case, then 5 stars closed it: two ratings, one satisfied."""
    water = _duty("department", "water", acked_at=T + H, resolved_at=T + 2 * H)
    records = _month(_case("iss_r1", [water], ratings=[1, 5], rating=5))
    [row] = rates(records, "department")
    assert row.rated == 2 and row.rates["satisfaction"] == 0.5
    old = _case("iss_r2", [water], rating=2)  # stored before every rating was kept
    del old["ratings"]
    [row] = rates(_month(old), "department")
    assert row.rated == 1 and row.rates["satisfaction"] == 0.0

"""The monthly rates and ranking on a scripted month."""

from datetime import UTC, datetime, timedelta

import pytest

from services.dispatch.domain.rates import DutyRecord, rates
from services.dispatch.reports import to_csv

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
        rating=rating,
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

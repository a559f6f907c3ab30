"""The public fund page's pure helpers: yuan, the disclosure's rows, changed quarters, bars."""

from __future__ import annotations

from services.web.public.figures import (
    bars,
    changed_quarters,
    disclosure_entries,
    newest_entries,
    yuan,
)

CSV = """section,quarter,campaign,raised_online
summary,2026Q4,a,1.00

section,date,campaign,kind,detail,amount_yuan,currency,donor,entry
entry,2026-11-02,a,donation,offline,12.00,CNY,王芳,don:1
entry,2026-11-03,b,donation,offline,5.00,CNY,匿名 anonymous,don:2
entry,2026-11-04,a,disbursement,lamps,-3.00,CNY,,dis:1
"""


def test_yuan_groups_thousands_and_keeps_the_sign():
    assert yuan(123456789) == "1,234,567.89" and yuan(5) == "0.05" and yuan(-250) == "-2.50"


def test_disclosure_entries_of_one_campaign_only():
    rows = disclosure_entries(CSV, "a")
    assert [r["entry"] for r in rows] == ["don:1", "dis:1"]
    assert rows[0]["donor"] == "王芳" and rows[1]["amount_yuan"] == "-3.00"


def test_changed_quarters_and_newest_first():
    old = {"quarters": {"2026Q3": {"spent": 1}, "2026Q4": {"spent": 2}}}
    new = {"quarters": {"2026Q3": {"spent": 1}, "2026Q4": {"spent": 3}, "2027Q1": {}}}
    assert changed_quarters(old, new) == {"2026Q4", "2027Q1"}
    assert changed_quarters(None, new) == set(new["quarters"])
    grew = {**new, "chain": {"entries": 9}}
    assert changed_quarters({**new, "chain": {"entries": 8}}, grew) == {"2027Q1"}
    assert changed_quarters(grew, grew) == set()
    rows = newest_entries({"2026Q4": disclosure_entries(CSV, "a")})
    assert [r["entry"] for r in rows] == ["dis:1", "don:1"]


def test_bars_against_the_goal_and_the_raised():
    figures = {"goal_fen": 1000, "raised": {"total": 500}, "spent_fen": 2000, "balance_fen": 250}
    got = {b.key: b.percent for b in bars(figures)}
    assert got == {"raised": 50.0, "spent": 100.0, "balance": 50.0}
    assert {b.percent for b in bars({**figures, "goal_fen": 0})} >= {0.0}

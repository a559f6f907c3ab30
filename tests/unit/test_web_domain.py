"""The web console's pure rules: staff tokens, the case queue, offered actions, accounts,
amounts, redirects and charts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.web.domain.accounts import AccountError, LockoutRule, Scope, SessionRule
from services.web.domain.accounts import check_new_account as check
from services.web.domain.actions import offered, pressable
from services.web.domain.charts import bar_chart
from services.web.domain.queue import QueueQuery, queue_page
from services.web.fund_http import fen
from services.web.pages import Refusal
from services.web.security import safe_next
from shared.staff_tokens import StaffClaims, sign, verify

pytestmark = pytest.mark.unit
NOW = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)


def test_staff_tokens_verify_only_when_genuine_and_fresh():
    claims = StaffClaims("li", "department", "zhujian", int(NOW.timestamp()) + 60)
    token = sign("k", claims)
    assert verify("k", token, NOW) == claims
    assert verify("other-key", token, NOW) is None
    assert verify("k", token, NOW + timedelta(seconds=61)) is None
    _, signature = token.rsplit(".", 1)
    tampered = sign("k", StaffClaims("li", "office", "sz", claims.exp)).rsplit(".", 1)[0]
    assert verify("k", f"{tampered}.{signature}", NOW) is None
    assert verify("k", "lw1.e30." + signature, NOW) is None
    assert verify("k", token + "x" * 3000, NOW) is None
    unknown_role = sign("k", StaffClaims("li", "root", "sz", claims.exp))
    assert verify("k", unknown_role, NOW) is None


def duty(code: str, status: str, due: datetime) -> dict:
    return {"holder": {"kind": "department", "code": code}, "status": status,
            "ack_due": due, "resolve_due": due + timedelta(days=3)}  # fmt: skip


def case(n: int, status: str = "assigned", due_h: float = 48, category: str = "a") -> dict:
    return {"issue_id": f"iss_{n:012d}", "status": status, "category": category,
            "node_id": "sz.tongjiang" if n % 2 else "sz.haitang",
            "duties": [duty("zhujian", "summoned", NOW + timedelta(hours=due_h))]}  # fmt: skip


def within(node: str, ancestor: str) -> bool:
    return node == ancestor or node.startswith(ancestor + ".")


def test_the_queue_query_and_answer():
    q = QueueQuery(status="assigned", node="sz.tongjiang", sort="newest", page=2)
    assert q.params(open_only=True) == {"status": "assigned", "node": "sz.tongjiang",
        "sort": "newest", "page": 2, "size": 50, "open": "true"}  # fmt: skip
    due = "2026-12-04T09:00:00Z"
    row = {"issue_id": "iss_1", "next_due": due, "flag": "due-soon",
           "duties": [{"holder": "zhujian", "status": "summoned", "due": due}]}  # fmt: skip
    page = queue_page({"rows": [row], "total": 1, "page": 1, "pages": 1, "counts": {"a": 1}})
    assert page.rows[0]["next_due"] == NOW + timedelta(hours=1)
    assert page.rows[0]["duties"][0]["due"] == NOW + timedelta(hours=1)


def test_actions_follow_role_place_and_state():
    c = case(1, "assigned")
    assert offered("department", "zhujian", None, c) == ["acknowledge", "transfer", "reject"]
    c["duties"][0]["status"] = "acknowledged"
    assert "resolve" in offered("department", "zhujian", None, c)
    assert offered("department", "urban-mgmt", None, c) == []
    assert offered("office", "sz.tongjiang", "street", c) == ["whistle"]
    office_duty = dict(duty("sz.tongjiang.niuerqiao", "summoned", NOW), holder={
        "kind": "office", "code": "sz.tongjiang.niuerqiao"})  # fmt: skip
    mine = {**c, "duties": [office_duty]}
    assert offered("office", "sz.tongjiang.niuerqiao", "community", mine) == [
        "acknowledge", "transfer", "call-up"]  # fmt: skip
    assert offered("office", "sz", "district", {**c, "status": "closed"}) == []
    assert offered("fund-clerk", "*", None, c) == []


def test_accounts_sessions_and_lockout_rules():
    check("li.ming", "correct horse battery", Scope("office", "sz.tongjiang"))
    check("li.ming", "correct horse battery", Scope("compound-party", "sz.x.y", "party-branch"))
    for name, password, scope in [
        ("li.ming", "correct horse battery", Scope("compound-party", "sz.x.y")),
        ("Li", "correct horse battery", Scope("office", "sz")),
        ("li", "short", Scope("office", "sz")),
        ("li.ming", "correct horse battery", Scope("admin", "sz")),
        ("li.ming", "correct horse battery", Scope("fund-approver", "*")),
        ("li.ming", "correct horse battery", Scope("office", "sz", "party-branch")),
    ]:
        with pytest.raises(AccountError):
            check(name, password, scope)
    rule = LockoutRule(3, timedelta(minutes=15))
    assert rule.after_failure(0, NOW) == (1, None)
    assert rule.after_failure(2, NOW) == (0, NOW + timedelta(minutes=15))
    assert rule.locked(NOW + timedelta(minutes=1), NOW) and not rule.locked(NOW, NOW)
    sessions = SessionRule(timedelta(minutes=30), timedelta(hours=10))
    assert not sessions.expired(NOW, NOW, NOW + timedelta(minutes=30))
    assert sessions.expired(NOW, NOW, NOW + timedelta(minutes=31))
    assert sessions.expired(NOW, NOW + timedelta(hours=10), NOW + timedelta(hours=10, seconds=1))


def test_amounts_redirects_and_charts_are_strict():
    assert fen("120", "amount") == 12000 and fen("0.05", "amount") == 5
    for bad in ("", "1,000", "-5", "1.234", "1e3", "0", "12345678901"):
        with pytest.raises(Refusal):
            fen(bad, "amount")
    assert safe_next("/cases?x=1") == "/cases?x=1"
    for bad in ("https://evil.example", "//evil.example", "/\\evil", "", None):
        assert safe_next(bad) == "/"
    svg = bar_chart("<rates>", [("<b>街道</b>", 0.5), ("x", 1.7)])
    assert svg.startswith("<svg") and "<b>" not in svg and "&lt;b&gt;" in svg
    assert 'width="320.0"' in svg  # values past 100 % are drawn at 100 %


def test_the_place_picture_and_progress_bars_are_plain_svg():
    from services.web.domain.charts import place_picture, progress_bar

    picture = place_picture("市中区 / 通江街道", ["市中区", "通江街道", "<红旗小区>"])
    assert picture.count("<rect") == 3 and "&lt;红旗小区&gt;" in picture
    assert picture.count('fill="#fde8e8"') == 1  # only the place itself is filled
    bar = progress_bar("暖冬", 150, 100, "1.50 / 1.00")
    assert 'width="320.0"' in bar  # over the goal: full, never wider
    assert 'width="0.0"' in progress_bar("x", 5, 0, "no goal")


def test_forms_become_dispatch_actions():
    from starlette.datastructures import FormData

    from services.web.cases_http import action_body

    whistle = action_body("whistle", FormData([("action_id", "a" * 32), ("reason", "pipe"),
                          ("departments", "zhujian"), ("departments", "urban-mgmt")]))  # fmt: skip
    assert whistle == {"action_id": "a" * 32, "action": "whistle", "reason": "pipe",
                       "departments": ["zhujian", "urban-mgmt"]}  # fmt: skip
    moved = action_body("transfer", FormData([("to", "office:sz.tongjiang"), ("reason", "r")]))
    assert moved["to"] == {"kind": "office", "code": "sz.tongjiang"}
    for bad in ("", "sz.tongjiang", "root:sz", "department:"):
        with pytest.raises(Refusal):
            action_body("transfer", FormData([("to", bad)]))
    later = action_body("request-extension", FormData([("until", "2026-12-08T18:00"),
                        ("reason", "parts")]))  # fmt: skip
    assert later["until"] == "2026-12-08T18:00:00+08:00"
    with pytest.raises(Refusal):
        action_body("request-extension", FormData([("until", "next week")]))
    assert action_body("decide-extension", FormData([("approve", "no")]))["approve"] is False


def test_offices_are_offered_urge_and_past_a_deadline_reprimand():
    late = case(1, due_h=-2)  # acknowledgement two hours late
    fresh = case(3, due_h=5)
    assert offered("office", "sz.tongjiang", "street", fresh, NOW) == ["whistle", "urge"]
    assert offered("office", "sz.tongjiang", "street", late, NOW) == [
        "whistle", "urge", "reprimand"]  # fmt: skip
    assert offered("office", "sz.tongjiang.niuerqiao", "community", late, NOW) == ["urge"]
    assert pressable("reprimand", "sz", late, NOW) == ["zhujian"]
    late["duties"][0]["reprimanded"] = True
    assert pressable("reprimand", "sz", late, NOW) == []
    assert offered("department", "zhujian", None, late, NOW) == [
        "acknowledge", "transfer", "reject"]  # fmt: skip

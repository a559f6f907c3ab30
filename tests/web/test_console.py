"""The web console against the real services on real Kafka and FerretDB: the whole case flow
through its pages in both languages, the fund's approvals, and the security rules (CSRF,
session fixation, cross-scope URLs, oversized and malformed input)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from shared.staff_tokens import StaffClaims, sign
from tests.web.conftest import Platform, csrf_of, report, signed_in

SHANGHAI = ZoneInfo("Asia/Shanghai")  # the console's time zone

pytestmark = pytest.mark.e2e


def wait_for(probe, timeout_s: float = 30.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError("not seen in time")


def act(client: httpx.Client, issue_id: str, action: str, **fields) -> httpx.Response:
    page = client.get(f"/cases/{issue_id}")
    assert page.status_code == 200, page.text
    assert f"/actions/{action}" in page.text, f"{action} not offered"
    data = {"csrf": csrf_of(page.text), **fields}
    return client.post(f"/cases/{issue_id}/actions/{action}", data=data)


def status_on_page(client: httpx.Client, issue_id: str) -> str:
    page = client.get(f"/cases/{issue_id}")
    return re.search(r'id="case-status">([^<]+)<', page.text).group(1)


def test_security_headers_and_both_languages(platform: Platform):
    zh = httpx.get(f"{platform.url('web')}/signin")
    assert zh.status_code == 200 and '<html lang="zh-CN">' in zh.text and "登录" in zh.text
    csp = zh.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and zh.headers["x-frame-options"] == "DENY"
    assert "<script>" not in zh.text and " style=" not in zh.text
    en = httpx.get(f"{platform.url('web')}/signin", cookies={"linli_lang": "en"})
    assert '<html lang="en">' in en.text and "Sign in" in en.text


def test_a_case_travels_through_the_console(platform: Platform):
    issue_id = report(platform, "neighbour-mediation", "sz.tongjiang.niuerqiao.hongqi",
                      "楼上漏水到我家", subject="leak")  # fmt: skip
    community = signed_in(platform, "niuerqiao")
    queue = wait_for(lambda: (p := community.get("/cases")).status_code == 200
                     and issue_id in p.text and p)  # fmt: skip
    assert "案件队列" in queue.text and "邻里纠纷调解" in queue.text
    answer = act(community, issue_id, "call-up", reason="需要住建和城管")
    assert answer.status_code == 303 and answer.headers["location"].endswith("?done=1")
    assert status_on_page(community, issue_id) == "已呼叫"

    street = signed_in(platform, "tongjiang", lang="en")
    answer = act(street, issue_id, "whistle", departments=["zhujian", "urban-mgmt"],
                 reason="leak from a shared pipe")  # fmt: skip
    assert answer.status_code == 303, answer.text
    assert status_on_page(street, issue_id) == "whistled"

    for department in ("urban-mgmt", "zhujian"):
        desk = signed_in(platform, department, lang="en")
        assert issue_id in desk.get("/cases").text
        assert act(desk, issue_id, "acknowledge").status_code == 303
        assert act(desk, issue_id, "resolve", note="pipe fixed").status_code == 303
    assert status_on_page(street, issue_id) in ("resolved", "return visit")


def test_a_department_cannot_open_another_departments_case(platform: Platform):
    issue_id = report(platform, "streetlight-out", "sz.tongjiang.niuerqiao.hongqi", "路灯不亮")
    urban = signed_in(platform, "urban-mgmt")
    wait_for(lambda: issue_id in urban.get("/cases").text)
    other = signed_in(platform, "zhujian", lang="en")
    page = other.get(f"/cases/{issue_id}")
    assert page.status_code == 404 and "outside your scope" in page.text
    assert "Traceback" not in page.text
    refused = other.post(f"/cases/{issue_id}/actions/acknowledge",
                         data={"csrf": csrf_of(other.get("/cases").text)})  # fmt: skip
    assert refused.status_code == 404
    # the same by hand against dispatch with a token of that department: refused there too
    token = sign(platform.settings.web_token_secret.get_secret_value(), StaffClaims(
        "zhujian", "department", "zhujian", int(time.time()) + 60))  # fmt: skip
    direct = httpx.get(f"{platform.url('dispatch')}/api/v1/dispatch/cases/{issue_id}",
                       headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert direct.status_code == 404
    forged = token[:-4] + "AAAA"
    direct = httpx.get(f"{platform.url('dispatch')}/api/v1/dispatch/tasks",
                       headers={"Authorization": f"Bearer {forged}"})  # fmt: skip
    assert direct.status_code == 401
    # a department's token carries no fund or broadcast rights; a token of another key, none
    for url, body in ((f"{platform.url('ledger')}/api/v1/disbursements", {
            "disbursement_id": "d-1", "fund": "f", "project": "p", "amount_fen": 1,
            "payee": "x", "purpose": "y"}),
            (f"{platform.url('notify')}/api/v1/broadcasts", {
            "node_id": "sz", "zh-CN": {"title": "t", "body": "b"}})):  # fmt: skip
        answer = httpx.post(url, json=body, headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401, answer.text
    stranger = sign("not-the-shared-secret", StaffClaims(
        "x", "office", "sz", int(time.time()) + 60))  # fmt: skip
    direct = httpx.get(f"{platform.url('dispatch')}/api/v1/dispatch/tasks",
                       headers={"Authorization": f"Bearer {stranger}"})  # fmt: skip
    assert direct.status_code == 401
    # a fund account has no case pages at all
    clerk = signed_in(platform, "fund-clerk", lang="en")
    assert clerk.get(f"/cases/{issue_id}").status_code == 403


def test_csrf_missing_or_wrong_changes_nothing(platform: Platform):
    issue_id = report(platform, "streetlight-out", "sz.tongjiang.niuerqiao.hongqi", "灯又坏了")
    urban = signed_in(platform, "urban-mgmt", lang="en")
    wait_for(lambda: issue_id in urban.get("/cases").text)
    before = status_on_page(urban, issue_id)
    missing = urban.post(f"/cases/{issue_id}/actions/acknowledge", data={})
    wrong = urban.post(f"/cases/{issue_id}/actions/acknowledge", data={"csrf": "x" * 43})
    assert missing.status_code == wrong.status_code == 403
    assert "did not come from this console" in wrong.text
    assert status_on_page(urban, issue_id) == before == "summoned" or before
    # sign-in needs the pre-session token too
    bare = httpx.post(f"{platform.url('web')}/signin",
                      data={"username": "urban-mgmt", "password": "x" * 12})  # fmt: skip
    assert bare.status_code == 403


def test_session_fixation_and_sign_out(platform: Platform):
    client = httpx.Client(base_url=platform.url("web"), timeout=20)
    client.cookies.set("linli_session", "chosen-by-the-attacker")
    page = client.get("/signin")
    answer = client.post("/signin", data={"csrf": csrf_of(page.text), "username": "niuerqiao",
                                          "password": "linli-demo-2026"})  # fmt: skip
    issued = answer.cookies["linli_session"]
    assert issued != "chosen-by-the-attacker"
    attacker = httpx.Client(base_url=platform.url("web"), timeout=20,
                            cookies={"linli_session": "chosen-by-the-attacker"})  # fmt: skip
    assert attacker.get("/cases").status_code == 303  # to the sign-in page
    client.cookies.set("linli_session", issued)
    cases = client.get("/cases")
    assert cases.status_code == 200
    assert client.post("/signout", data={"csrf": csrf_of(cases.text)}).status_code == 303
    replay = httpx.get(f"{platform.url('web')}/cases", cookies={"linli_session": issued})
    assert replay.status_code == 303 and "/signin" in replay.headers["location"]


def test_oversized_and_malformed_input_get_a_clear_page(platform: Platform):
    urban = signed_in(platform, "urban-mgmt", lang="en")
    token = csrf_of(urban.get("/cases").text)
    issue = "iss_" + "0" * 20
    long = urban.post(f"/cases/{issue}/actions/progress", data={"csrf": token, "note": "x" * 5000})
    assert long.status_code == 400 and "at most 2000" in long.text
    broken = urban.post(f"/cases/{issue}/actions/progress", content=b"\xff\xfe=%%%",
                        headers={"content-type": "multipart/form-data; boundary=x"})  # fmt: skip
    assert broken.status_code in (400, 403) and "Traceback" not in broken.text
    huge = urban.post("/fund/donations", data={"csrf": token, "amount": "1" * 70_000})
    assert huge.status_code == 413 and "The form was too large" in huge.text
    assert huge.headers["content-type"].startswith("text/html")
    bad_id = urban.get("/cases/not-an-id")
    assert bad_id.status_code == 404 and "Not found" in bad_id.text
    assert bad_id.headers["content-type"].startswith("text/html")
    bad_page = urban.get("/cases", params={"page": "0"})
    assert bad_page.status_code == 400 and "Please check" in bad_page.text
    assert "page" in bad_page.text and bad_page.headers["content-type"].startswith("text/html")
    rating = httpx.get(platform.url("web") + "/rate/x", cookies={"linli_lang": "en"})
    assert rating.status_code == 404 and "residents.css" in rating.text  # the residents' layout
    assert rating.headers["content-type"].startswith("text/html")


def test_the_fund_three_parties_approve_and_the_treasurer_posts(platform: Platform):
    secret = platform.settings.web_token_secret.get_secret_value()
    token = sign(secret, StaffClaims("setup", "fund-clerk", "*", int(time.time()) + 60))
    today = datetime.now(UTC).date()
    made = httpx.post(f"{platform.url('ledger')}/api/v1/campaigns",
                      headers={"Authorization": f"Bearer {token}"}, json={
        "id": "warm-winter", "name": "温暖过冬", "goal_fen": 19_000_000,
        "starts": str(today - timedelta(days=30)), "ends": str(today + timedelta(days=60)),
        "projects": ["warm-packs"]}, timeout=20)  # fmt: skip
    assert made.status_code in (200, 201), made.text
    clerk = signed_in(platform, "fund-clerk", lang="en")
    desk = clerk.get("/fund")
    assert desk.status_code == 200 and "温暖过冬" in desk.text
    gift = clerk.post("/fund/donations", data={
        "csrf": csrf_of(desk.text), "campaign": "warm-winter", "channel": "offline",
        "amount": "5000", "receipt": "R-0001"})  # fmt: skip
    assert gift.status_code == 303, gift.text
    ask = clerk.post("/fund/disbursements", data={
        "csrf": csrf_of(desk.text), "fund": "warm-winter", "project": "warm-packs",
        "amount": "1200.50", "payee": "暖心包供应商", "purpose": "50 个暖心包"})  # fmt: skip
    assert ask.status_code == 303, ask.text
    row = re.compile(r'<tr id="d-([0-9a-f]+)">.*?class="status">(\w+)<', re.S)
    for party in ("fund-branch", "fund-owners", "fund-property"):
        approver = signed_in(platform, party, lang="en")
        page = approver.get("/fund")
        disbursement_id = row.search(page.text).group(1)
        answer = approver.post(f"/fund/disbursements/{disbursement_id}/approve",
                               data={"csrf": csrf_of(page.text)})  # fmt: skip
        assert answer.status_code == 303, answer.text
    treasurer = signed_in(platform, "fund-treasurer", lang="en")
    page = treasurer.get("/fund")
    assert row.search(page.text).group(2) == "approved"
    shown = re.search(r'class="approvals">([^<]*)<', page.text).group(1)
    assert shown.endswith("(3/3)") and "party-branch (web:fund-branch)" in shown
    assert "owners-committee (web:fund-owners)" in shown and "property-company" in shown
    posted = treasurer.post(f"/fund/disbursements/{disbursement_id}/post",
                            data={"csrf": csrf_of(page.text), "payment_ref": "BANK-1"})  # fmt: skip
    assert posted.status_code == 303, posted.text
    assert row.search(treasurer.get("/fund").text).group(2) == "posted"
    # an approver cannot post, and the ledger says so
    approver = signed_in(platform, "fund-branch", lang="en")
    refused = approver.post(f"/fund/disbursements/{disbursement_id}/post",
                            data={"csrf": csrf_of(approver.get("/fund").text)})  # fmt: skip
    assert refused.status_code == 403


CONTROL = re.compile(r"<(input|select|textarea)\b([^>]*)>")


def unlabelled(html: str) -> list[str]:
    """Form controls without a <label for=...> (hidden fields and checkboxes inside their
    label excepted)."""
    missing = []
    for _, attrs in CONTROL.findall(html):
        if 'type="hidden"' in attrs or 'type="checkbox"' in attrs:
            continue
        found = re.search(r'id="([^"]+)"', attrs)
        if not found or f'for="{found.group(1)}"' not in html:
            missing.append(attrs)
    return missing


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_every_page_of_every_role_renders_in_both_languages(platform: Platform, lang: str):
    from services.ops.cli.web import DEMO_ACCOUNTS
    from services.web.domain.accounts import PAGES

    seen = set()
    for username, role, *_ in DEMO_ACCOUNTS:
        if role in seen:
            continue
        seen.add(role)
        client = signed_in(platform, username, lang)
        for page in PAGES[role]:
            answer = client.get(f"/{page}")
            assert answer.status_code == 200, (username, page, answer.text[-500:])
            html = answer.text
            assert f'<html lang="{lang}">' in html and html.count("<h1>") == 1
            assert unlabelled(html) == [], (username, page)
            assert "Traceback" not in html and " style=" not in html and "<script>" not in html
            assert ("退出" in html) == (lang == "zh-CN") and ("Sign out" in html) == (lang == "en")
    csv = signed_in(platform, "tongjiang").get("/rates?fmt=csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")


def test_pages_ship_little_script_and_style(platform: Platform):
    total = 0
    for asset in ("/static/console.css", "/static/console.js"):
        answer = httpx.get(platform.url("web") + asset)
        assert answer.status_code == 200
        total += len(answer.content)
    assert total <= 100 * 1024, total


def test_an_operator_broadcasts_and_cancels_within_their_area(platform: Platform):
    operator = signed_in(platform, "operator", lang="en")
    page = operator.get("/broadcasts")
    sent = operator.post("/broadcasts", data={
        "csrf": csrf_of(page.text), "node_id": "sz.tongjiang.niuerqiao.hongqi", "urgent": "yes",
        "title_zh": "停水通知", "body_zh": "明日 9 点至 12 点停水。",
        "title_en": "Water off", "body_en": "Water off tomorrow 9-12."})  # fmt: skip
    assert sent.status_code == 303, sent.text
    shown = operator.get(sent.headers["location"])
    assert shown.status_code == 200 and 'id="broadcast"' in shown.text
    broadcast_id = re.search(r'data-id="([^"]+)"', shown.text).group(1)
    trail = signed_in(platform, "operator")
    assert trail.get(f"/broadcasts?shown={broadcast_id}").status_code == 200
    outside = operator.post("/broadcasts", data={"csrf": csrf_of(page.text), "node_id": "nowhere",
                                                 "title_zh": "x", "body_zh": "y"})  # fmt: skip
    assert outside.status_code == 404 and "Traceback" not in outside.text


HONGQI = "sz.tongjiang.niuerqiao.hongqi"
REACH = re.compile(r'id="reach-residents">(\d+)<')


def reach_on(client: httpx.Client, node: str) -> tuple[int, str]:
    page = client.get("/broadcasts", params={"node_id": node})
    assert page.status_code == 200, page.text
    found = REACH.search(page.text)
    return (int(found.group(1)) if found else -1), page.text


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_the_broadcast_page_previews_reach_and_shows_progress(platform: Platform, lang: str):
    report(platform, "streetlight-out", HONGQI, "路灯不亮")  # its reporter lives there
    operator = signed_in(platform, "operator", lang)
    residents, page = wait_for(lambda: (r := reach_on(operator, HONGQI))[0] >= 1 and r)
    words = {"zh-CN": ("区域内居民", "统计时间", "已完成", "站内信"),
             "en": ("Residents in the area", "Counted at", "done", "Inbox")}[lang]  # fmt: skip
    assert words[0] in page and words[1] in page and "selected>" in page
    assert re.search(rf'<option value="{HONGQI}" selected>', page)
    district, _ = reach_on(operator, "sz")
    assert district >= residents
    sent = operator.post(
        "/broadcasts",
        data={
            "csrf": csrf_of(page),
            "node_id": HONGQI,
            "title_zh": "停电通知",
            "body_zh": "今晚停电。",
        },
    )
    assert sent.status_code == 303, sent.text
    done = wait_for(lambda: 'data-status="done"' in (p := operator.get(sent.headers["location"]))
                    .text and p.text)  # fmt: skip
    reached = int(re.search(r'id="broadcast-reached">(\d+)<', done).group(1))
    assert reached >= 1 and words[2] in done and words[3] in done
    assert re.search(r"<tbody><tr><th scope=\"row\">[^<]+</th><td>\d+</td>", done)
    assert "data-refresh" not in done  # finished: the page stops refreshing itself
    for bad in ({"node_id": "sz.nowhere"}, {"shown": "../residents/x/inbox"}):
        refused = operator.get("/broadcasts", params=bad)
        assert refused.status_code == 404 and "Traceback" not in refused.text


def test_the_overview_shows_readiness_lag_and_dead_letters(platform: Platform):
    report(platform, "streetlight-out", "sz.tongjiang.niuerqiao.hongqi", "路灯闪烁")
    operator = signed_in(platform, "operator", lang="en")
    group = "linli-dispatch.issues.reported"
    page = wait_for(lambda: group in (p := operator.get("/overview")).text and p)
    assert page.status_code == 200
    assert "dlq.dispatch" in page.text and "dlq.web" in page.text
    assert "Consumer lag" in page.text and page.text.count("✓") >= 12


def test_a_department_transfers_a_case_it_does_not_own(platform: Platform):
    issue_id = report(platform, "streetlight-out", "sz.tongjiang.niuerqiao.hongqi", "灯杆倾斜")
    urban = signed_in(platform, "urban-mgmt", lang="en")
    wait_for(lambda: issue_id in urban.get("/cases").text)
    bad = act(urban, issue_id, "transfer", to="nobody", reason="x")
    assert bad.status_code == 400 and "to: a department or an office" in bad.text
    moved = act(
        urban, issue_id, "transfer", to="department:zhujian", reason="the pole is housing's"
    )
    assert moved.status_code == 303, moved.text
    zhujian = signed_in(platform, "zhujian", lang="en")
    assert issue_id in zhujian.get("/cases").text
    assert "/actions/acknowledge" in zhujian.get(f"/cases/{issue_id}").text


def test_an_extension_is_asked_for_and_granted_by_the_supervisor(platform: Platform):
    issue_id = report(platform, "streetlight-out", "sz.tongjiang.niuerqiao.hongqi", "整排灯坏")
    urban = signed_in(platform, "urban-mgmt", lang="en")
    wait_for(lambda: issue_id in urban.get("/cases").text)
    assert act(urban, issue_id, "acknowledge").status_code == 303
    # a week on: past the deadline (3 working days), within the bound dispatch allows (two
    # resolution windows after it)
    until = (datetime.now(SHANGHAI) + timedelta(days=7)).replace(hour=18, minute=0)
    asked = act(urban, issue_id, "request-extension", until=until.strftime("%Y-%m-%dT%H:%M"),
                reason="the cable must be ordered")  # fmt: skip
    assert asked.status_code == 303, asked.text
    offices = [signed_in(platform, name, lang="en") for name in ("niuerqiao", "tongjiang",
                                                                 "district")]  # fmt: skip
    deciding = [
        o for o in offices if "/actions/decide-extension" in o.get(f"/cases/{issue_id}").text
    ]
    assert len(deciding) == 1  # the case's supervisor, and no one else
    granted = act(deciding[0], issue_id, "decide-extension", holder="urban-mgmt", approve="yes")
    assert granted.status_code == 303, granted.text
    assert until.strftime("%Y-%m-%d %H:%M") in urban.get(f"/cases/{issue_id}").text


def test_the_deadline_board_lists_duties_due_soon_by_holder(platform: Platform):
    # urgent: acknowledged within 30 minutes of wall-clock time, any day of the week
    issue_id = report(platform, "water-pipe-burst", "sz.tongjiang.niuerqiao.hongqi", "水管爆裂",
                      severity="spraying", **{"location-detail": "3 栋楼下"})  # fmt: skip
    street = signed_in(platform, "tongjiang", lang="en")
    board = wait_for(lambda: issue_id in (p := street.get("/deadlines")).text and p)
    section = board.text[board.text.index(issue_id) - 600 : board.text.index(issue_id) + 300]
    assert "Water Supply Company" in section  # its holder
    assert "Due soon" in section or "Overdue" in section


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_the_case_page_shows_every_event_and_offices_urge(platform: Platform, lang: str):
    issue_id = report(platform, "streetlight-out", "sz.tongjiang.niuerqiao.hongqi", "路灯闪烁")
    street = signed_in(platform, "tongjiang", lang=lang)
    page = wait_for(lambda: (p := street.get(f"/cases/{issue_id}")).status_code == 200 and p)
    words = {"zh-CN": ("派单", "任务", "提醒/催办", "通报"),
             "en": ("Assigned", "Task", "Reminded", "Reprimand")}[lang]  # fmt: skip
    timeline = page.text[page.text.index('class="timeline"') :]
    assert words[0] in timeline and words[1] in timeline
    assert "/actions/urge" in page.text and "/actions/reprimand" not in page.text  # not late
    urged = act(street, issue_id, "urge", holder="urban-mgmt", reason="居民再次来电")
    assert urged.status_code == 303, urged.text
    after = street.get(f"/cases/{issue_id}").text
    timeline = after[after.index('class="timeline"') :]
    assert words[2] in timeline and "居民再次来电" in timeline
    # a reprimand before any deadline passed: dispatch refuses, the page says why
    form = {"csrf": csrf_of(after), "holder": "urban-mgmt", "reason": "超时"}
    early = street.post(f"/cases/{issue_id}/actions/reprimand", data=form)
    assert early.status_code == 409 and "within its deadline" in early.text
    assert "Traceback" not in early.text
    # a department sees the timeline of its own case, and no urge
    urban = signed_in(platform, "urban-mgmt", lang=lang)
    own = urban.get(f"/cases/{issue_id}").text
    assert words[2] in own and "/actions/urge" not in own


def test_the_deadline_board_urges_a_late_holder(platform: Platform):
    issue_id = report(platform, "water-pipe-burst", "sz.tongjiang.niuerqiao.hongqi", "水管漏水",
                      severity="spraying", **{"location-detail": "5 栋"})  # fmt: skip
    street = signed_in(platform, "tongjiang")
    board = wait_for(lambda: issue_id in (p := street.get("/deadlines")).text and p)
    assert f'action="/cases/{issue_id}/actions/urge"' in board.text
    urged = street.post(f"/cases/{issue_id}/actions/urge",
                        data={"csrf": csrf_of(board.text), "holder": "water"})  # fmt: skip
    assert urged.status_code == 303, urged.text
    page = street.get(f"/cases/{issue_id}").text
    assert "提醒/催办" in page[page.index('class="timeline"') :]


def _until(stream, wanted: str, timeout_s: float) -> list[str]:
    """The stream's lines up to and including the first that starts with ``wanted``."""
    seen, deadline = [], time.monotonic() + timeout_s
    for line in stream:
        seen.append(line)
        if line.startswith(wanted):
            return seen
        assert time.monotonic() < deadline, f"no {wanted!r} in time: {seen[-5:]}"
    raise AssertionError(f"the stream ended: {seen[-5:]}")


def test_a_live_board_is_told_of_changes_in_its_scope_only(platform: Platform):
    community = signed_in(platform, "niuerqiao", lang="en")
    zhujian = signed_in(platform, "zhujian", lang="en")
    with community.stream("GET", "/live/cases") as mine, \
            zhujian.stream("GET", "/live/cases") as theirs:  # fmt: skip
        assert mine.status_code == 200 and theirs.status_code == 200
        assert mine.headers["content-type"].startswith("text/event-stream")
        lines, other = mine.iter_lines(), theirs.iter_lines()
        _until(lines, ": still here", 20)  # each has read its scope's stamp
        _until(other, ": still here", 20)
        report(platform, "streetlight-out", HONGQI, "路灯又不亮了")  # urban-mgmt's, not zhujian's
        told = _until(lines, "event: changed", 60)
        assert all("iss_" not in line for line in told)  # it says that, and nothing else
        quiet = [next(other) for _ in range(6)]  # ~3 polls after it was routed
        assert not any("changed" in line for line in quiet), quiet


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_live_streams_are_bounded_per_person_and_refused_clearly(platform: Platform, lang: str):
    from contextlib import ExitStack

    street = signed_in(platform, "tongjiang", lang)
    bound = platform.settings.web_live_per_person
    with ExitStack() as held:
        streams = [held.enter_context(street.stream("GET", "/live/cases")) for _ in range(bound)]
        lines = [stream.iter_lines() for stream in streams]  # (dropping one closes it)
        for each in lines:
            _until(each, "retry:", 20)
        refused = street.get("/live/cases")
        assert refused.status_code == 429, refused.text
        words = {"zh-CN": "打开的实时页面过多", "en": "Too many live pages are open"}[lang]
        assert words in refused.text and "Traceback" not in refused.text
    deadline = time.monotonic() + 20  # closed streams are let go when the server notices
    while True:
        with street.stream("GET", "/live/cases") as again:
            if again.status_code == 200:
                break
        assert again.status_code == 429 and time.monotonic() < deadline
        time.sleep(0.5)
    clerk = signed_in(platform, "fund-clerk", lang)
    assert clerk.get("/live/cases").status_code == 403
    anonymous = httpx.get(platform.url("web") + "/live/cases", follow_redirects=False)
    assert anonymous.status_code == 303 and "/signin" in anonymous.headers["location"]


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_the_case_page_shows_the_reports_photo_to_its_scope_only(platform: Platform, lang: str):
    from tests.web.residents_helpers import noisy_png

    png = noisy_png(64)
    stored = httpx.post(f"{platform.url('intake')}/api/v1/media", timeout=20,
                        files={"file": ("leak.png", png, "image/png")})  # fmt: skip
    assert stored.status_code == 201, stored.text
    issue_id = report(
        platform, "streetlight-out", HONGQI, "灯杆倒了", media_url=stored.json()["media_url"]
    )
    elsewhere = report(platform, "streetlight-out", HONGQI, "灯杆歪了",
                       media_url="https://photos.example/leak.png")  # fmt: skip
    community = signed_in(platform, "niuerqiao", lang)
    page = wait_for(lambda: (p := community.get(f"/cases/{issue_id}")).status_code == 200 and p)
    alt = {"zh-CN": "居民随反映上传的照片", "en": "The photo the resident sent with the report"}
    assert f'<img src="/cases/{issue_id}/photo" alt="{alt[lang]}"' in page.text
    photo = community.get(f"/cases/{issue_id}/photo")
    assert photo.status_code == 200 and photo.content == png
    assert photo.headers["content-type"] == "image/png"
    assert photo.headers["x-content-type-options"] == "nosniff"
    outside = wait_for(lambda: (p := community.get(f"/cases/{elsewhere}")).status_code == 200 and p)
    assert "photos.example" in outside.text and "<img" not in outside.text.split("<h2>")[2]
    assert community.get(f"/cases/{elsewhere}/photo").status_code == 404
    # another department, a fund account, nobody: no photo
    assert signed_in(platform, "zhujian", lang).get(f"/cases/{issue_id}/photo").status_code == 404
    assert (
        signed_in(platform, "fund-clerk", lang).get(f"/cases/{issue_id}/photo").status_code == 403
    )
    anonymous = httpx.get(f"{platform.url('web')}/cases/{issue_id}/photo")
    assert anonymous.status_code == 303

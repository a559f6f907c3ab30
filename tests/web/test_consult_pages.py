"""Consult's pages against the real services on real Kafka and FerretDB, by plain form posts
(what a browser without JavaScript does), in both languages: a resident votes in 嘉定小院's
naming poll (ranked, by a rank per option), changes the ballot, keeps the receipt and finds
it in the published ballots after the close; the office drafts, opens and closes a poll,
prints paper codes, and a household without a phone votes with one; comments are posted and
hidden with a reason; the compound's three parties decide a motion; and the refusals (a
poll outside the roll, after the close, a missing CSRF token, another office's poll) are
clear pages."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.consult.demo import COMPOUND, POLL_ID, load_demo
from tests.web.conftest import Platform, csrf_of, signed_in
from tests.web.residents_helpers import resident as sign_in_by_phone
from tests.web.residents_helpers import staff_token
from tests.web.test_console import unlabelled

pytestmark = pytest.mark.e2e

VOTER = "13701101000"  # 嘉定小院 b01 101 (services/consult/demo.py)
NEIGHBOUR = "13701201000"  # b01 201, reads English
STRANGER = "13912345678"  # on no roll
LOST_ANSWER = "13702201000"  # b01 202
WORDS = {  # page -> a word it shows in zh-CN and in English
    "/me/polls": ("我的投票", "My polls"),
    f"/me/polls/{POLL_ID}": ("为您支持的选项排序", "Rank the options"),
    "/public/polls": ("嘉定小院命名投票", "The naming poll of Jiading Courtyard"),
    f"/public/polls/{POLL_ID}": ("投票结束后公布结果", "published when the poll closes"),
    "/paper": ("纸质投票码投票", "Vote with a paper code"),
    f"/paper?poll={POLL_ID}": ("投票码", "Paper code"),
}


SIGNED: dict[str, httpx.Client] = {}


def resident(platform: Platform, phone: str, lang: str = "zh-CN") -> httpx.Client:
    """One sign-in per phone for the module (codes per number are rate limited)."""
    if phone not in SIGNED:
        SIGNED[phone] = sign_in_by_phone(platform, phone, lang)
    SIGNED[phone].cookies.set("linli_lang", lang)
    return SIGNED[phone]


@pytest.fixture(scope="module")
def demo(platform: Platform) -> str:
    load_demo(platform.settings, platform.url("consult"))
    return POLL_ID


def ranks(**given: int) -> dict[str, str]:
    return {f"rank-{option}": str(rank) for option, rank in given.items()}


def vote(client: httpx.Client, poll_id: str, fields: dict) -> httpx.Response:
    page = client.get(f"/me/polls/{poll_id}")
    assert page.status_code == 200, page.text
    return client.post(f"/me/polls/{poll_id}/ballot", data={"csrf": csrf_of(page.text), **fields})


def receipt_of(html: str) -> str:
    return re.search(r'id="receipt">(r_[0-9a-f]{32})<', html).group(1)


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_the_residents_and_public_pages_in_both_languages(platform, demo, lang):
    signed = resident(platform, VOTER, lang)
    for page, words in WORDS.items():
        answer = signed.get(page)
        assert answer.status_code == 200, (page, answer.text[-400:])
        assert f'<html lang="{lang}">' in answer.text and answer.text.count("<h1>") == 1
        assert words[lang == "en"] in answer.text, (page, lang)
        assert "content-security-policy" in answer.headers
        assert unlabelled(answer.text) == [], page
    assert f'href="/me/polls/{POLL_ID}"' in signed.get("/me/polls").text
    form = signed.get(f"/me/polls/{POLL_ID}").text
    assert form.count('<select id="rank-') == 5  # a rank per candidate name, no script needed


def test_a_resident_votes_changes_and_checks_the_receipt(platform, demo):
    voter = resident(platform, VOTER)
    first = vote(voter, demo, ranks(jiading=1, hemei=2))
    assert first.status_code == 200 and "您的投票已记录" in first.text, first.text[-500:]
    receipt = receipt_of(first.text)
    assert re.search(r'id="ballot-key">[A-Za-z0-9_-]{32,}<', first.text)
    again = voter.get(f"/me/polls/{demo}").text
    assert receipt in again and "修改我的投票" in again  # the device keeps the receipt
    changed = vote(voter, demo, ranks(linli=1, jiading=2))
    assert "以最后一次为准" in changed.text, changed.text[-500:]
    last = receipt_of(changed.text)
    assert last != receipt
    bad = vote(voter, demo, ranks(linli=1, jiading=1))  # one rank twice: the form comes back
    assert bad.status_code == 400 and "rank 1 is given twice" in bad.text
    no_csrf = voter.post(f"/me/polls/{demo}/ballot", data=ranks(jiading=1))
    assert no_csrf.status_code == 403 and "表单已过期" in no_csrf.text
    elsewhere = resident(platform, NEIGHBOUR, "en")  # another device of no household of hers
    typed = vote(elsewhere, demo, {**ranks(hemei=1), "ballot_key": "x" * 40})
    assert typed.status_code == 200 and "Your ballot is in" in typed.text


def test_a_ballot_sent_again_after_a_lost_answer_counts_once(platform, demo):
    voter = resident(platform, LOST_ANSWER)
    page = voter.get(f"/me/polls/{demo}")
    before = [(c.name, c.value, c.path) for c in voter.cookies.jar]  # the form as shown
    data = {"csrf": csrf_of(page.text), **ranks(hemei=1)}
    sent = voter.post(f"/me/polls/{demo}/ballot", data=data)
    assert sent.status_code == 200 and "您的投票已记录" in sent.text
    voter.cookies.clear()  # the answer (and what it set) never reached the browser
    for name, value, path in before:
        voter.cookies.set(name, value, path=path)
    again = voter.post(f"/me/polls/{demo}/ballot", data=data)
    assert again.status_code == 200 and "与上次相同" in again.text, again.text[-400:]
    assert receipt_of(again.text) == receipt_of(sent.text)


def test_a_poll_outside_the_roll_is_a_clear_refusal(platform, demo):
    stranger = resident(platform, STRANGER, "en")
    assert POLL_ID not in stranger.get("/me/polls").text
    page = stranger.get(f"/me/polls/{demo}")
    assert page.status_code == 403 and "is not on this poll" in page.text
    assert "Traceback" not in page.text
    for crafted in ("/me/polls/no such poll", "/me/consultations/x'y", "/public/polls/x"):
        answer = stranger.get(crafted)
        assert answer.status_code == 404 and "Not found" in answer.text, crafted
    hand_made = stranger.post(
        f"/me/polls/{demo}/ballot",
        data={"csrf": csrf_of(stranger.get("/me/polls").text), **ranks(jiading=1)},
    )
    assert hand_made.status_code == 403 and "is not on this poll" in hand_made.text


def office_poll(office: httpx.Client, **fields) -> str:
    page = office.get("/polls")
    assert page.status_code == 200, page.text
    data = {
        "csrf": csrf_of(page.text),
        "question": "院门刷什么颜色？",
        "node_id": COMPOUND,
        "kind": "single",
        "options": "绿色\n红色\n原色",
        **fields,
    }
    made = office.post("/polls", data=data)
    assert made.status_code == 303, made.text[-500:]
    return made.headers["location"].rsplit("/", 1)[1]


def step(office: httpx.Client, poll_id: str, what: str, **fields) -> httpx.Response:
    page = office.get(f"/polls/{poll_id}")
    return office.post(f"/polls/{poll_id}/{what}", data={"csrf": csrf_of(page.text), **fields})


def consultation(platform: Platform) -> str:
    now = datetime.now(UTC)
    body = {
        "id": "con_gate",
        "node_id": COMPOUND,
        "question": "院门怎么修？",
        "opens_at": (now - timedelta(hours=1)).isoformat(),
        "closes_at": (now + timedelta(days=3)).isoformat(),
    }
    answer = httpx.post(
        f"{platform.url('consult')}/api/v1/consult/consultations",
        json=body,
        headers={
            "Authorization": f"Bearer {staff_token(platform, 'office', 'sz.haitang.xianjie')}"
        },
        timeout=20,
    )
    assert answer.status_code in (201, 409), answer.text
    return "con_gate"


def test_the_office_runs_a_poll_with_paper_codes_comments_and_results(platform, demo):
    office = signed_in(platform, "xianjie")
    poll_id = office_poll(office, consultation_id=consultation(platform))
    assert "草稿" in office.get(f"/polls/{poll_id}").text
    assert httpx.get(f"{platform.url('web')}/public/polls/{poll_id}").status_code == 404
    assert step(office, poll_id, "open").status_code == 303
    opened = office.get(f"/polls/{poll_id}").text  # b02 302 has no phone (the demo's roll)
    assert re.search(r'id="phoneless">[^<]*1 户', opened)
    assert f">{COMPOUND}.b02|302</textarea>" in opened
    codes = step(office, poll_id, "paper-codes", households=f"{COMPOUND}.b02|302")
    assert codes.status_code == 200 and "只显示这一次" in codes.text
    code = re.search(r'class="code">([0-9A-F-]+)<', codes.text).group(1)
    # the household without a phone votes with its code, no sign-in
    paper = httpx.Client(base_url=platform.url("web"), timeout=20)
    form = paper.get(f"/paper?poll={poll_id}")
    fresh = re.search(r'name="fresh_key" value="([A-Za-z0-9_-]+)"', form.text).group(1)
    shown = {"csrf": csrf_of(form.text), "poll": poll_id, "paper_code": code, "fresh_key": fresh}
    sent = paper.post("/paper", data={**shown, "choice": "o1"})
    assert sent.status_code == 200 and "您的投票已记录" in sent.text, sent.text[-500:]
    paper_receipt = receipt_of(sent.text)
    resent = paper.post("/paper", data={**shown, "choice": "o1"})  # the answer was lost
    assert resent.status_code == 200 and receipt_of(resent.text) == paper_receipt
    other = paper.post(
        "/paper",
        data={"csrf": csrf_of(form.text), "poll": poll_id, "paper_code": code, "choice": "o2"},
    )
    assert other.status_code == 403 and "投票码无效或已被使用" in other.text  # a new key: no
    key = re.search(r'id="ballot-key">([A-Za-z0-9_-]+)<', sent.text).group(1)
    changed = paper.post(
        "/paper",
        data={
            "csrf": csrf_of(form.text),
            "poll": poll_id,
            "paper_code": code,
            "choice": "o1",
            "ballot_key": key,
        },
    )  # the code with the key noted on the sheet: the same choice again, nothing changes
    assert changed.status_code == 200 and "与上次相同" in changed.text, changed.text[-500:]
    voter = resident(platform, VOTER)
    assert vote(voter, poll_id, {"choice": "o2"}).status_code == 200
    posted = voter.post(
        f"/me/polls/{poll_id}/comments",
        data={"csrf": csrf_of(voter.get("/me/polls").text), "text": "刷绿色吧"},
    )
    assert posted.status_code == 303
    assert "刷绿色吧" in voter.get(f"/me/polls/{poll_id}").text
    # the office hides it with a reason; residents see the reason instead of the text
    moderate = office.get("/polls/consultations/con_gate")
    comment_id = re.search(r'action="/polls/comments/(cmt_[0-9a-f]+)/hide"', moderate.text)
    hidden = office.post(
        f"/polls/comments/{comment_id.group(1)}/hide",
        data={
            "csrf": csrf_of(moderate.text),
            "consultation_id": "con_gate",
            "reason": "含个人信息",
        },
    )
    assert hidden.status_code == 303
    seen = voter.get(f"/me/polls/{poll_id}").text
    assert "刷绿色吧" not in seen and "含个人信息" in seen
    # the consultation on its own page (the link in its notice), and a comment from there
    alone = voter.get("/me/consultations/con_gate")
    assert alone.status_code == 200 and "院门怎么修？" in alone.text and "含个人信息" in alone.text
    assert unlabelled(alone.text) == []
    there = voter.post(
        "/me/consultations/con_gate/comments",
        data={"csrf": csrf_of(alone.text), "text": "先修门轴"},
    )
    assert there.status_code == 303 and "先修门轴" in voter.get("/me/consultations/con_gate").text
    outsider = resident(platform, STRANGER, "en")
    refused = outsider.post(
        "/me/consultations/con_gate/comments",
        data={"csrf": csrf_of(outsider.get("/me/polls").text), "text": "hi"},
    )
    assert refused.status_code == 403 and "outside this consultation" in refused.text
    closing = step(office, poll_id, "close")
    assert closing.status_code == 303, closing.text[-600:]
    closed = office.get(f"/polls/{poll_id}").text
    assert "已结束" in closed and re.search(r'id="turnout">2 / \d+', closed)
    after = voter.get(f"/me/polls/{poll_id}").text
    assert "/ballot" not in after and 'id="turnout"' in after  # results instead of the form
    refused = voter.post(
        f"/me/polls/{poll_id}/ballot",
        data={"csrf": csrf_of(voter.get("/me/polls").text), "choice": "o1"},
    )
    assert refused.status_code == 409 and "尚未开始或已经结束" in refused.text
    public = httpx.get(
        f"{platform.url('web')}/public/polls/{poll_id}",
        params={"receipt": paper_receipt},
        cookies={"linli_lang": "en"},
    )
    assert "Found: the ballot with this receipt is counted." in public.text
    assert re.search(r'id="turnout">2 of \d+ households', public.text)
    csv = httpx.get(f"{platform.url('web')}/public/polls/{poll_id}/ballots.csv")
    assert csv.status_code == 200 and paper_receipt in csv.text


def test_the_office_pages_in_english(platform, demo):
    office = signed_in(platform, "xianjie", "en")
    listed = office.get("/polls")
    assert listed.status_code == 200 and "New poll" in listed.text and POLL_ID in listed.text
    page = office.get(f"/polls/{POLL_ID}")
    assert page.status_code == 200 and '<html lang="en">' in page.text
    assert "Close and count" in page.text and "Print paper codes" in page.text
    assert unlabelled(page.text) == []
    bad = office.post(
        "/polls",
        data={
            "csrf": csrf_of(listed.text),
            "question": "Q?",
            "node_id": COMPOUND,
            "kind": "single",
            "options": "one",
        },
    )
    assert bad.status_code == 400 and "options: 2 to 20 lines" in bad.text
    assert 'value="Q?"' in bad.text  # the form comes back filled in


def test_another_office_sees_none_of_it(platform, demo):
    hongqi = signed_in(platform, "niuerqiao", "en")
    assert POLL_ID not in hongqi.get("/polls").text
    page = hongqi.get(f"/polls/{POLL_ID}")
    assert page.status_code == 404 and "outside your scope" in page.text
    for crafted in ("/polls/nothing", "/polls/consultations/a b", "/polls/consultations/con_none"):
        answer = hongqi.get(crafted)
        assert answer.status_code == 404 and "outside your scope" in answer.text, crafted
    crafted = hongqi.post(
        f"/polls/{POLL_ID}/close", data={"csrf": csrf_of(hongqi.get("/polls").text)}
    )
    assert crafted.status_code == 403 and "Traceback" not in crafted.text
    assert signed_in(platform, "jiading-branch").get("/polls").status_code == 403


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_the_three_parties_decide_a_motion(platform, demo, lang):
    branch, owners = (
        signed_in(platform, "jiading-branch", lang),
        signed_in(platform, "jiading-owners", lang),
    )
    page = branch.get("/resolutions")
    assert page.status_code == 200 and unlabelled(page.text) == []
    title = f"停车规则 {lang} {time.time_ns()}"
    made = branch.post(
        "/resolutions", data={"csrf": csrf_of(page.text), "title": title, "text": "单双号停车"}
    )
    assert made.status_code == 303
    listed = owners.get("/resolutions").text
    resolution = re.search(
        rf'id="(res_[0-9a-f]+)"[^>]*aria-labelledby="h-\1">\s*<h2[^>]*>{title}', listed
    )
    assert resolution, listed[-800:]
    decided = owners.post(
        f"/resolutions/{resolution.group(1)}/decide",
        data={"csrf": csrf_of(listed), "verdict": "refuse", "reason": "先征求住户意见"},
    )
    assert decided.status_code == 303
    after = branch.get("/resolutions").text
    assert "先征求住户意见" in after and ("未通过" if lang == "zh-CN" else "Refused") in after
    empty = owners.post(
        f"/resolutions/{resolution.group(1)}/decide",
        data={"csrf": csrf_of(listed), "verdict": "approve", "reason": ""},
    )
    assert empty.status_code == 400

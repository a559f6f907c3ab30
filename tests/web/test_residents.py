"""The residents' pages against the real services on real Kafka and FerretDB, by plain form
posts (what a browser without JavaScript does): every page in both languages with the
security headers; a report from a building's QR link with a photo, its bad input marked and
nothing filed; phone sign-in by one-time code; my reports, the inbox, preferences; the rating
that reopens; and no resident reaching another's data, however the request is made."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.web.conftest import Platform, csrf_of
from tests.web.residents_helpers import (
    BUILDING,
    PLACE,
    PNG,
    outbox_code,
    rating_token,
    resident,
    resolve_and_visit,
    wait_for,
)

pytestmark = pytest.mark.e2e

PAGES = {  # page -> a word it shows in zh-CN and in English
    "/residents": ("我要反映", "Report a problem"),
    "/report": ("请选择问题类型", "What kind of problem?"),
    f"/report?category=streetlight-out&place={BUILDING}": ("灯杆编号", "Pole number"),
    "/report?q=路灯": ("路灯不亮", "Street light out"),
    "/phone": ("发送验证码", "Send me a code"),
    "/rate/not.a.real.link.x": ("回访链接无效", "The rating link is wrong"),
    "/report/done/abc-1": ("反映已收到", "Your report is in"),
}


def web(platform: Platform, lang: str = "zh-CN") -> httpx.Client:
    client = httpx.Client(base_url=platform.url("web"), timeout=20)
    client.cookies.set("linli_lang", lang)
    return client


def send_report(client: httpx.Client, page: str, **fields) -> httpx.Response:
    form = client.get(page)
    assert form.status_code == 200, form.text
    key = re.search(r'name="key" value="([^"]+)"', form.text).group(1)
    data = {"csrf": csrf_of(form.text), "key": key, "category": "streetlight-out", **fields}
    files = {"photo": ("lamp.png", PNG, "image/png")}
    return client.post("/report", data=data, files=files)


def file_report(client: httpx.Client, page: str, **fields) -> str:
    """Send the form (and, when duplicates are offered, send it anyway): the issue id."""
    sent = send_report(client, page, **fields)
    if sent.status_code == 200:  # open reports of this kind nearby: send it anyway
        assert "Send mine anyway" in sent.text or "仍然提交" in sent.text
        data = dict(re.findall(r'name="(csrf|key|media_url|anyway)" value="([^"]*)"', sent.text))
        sent = client.post("/report", data={**data, "category": "streetlight-out", **fields})
    assert sent.status_code == 303, sent.text
    return sent.headers["location"].rsplit("/", 1)[1]


def test_every_page_in_both_languages_with_headers(platform: Platform):
    for lang, index in (("zh-CN", 0), ("en", 1)):
        client = web(platform, lang)
        for path, words in PAGES.items():
            page = client.get(path)
            assert page.status_code in (200, 404), (path, page.status_code)
            assert f'<html lang="{lang}">' in page.text and words[index] in page.text, path
            csp = page.headers["content-security-policy"]
            assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
            assert page.headers["referrer-policy"] == "same-origin"
            assert "<script>" not in page.text and " style=" not in page.text
    # a signed-in resident's pages, both languages
    signed_in_words = {"zh-CN": ("我的反映", "站内消息", "还没有"),
                       "en": ("My reports", "Messages here", "No messages yet")}  # fmt: skip
    for lang, words in signed_in_words.items():
        client = resident(platform, "13800007700", lang)
        assert words[0] in client.get("/me").text
        assert words[1] in client.get("/me/preferences").text
        assert words[2] in client.get("/me/inbox").text
    # signed out, a resident's page leads to the phone sign-in
    assert web(platform).get("/me/inbox").headers["location"] == "/phone?next=/me/inbox"


def test_a_report_from_a_qr_link_with_bad_input_first(platform: Platform):
    client = web(platform, "en")
    page = f"/report?category=streetlight-out&place={BUILDING}"
    assert f'value="{BUILDING}" selected' in client.get(page).text  # the place is filled in
    bad = send_report(client, page, compound=PLACE, building=BUILDING, description="",
                      phone="12ab", **{"attr.lamps-out": "many"})  # fmt: skip
    assert bad.status_code == 400
    for field in ("description", "phone", "attr.lamps-out"):
        assert re.search(rf'id="{re.escape(field)}"[^>]*aria-invalid="true"', bad.text), field
    assert "A number, please." in bad.text and "Required." in bad.text
    issue_id = file_report(
        client,
        page,
        compound=PLACE,
        building=BUILDING,
        phone="13800007701",
        description="The lamp at the gate is out",
        **{"attr.lamps-out": "2"},
    )
    # the report's page shows it through its report token, kept in a cookie for that page
    done = wait_for(lambda: "The lamp at the gate is out" in (t := client.get(
        f"/report/done/{issue_id}").text) and t)  # fmt: skip
    assert issue_id in done and "Sign in with the phone you gave" in done
    assert "Street light out" in done and 'id="recording"' not in done
    elsewhere = web(platform, "en").get(f"/report/done/{issue_id}").text  # no cookie: no report
    assert issue_id in elsewhere and "The lamp at the gate is out" not in elsewhere
    me = resident(platform, "13800007701", "en")
    mine = wait_for(lambda: issue_id in (t := me.get("/me").text) and t)
    assert mine.count("/me/reports/") == 1  # the bad attempt filed nothing
    issue = me.get(f"/me/reports/{issue_id}").text
    assert "The lamp at the gate is out" in issue and "Street light out" in issue


def test_sign_in_codes_through_the_web(platform: Platform):
    client = web(platform, "en")
    form = client.get("/phone")
    asked = client.post("/phone", data={"csrf": csrf_of(form.text), "phone": "13800007702"})
    code = outbox_code(platform, "13800007702")
    wrong = "000000" if code != "000000" else "111111"
    data = {"csrf": csrf_of(asked.text), "phone": "13800007702", "next": "/me"}
    refused = client.post("/phone/code", data={**data, "code": wrong})
    assert refused.status_code == 400 and "The code is wrong." in refused.text
    assert "linli_resident" not in refused.cookies
    chosen = "fixed-by-an-attacker"
    client.cookies.set("linli_resident", chosen)
    signed = client.post("/phone/code", data={**data, "code": code})
    assert signed.status_code == 303 and signed.cookies["linli_resident"] != chosen
    again = web(platform, "en")
    form = again.get("/phone")
    used = again.post("/phone/code", data={"csrf": csrf_of(form.text), "phone": "13800007702",
                      "code": code})  # fmt: skip
    assert used.status_code == 400 and "no longer valid" in used.text  # single use
    no_csrf = web(platform).post("/phone", data={"phone": "13800007702"})
    assert no_csrf.status_code == 403
    for _ in range(4):  # three codes a quarter hour per number
        last = client.post("/phone", data={"csrf": csrf_of(client.get("/phone").text),
                           "phone": "13800007703"})  # fmt: skip
    assert last.status_code == 429 and "Too many codes" in last.text


def test_residents_reach_only_their_own(platform: Platform):
    alice, bob = resident(platform, "13800007704"), resident(platform, "13800007705", "en")
    issue_id = file_report(alice, "/report?category=streetlight-out", compound=PLACE,
                           description="Alice's lamp, call 13800007704")  # fmt: skip
    wait_for(lambda: issue_id in alice.get("/me").text)
    # a neighbour follows it: the page shows it as other residents see it, her phone masked
    carol = web(platform, "en")
    csrf = csrf_of(carol.get("/report?category=streetlight-out").text)
    followed = carol.post(f"/report/follow/{issue_id}", data={"csrf": csrf,
                          "phone": "13800007707"})  # fmt: skip
    assert followed.status_code == 303, followed.text
    page = carol.get(followed.headers["location"]).text
    assert "lamp, call [电话]" in page and "13800007704" not in page
    assert issue_id not in bob.get("/me").text
    crafted = bob.get(f"/me/reports/{issue_id}")
    assert crafted.status_code == 404 and "Alice" not in crafted.text
    assert "Alice" not in bob.get(f"/report/done/{issue_id}").text
    # someone files a report with Alice's phone: its page shows that report, and its token,
    # moved to Alice's report's page, opens nothing there
    mallory = web(platform, "en")
    posing = file_report(mallory, "/report?category=streetlight-out", compound=PLACE,
                         phone="13800007704", description="Posing as Alice")  # fmt: skip
    wait_for(lambda: "Posing as Alice" in mallory.get(f"/report/done/{posing}").text)
    [token] = [c.value for c in mallory.cookies.jar if c.name == "linli_report"]
    mallory.cookies.set("linli_report", token, path=f"/report/done/{issue_id}")
    assert "Alice" not in mallory.get(f"/report/done/{issue_id}").text
    assert mallory.get("/me").status_code == 303  # and no session: her reports need her sign-in
    assert "Traceback" not in crafted.text
    # Bob's session cannot change Alice's preferences: no page takes a reference
    csrf = csrf_of(bob.get("/me/preferences").text)
    bob.post("/me/preferences", data={"csrf": csrf, "channels": "sms", "language": "en"})
    assert 'value="sms" checked' not in alice.get("/me/preferences").text
    # Alice's CSRF token does not work in Bob's session
    alice_csrf = csrf_of(alice.get("/me/preferences").text)
    assert bob.post("/me/preferences", data={"csrf": alice_csrf, "channels": "inbox",
                    "language": "en"}).status_code == 403  # fmt: skip
    # a forged session cookie is nobody
    stranger = web(platform)
    stranger.cookies.set("linli_resident", "x" * 43)
    assert stranger.get("/me").status_code == 303
    # straight at notify with Bob's own token for Alice's reference: refused there too
    ref = re.search(r"res_[a-z2-7]{24}", _refs(platform, "13800007704")).group(0)
    bob_token = _refs(platform, "13800007705").split()[1]
    inbox = httpx.get(f"{platform.url('notify')}/api/v1/residents/{ref}/inbox",
                      headers={"Authorization": f"Bearer {bob_token}"})  # fmt: skip
    assert inbox.status_code == 401


def _refs(platform: Platform, phone: str) -> str:
    """``<ref> <token>`` of a phone, through notify's own sign-in (a fresh code)."""
    notify = platform.url("notify")
    httpx.post(f"{notify}/api/v1/residents/signin-codes",
               json={"phone": phone, "client_address": "10.1.1.1"})  # fmt: skip
    code = outbox_code(platform, phone)
    found = httpx.post(f"{notify}/api/v1/residents/signin", json={"phone": phone, "code": code})
    return f"{found.json()['resident_ref']} {found.json()['resident_token']}"


def test_preferences_and_the_rating_that_reopens(platform: Platform):
    client = resident(platform, "13800007706", "en")
    csrf = csrf_of(client.get("/me/preferences").text)
    bad = client.post("/me/preferences", data={"csrf": csrf, "channels": "inbox",
                      "language": "en", "quiet_start": "25:00", "quiet_end": "07:00"})  # fmt: skip
    assert bad.status_code == 400 and 'aria-invalid="true"' in bad.text
    saved = client.post("/me/preferences", data={"csrf": csrf, "channels": ["inbox", "sms"],
                        "language": "en", "quiet_start": "22:00", "quiet_end": "07:00",
                        "opt_outs": "issue.progressed"})  # fmt: skip
    assert saved.status_code == 303
    page = client.get("/me/preferences").text
    assert 'value="22:00"' in page and 'value="issue.progressed" checked' in page
    issue_id = file_report(client, "/report?category=streetlight-out", compound=PLACE,
                           description="Lamp flickers")  # fmt: skip
    resolve_and_visit(platform, issue_id)
    token = rating_token(client, issue_id)
    anonymous = web(platform, "en")  # the link alone is the key: no sign-in needed
    form = anonymous.get(f"/rate/{token}")
    assert form.status_code == 200 and issue_id in form.text
    missing = anonymous.post(f"/rate/{token}", data={"csrf": csrf_of(form.text)})
    assert missing.status_code == 400 and 'aria-invalid="true"' in missing.text
    rated = anonymous.post(f"/rate/{token}", data={"csrf": csrf_of(form.text), "rating": "not",
                           "comment": "Still dark"})  # fmt: skip
    assert rated.status_code == 303
    assert "Thank you" in anonymous.get(rated.headers["location"]).text
    assert "already rated" in anonymous.get(f"/rate/{token}").text
    status = wait_for(lambda: "being handled again" in (t := client.get(
        f"/me/reports/{issue_id}").text) and t)  # fmt: skip
    assert "Still dark" in status or "reopened" in status or "being handled again" in status


def test_production_serves_no_outbox():
    """(No servers needed: the refusal comes before any call.)"""
    from starlette.testclient import TestClient

    from services.web.app import create_app
    from shared.settings import Settings

    settings = Settings(env="production", resident_secret="r" * 32, consult_secret="c" * 32,
                        web_token_secret="w" * 32)  # fmt: skip
    client = TestClient(create_app(settings))
    page = client.get("/dev/outbox", params={"to": "13800007799"}, follow_redirects=False)
    assert page.status_code == 404 and "<h1>" in page.text

"""The public pages against the real services, no sign-in: the fund page with the same totals
as the ledger's own public API, donors named only where they agreed, the three parties'
approvals, the disclosure CSV as the ledger publishes it and the verification `linli ledger
verify` recorded; the district page with dispatch's rates and open counts by compound (no
resident's words); Open311 discovery; in both languages, no script, the security headers."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
import segno

from services.web.public.qr import qr_svg
from shared.staff_tokens import StaffClaims, sign
from tests.web.conftest import Platform, csrf_of, report, signed_in

pytestmark = pytest.mark.e2e
SHANGHAI = ZoneInfo("Asia/Shanghai")
PARTIES = ("party-branch", "owners-committee", "property-company")


def wait_for(probe, timeout_s: float = 40.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError("not seen in time")


def ledger(platform: Platform, path: str, body: dict, role: str = "fund-clerk",
           party: str | None = None) -> dict:  # fmt: skip
    secret = platform.settings.web_token_secret.get_secret_value()
    token = sign(secret, StaffClaims("test", role, "*", int(time.time()) + 60, party))
    answer = httpx.post(f"{platform.url('ledger')}/api/v1{path}", json=body, timeout=20,
                        headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


def yuan(fen: int) -> str:
    return f"{fen // 100:,}.{fen % 100:02d}"


def section(html: str, campaign: str) -> str:
    found = re.search(rf'<section class="card" id="c-{campaign}".*?</section>', html, re.S)
    assert found, f"no section for {campaign}"
    return found.group(0)


def fund_page(platform: Platform, lang: str = "zh-CN") -> httpx.Response:
    return httpx.get(f"{platform.url('web')}/public/fund", cookies={"linli_lang": lang}, timeout=20)


def verify_books(platform: Platform) -> str:
    env = {**os.environ, "LINLI_MONGODB_URL": platform.settings.mongodb_url,
           "LINLI_DB_PREFIX": platform.settings.db_prefix, "LINLI_ENV": "test"}  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "services.ops.cli.main", "ledger", "verify"],
                          env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stderr + done.stdout


def test_the_public_fund_page_shows_what_the_ledger_publishes(platform: Platform):
    campaign = f"pub-{uuid.uuid4().hex[:6]}"
    today = datetime.now(UTC).date()
    ledger(platform, "/campaigns", {
        "id": campaign, "name": "楼道照明", "goal_fen": 1_000_000,
        "starts": str(today - timedelta(days=10)), "ends": str(today + timedelta(days=50)),
        "projects": ["lamps"]})  # fmt: skip
    for n, (name, named, fen) in enumerate((("王芳", True, 120_000), ("赵密", False, 30_050))):
        ledger(platform, "/donations", {
            "donation_id": f"{campaign}-d{n}", "campaign": campaign, "channel": "offline",
            "amount_fen": fen, "receipt_book_no": f"RB-{n}",
            "donor": {"name": name, "named": named}})  # fmt: skip
    asked = ledger(platform, "/disbursements", {
        "disbursement_id": f"{campaign}-x1", "fund": campaign, "project": "lamps",
        "amount_fen": 50_000, "payee": "某某五金店", "purpose": "更换 20 盏楼道灯"})  # fmt: skip
    assert asked["status"] in ("requested", "exists"), asked
    for party in PARTIES:
        ledger(platform, f"/disbursements/{campaign}-x1/approve", {}, "fund-approver", party)
    ledger(platform, f"/disbursements/{campaign}-x1/post", {"payment_ref": "B-1"},
           "fund-treasurer")  # fmt: skip

    spending = httpx.get(
        f"{platform.url('ledger')}/api/v1/public/campaigns/{campaign}/disbursements"
    ).json()
    assert [a["party"] for a in spending[0]["approvals"]] == list(PARTIES)
    assert "payee" not in spending[0] and all("by" not in a for a in spending[0]["approvals"])
    ours = httpx.get(f"{platform.url('ledger')}/api/v1/public/campaigns/{campaign}").json()
    assert ours["spent_fen"] == 50_000 and ours["raised"]["total"] == 150_050

    def shown():
        page = fund_page(platform)
        return page.status_code == 200 and f'id="c-{campaign}"' in page.text and (
            "已支付" in section(page.text, campaign)) and page  # fmt: skip

    page = wait_for(shown)
    html = section(page.text, campaign)
    # the same totals as the ledger's own public API
    for key, fen in (("raised", ours["raised"]["total"]), ("spent", ours["spent_fen"]),
                     ("balance", ours["balance_fen"])):  # fmt: skip
        assert f'<span class="amount {key}">{yuan(fen)}</span>' in html, key
    assert f'<span class="goal">{yuan(ours["goal_fen"])}</span>' in html
    # donors named only where they agreed; no payee, no receipt book, no key ids
    assert "王芳" in html and "赵密" not in html and "匿名" in html
    assert "某某五金店" not in html and "RB-0" not in html and "web:test" not in html
    # the three parties' approvals
    for word in ("党组织: ✔", "业委会: ✔", "物业: ✔", "3/3"):
        assert word in html, word
    # the chain head as the ledger publishes it
    assert ours["chain"]["head"] in html and f"{ours['chain']['entries']} 条账目" in html
    # the quarterly disclosure, byte for byte the ledger's
    quarter = next(iter(ours["quarters"]))
    csv_url = f"/public/fund/disclosures/{quarter}.csv"
    assert csv_url in html
    ours_csv = httpx.get(f"{platform.url('ledger')}/api/v1/public/disclosures/{quarter}.csv")
    mine = httpx.get(platform.url("web") + csv_url)
    assert mine.status_code == 200 and mine.headers["content-type"].startswith("text/csv")
    assert mine.text == ours_csv.text

    # security: no sign-in, no script, strict headers
    assert "<script" not in page.text and " style=" not in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "same-origin"
    english = fund_page(platform, "en")
    assert '<html lang="en">' in english.text and "anonymous" in section(english.text, campaign)
    assert "Party branch: ✔" in section(english.text, campaign)


def test_the_page_says_whether_the_last_verification_passed(platform: Platform):
    printed = verify_books(platform)
    counted = re.search(r"ok: (\d+) entries in (\d+) funds", printed)
    assert counted, printed
    # the verification is no event: the next event (or the timer) brings it to the page
    campaign = f"pub-{uuid.uuid4().hex[:6]}"
    today = datetime.now(UTC).date()
    ledger(platform, "/campaigns", {
        "id": campaign, "name": "核验之后", "goal_fen": 10_000, "starts": str(today),
        "ends": str(today + timedelta(days=5)), "projects": ["p"]})  # fmt: skip
    ledger(platform, "/donations", {"donation_id": f"{campaign}-d", "campaign": campaign,
                                    "channel": "offline", "amount_fen": 100,
                                    "receipt_book_no": "RB-v"})  # fmt: skip
    page = wait_for(lambda: (p := fund_page(platform, "en")).status_code == 200
                    and "The last verification passed" in p.text and p)  # fmt: skip
    assert f"{counted.group(1)} entries" in page.text
    ours = httpx.get(f"{platform.url('ledger')}/api/v1/public/verification").json()
    assert ours["ok"] is True and ours["entries"] == int(counted.group(1))


def acknowledge(platform: Platform, issue_id: str) -> None:
    """The case's first holder acknowledges it through dispatch's API, with its own scope."""
    secret = platform.settings.web_token_secret.get_secret_value()

    def token(role: str, code: str) -> dict:
        claims = StaffClaims("test", role, code, int(time.time()) + 60)
        return {"Authorization": f"Bearer {sign(secret, claims)}"}

    url = f"{platform.url('dispatch')}/api/v1/dispatch/cases/{issue_id}"
    case = wait_for(lambda: (a := httpx.get(url, headers=token("office", "sz"))).status_code
                    == 200 and a.json())  # fmt: skip
    holder = case["duties"][0]["holder"]
    answer = httpx.post(f"{url}/actions", headers=token(holder["kind"], holder["code"]),
                        json={"action_id": f"ack-{issue_id}", "action": "acknowledge"})  # fmt: skip
    assert answer.status_code == 200, answer.text


def test_the_district_page_shows_the_rates_and_open_reports_by_compound(platform: Platform):
    secret_words = f"楼道灯不亮-{uuid.uuid4().hex[:6]}"
    issue_id = report(platform, "streetlight-out", "sz.tongjiang.niuerqiao.hongqi.b02",
                      secret_words)  # fmt: skip
    web, dispatch = platform.url("web"), platform.url("dispatch")
    acknowledge(platform, issue_id)  # so this month has a response rate to draw

    def counted():
        counts = httpx.get(f"{dispatch}/api/v1/public/open-counts").json()["compounds"]
        return counts.get("sz.tongjiang.niuerqiao.hongqi") and counts

    counts = wait_for(counted)
    assert not any(node.count(".") > 3 for node in counts), "a place finer than a compound"
    month = datetime.now(UTC).astimezone(SHANGHAI).strftime("%Y-%m")
    public = httpx.get(f"{dispatch}/api/v1/public/rates", params={"month": month}).json()
    secret = platform.settings.web_token_secret.get_secret_value()
    token = sign(secret, StaffClaims("test", "office", "sz", int(time.time()) + 60))
    staff = httpx.get(f"{dispatch}/api/v1/dispatch/rates", params={"month": month},
                      headers={"Authorization": f"Bearer {token}"}).json()  # fmt: skip
    assert public == staff  # the same figures, without a key

    for lang, words in (("zh-CN", "红旗小区"), ("en", "Hongqi Compound")):
        page = httpx.get(f"{web}/public/district", cookies={"linli_lang": lang})
        assert page.status_code == 200 and f'<html lang="{lang}">' in page.text
        assert secret_words not in page.text and "<script" not in page.text
        total = re.search(r'id="open-total">(\d+)<', page.text).group(1)
        # the page keeps dispatch's counts up to a minute: at least what was counted above
        assert int(total) >= 1 and words in page.text
        drawn = 0
        for row in public["rankings"].get("street", []):
            value = row["rates"].get("response")
            if value is not None:
                assert f"{value * 100:.1f}%" in page.text
                drawn += 1
        assert drawn and 'id="chart-street-response"' in page.text
    assert httpx.get(f"{web}/public/district", params={"month": "1999-01"}).status_code == 400


def test_open311_discovery_lists_the_endpoint_and_how_to_get_a_key(platform: Platform):
    page = httpx.get(f"{platform.url('web')}/public/open311", cookies={"linli_lang": "en"})
    assert page.status_code == 200 and "linli keys create" in page.text
    base = re.search(r'id="open311-base">([^<]+)<', page.text).group(1)
    discovery = httpx.get(f"{base}discovery.json")
    assert discovery.status_code == 200 and discovery.json()["endpoints"][0]["url"] == base
    assert "Open311" in httpx.get(f"{platform.url('web')}/public/open311").text


def test_a_compound_prints_a_qr_code_for_itself_and_each_building(platform: Platform):
    web = platform.url("web")
    listing = httpx.get(f"{web}/public/notices")
    assert (
        listing.status_code == 200
        and "/public/notices/sz.tongjiang.niuerqiao.hongqi" in listing.text
    )
    sheet = httpx.get(f"{web}/public/notices/sz.tongjiang.niuerqiao.hongqi",
                      cookies={"linli_lang": "en"})  # fmt: skip
    assert sheet.status_code == 200 and "Hongqi Compound" in sheet.text
    figures = re.findall(r'<figure class="qr" id="qr-([^"]+)">(.*?)</figure>', sheet.text, re.S)
    buildings = [f for f, _ in figures if f.startswith("sz.tongjiang.niuerqiao.hongqi.")]
    assert figures[0][0] == "sz.tongjiang.niuerqiao.hongqi" and len(buildings) >= 3
    for node, html in figures:
        url = f"{platform.settings.web_public_url}/report?place={node}"  # LINLI_WEB_PUBLIC_URL
        assert f'<span class="url">{url}</span>' in html
        # the code drawn is the code of exactly that address
        assert segno.make(url, error="m").matrix and qr_svg(url, "x").split("<path")[1] in html
    # what a code opens: the residents' report form, the building carried to the next step
    form = httpx.get(f"{web}/report", params={"place": buildings[0]})
    assert form.status_code == 200 and f"place={buildings[0]}" in form.text
    assert httpx.get(f"{web}/public/notices/sz.tongjiang").status_code == 404  # a street
    missing = httpx.get(f"{web}/public/notices/no such")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")


def test_a_broadcast_prints_as_a_notice_for_its_operator_only(platform: Platform):
    operator = signed_in(platform, "operator")
    page = operator.get("/broadcasts")
    sent = operator.post("/broadcasts", data={
        "csrf": csrf_of(page.text), "node_id": "sz.tongjiang.niuerqiao.hongqi",
        "title_zh": "停电通知", "body_zh": "周六 8 点至 11 点检修停电。",
        "title_en": "Power off", "body_en": "Saturday 8-11, maintenance."})  # fmt: skip
    assert sent.status_code == 303, sent.text
    broadcast_id = sent.headers["location"].split("shown=")[1]
    assert f"/broadcasts/{broadcast_id}/notice" in operator.get(sent.headers["location"]).text
    notice = operator.get(f"/broadcasts/{broadcast_id}/notice")
    assert notice.status_code == 200
    for words in ("停电通知", "周六 8 点至 11 点检修停电。", "Power off", "红旗小区", "<svg"):
        assert words in notice.text, words
    assert "<script" not in notice.text and "@media print" in httpx.get(
        f"{platform.url('web')}/static/public.css").text  # fmt: skip
    anonymous = httpx.get(f"{platform.url('web')}/broadcasts/{broadcast_id}/notice")
    assert anonymous.status_code == 303 and "/signin" in anonymous.headers["location"]
    department = signed_in(platform, "urban-mgmt")
    assert department.get(f"/broadcasts/{broadcast_id}/notice").status_code == 403


CHROMIUM = "/usr/bin/chromium"
PHONE = {"width": 360, "height": 740}
PUBLIC_PAGES = ("/public/fund", "/public/district", "/public/open311", "/public/notices",
                "/public/notices/sz.tongjiang.niuerqiao.hongqi")  # fmt: skip


@pytest.mark.browser
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="make system-deps installs chromium")
def test_the_public_pages_on_a_phone_in_the_browser(platform: Platform):
    """Debian's Chromium at 360 px: every public page in both languages fits the width and
    passes the accessibility checker (axe-core, bundled); with JavaScript off the pages are
    the same and their links lead on. Screenshots: tests/web/screenshots/public-*.png."""
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import sync_playwright

    from tests.web.test_console_browser import ARGS, SHOTS

    SHOTS.mkdir(exist_ok=True)
    axe, found = Axe(), {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            for lang in ("zh-CN", "en"):
                context = browser.new_context(base_url=platform.url("web"), viewport=PHONE,
                                              locale=lang, is_mobile=True)  # fmt: skip
                context.add_cookies([{"name": "linli_lang", "value": lang,
                                      "url": platform.url("web")}])  # fmt: skip
                page = context.new_page()
                for path in PUBLIC_PAGES:
                    assert page.goto(path).status == 200, path
                    width = page.evaluate("document.documentElement.scrollWidth")
                    assert width <= PHONE["width"], f"{path} is {width} px wide"
                    for violation in axe.run(page).response["violations"]:
                        found.setdefault(violation["id"], set()).add(f"{lang}:{path}")
                    name = path.strip("/").replace("/", "-").replace(".", "_")
                    page.screenshot(path=str(SHOTS / f"{name}-{lang}.png"), full_page=True)
                context.close()
            assert found == {}, found
            # JavaScript off: the same pages, and the links lead on
            plain = browser.new_context(base_url=platform.url("web"), viewport=PHONE,
                                        java_script_enabled=False)  # fmt: skip
            page = plain.new_page()
            page.goto("/public/fund")
            page.click("nav a[href='/public/district']")
            assert page.url.endswith("/public/district") and page.locator("svg").count() > 1
            page.click("a.lang")
            assert page.locator("html").get_attribute("lang") == "en"
            page.click("nav a[href='/public/notices']")
            page.click("a[href='/public/notices/sz.tongjiang.niuerqiao.hongqi']")
            assert page.locator("figure.qr").count() > 3
            page.emulate_media(media="print")
            page.pdf(path=str(SHOTS / "public-notices-hongqi-print.pdf"))
            plain.close()
        finally:
            browser.close()


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_every_public_page_in_both_languages(platform: Platform, lang: str):
    words = {"zh-CN": "开放接口", "en": "Open311 for apps"}[lang]  # the navigation
    for path in PUBLIC_PAGES:
        page = httpx.get(platform.url("web") + path, cookies={"linli_lang": lang}, timeout=30)
        assert page.status_code == 200, path
        assert f'<html lang="{lang}">' in page.text and words in page.text, path
        assert "<script" not in page.text and " style=" not in page.text, path
        assert "Traceback" not in page.text and "{{" not in page.text, path
        headers = page.headers
        assert "frame-ancestors 'none'" in headers["content-security-policy"], path
        assert "unsafe-inline" not in headers["content-security-policy"], path
        assert headers["referrer-policy"] == "same-origin", path

"""The console in a real browser (Debian's Chromium driven by Playwright; never a browser
download) against the real services: a community worker calls a fresh report up, the street
whistles two departments, both acknowledge and resolve, the fund's three parties approve a
disbursement that the treasurer posts, and a department is refused another's case by URL.
Screenshots of every page land in tests/web/screenshots/ (git-ignored)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from services.ops.cli.web import DEMO_PASSWORD
from shared.staff_tokens import StaffClaims, sign
from tests.web.conftest import Platform, report

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).parent / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]  # fmt: skip

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="make system-deps installs chromium"),
]


@pytest.fixture(scope="module")
def chromium(platform: Platform) -> Iterator:
    """(After the platform: Playwright's sync API runs an event loop of its own.)"""
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield launched
        launched.close()


def person(browser, platform: Platform, username: str, lang: str = "zh-CN"):
    context = browser.new_context(base_url=platform.url("web"), viewport={"width": 1280,
                                  "height": 900}, locale=lang)  # fmt: skip
    context.add_cookies([{"name": "linli_lang", "value": lang, "url": platform.url("web")}])
    page = context.new_page()
    page.goto("/signin")
    page.fill("#username", username)
    page.fill("#password", DEMO_PASSWORD)
    page.click("form[action='/signin'] button[type=submit]")
    page.wait_for_load_state()
    assert "/signin" not in page.url, page.content()
    return page


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def until_listed(page, issue_id: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        page.goto("/cases")
        if page.locator(f"a[href='/cases/{issue_id}']").count():
            return
        time.sleep(0.5)
    raise AssertionError(f"{issue_id} not in the queue")


def act(page, action: str, fill: dict[str, str] | None = None, check: tuple = ()) -> None:
    form = page.locator(f"form[data-action='{action}']")
    for name, value in (fill or {}).items():
        form.locator(f"[name='{name}']").fill(value)
    for value in check:
        form.locator(f"input[name='departments'][value='{value}']").check()
    page.evaluate("window.notReloaded = true")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("p.ok, p.error")
    assert page.locator("p.ok").count() == 1, page.content()
    assert page.evaluate("window.notReloaded === true")  # the outcome came without a reload


def test_the_case_flow_in_the_browser(chromium, platform: Platform):
    browser = chromium
    issue_id = report(platform, "neighbour-mediation", "sz.tongjiang.niuerqiao.hongqi",
                      "楼上漏水到我家，协商不成", subject="leak")  # fmt: skip
    community = person(browser, platform, "niuerqiao")
    until_listed(community, issue_id)
    shot(community, "01-queue-community-zh")
    community.click(f"a[href='/cases/{issue_id}']")
    shot(community, "02-case-community-zh")
    act(community, "call-up", {"reason": "需要街道协调住建、城管"})
    assert community.locator("#case-status").inner_text() == "已呼叫"

    street = person(browser, platform, "tongjiang", "en")
    street.goto(f"/cases/{issue_id}")
    shot(street, "03-case-street-en")
    act(street, "whistle", {"reason": "shared pipe"}, check=("zhujian", "urban-mgmt"))
    assert street.locator("#case-status").inner_text() == "whistled"

    for department in ("zhujian", "urban-mgmt"):
        desk = person(browser, platform, department, "en")
        until_listed(desk, issue_id)
        desk.goto(f"/cases/{issue_id}")
        act(desk, "acknowledge")
        act(desk, "resolve", {"note": "pipe replaced"})
        shot(desk, f"04-case-{department}-resolved-en")
    street.goto("/deadlines")
    shot(street, "05-deadlines-street-en")
    street.goto("/rates")
    shot(street, "06-rates-street-en")

    other = report(platform, "streetlight-out", "sz.tongjiang.niuerqiao.hongqi", "路灯不亮")
    urban = person(browser, platform, "urban-mgmt")
    until_listed(urban, other)
    zhujian = person(browser, platform, "zhujian", "en")
    answer = zhujian.goto(f"/cases/{other}")
    assert answer.status == 404 and "outside your scope" in zhujian.content()
    shot(zhujian, "07-refused-other-departments-case-en")

    # the queue refreshes itself: a new task shows up without the page being reloaded
    urban.goto("/cases")
    urban.evaluate("window.notReloaded = true")
    fresh = report(platform, "streetlight-out", "sz.tongjiang.niuerqiao.hongqi", "又一盏灯坏了")
    urban.wait_for_selector(f"a[href='/cases/{fresh}']", timeout=90_000)
    assert urban.evaluate("window.notReloaded === true")


def test_the_fund_approval_in_the_browser(chromium, platform: Platform):
    browser = chromium
    secret = platform.settings.web_token_secret.get_secret_value()
    token = sign(secret, StaffClaims("setup", "fund-clerk", "*", int(time.time()) + 60))
    today = datetime.now(UTC).date()
    made = httpx.post(f"{platform.url('ledger')}/api/v1/campaigns",
                      headers={"Authorization": f"Bearer {token}"}, json={
        "id": "warm-packs-2026", "name": "暖冬行动 2026", "goal_fen": 19_000_000,
        "starts": str(today - timedelta(days=30)), "ends": str(today + timedelta(days=60)),
        "projects": ["warm-packs"]}, timeout=20)  # fmt: skip
    assert made.status_code in (200, 201), made.text
    clerk = person(browser, platform, "fund-clerk")
    clerk.goto("/fund")
    clerk.select_option("#d-campaign", "warm-packs-2026")
    clerk.fill("#d-amount", "3000")
    clerk.fill("#d-receipt", "R-2026-001")
    clerk.click("form[action='/fund/donations'] button[type=submit]")
    clerk.wait_for_load_state()
    clerk.select_option("#b-fund", "warm-packs-2026")
    clerk.fill("#b-amount", "800")
    clerk.fill("#b-payee", "暖心包供应商")
    clerk.fill("#b-purpose", "20 个暖心包")
    clerk.click("form[action='/fund/disbursements'] button[type=submit]")
    clerk.wait_for_load_state()
    shot(clerk, "08-fund-clerk-zh")
    for party in ("fund-branch", "fund-owners", "fund-property"):
        approver = person(browser, platform, party, "en")
        approver.goto("/fund")
        approver.locator("button[value='approve']").first.click()
        approver.wait_for_selector("p.ok, p.error")
        assert approver.locator("p.ok").count() == 1, approver.content()
    shot(approver, "09-fund-approved-en")
    treasurer = person(browser, platform, "fund-treasurer", "en")
    treasurer.goto("/fund")
    assert "(3/3)" in treasurer.locator("td.approvals").first.inner_text()
    treasurer.locator("input[name='payment_ref']").first.fill("BANK-0001")
    treasurer.locator("button[value='post']").first.click()
    treasurer.wait_for_selector("p.ok, p.error")
    assert treasurer.locator("td.status").first.inner_text() == "posted"
    shot(treasurer, "10-fund-posted-en")


def test_a_broadcast_in_the_browser(chromium, platform: Platform):
    """The reach of the chosen area shows as it is chosen, and the sent broadcast's progress
    follows live to its end: neither reloads the page."""
    hongqi = "sz.tongjiang.niuerqiao.hongqi"
    report(platform, "streetlight-out", hongqi, "楼道灯不亮")  # its reporter lives there
    operator = person(chromium, platform, "operator", "en")
    deadline = time.monotonic() + 30
    while True:  # the reporter is counted within a second or two
        operator.goto(f"/broadcasts?node_id={hongqi}")
        if (
            operator.locator("#reach-residents").inner_text().isdigit()
            or time.monotonic() > deadline
        ):
            break
        time.sleep(0.5)
    operator.goto("/broadcasts")
    operator.evaluate("window.notReloaded = true")
    operator.select_option("#node_id", hongqi)
    operator.wait_for_selector("#reach h2:has-text('Hongqi')")
    assert int(operator.locator("#reach-residents").inner_text()) >= 1
    assert operator.evaluate("window.notReloaded === true")
    operator.fill("#title_zh", "停水通知")
    operator.fill("#body_zh", "明日停水。")
    operator.click("form[action='/broadcasts'][method='post'] button[type=submit]")
    operator.wait_for_selector("#broadcast")
    operator.evaluate("window.notReloaded = true")
    operator.wait_for_selector("#broadcast[data-status='done']", timeout=30_000)
    assert int(operator.locator("#broadcast-reached").inner_text()) >= 1
    assert operator.evaluate("window.notReloaded === true")
    shot(operator, "11-broadcast-done-en")


@pytest.mark.parametrize("page", ["deadlines", "cases"])
def test_the_board_and_the_queue_update_live_in_the_browser(
    chromium, platform: Platform, page: str
):
    """The deadline board and the case queue follow their stream: an urgent case shows up
    before any timer could have reloaded them (20 s and 30 s without a stream, 60 s with
    one), and without a page reload."""
    street = person(chromium, platform, "tongjiang", "en")
    street.goto(f"/{page}")  # its timer alone would reload it after 20 s at the soonest
    street.wait_for_timeout(2000)  # the stream has read the scope's stamp
    street.evaluate("window.notReloaded = true")
    issue_id = report(platform, "water-pipe-burst", "sz.tongjiang.niuerqiao.hongqi", "水管爆裂",
                      severity="spraying", **{"location-detail": "5 栋楼下"})  # fmt: skip
    street.wait_for_selector(f"a[href='/cases/{issue_id}']", timeout=15_000)
    assert street.evaluate("window.notReloaded === true")
    shot(street, f"12-{page}-live-en")


def test_the_reports_photo_shows_on_the_case_page_in_the_browser(chromium, platform: Platform):
    """Loaded from the console's own origin (the page's CSP allows images from it alone)."""
    from tests.web.residents_helpers import noisy_png

    stored = httpx.post(f"{platform.url('intake')}/api/v1/media", timeout=20,
                        files={"file": ("lamp.png", noisy_png(48), "image/png")})  # fmt: skip
    assert stored.status_code == 201, stored.text
    issue_id = report(platform, "streetlight-out", "sz.tongjiang.niuerqiao.hongqi", "灯罩掉了",
                      media_url=stored.json()["media_url"])  # fmt: skip
    community = person(chromium, platform, "niuerqiao")
    until_listed(community, issue_id)
    community.goto(f"/cases/{issue_id}")
    community.wait_for_function("document.querySelector('figure.photo img').complete")
    assert community.evaluate("document.querySelector('figure.photo img').naturalWidth") == 48
    shot(community, "13-case-photo-zh")


def teardown_module() -> None:
    if SHOTS.exists() and not any(SHOTS.iterdir()):
        shutil.rmtree(SHOTS)


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_every_page_passes_the_accessibility_checker(chromium, platform: Platform, lang: str):
    """axe-core (through axe-playwright-python, bundled: nothing fetched) on every page of
    every role: labels, headings, landmarks, contrast."""
    from axe_playwright_python.sync_playwright import Axe

    from services.ops.cli.web import DEMO_ACCOUNTS
    from services.web.domain.accounts import PAGES

    axe, found, seen = Axe(), {}, set()
    anonymous = chromium.new_context(base_url=platform.url("web"), locale=lang)
    anonymous.add_cookies([{"name": "linli_lang", "value": lang, "url": platform.url("web")}])
    signin = anonymous.new_page()
    signin.goto("/signin")
    checked = axe.run(signin).response
    assert checked["passes"], "the checker ran no rule"
    for violation in checked["violations"]:
        found.setdefault(violation["id"], set()).add("signin")
    anonymous.close()
    for username, role, *_ in DEMO_ACCOUNTS:
        if role in seen:
            continue
        seen.add(role)
        page = person(chromium, platform, username, lang)
        for name in (*PAGES[role], "signin-error"):
            page.goto(f"/{name}" if name != "signin-error" else "/cases/iss_0000000000")
            results = axe.run(page)
            for violation in results.response["violations"]:
                found.setdefault(violation["id"], set()).add(f"{role}:{name}")
        page.context.close()
    assert found == {}, found

"""The residents' pages on a phone-sized screen in a real browser (Debian's Chromium driven by
Playwright) against the real services: sign in with the one-time code from the development
outbox, report with a photo from a building's QR link, watch the assignment arrive live in
the inbox, rate the result once staff resolved it through dispatch's API; then the same
report and rating with JavaScript off, by plain form posts. axe checks each page; screenshots
land in tests/web/screenshots/ (git-ignored)."""

from __future__ import annotations

import pytest

from tests.web.conftest import Platform
from tests.web.residents_helpers import BUILDING, PNG, noisy_png, outbox_code, resolve_and_visit
from tests.web.test_console_browser import CHROMIUM, SHOTS, chromium  # noqa: F401 (fixture)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.skipif(not __import__("pathlib").Path(CHROMIUM).exists(),
                       reason="make system-deps installs chromium"),
]  # fmt: skip
PHONE_SCREEN = {"width": 360, "height": 740}


def phone_context(browser, platform: Platform, lang: str, script: bool = True):
    context = browser.new_context(
        base_url=platform.url("web"), viewport=PHONE_SCREEN, locale=lang,
        java_script_enabled=script, is_mobile=True, has_touch=True,
    )  # fmt: skip
    context.add_cookies([{"name": "linli_lang", "value": lang, "url": platform.url("web")}])
    return context


class Checked:
    """axe on each page seen (with script on: the checker is a script); screenshots named
    in order."""

    def __init__(self, prefix: str, script: bool = True):
        from axe_playwright_python.sync_playwright import Axe

        self.axe, self.prefix, self.found, self.count = Axe(), prefix, {}, 0
        self.script = script

    def __call__(self, page, name: str) -> None:
        self.count += 1
        page.screenshot(path=str(SHOTS / f"{self.prefix}-{self.count:02d}-{name}.png"),
                        full_page=True)  # fmt: skip
        if not self.script:  # (the layout is the same; checked with script on)
            return
        for violation in self.axe.run(page).response["violations"]:
            self.found.setdefault(violation["id"], set()).add(name)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_SCREEN["width"]


def sign_in(page, platform: Platform, phone: str, next_: str) -> None:
    page.goto(f"/phone?next={next_}")
    page.fill("#phone", phone)
    page.click("form[action='/phone'] button[type=submit]")
    page.wait_for_selector("#code")
    page.fill("#code", outbox_code(platform, phone))
    page.click("form[action='/phone/code'] button[type=submit]")
    page.wait_for_url(f"**{next_}")


def report_from_qr(page, photo, check: Checked, search: bool) -> str:
    """From a building's QR link: choose the street light, describe, add the photo, send
    (and send anyway if reports like it are offered). The issue id."""
    page.goto(f"/report?place={BUILDING}")
    if search:  # with script the list filters as one types
        page.fill("#q", "路灯")
        page.wait_for_selector("li[data-words]:not([hidden]) >> text=路灯不亮")
        assert page.locator("li[data-words][hidden]").count() > 10
    check(page, "choose")
    page.click("a[href^='/report?category=streetlight-out']")
    assert page.locator("#building").input_value() == BUILDING
    page.fill("#description", "楼下路灯不亮")
    if search:  # with script a photo over the limit is made smaller before it is sent
        big = photo.with_name("big.png")
        big.write_bytes(noisy_png(1400))
        limit = int(page.locator("#photo").get_attribute("data-max"))
        assert big.stat().st_size > limit
        page.set_input_files("#photo", str(big))
        page.wait_for_selector("#photo[data-checked]", state="attached")
        size = page.evaluate("document.getElementById('photo').files[0].size")
        assert 0 < size <= limit and page.locator("#photo-too-big").is_hidden()
        page.evaluate("document.getElementById('photo').removeAttribute('data-checked')")
    page.set_input_files("#photo", str(photo))
    if page.locator("#phone").count():
        page.fill("#phone", "13800008801")
    check(page, "report-form")
    page.click("form.report-form button[type=submit]")
    page.wait_for_load_state()
    if page.locator("section.dupes").count():
        check(page, "duplicates")
        page.click("form.report-form button[type=submit]")
        page.wait_for_load_state()
    page.wait_for_selector("#issue-id")
    check(page, "done")
    return page.locator("#issue-id").inner_text()


def rate(page, token: str, choice: str, check: Checked) -> None:
    page.goto(f"/rate/{token}")
    check(page, "rate")
    page.check(f"input[name=rating][value={choice}]")
    page.fill("#comment", "谢谢")
    page.click("form[action^='/rate/'] button[type=submit]")
    page.wait_for_selector("p.ok[role=status]")
    check(page, "rated")


def test_a_resident_on_a_phone(chromium, platform: Platform, tmp_path):  # noqa: F811
    check, photo = Checked("residents"), tmp_path / "lamp.png"
    photo.write_bytes(PNG)
    context = phone_context(chromium, platform, "zh-CN")
    inbox = context.new_page()
    sign_in(inbox, platform, "13800008801", "/me/inbox")
    inbox.evaluate("window.notReloaded = true")
    check(inbox, "inbox")
    issue_id = report_from_qr(context.new_page(), photo, check, search=True)
    # the assignment arrives in the open inbox page without a reload
    inbox.wait_for_selector(f"#inbox li:has-text('{issue_id}'):has-text('承办')", timeout=30000)
    assert inbox.evaluate("window.notReloaded === true")
    resolve_and_visit(platform, issue_id)
    visit = inbox.wait_for_selector(f"#inbox li:has-text('/rate/{issue_id}.')", timeout=60000)
    token = visit.inner_text().split("/rate/")[1].split()[0]
    mine = context.new_page()
    for path, name in (("/me", "mine"), (f"/me/reports/{issue_id}", "issue"),
                       ("/me/preferences", "preferences")):  # fmt: skip
        mine.goto(path)
        check(mine, name)
    rate(mine, token, "satisfied", check)
    context.close()
    assert check.found == {}, check.found


def test_the_same_without_javascript(chromium, platform: Platform, tmp_path):  # noqa: F811
    check, photo = Checked("residents-nojs", script=False), tmp_path / "lamp.png"
    photo.write_bytes(PNG)
    context = phone_context(chromium, platform, "en", script=False)
    page = context.new_page()
    issue_id = report_from_qr(page, photo, check, search=False)
    sign_in(page, platform, "13800008801", "/me")
    assert issue_id in page.content()
    resolve_and_visit(platform, issue_id)
    deadline_text = ""
    for _ in range(60):
        page.goto("/me/inbox")
        deadline_text = page.content()
        if f"/rate/{issue_id}." in deadline_text:
            break
        page.wait_for_timeout(1000)
    token = deadline_text.split(f"/rate/{issue_id}.")[1].split()[0].split("<")[0]
    rate(page, f"{issue_id}.{token}", "not", check)
    context.close()
    assert check.found == {}, check.found

"""Consult's pages in a real browser (Debian's Chromium driven by Playwright) on a
phone-sized screen, against the real services: a resident of 嘉定小院 signs in with the
one-time code, ranks the five candidate names in the naming poll (selects, no script
needed), changes the ballot, sees the receipt, comments on a yard meeting; a stranger and
a stale form get clear refusal pages; the office's (with moderation) and the parties' pages
and the public results. axe checks every
page (no violations); screenshots land in tests/web/screenshots/ (git-ignored)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.consult.demo import COMPOUND, POLL_ID, load_demo
from tests.web.conftest import Platform
from tests.web.residents_helpers import staff_token
from tests.web.test_console_browser import (  # noqa: F401 (chromium: a fixture)
    CHROMIUM,
    SHOTS,
    chromium,
    person,
)
from tests.web.test_residents_browser import Checked, phone_context, sign_in

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.skipif(not __import__("pathlib").Path(CHROMIUM).exists(),
                       reason="make system-deps installs chromium"),
]  # fmt: skip
VOTER = "13702102000"  # 嘉定小院 b02 201 (services/consult/demo.py)
STRANGER = "13912340000"  # on no roll
NO_SCRIPT = "13702202000"  # b02 202


@pytest.fixture(scope="module")
def demo(platform: Platform) -> str:
    """The naming poll and a yard meeting, before the browser starts (its sync API runs an
    event loop)."""
    load_demo(platform.settings, platform.url("consult"))
    now = datetime.now(UTC)
    body = {"id": "con_browser", "node_id": COMPOUND, "question": "院子里种什么树？",
            "description": "请大家说说想法。", "attachments": ["https://example.org/plan.pdf"],
            "opens_at": (now - timedelta(hours=1)).isoformat(),
            "closes_at": (now + timedelta(days=3)).isoformat()}  # fmt: skip
    token = staff_token(platform, "office", "sz.haitang.xianjie")
    made = httpx.post(f"{platform.url('consult')}/api/v1/consult/consultations", json=body,
                      headers={"Authorization": f"Bearer {token}"}, timeout=20)  # fmt: skip
    assert made.status_code == 201, made.text
    return POLL_ID


def rank(page, **given: int) -> None:
    for option in ("jiading", "jiulong", "hemei", "linli", "qingyuan"):
        page.select_option(f"#rank-{option}", str(given.get(option, "")))


def test_a_resident_votes_in_the_naming_poll_and_changes_it(demo, chromium, platform):  # noqa: F811
    check = Checked("consult")
    context = phone_context(chromium, platform, "zh-CN")
    page = context.new_page()
    sign_in(page, platform, VOTER, "/me/polls")
    check(page, "my-polls")
    page.click(f"a[href='/me/polls/{POLL_ID}']")
    check(page, "poll")
    rank(page, jiading=1, qingyuan=2, hemei=3)
    page.click(f"form[action='/me/polls/{POLL_ID}/ballot'] button[type=submit]")
    first = page.wait_for_selector("#receipt").inner_text()
    assert re.fullmatch(r"r_[0-9a-f]{32}", first)
    check(page, "receipt")
    page.goto(f"/me/polls/{POLL_ID}")
    assert page.locator("#last-receipt").inner_text() == first
    rank(page, linli=1, jiading=2)
    page.click(f"form[action='/me/polls/{POLL_ID}/ballot'] button[type=submit]")
    page.wait_for_selector("#receipt")
    assert "以最后一次为准" in page.content() and page.locator("#receipt").inner_text() != first
    check(page, "changed")
    # a stale form (its CSRF token no longer the session's) is a clear page
    page.goto(f"/me/polls/{POLL_ID}")
    page.locator("form[action$='/ballot'] input[name=csrf]").evaluate("e => e.value = 'stale'")
    rank(page, jiading=1)
    page.click(f"form[action='/me/polls/{POLL_ID}/ballot'] button[type=submit]")
    page.wait_for_selector("h1:has-text('表单已过期')")
    check(page, "csrf-refused")
    page.goto("/me/consultations/con_browser")
    page.fill("#comment", "种桂花")
    page.click("form[action$='/comments'] button[type=submit]")
    page.wait_for_selector("p.ok[role=status]")
    assert "种桂花" in page.content()
    check(page, "consultation")
    for path, name in ((f"/public/polls/{POLL_ID}", "public-poll"), ("/public/polls", "public"),
                       (f"/paper?poll={POLL_ID}", "paper")):  # fmt: skip
        page.goto(path)
        check(page, name)
    context.close()
    stranger = phone_context(chromium, platform, "en").new_page()
    sign_in(stranger, platform, STRANGER, "/me/polls")
    stranger.goto(f"/me/polls/{POLL_ID}")
    assert "is not on this poll" in stranger.locator("h1").inner_text()
    check(stranger, "outside-the-roll")
    stranger.context.close()
    assert check.found == {}, check.found


def test_voting_without_javascript(demo, chromium, platform: Platform):  # noqa: F811
    check = Checked("consult-nojs", script=False)
    page = phone_context(chromium, platform, "en", script=False).new_page()
    sign_in(page, platform, NO_SCRIPT, f"/me/polls/{POLL_ID}")
    rank(page, hemei=1, jiulong=2)
    page.click(f"form[action='/me/polls/{POLL_ID}/ballot'] button[type=submit]")
    receipt = page.wait_for_selector("#receipt").inner_text()
    check(page, "receipt")
    page.goto(f"/me/polls/{POLL_ID}")
    rank(page, jiulong=1)
    page.click(f"form[action='/me/polls/{POLL_ID}/ballot'] button[type=submit]")
    page.wait_for_selector("#receipt")
    assert "the last one counts" in page.content()
    assert page.locator("#receipt").inner_text() != receipt
    check(page, "changed")
    page.context.close()


def test_the_staff_pages_pass_the_checker(demo, chromium, platform: Platform):  # noqa: F811
    from axe_playwright_python.sync_playwright import Axe

    axe, found = Axe(), {}
    for username, paths in (("xianjie", ("/polls", f"/polls/{POLL_ID}",
                                         "/polls/consultations/con_browser")),
                            ("jiading-branch", ("/resolutions",))):  # fmt: skip
        page = person(chromium, platform, username)
        for path in paths:
            page.goto(path)
            assert page.locator("h1").count() == 1
            shot = SHOTS / f"consult-staff{path.replace('/', '-')}.png"
            page.screenshot(path=str(shot), full_page=True)
            for violation in axe.run(page).response["violations"]:
                found.setdefault(violation["id"], set()).add(path)
        page.context.close()
    assert found == {}, found

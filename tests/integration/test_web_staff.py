"""Staff accounts and sessions on the real MongoDB-protocol server, with a clock the test
moves: idle and absolute timeouts, lock-out after failures, disabled accounts, the audit
trail, and cookies never stored as such."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.web.app import staff_for
from services.web.domain.accounts import AccountError, Scope
from services.web.staff import SignInRefused
from shared.mongo import make_client

pytestmark = pytest.mark.integration
PASSWORD = "correct horse battery"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def staff(settings):
    client = make_client(settings.mongodb_url, app_name="test-web")
    clock = Clock()
    people = staff_for(settings, client[settings.database_name("web")], clock)
    await people.create_user("li.ming", PASSWORD, Scope("office", "sz.tongjiang"), "李明")
    yield people, clock
    await client.drop_database(settings.database_name("web"))
    await client.close()


async def test_sessions_end_when_idle_or_too_old(staff):
    people, clock = staff
    cookie = await people.sign_in("li.ming", PASSWORD, "127.0.0.1")
    stored = await people.store.sessions.find({}).to_list()
    assert cookie not in str(stored)  # only its hash is kept
    assert (await people.person(cookie)).scope == Scope("office", "sz.tongjiang")
    clock.now += timedelta(minutes=29)
    assert await people.person(cookie) is not None  # and this request counts as activity
    clock.now += timedelta(minutes=29)
    assert await people.person(cookie) is not None
    clock.now += timedelta(minutes=31)
    assert await people.person(cookie) is None  # idle too long
    cookie = await people.sign_in("li.ming", PASSWORD, "127.0.0.1")
    for _ in range(25):  # active every 25 minutes, still ends 10 hours after sign-in
        clock.now += timedelta(minutes=25)
        alive = await people.person(cookie)
    assert alive is None


async def test_repeated_failures_lock_the_account_and_reset_lifts_it(staff):
    people, clock = staff
    for _ in range(5):
        with pytest.raises(SignInRefused, match="failed"):
            await people.sign_in("li.ming", "wrong password!", "10.0.0.9")
    with pytest.raises(SignInRefused, match="locked"):
        await people.sign_in("li.ming", PASSWORD, "10.0.0.9")  # even the right one
    clock.now += timedelta(minutes=16)
    assert await people.sign_in("li.ming", PASSWORD, "10.0.0.9")
    for _ in range(5):
        with pytest.raises(SignInRefused):
            await people.sign_in("li.ming", "wrong password!", "10.0.0.9")
    await people.reset_password("li.ming", "a brand new passphrase")
    assert await people.sign_in("li.ming", "a brand new passphrase", "10.0.0.9")
    trail = await people.store.recent_audit(100, who="li.ming")
    outcomes = [a["outcome"] for a in trail]
    assert outcomes.count("failed") == 10 and outcomes.count("locked") == 1
    assert all(a["from"] == "10.0.0.9" for a in trail)


async def test_disabled_accounts_and_their_sessions_stop(staff):
    people, _ = staff
    cookie = await people.sign_in("li.ming", PASSWORD, "127.0.0.1")
    await people.set_active("li.ming", False)
    assert await people.person(cookie) is None
    with pytest.raises(SignInRefused):
        await people.sign_in("li.ming", PASSWORD, "127.0.0.1")
    with pytest.raises(AccountError, match="exists"):
        await people.create_user("li.ming", PASSWORD, Scope("office", "sz"), "")
    with pytest.raises(SignInRefused):
        await people.sign_in("nobody", PASSWORD, "127.0.0.1")


def test_operators_manage_accounts_with_the_linli_tool(settings, monkeypatch):
    from typer.testing import CliRunner

    from services.ops.cli.main import app

    monkeypatch.setenv("LINLI_MONGODB_URL", settings.mongodb_url)
    monkeypatch.setenv("LINLI_DB_PREFIX", settings.db_prefix)
    run = CliRunner().invoke
    made = run(app, ["web", "users", "create", "wang.fang", "--role", "department", "--scope",
                     "zhujian", "--password-stdin"], input="a-long-password-1\n")  # fmt: skip
    assert made.exit_code == 0, made.output
    refused = run(app, ["web", "users", "create", "x", "--role", "office", "--scope", "sz",
                        "--password-stdin"], input="short\n")  # fmt: skip
    assert refused.exit_code == 1 and "user name" in refused.output
    listed = run(app, ["web", "users", "list"])
    assert "wang.fang" in listed.output and "zhujian" in listed.output
    assert "a-long-password" not in listed.output
    assert run(app, ["web", "users", "disable", "wang.fang"]).exit_code == 0
    assert run(app, ["web", "users", "disable", "nobody"]).exit_code == 1
    reset = run(app, ["web", "users", "reset", "wang.fang", "--password-stdin"],
                input="another-long-pass\n")  # fmt: skip
    assert reset.exit_code == 0
    listed = run(app, ["web", "users", "list"])
    assert "False" in listed.output  # still disabled: a reset does not enable


async def test_a_password_reset_ends_every_session_of_the_account(staff):
    people, _ = staff
    first = await people.sign_in("li.ming", PASSWORD, "127.0.0.1")
    second = await people.sign_in("li.ming", PASSWORD, "127.0.0.2")
    await people.create_user("wang.fang", PASSWORD, Scope("department", "zhujian"), "")
    other = await people.sign_in("wang.fang", PASSWORD, "127.0.0.3")
    await people.reset_password("li.ming", "a brand new passphrase")
    assert await people.person(first) is None and await people.person(second) is None
    assert (await people.person(other)).scope == Scope("department", "zhujian")

"""The console reads a page's data while it checks the session (``Pages.person_and``), on the
real MongoDB-protocol server: the two round trips overlap once the process knows the session,
and the early answer is dropped, never shown, when the session has ended meanwhile."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import Request

from services.web.app import staff_for
from services.web.backends import Backends
from services.web.domain.accounts import Scope
from services.web.pages import Pages, Refusal, SignInNeeded
from shared.mongo import make_client
from shared.reference import load_reference

pytestmark = pytest.mark.integration
PASSWORD = "correct horse battery"


@pytest.fixture
async def console(settings):
    client = make_client(settings.mongodb_url, app_name="test-web")
    db = client[settings.database_name("web")]
    staff = staff_for(settings, db)
    await staff.create_user("li.ming", PASSWORD, Scope("office", "sz.tongjiang"), "李明")
    pages = Pages(staff, Backends(httpx.AsyncClient(), {}), load_reference(settings.config_dir),
                  secure_cookie=False)  # fmt: skip
    cookie = await staff.sign_in("li.ming", PASSWORD, "127.0.0.1")
    order: list[str] = []
    read = staff.store.session

    async def session(value: str):
        found = await read(value)
        order.append("session read")
        return found

    staff.store.session = session  # the real read, noted when it has answered
    yield pages, cookie, order, db
    await client.drop_database(settings.database_name("web"))
    await client.close()


def request(cookie: str) -> Request:
    headers = [(b"cookie", f"linli_session={cookie}".encode())]
    return Request({"type": "http", "method": "GET", "path": "/cases", "headers": headers,
                    "query_string": b""})  # fmt: skip


async def test_a_known_session_fetches_while_it_is_checked(console):
    pages, cookie, order, _ = console

    async def fetch(person):
        order.append(f"fetch for {person.username}")
        return ["rows"]

    person, answer = await pages.person_and(request(cookie), "cases", fetch)
    assert (person.username, answer) == ("li.ming", ["rows"])
    assert order == ["session read", "fetch for li.ming"]  # the first time: one after the other
    order.clear()
    person, answer = await pages.person_and(request(cookie), "cases", fetch)
    assert (person.username, answer) == ("li.ming", ["rows"])
    assert order == ["fetch for li.ming", "session read"]  # known: both under way at once


async def test_an_ended_session_drops_the_early_answer(console, settings):
    pages, cookie, order, db = console
    never = asyncio.Event()

    async def fetch(person):
        order.append("fetch")
        try:
            await never.wait()
        finally:
            order.append("dropped")
        return ["rows of li.ming"]

    async def quick(person):
        return ["rows"]

    await pages.person_and(request(cookie), "cases", quick)  # this process now knows it
    await staff_for(settings, db).set_active("li.ming", False)  # an operator, elsewhere
    with pytest.raises(SignInNeeded):
        await pages.person_and(request(cookie), "cases", fetch)
    await asyncio.sleep(0)
    assert order[-3:] == ["fetch", "session read", "dropped"]  # begun, then cancelled
    assert pages.staff.known(cookie) is None


async def test_a_page_outside_the_scope_fetches_nothing(console):
    pages, cookie, order, _ = console

    async def fetch(person):
        order.append("fetch")
        return []

    for _ in range(2):  # unknown, then known
        with pytest.raises(Refusal):
            await pages.person_and(request(cookie), "fund", fetch)
    assert "fetch" not in order

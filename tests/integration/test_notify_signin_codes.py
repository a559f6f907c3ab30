"""Residents' phone sign-in codes against the real servers: the code arrives in the
development outbox (never in a log), trades once for the resident's own token, expires,
dies after five wrong tries, and is rate limited per number and per address; production
serves no outbox."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from services.notify.app import create_app as notify_app
from services.notify.signin_codes import CODE_TTL, MAX_WRONG, PER_NUMBER, CodeRefused, SigninCodes
from shared.events import utcnow
from shared.mongo import make_client
from shared.residents import normalise_contact, resident_ref, resident_token
from tests.helpers import serving
from tests.servers import isolated_settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def notify(servers):
    settings = isolated_settings(servers)
    async with serving(notify_app(settings)) as (client,):
        yield settings, client


async def _code(client, phone: str) -> str:
    answer = await client.get("/api/v1/dev/sms-outbox", params={"to": phone})
    assert answer.status_code == 200, answer.text
    return re.search(r"\b(\d{6})\b", answer.json()["texts"][0]["text"]).group(1)


async def test_a_code_signs_the_resident_in_once(notify, caplog):
    settings, client = notify
    asked = await client.post("/api/v1/residents/signin-codes", json={"phone": "13800005501"})
    assert asked.status_code == 202 and asked.json()["expires_in_s"] == 300
    code = await _code(client, "13800005501")
    assert code not in caplog.text  # the code is never logged
    wrong = "000000" if code != "000000" else "111111"
    refused = await client.post("/api/v1/residents/signin", json={"phone": "13800005501",
                                "code": wrong})  # fmt: skip
    assert refused.status_code == 401 and refused.json()["errors"][0]["field"] == "body.code"
    signed = await client.post("/api/v1/residents/signin", json={"phone": "13800005501",
                               "code": code})  # fmt: skip
    assert signed.status_code == 200, signed.text
    secret = settings.resident_secret.get_secret_value()
    ref = resident_ref(secret, normalise_contact("13800005501", None))
    assert signed.json() == {"resident_ref": ref, "resident_token": resident_token(secret, ref)}
    bearer = {"Authorization": f"Bearer {signed.json()['resident_token']}"}
    inbox = await client.get(f"/api/v1/residents/{ref}/inbox", headers=bearer)
    assert inbox.status_code == 200
    again = await client.post("/api/v1/residents/signin", json={"phone": "13800005501",
                              "code": code})  # fmt: skip
    assert again.status_code == 410  # single use


async def test_codes_are_limited_per_number_and_per_address(notify):
    _, client = notify
    limit = PER_NUMBER[0]
    answers = [
        (
            await client.post(
                "/api/v1/residents/signin-codes",
                json={"phone": "13800005502", "client_address": "10.9.9.1"},
            )
        ).status_code
        for _ in range(limit + 1)
    ]
    assert answers == [202] * limit + [429]
    seen = [
        (
            await client.post(
                "/api/v1/residents/signin-codes",
                json={"phone": f"1380000560{i}", "client_address": "10.9.9.2"},
            )
        ).status_code
        for i in range(11)
    ]
    assert seen == [202] * 10 + [429]  # ten numbers from one address, then refused
    bad = await client.post("/api/v1/residents/signin-codes", json={"phone": "12ab"})
    assert bad.status_code in (400, 422) and bad.json()["errors"][0]["field"] == "body.phone"


async def test_a_code_expires_and_dies_after_wrong_tries(servers):
    settings = isolated_settings(servers)
    now = [utcnow()]
    db = make_client(settings.mongodb_url, app_name="test")[settings.database_name("notify")]
    codes = SigninCodes(db, secret="s", clock=lambda: now[0])
    _, code = await codes.new_code("13800005503", "a")
    now[0] += CODE_TTL + timedelta(seconds=1)
    with pytest.raises(CodeRefused, match="no live code"):
        await codes.check("13800005503", code)
    _, code = await codes.new_code("13800005503", "a")
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(MAX_WRONG):
        with pytest.raises(CodeRefused, match="wrong"):
            await codes.check("13800005503", wrong)
    with pytest.raises(CodeRefused, match="no live code"):  # the right code is void now
        await codes.check("13800005503", code)
    _, first = await codes.new_code("13800005504", "a")
    _, second = await codes.new_code("13800005504", "a")
    if first != second:
        with pytest.raises(CodeRefused):  # a new code replaces the old one
            await codes.check("13800005504", first)
    assert (await codes.check("13800005504", second)).resident_ref.startswith("res_")


async def test_production_serves_no_outbox(servers):
    settings = isolated_settings(servers, env="production", resident_secret="p" * 32,
                                 consult_secret="c" * 32, web_token_secret="w" * 32)  # fmt: skip
    async with serving(notify_app(settings)) as (client,):
        outbox = await client.get("/api/v1/dev/sms-outbox", params={"to": "13800005505"})
        assert outbox.status_code == 404
        asked = await client.post("/api/v1/residents/signin-codes", json={"phone": "13800005505"})
        assert asked.status_code == 503  # no gateway configured: nothing sent, nothing stored

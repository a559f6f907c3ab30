"""Consult trusts the web console's staff tokens as it trusts its own keys, no further: an
office token acts on its subtree only, a compound party's token on its compound only, other
roles and forged or expired tokens are refused; the lists the console's pages read."""

from __future__ import annotations

import time

import pytest

from services.consult.app import create_app
from shared.settings import Settings
from shared.staff_tokens import StaffClaims, sign
from tests.helpers import serving

COMPOUND = "sz.haitang.xianjie.jiading"
YES_NO = [{"id": "yes", "label": "Yes"}, {"id": "no", "label": "No"}]
POLL = {"poll_id": "poll_staff", "node_id": COMPOUND, "question": "Paint the gate?",
        "kind": "single", "options": YES_NO}  # fmt: skip


def bearer(settings: Settings, role: str, code: str, party: str | None = None, ttl: int = 60):
    secret = settings.web_token_secret.get_secret_value()
    claims = StaffClaims("someone", role, code, int(time.time()) + ttl, party)
    return {"Authorization": f"Bearer {sign(secret, claims)}"}


@pytest.mark.asyncio
async def test_office_tokens_act_on_their_subtree_only(settings: Settings) -> None:
    settings = settings.model_copy(update={"consult_close_settle_s": 0.0, "consult_tick_s": 0})
    app = create_app(settings)
    xianjie = bearer(settings, "office", "sz.haitang.xianjie")
    hongqi = bearer(settings, "office", "sz.tongjiang.niuerqiao")
    async with serving(app) as [client]:
        refused = await client.post("/api/v1/consult/polls", json=POLL, headers=hongqi)
        assert refused.status_code == 403, refused.text
        for headers in (
            bearer(settings, "department", "sz.haitang.xianjie"),
            bearer(settings, "office", "sz.haitang.xianjie", ttl=-5),
            {"Authorization": "Bearer lw1.e30.forged"},
        ):
            answer = await client.post("/api/v1/consult/polls", json=POLL, headers=headers)
            assert answer.status_code == 401, answer.text
        made = await client.post("/api/v1/consult/polls", json=POLL, headers=xianjie)
        assert made.status_code == 201, made.text
        mine = (await client.get("/api/v1/consult/polls", headers=xianjie)).json()["polls"]
        assert [p["poll_id"] for p in mine] == ["poll_staff"]
        theirs = (await client.get("/api/v1/consult/polls", headers=hongqi)).json()["polls"]
        assert theirs == []
        assert (await client.get("/api/v1/consult/polls")).status_code == 401
        opened = await client.post("/api/v1/consult/polls/poll_staff/open", headers=hongqi)
        assert opened.status_code == 403
        roll = "building,household,phone,language\n"
        roll += f"{COMPOUND}.b01,101,13900000101,zh-CN\n{COMPOUND}.b01,102,,zh-CN\n"
        await client.post("/api/v1/consult/rolls", content=roll,
                          headers={**xianjie, "content-type": "text/csv"})  # fmt: skip
        assert (
            await client.post("/api/v1/consult/polls/poll_staff/open", headers=xianjie)
        ).is_success
        frozen = await client.get("/api/v1/consult/polls/poll_staff/roll", headers=xianjie)
        assert sorted(frozen.json()["households"], key=lambda h: h["household"]) == [
            {"household": f"{COMPOUND}.b01|101", "phone": True},
            {"household": f"{COMPOUND}.b01|102", "phone": False},
        ]
        elsewhere = await client.get("/api/v1/consult/polls/poll_staff/roll", headers=hongqi)
        assert elsewhere.status_code == 403


@pytest.mark.asyncio
async def test_compound_party_tokens_decide_their_compound_only(settings: Settings) -> None:
    settings = settings.model_copy(update={"consult_tick_s": 0})
    app = create_app(settings)
    branch = bearer(settings, "compound-party", COMPOUND, "party-branch")
    elsewhere = bearer(settings, "compound-party", "sz.haitang.xianjie.demo-y039", "party-branch")
    url = f"/api/v1/consult/compounds/{COMPOUND}/resolutions"
    motion = {"resolution_id": "res_gate", "title": "Gate", "text": "Paint it green"}
    async with serving(app) as [client]:
        assert (await client.post(url, json=motion, headers=elsewhere)).status_code == 403
        office = bearer(settings, "office", "sz")
        assert (await client.post(url, json=motion, headers=office)).status_code == 403
        made = await client.post(url, json=motion, headers=branch)
        assert made.status_code == 201, made.text
        listed = (await client.get(url, headers=branch)).json()["resolutions"]
        assert [r["_id"] for r in listed] == ["res_gate"]
        assert (await client.get(url, headers=elsewhere)).status_code == 403
        decide = "/api/v1/consult/resolutions/res_gate/decide"
        verdict = {"verdict": "approve", "reason": "agreed"}
        assert (await client.post(decide, json=verdict, headers=elsewhere)).status_code == 403
        done = await client.post(decide, json=verdict, headers=branch)
        assert done.status_code == 200, done.text
        assert [v["party"] for v in done.json()["votes"]] == ["party-branch"]

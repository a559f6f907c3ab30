"""Consult through its HTTP API against real Kafka and FerretDB: a roll imported, a ranked
poll drafted, opened, voted, changed and closed; refusals store nothing; the published
ballots recount to the published result; notices reach Kafka."""

from __future__ import annotations

import json
import secrets

import httpx
import pytest

from services.consult.access import create_key
from services.consult.app import create_app
from services.consult.domain.polls import Option, Poll, Rules
from services.consult.voting import tally_published
from shared.residents import normalise_contact, resident_ref, resident_token
from shared.settings import Settings
from tests.helpers import eventually, read_topic, serving

COMPOUND = "sz.haitang.xianjie.jiading"
B1, B2 = f"{COMPOUND}.b01", f"{COMPOUND}.b02"
NAMES = ["jiading", "jiulong", "hehe", "linli", "qingyuan"]
ROLL = f"""building,household,phone,language
{B1},101,13900000101,zh-CN
{B1},102,13900000102,en
{B1},103,13900000103,zh-CN
{B2},201,,zh-CN
{B2},202,13900000202,zh-CN
sz.nowhere.b01,1,13900000999,zh-CN
{B1},104,not-a-phone,zh-CN
{B1},101,13900000101,zh-CN
"""


def who(settings: Settings, phone: str) -> tuple[str, dict[str, str]]:
    secret = settings.resident_secret.get_secret_value()
    ref = resident_ref(secret, normalise_contact(phone, None))
    return ref, {"Authorization": f"Bearer {resident_token(secret, ref)}"}


def ballot(ref: str, choice: list[str], key: str) -> dict:
    return {"resident_ref": ref, "choice": choice, "ballot_key": key}


async def setup(client: httpx.AsyncClient, app, settings: Settings) -> dict[str, str]:
    consult = app.state.consult
    _, office = await create_key(
        consult.store, consult.tree, name="xianjie", node="sz.haitang.xianjie", party=None
    )
    _, other = await create_key(
        consult.store, consult.tree, name="hongqi", node="sz.tongjiang.niuerqiao", party=None
    )
    return {"office": f"Bearer {office}", "other": f"Bearer {other}"}


@pytest.mark.asyncio
async def test_a_ranked_poll_from_roll_to_recount(settings: Settings) -> None:
    settings = settings.model_copy(update={"consult_close_settle_s": 0.0, "consult_tick_s": 0})
    app = create_app(settings)
    async with serving(app) as [client]:
        keys = await setup(client, app, settings)
        report = (
            await client.post(
                "/api/v1/consult/rolls",
                content=ROLL.encode(),
                headers={"Authorization": keys["office"], "content-type": "text/csv"},
            )
        ).json()
        assert report["accepted"] == 5
        assert [r["line"] for r in report["rejected"]] == [7, 8, 9]
        body = {
            "poll_id": "poll_naming",
            "node_id": COMPOUND,
            "question": "新院名?",
            "kind": "ranked",
            "options": [{"id": n, "label": n} for n in NAMES],
            "quorum_percent": 50,
        }
        loose = await client.post(
            "/api/v1/consult/polls",
            json={**body, "quorum_percent": "50"},
            headers={"Authorization": keys["office"]},
        )
        assert loose.status_code == 422
        assert loose.json()["errors"][0]["field"] == "body.quorum_percent"  # no coercion
        denied = await client.post(
            "/api/v1/consult/polls", json=body, headers={"Authorization": keys["other"]}
        )
        assert denied.status_code == 403
        made = await client.post(
            "/api/v1/consult/polls", json=body, headers={"Authorization": keys["office"]}
        )
        assert made.status_code == 201, made.text
        opened = await client.post(
            "/api/v1/consult/polls/poll_naming/open", headers={"Authorization": keys["office"]}
        )
        assert opened.status_code == 200 and opened.json()["roll_size"] == 5
        again = await client.post(
            "/api/v1/consult/polls/poll_naming/open", headers={"Authorization": keys["office"]}
        )
        assert again.status_code == 200 and again.json()["roll_size"] == 5  # a retry is harmless
        frozen = await client.patch(
            "/api/v1/consult/polls/poll_naming",
            json={"kind": "single", "options": body["options"]},
            headers={"Authorization": keys["office"]},
        )
        assert frozen.status_code == 409 and frozen.json()["errors"][0]["code"] == "rules_frozen"

        r101, h101 = who(settings, "13900000101")
        r102, h102 = who(settings, "13900000102")
        r202, h202 = who(settings, "13900000202")
        k101, k102, k202 = (secrets.token_urlsafe(32) for _ in range(3))
        url = "/api/v1/consult/polls/poll_naming/ballots"
        first = await client.post(
            url, json=ballot(r101, ["jiulong", "jiading"], k101), headers=h101
        )
        assert first.status_code == 201 and first.json()["status"] == "cast"
        changed = await client.post(url, json=ballot(r101, ["jiading"], k101), headers=h101)
        assert changed.json()["status"] == "changed" and changed.json()["ballot_number"] == 2
        other_key = await client.post(url, json=ballot(r101, ["hehe"], k102), headers=h101)
        assert other_key.status_code == 409
        unknown = await client.post(url, json=ballot(r102, ["nope"], k102), headers=h102)
        assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "body.choice"
        stranger, hs = who(settings, "13911111111")
        outside = await client.post(url, json=ballot(stranger, ["hehe"], k102), headers=hs)
        assert outside.status_code == 403
        assert (
            await client.post(url, json=ballot(r102, ["jiading", "hehe"], k102), headers=h102)
        ).status_code == 201
        assert (
            await client.post(url, json=ballot(r202, ["hehe", "jiading"], k202), headers=h202)
        ).status_code == 201
        codes = await client.post(
            "/api/v1/consult/polls/poll_naming/paper-codes",
            json={"households": [f"{B2}|201"]},
            headers={"Authorization": keys["office"]},
        )
        code = codes.json()["codes"][0]["code"]
        paper = {
            "paper_code": code,
            "choice": ["linli", "hehe"],
            "ballot_key": secrets.token_urlsafe(32),
        }
        assert (await client.post(url, json=paper)).status_code == 201
        again = {**paper, "ballot_key": secrets.token_urlsafe(32)}
        assert (await client.post(url, json=again)).status_code == 401  # one key per code
        hidden = (await client.get("/api/v1/consult/polls/poll_naming")).json()
        assert "results" not in hidden
        mine = await client.get(f"/api/v1/consult/residents/{r101}/polls", headers=h101)
        assert [p["poll_id"] for p in mine.json()["polls"]] == ["poll_naming"]
        assert (await client.get(f"/api/v1/consult/residents/{stranger}/polls", headers=hs)).json()[
            "polls"
        ] == []

        closed = await client.post(
            "/api/v1/consult/polls/poll_naming/close", headers={"Authorization": keys["office"]}
        )
        results = closed.json()["results"]
        assert results["turnout"] == 4 and results["ballots_cast"] == 5
        # first preferences: jiading 2 (101, 102), hehe 1 (202), linli 1 (201 on paper)
        assert results["outcome"]["winners"] == ["jiading"]
        assert results["quorum_met"] is True
        late = await client.post(url, json=ballot(r102, ["hehe"], k102), headers=h102)
        assert late.status_code == 409
        await app.state.consult.tick()  # the audit: one binding per household that voted
        audited = (await client.get("/api/v1/consult/polls/poll_naming")).json()
        assert audited["households_voted"] == 4

        published = (await client.get("/api/v1/consult/polls/poll_naming/ballots")).json()
        assert first.json()["receipt"] in {b["receipt"] for b in published["ballots"]}
        rules = Rules("ranked", tuple(Option(n, n) for n in NAMES), 5, 50)
        poll = Poll("poll_naming", COMPOUND, "x", "q", rules, status="closed", roll_size=5)
        assert tally_published(poll, published["ballots"]) == results
        notices = await read_topic(
            settings.kafka_bootstrap, settings.topic_prefix + "consult.notices", expect=8
        )
        kinds = [json.loads(r.value)["kind"] for r in notices]
        assert kinds.count("poll-opened") == 4 and kinds.count("poll-results") == 4


@pytest.mark.asyncio
async def test_notices_reach_the_households_inboxes_in_their_language(settings: Settings) -> None:
    from services.notify.app import create_app as notify_app

    settings = settings.model_copy(update={"consult_close_settle_s": 0.0, "consult_tick_s": 0})
    app = create_app(settings)
    async with serving(app, notify_app(settings)) as [client, notify]:
        keys = await setup(client, app, settings)
        roll = "building,household,phone,language\n"
        roll += f"{B1},101,13900000101,zh-CN\n{B1},102,13900000102,en\n"
        office = {"Authorization": keys["office"]}
        await client.post(
            "/api/v1/consult/rolls", content=roll, headers={**office, "content-type": "text/csv"}
        )
        body = {"poll_id": "poll_inbox", "node_id": B1, "question": "Paint the gate?"}
        body |= {
            "kind": "single",
            "options": [{"id": "yes", "label": "Yes"}, {"id": "no", "label": "No"}],
        }
        await client.post("/api/v1/consult/polls", json=body, headers=office)
        await client.post("/api/v1/consult/polls/poll_inbox/open", headers=office)
        r101, h101 = who(settings, "13900000101")
        r102, h102 = who(settings, "13900000102")
        cast = ballot(r101, ["yes"], secrets.token_urlsafe(32))
        assert (
            await client.post("/api/v1/consult/polls/poll_inbox/ballots", json=cast, headers=h101)
        ).status_code == 201
        await client.post("/api/v1/consult/polls/poll_inbox/close", headers=office)

        async def inbox(ref: str, headers: dict) -> list[dict]:
            answer = await notify.get(f"/api/v1/residents/{ref}/inbox", headers=headers)
            return answer.json()["messages"] if answer.status_code == 200 else []

        async def both_arrived() -> list[dict]:
            messages = await inbox(r102, h102)
            return messages if len(messages) == 2 else []

        messages = await eventually(both_arrived, 30)
        titles = sorted(m["title"].split(": ", 1)[1] for m in messages)
        assert titles == ["a new poll", "poll results"]
        assert any("Result: Yes." in m["body"] for m in messages)
        zh = await eventually(lambda: inbox(r101, h101), 30)
        assert all("投票" in m["title"] for m in zh)


@pytest.mark.asyncio
async def test_reminders_go_only_to_households_that_have_not_voted(settings: Settings) -> None:
    from datetime import timedelta

    from shared.events import utcnow

    settings = settings.model_copy(update={"consult_close_settle_s": 0.0, "consult_tick_s": 0})
    app = create_app(settings)
    async with serving(app) as [client]:
        keys = await setup(client, app, settings)
        office = {"Authorization": keys["office"]}
        await client.post(
            "/api/v1/consult/rolls",
            content=ROLL.encode(),
            headers={**office, "content-type": "text/csv"},
        )
        body = {"poll_id": "poll_remind", "node_id": B1, "question": "Bike shed?"}
        body |= {
            "kind": "single",
            "options": [{"id": "y", "label": "Yes"}, {"id": "n", "label": "No"}],
        }
        body |= {"closes_at": (utcnow() + timedelta(minutes=30)).isoformat(), "remind_before_h": 1}
        assert (
            await client.post("/api/v1/consult/polls", json=body, headers=office)
        ).status_code == 201
        await client.post("/api/v1/consult/polls/poll_remind/open", headers=office)
        r101, h101 = who(settings, "13900000101")
        cast = ballot(r101, ["y"], secrets.token_urlsafe(32))
        await client.post("/api/v1/consult/polls/poll_remind/ballots", json=cast, headers=h101)
        await app.state.consult.polls.tick()
        await app.state.consult.polls.tick()  # once only
        records = await read_topic(  # 3 opened, 2 reminders; a 6th would be a repeat
            settings.kafka_bootstrap,
            settings.topic_prefix + "consult.notices",
            expect=6,
            timeout_s=4,
        )
        assert len(records) == 5
        reminders = [json.loads(r.value) for r in records]
        reminders = [n for n in reminders if n["kind"] == "poll-reminder"]
        r102, _ = who(settings, "13900000102")
        r103, _ = who(settings, "13900000103")
        assert sorted(n["resident_refs"][0] for n in reminders) == sorted([r102, r103])
        assert all(set(n) >= {"title", "closes_at"} and "choice" not in n for n in reminders)


@pytest.mark.asyncio
async def test_a_three_party_resolution_and_a_moderated_consultation(settings: Settings) -> None:
    from datetime import timedelta

    from shared.events import utcnow

    compound = "sz.haitang.xianjie.demo-y039"  # has a property company
    app = create_app(settings.model_copy(update={"consult_tick_s": 0}))
    async with serving(app) as [client]:
        consult = app.state.consult
        keys = await setup(client, app, settings)
        parties = {}
        for party in ("party-branch", "owners-committee", "property-company"):
            _, key = await create_key(
                consult.store, consult.tree, name=party, node=compound, party=party
            )
            parties[party] = {"Authorization": f"Bearer {key}"}
        motion = {"resolution_id": "res_parking", "title": "Parking rule", "text": "Odd/even days"}
        motion["disbursement_id"] = "disb-0001"
        url = f"/api/v1/consult/compounds/{compound}/resolutions"
        assert (
            await client.post(url, json=motion, headers={"Authorization": keys["office"]})
        ).status_code == 403
        made = await client.post(url, json=motion, headers=parties["party-branch"])
        assert made.status_code == 201 and made.json()["parties"] == list(parties)
        decide = "/api/v1/consult/resolutions/res_parking/decide"
        for party in ("party-branch", "owners-committee"):
            answer = await client.post(
                decide, json={"verdict": "approve", "reason": "fair"}, headers=parties[party]
            )
            assert answer.json()["status"] == "pending"
        again = await client.post(
            decide, json={"verdict": "approve", "reason": "x"}, headers=parties["party-branch"]
        )
        assert again.status_code == 409
        no_reason = await client.post(
            decide, json={"verdict": "approve"}, headers=parties["property-company"]
        )
        assert (
            no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "body.reason"
        )
        last = await client.post(
            decide,
            json={"verdict": "approve", "reason": "we will paint lines"},
            headers=parties["property-company"],
        )
        assert last.json()["status"] == "passed"
        events = await read_topic(
            settings.kafka_bootstrap, settings.topic_prefix + "consult.events", expect=1
        )
        decided = json.loads(events[0].value)
        assert decided["status"] == "passed" and decided["disbursement_id"] == "disb-0001"
        assert [v["reason"] for v in decided["votes"]][-1] == "we will paint lines"

        # a consultation under 嘉定小院: a resident comments, the office hides it with a reason
        office = {"Authorization": keys["office"]}
        await client.post(
            "/api/v1/consult/rolls",
            content=ROLL.encode(),
            headers={**office, "content-type": "text/csv"},
        )
        now = utcnow()
        item = {"id": "con_gate", "node_id": COMPOUND, "question": "What to do with the gate?"}
        item |= {
            "opens_at": (now - timedelta(hours=1)).isoformat(),
            "closes_at": (now + timedelta(days=3)).isoformat(),
        }
        assert (
            await client.post("/api/v1/consult/consultations", json=item, headers=office)
        ).status_code == 201
        r101, h101 = who(settings, "13900000101")
        said = await client.post(
            "/api/v1/consult/consultations/con_gate/comments",
            json={"resident_ref": r101, "text": "rude words"},
            headers=h101,
        )
        assert said.status_code == 201
        comment_id = said.json()["id"]
        hide_url = f"/api/v1/consult/comments/{comment_id}/hide"
        other = await client.post(
            hide_url, json={"reason": "insult"}, headers={"Authorization": keys["other"]}
        )
        assert other.status_code == 403
        assert (
            await client.post(hide_url, json={"reason": "insult"}, headers=office)
        ).status_code == 200
        shown = (await client.get("/api/v1/consult/consultations/con_gate/comments")).json()[
            "comments"
        ]
        assert shown == [
            {"id": comment_id, "hidden": True, "reason": "insult", "at": shown[0]["at"]}
        ]
        kept = await consult.store.comments.find_one({"_id": comment_id})
        assert kept["text"] == "rude words" and kept["hidden_by"]


@pytest.mark.asyncio
async def test_a_roll_larger_than_the_default_body_limit_is_imported(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"consult_tick_s": 0}))
    async with serving(app) as [client]:
        keys = await setup(client, app, settings)
        lines = [f"{B1},{i},,zh-CN" for i in range(1_800)]
        roll = "building,household,phone,language\n" + "\n".join(lines) + "\n"
        assert len(roll.encode()) > settings.max_body_bytes
        answer = await client.post(
            "/api/v1/consult/rolls",
            content=roll.encode(),
            headers={"Authorization": keys["office"], "content-type": "text/csv"},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"accepted": 1_800, "rejected": []}


async def stored(consult, poll_id: str) -> dict[str, int]:
    store = consult.store
    return {
        "records": await store.ballots(poll_id).count_documents({}),
        "batches": await store.batches(poll_id).count_documents({}),
        "voted": await store.households_voted(poll_id),
    }


@pytest.mark.asyncio
async def test_a_ballot_racing_the_close_is_refused_and_nothing_of_it_stored(
    settings: Settings,
) -> None:
    """A replica that read the poll while it was open (its cached read outlives the close)
    casts after the close and the count: refused, nothing stored, the count unchanged. So are
    an unknown option, a household outside the roll and a change of rules after opening."""
    from services.consult.domain.polls import Refused
    from services.consult.voting import Voting
    from shared.events import utcnow

    settings = settings.model_copy(update={"consult_close_settle_s": 0.0, "consult_tick_s": 0})
    app = create_app(settings)
    async with serving(app) as [client]:
        consult = app.state.consult
        keys = await setup(client, app, settings)
        office = {"Authorization": keys["office"]}
        await client.post(
            "/api/v1/consult/rolls",
            content=ROLL.encode(),
            headers={**office, "content-type": "text/csv"},
        )
        options = [{"id": "y", "label": "Yes"}, {"id": "n", "label": "No"}]
        body = {"poll_id": "poll_race", "node_id": B1, "question": "Gate?", "kind": "single"}
        assert (
            await client.post(
                "/api/v1/consult/polls", json={**body, "options": options}, headers=office
            )
        ).status_code == 201
        await client.post("/api/v1/consult/polls/poll_race/open", headers=office)
        secret = settings.consult_secret.get_secret_value()
        replica = Voting(consult.store, secret, utcnow, poll_ttl_s=600)
        assert (await replica.poll("poll_race")).status == "open"  # read and kept
        r101, h101 = who(settings, "13900000101")
        url = "/api/v1/consult/polls/poll_race/ballots"
        cast = await client.post(
            url, json=ballot(r101, ["y"], secrets.token_urlsafe(32)), headers=h101
        )
        assert cast.status_code == 201
        before = await stored(consult, "poll_race")
        r102, h102 = who(settings, "13900000102")
        unknown = await client.post(
            url, json=ballot(r102, ["maybe"], secrets.token_urlsafe(32)), headers=h102
        )
        assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "body.choice"
        stranger, hs = who(settings, "13911111111")
        outside = await client.post(
            url, json=ballot(stranger, ["y"], secrets.token_urlsafe(32)), headers=hs
        )
        assert outside.status_code == 403
        frozen = await client.patch(
            "/api/v1/consult/polls/poll_race",
            json={"kind": "single", "options": options[::-1]},
            headers=office,
        )
        assert frozen.status_code == 409 and frozen.json()["errors"][0]["code"] == "rules_frozen"
        assert await stored(consult, "poll_race") == before

        closed = (await client.post("/api/v1/consult/polls/poll_race/close", headers=office)).json()
        assert closed["results"]["turnout"] == 1
        with pytest.raises(Refused) as late:
            await replica.cast("poll_race", f"{B1}|102", secrets.token_urlsafe(32), ("n",))
        assert late.value.code == "poll_closed"
        assert await stored(consult, "poll_race") == before
        published = (await client.get("/api/v1/consult/polls/poll_race/ballots")).json()
        assert [b["choice"] for b in published["ballots"]] == [["y"]]
        assert (await client.get("/api/v1/consult/polls/poll_race")).json()["results"] == closed[
            "results"
        ]


@pytest.mark.asyncio
async def test_a_paper_code_survives_a_failure_between_its_use_and_the_ballot(
    settings: Settings, monkeypatch
) -> None:
    """A printed code is not burnt by a refusal or by the store failing before the ballot is
    stored: the retry with the same ballot key goes through, once; another key is refused."""
    from pymongo.errors import AutoReconnect

    settings = settings.model_copy(update={"consult_close_settle_s": 0.0, "consult_tick_s": 0})
    app = create_app(settings)
    async with serving(app) as [client]:
        consult = app.state.consult
        keys = await setup(client, app, settings)
        office = {"Authorization": keys["office"]}
        await client.post(
            "/api/v1/consult/rolls",
            content=ROLL.encode(),
            headers={**office, "content-type": "text/csv"},
        )
        options = [{"id": "y", "label": "Yes"}, {"id": "n", "label": "No"}]
        body = {"poll_id": "poll_paper", "node_id": B2, "question": "Lift?", "kind": "single"}
        await client.post(
            "/api/v1/consult/polls", json={**body, "options": options}, headers=office
        )
        await client.post("/api/v1/consult/polls/poll_paper/open", headers=office)
        codes = await client.post(
            "/api/v1/consult/polls/poll_paper/paper-codes",
            json={"households": [f"{B2}|201"]},
            headers=office,
        )
        code, key = codes.json()["codes"][0]["code"], secrets.token_urlsafe(32)
        url = "/api/v1/consult/polls/poll_paper/ballots"
        paper = {"paper_code": code, "choice": ["y"], "ballot_key": key}
        unknown = await client.post(url, json={**paper, "choice": ["maybe"]})
        assert unknown.status_code == 422

        real, failures = consult.store.batcher.insert, []

        async def store_fails_once(collection, doc):
            if not failures:
                failures.append(doc)
                raise AutoReconnect("the store went away")
            return await real(collection, doc)

        monkeypatch.setattr(consult.store.batcher, "insert", store_fails_once)
        failed = await client.post(url, json=paper)
        assert failed.status_code == 503 and failures
        retried = await client.post(url, json=paper)
        assert retried.status_code == 201, retried.text
        stolen = await client.post(url, json={**paper, "ballot_key": secrets.token_urlsafe(32)})
        assert stolen.status_code == 401
        closed = await client.post("/api/v1/consult/polls/poll_paper/close", headers=office)
        assert closed.json()["results"]["turnout"] == 1
        assert closed.json()["results"]["outcome"]["totals"] == {"y": 1, "n": 0}


@pytest.mark.asyncio
async def test_no_record_naming_a_household_is_kept_in_the_order_of_voting(
    settings: Settings,
) -> None:
    """Ballots are kept in the order they came (batches); so, once the poll is counted, no
    record that names a household (its key, or its token, which the service's secret maps to
    it) may be: the two orders side by side would pair households with ballots."""
    settings = settings.model_copy(update={"consult_close_settle_s": 0.0, "consult_tick_s": 0})
    app = create_app(settings)
    async with serving(app) as [client]:
        consult = app.state.consult
        keys = await setup(client, app, settings)
        office = {"Authorization": keys["office"]}
        await client.post(
            "/api/v1/consult/rolls",
            content=ROLL.encode(),
            headers={**office, "content-type": "text/csv"},
        )
        options = [{"id": "y", "label": "Yes"}, {"id": "n", "label": "No"}]
        body = {"poll_id": "poll_order", "node_id": COMPOUND, "question": "?", "kind": "single"}
        await client.post(
            "/api/v1/consult/polls", json={**body, "options": options}, headers=office
        )
        await client.post("/api/v1/consult/polls/poll_order/open", headers=office)
        voting_order = ["13900000202", "13900000103", "13900000102", "13900000101"]
        for phone in voting_order:  # the reverse of the roll's order
            ref, headers = who(settings, phone)
            answer = await client.post(
                "/api/v1/consult/polls/poll_order/ballots",
                json=ballot(ref, ["y"], secrets.token_urlsafe(32)),
                headers=headers,
            )
            assert answer.status_code == 201
        await client.post("/api/v1/consult/polls/poll_order/close", headers=office)
        await consult.tick()  # after the results: the records kept in arrival order go
        sealed = (await client.get("/api/v1/consult/polls/poll_order")).json()
        assert sealed["households_voted"] == len(voting_order)
        voters = [f"{B2 if p[-3] == '2' else B1}|{p[-3:]}" for p in voting_order]
        names = {h: h for h in voters} | {consult.voting.token("poll_order", h): h for h in voters}
        db = consult.store.db
        seen = 0
        for name in await db.list_collection_names():
            order = [names[d["_id"]] async for d in db[name].find({}) if d["_id"] in names]
            seen += len(order)
            assert order != voters, f"{name} keeps households in the order they voted"
        assert seen >= 2 * len(voters)  # the frozen roll and the tokens at least
        published = (await client.get("/api/v1/consult/polls/poll_order/ballots")).json()
        assert len(published["ballots"]) == len(voters)  # the batches stay


@pytest.mark.asyncio
async def test_whatever_the_timing_a_ballot_answered_success_is_counted(settings: Settings) -> None:
    """Ballots cast by a replica whose read of the poll outlives the close, at the same time
    as the close and its settle time: each either succeeds and is counted, or is refused and
    leaves nothing; the published ballots are exactly the successes."""
    import asyncio

    from services.consult.domain.polls import Refused
    from services.consult.voting import Voting
    from shared.events import utcnow

    settings = settings.model_copy(update={"consult_close_settle_s": 0.3, "consult_tick_s": 0})
    app = create_app(settings)
    async with serving(app) as [client]:
        consult = app.state.consult
        keys = await setup(client, app, settings)
        office = {"Authorization": keys["office"]}
        await client.post(
            "/api/v1/consult/rolls",
            content=ROLL.encode(),
            headers={**office, "content-type": "text/csv"},
        )
        options = [{"id": "y", "label": "Yes"}, {"id": "n", "label": "No"}]
        body = {"poll_id": "poll_timing", "node_id": COMPOUND, "question": "?", "kind": "single"}
        await client.post(
            "/api/v1/consult/polls", json={**body, "options": options}, headers=office
        )
        await client.post("/api/v1/consult/polls/poll_timing/open", headers=office)
        replica = Voting(consult.store, settings.consult_secret.get_secret_value(), utcnow, 600)
        await replica.poll("poll_timing")
        households = [f"{B1}|101", f"{B1}|102", f"{B1}|103", f"{B2}|201", f"{B2}|202"]

        async def cast(i: int, household: str) -> str | None:
            await asyncio.sleep(0.15 * i)  # before, during and after the settle time
            try:
                done = await replica.cast(
                    "poll_timing", household, secrets.token_urlsafe(32), ("y",)
                )
            except Refused as exc:
                assert exc.code == "poll_closed"
                return None
            return done.receipt

        async def close() -> dict:
            await asyncio.sleep(0.1)
            answer = await client.post("/api/v1/consult/polls/poll_timing/close", headers=office)
            return answer.json()

        *receipts, closed = await asyncio.gather(
            *(cast(i, h) for i, h in enumerate(households)), close()
        )
        succeeded = {r for r in receipts if r}
        published = (await client.get("/api/v1/consult/polls/poll_timing/ballots")).json()
        assert {b["receipt"] for b in published["ballots"]} == succeeded
        assert closed["results"]["turnout"] == len(succeeded)
        counted_batches = (await consult.store.counts.find_one({"_id": "poll_timing"}))["batches"]
        assert await consult.store.batches("poll_timing").count_documents({}) == len(
            counted_batches
        )
        print(f"\n{len(succeeded)} of {len(households)} ballots racing the close succeeded")


async def test_a_close_meeting_another_close_or_the_timer_answers_the_outcome(
    settings: Settings,
) -> None:
    """Two closes of one poll at once (a double click, two replicas) beside consult's own
    timer: each answers the closed poll with its results, none a 409 "changed at the same
    time"."""
    import asyncio

    settings = settings.model_copy(update={"consult_close_settle_s": 0.0, "consult_tick_s": 0})
    app = create_app(settings)
    async with serving(app) as [client]:
        consult = app.state.consult
        office = {"Authorization": (await setup(client, app, settings))["office"]}
        roll = {**office, "content-type": "text/csv"}
        await client.post("/api/v1/consult/rolls", content=ROLL.encode(), headers=roll)
        options = [{"id": "y", "label": "Yes"}, {"id": "n", "label": "No"}]
        for n in range(3):
            poll = {"poll_id": f"poll_twice{n}", "node_id": B1, "question": "Gate?",
                    "kind": "single", "options": options}  # fmt: skip
            assert (
                await client.post("/api/v1/consult/polls", json=poll, headers=office)
            ).is_success
            url = f"/api/v1/consult/polls/poll_twice{n}"
            assert (await client.post(f"{url}/open", headers=office)).status_code == 200
            closes = [client.post(f"{url}/close", headers=office) for _ in range(3)]
            *answers, _ = await asyncio.gather(*closes, consult.polls.tick())
            assert [a.status_code for a in answers] == [200] * 3, [a.text for a in answers]
            assert all(a.json()["status"] == "closed" for a in answers)


async def test_a_draft_is_the_offices_alone(settings: Settings) -> None:
    """Until it opens, a poll is seen only by the office over its node: anyone else, another
    office too, is told it does not exist."""
    app = create_app(settings.model_copy(update={"consult_tick_s": 0}))
    async with serving(app) as [client]:
        keys = await setup(client, app, settings)
        options = [{"id": "y", "label": "Yes"}, {"id": "n", "label": "No"}]
        poll = {"poll_id": "poll_draft", "node_id": B1, "question": "Gate?", "kind": "single",
                "options": options}  # fmt: skip
        made = await client.post(
            "/api/v1/consult/polls", json=poll, headers={"Authorization": keys["office"]}
        )
        assert made.status_code == 201
        url = "/api/v1/consult/polls/poll_draft"
        assert (await client.get(url)).status_code == 404
        assert (await client.get(url, headers={"Authorization": keys["other"]})).status_code == 404
        mine = await client.get(url, headers={"Authorization": keys["office"]})
        assert mine.status_code == 200 and mine.json()["status"] == "draft"

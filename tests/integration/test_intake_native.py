"""The native API on intake against real Kafka and FerretDB: idempotency, attributes,
possible duplicates and following, the resident's own view (a report token opens that report
alone; a resident's other data takes a sign-in), photos, limits."""

from __future__ import annotations

import hashlib
import json
import struct
import uuid
import zlib
from datetime import UTC, datetime

import pytest

from services.intake.app import create_app
from services.intake.http.models import ReportIn
from services.intake.idempotency import body_fingerprint
from services.notify.app import create_app as notify_app
from shared.events.lifecycle import IssueProgressedV1
from shared.metrics import EVENTS_CONSUMED
from shared.mongo import make_client
from shared.residents import report_token
from shared.settings import Settings
from shared.topics import ISSUES_LIFECYCLE, ISSUES_REPORTED
from tests.helpers import eventually, produce, produce_event, read_topic, serving
from tests.servers import isolated_settings
from tests.signin import minted

pytestmark = pytest.mark.integration
HONGQI = "sz.tongjiang.niuerqiao.hongqi"
DEMO = "sz.tongjiang.niuerqiao.demo-y001"


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def module_settings(servers) -> Settings:
    return isolated_settings(
        servers,
        intake_rate_per_client=1000,
        intake_burst_per_client=1000,
        intake_max_photo_bytes=4096,
    )


@pytest.fixture(scope="module")
async def intake(module_settings):
    async with serving(create_app(module_settings)) as (client,):
        yield client


def _report(**extra):
    return {
        "category": "water-pipe-burst",
        "node_id": HONGQI,
        "description": "水管爆裂",
        "attributes": {"severity": "spraying", "location-detail": "3号楼旁"},
        "contact": {"phone": "13800000123"},
        **extra,
    }


def _bearer(accepted):
    return {"Authorization": f"Bearer {accepted['report_token']}"}


def _signed_in(settings: Settings, phone=None, email=None) -> tuple[str, dict[str, str]]:
    # the resident token a phone's sign-in gives (intake never answers it), minted as setup
    return minted(settings.resident_secret.get_secret_value(), phone, email)


async def _holding(probe, wanted):
    found = await probe()
    return found if wanted in found else None


async def _view(intake, accepted):
    response = await intake.get(f"/api/v1/issues/{accepted['issue_id']}", headers=_bearer(accepted))
    return response.json() if response.status_code == 200 else None


async def test_idempotency_replays_and_conflicts(intake, module_settings):
    key = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    first = await intake.post("/api/v1/issues", json=_report(), headers=key)
    assert first.status_code == 202, first.text
    again = await intake.post("/api/v1/issues", json=_report(), headers=key)
    assert again.status_code == 202
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    client = make_client(module_settings.mongodb_url, app_name="test")
    try:  # no token is kept at rest: the replay rebuilds it from the issue id
        stored = await client[module_settings.database_name("intake")]["idempotency"].find_one(
            {"_id": hashlib.sha256(key["Idempotency-Key"].encode()).hexdigest()}
        )
    finally:
        await client.close()
    assert stored["response"] == {"issue_id": first.json()["issue_id"]}

    other = await intake.post("/api/v1/issues", json=_report(description="别的"), headers=key)
    assert other.status_code == 409
    [error] = other.json()["errors"]
    assert error["field"] == "header.idempotency-key" and error["code"] == "idempotency_conflict"

    # the id comes from the key: the same key in another intake gives the same event id
    records = await read_topic(
        module_settings.kafka_bootstrap, module_settings.topic_prefix + ISSUES_REPORTED, expect=1
    )
    ids = [dict(r.headers)["ce_id"].decode() for r in records]
    assert ids.count(first.json()["issue_id"]) == 1

    bad = await intake.post("/api/v1/issues", json=_report(), headers={"Idempotency-Key": "a b"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "header.idempotency-key"


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"attributes": {"severity": "huge", "location-detail": "x"}}, "severity", "not_allowed"),
        ({"attributes": {"location-detail": "x"}}, "severity", "required"),
        ({"attributes": {"severity": "seeping", "location-detail": "x", "z": "1"}}, "z", "unknown"),
        ({"node_id": "sz.atlantis"}, "body.node_id", "unknown"),
        ({"node_id": None, "address": "不存在的地方"}, "body.address", "unknown"),
        ({"node_id": None, "lat": 10.0, "lon": 10.0}, "body.lat", "outside"),
        ({"description": "<b>bold</b>"}, "body.description", "markup"),
        ({"category": "nope"}, "body.category", "unknown"),
    ],
)
async def test_rules_name_the_field(intake, change, field, code):
    response = await intake.post("/api/v1/issues", json=_report(**change))
    assert response.status_code == 400, response.text
    [error] = response.json()["errors"]
    assert error["field"].endswith(field) and error["code"] == code


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"description": "x" * 4001}, "description"),
        ({"lat": 123.0, "lon": 1.0}, "lat"),
        ({"lon": -181.0, "lat": 1.0}, "lon"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_malformed_fields_are_422_naming_the_field(intake, change, field):
    response = await intake.post("/api/v1/issues", json=_report(**change))
    assert response.status_code == 422
    assert any(field in e["field"] for e in response.json()["errors"])


async def test_resident_sees_history_and_notes_others_do_not(intake, module_settings):
    accepted = (await intake.post("/api/v1/issues", json=_report())).json()
    view = await eventually(lambda: _view(intake, accepted))
    assert view["attributes"] == {"severity": "spraying", "location-detail": "3号楼旁"}
    assert [h["status"] for h in view["history"]] == ["reported"]

    event = IssueProgressedV1(
        issue_id=accepted["issue_id"],
        sequence=2,
        status="in-progress",
        category="water-pipe-burst",
        node_id=HONGQI,
        public_note="维修队已到场",
        at=view["reported_at"],
    )
    await produce_event(
        module_settings.kafka_bootstrap,
        module_settings.topic_prefix + ISSUES_LIFECYCLE,
        event,
        key=event.issue_id,
        source="/linli/dispatch",
    )

    async def progressed():
        v = await _view(intake, accepted)
        return v if v and v["status"] == "in-progress" else None

    view = await eventually(progressed)
    assert view["history"][-1] == {
        "status": "in-progress",
        "at": view["history"][-1]["at"],
        "note": "维修队已到场",
    }
    ref, signed_in = _signed_in(module_settings, "13800000123")
    mine = await intake.get(f"/api/v1/residents/{ref}/issues", headers=signed_in)
    assert accepted["issue_id"] in [i["issue_id"] for i in mine.json()["issues"]]

    stranger = {"Authorization": "Bearer nope"}
    assert (
        await intake.get(f"/api/v1/issues/{accepted['issue_id']}", headers=stranger)
    ).status_code == 404
    listing = await intake.get(f"/api/v1/residents/{ref}/issues", headers=stranger)
    assert listing.status_code == 401
    assert listing.json()["errors"][0]["field"] == "header.authorization"


async def test_a_neighbours_phone_opens_none_of_their_data(intake, module_settings):
    """Filing or following with someone else's phone answers a token for that one report:
    it lists none of the phone owner's reports and opens neither their inbox nor their
    preferences; only the owner's own sign-in opens those."""
    phone = "13800000777"
    ref, owner = _signed_in(module_settings, phone)
    own = (await intake.post("/api/v1/issues", json=_report(contact={"phone": phone}))).json()
    posing = _report(contact={"phone": phone}, description="冒名的反映")
    filed = await intake.post("/api/v1/issues", json=posing)
    await eventually(lambda: _listed(intake, ref, owner, {own["issue_id"]}))  # followable
    followed = await intake.post(
        f"/api/v1/issues/{own['issue_id']}/followers", json={"contact": {"phone": phone}}
    )
    assert (filed.status_code, followed.status_code) == (202, 201)
    async with serving(notify_app(module_settings)) as (notify,):
        for answer in (filed.json(), followed.json()):
            for name in [k for k in answer if k.endswith("token")]:
                bearer = {"Authorization": f"Bearer {answer[name]}"}
                listing = await intake.get(f"/api/v1/residents/{ref}/issues", headers=bearer)
                assert listing.status_code == 401, name
                for path in ("inbox", "preferences"):
                    opened = await notify.get(f"/api/v1/residents/{ref}/{path}", headers=bearer)
                    assert opened.status_code == 401, (name, path)
            assert set(answer) == {"issue_id", "status", "report_token"}  # no ref, no token
        assert (
            await notify.get(f"/api/v1/residents/{ref}/inbox", headers=owner)
        ).status_code == 200
    # the owner, signed in, reads and lists both reports filed with their phone
    listed = await intake.get(f"/api/v1/residents/{ref}/issues", headers=owner)
    assert listed.status_code == 200
    ours = {own["issue_id"], filed.json()["issue_id"]}
    assert ours <= await eventually(lambda: _listed(intake, ref, owner, ours))


async def _listed(intake, ref, bearer, wanted):
    found = await intake.get(f"/api/v1/residents/{ref}/issues", headers=bearer)
    ids = {i["issue_id"] for i in found.json()["issues"]}
    return ids if wanted <= ids else None


async def test_a_report_token_opens_its_own_report_alone(intake, module_settings):
    first = (await intake.post("/api/v1/issues", json=_report())).json()
    second = (await intake.post("/api/v1/issues", json=_report(description="另一处"))).json()
    assert (await eventually(lambda: _view(intake, first)))["issue_id"] == first["issue_id"]
    assert (await eventually(lambda: _view(intake, second)))["issue_id"] == second["issue_id"]
    crossed = await intake.get(f"/api/v1/issues/{second['issue_id']}", headers=_bearer(first))
    absent = await intake.get("/api/v1/issues/iss_nothing_here", headers=_bearer(first))
    assert crossed.status_code == absent.status_code == 404
    assert crossed.json()["errors"][0]["field"] == absent.json()["errors"][0]["field"]
    # neither opens the reporter's list, under the reporter's reference or the issue's id
    ref, signed_in = _signed_in(module_settings, "13800000123")
    for where in (ref, first["issue_id"]):
        listing = await intake.get(f"/api/v1/residents/{where}/issues", headers=_bearer(first))
        assert listing.status_code == 401
    # the reporter signed in reads both; a follower's report token reads the one followed
    for issue in (first, second):
        mine = await intake.get(f"/api/v1/issues/{issue['issue_id']}", headers=signed_in)
        assert mine.status_code == 200
    follow = await intake.post(f"/api/v1/issues/{first['issue_id']}/followers", json={})
    assert follow.status_code == 201, follow.text
    assert (await _view(intake, follow.json()))["issue_id"] == first["issue_id"]
    other = await intake.get(f"/api/v1/issues/{second['issue_id']}", headers=_bearer(follow.json()))
    assert other.status_code == 404


async def test_an_answer_stored_before_report_tokens_is_replayed_without_its_token(
    intake, module_settings
):
    """An Idempotency-Key's answer stored when filing still answered the resident's own
    token: its replay answers the report token instead."""
    body, key = _report(), f"k-{uuid.uuid4()}"
    fingerprint = body_fingerprint(ReportIn.model_validate(body).model_dump(mode="json"))
    secret = module_settings.resident_secret.get_secret_value()
    ref, bearer = minted(secret, "13800000123")
    old = {"issue_id": "iss_stored_long_ago", "status": "accepted", "resident_ref": ref,
           "resident_token": bearer["Authorization"].removeprefix("Bearer ")}  # fmt: skip
    client = make_client(module_settings.mongodb_url, app_name="test")
    try:
        await client[module_settings.database_name("intake")]["idempotency"].insert_one(
            {"_id": hashlib.sha256(key.encode()).hexdigest(), "fingerprint": fingerprint,
             "status": 202, "response": old, "at": datetime.now(UTC)}
        )  # fmt: skip
    finally:
        await client.close()
    again = await intake.post("/api/v1/issues", json=body, headers={"Idempotency-Key": key})
    assert again.status_code == 202 and again.headers["idempotent-replayed"] == "true"
    token = report_token(secret, "iss_stored_long_ago")
    assert again.json() == {
        "issue_id": old["issue_id"],
        "status": "accepted",
        "report_token": token,
    }


async def test_possible_duplicates_offered_and_followed(intake, module_settings):
    report = {
        "category": "streetlight-daytime",
        "node_id": f"{DEMO}.b02",
        "description": "白天路灯亮着，请联系我13800000000",
    }
    first = (await intake.post("/api/v1/issues", json=report)).json()
    own = await eventually(lambda: _view(intake, first))
    assert own["description"] == report["description"]  # the reporter's own view: as written
    # the open buckets are written just after the report's document: wait for them too
    listing = {"category": "streetlight-daytime", "node_id": DEMO}

    async def listed_ids():
        found = await intake.get("/api/v1/duplicates", params=listing)
        return [c["issue_id"] for c in found.json()["candidates"]]

    assert first["issue_id"] in await eventually(lambda: _holding(listed_ids, first["issue_id"]))

    offered = await intake.post("/api/v1/issues", json={**report, "if_duplicate": "offer"})
    assert offered.status_code == 200
    candidates = offered.json()["candidates"]
    assert first["issue_id"] in [c["issue_id"] for c in candidates]
    # another resident is offered the report without the reporter's phone number
    [offered_first] = [c for c in candidates if c["issue_id"] == first["issue_id"]]
    assert offered_first["description"] == "白天路灯亮着，请联系我[电话]"
    elsewhere = await intake.get(
        "/api/v1/duplicates", params={"category": "streetlight-daytime", "node_id": HONGQI}
    )
    assert first["issue_id"] not in [c["issue_id"] for c in elsewhere.json()["candidates"]]

    follower = await intake.post(
        f"/api/v1/issues/{first['issue_id']}/followers",
        json={"contact": {"email": "neighbour@example.cn"}},
    )
    assert follower.status_code == 201
    view = await _view(intake, follower.json())
    assert view["issue_id"] == first["issue_id"]
    # the follower reads the reporter's words as the offer showed them: the phone masked
    assert view["description"] == "白天路灯亮着，请联系我[电话]"
    assert follower.json()["report_token"] != first["report_token"]
    # signed in, the follower lists it the same way
    ref, neighbour = _signed_in(module_settings, email="neighbour@example.cn")
    listed = await intake.get(f"/api/v1/residents/{ref}/issues", headers=neighbour)
    [followed] = [i for i in listed.json()["issues"] if i["issue_id"] == first["issue_id"]]
    assert followed["description"] == "白天路灯亮着，请联系我[电话]"
    missing = await intake.post("/api/v1/issues/iss_0000000000000/followers", json={})
    assert missing.status_code == 404


async def test_photos_are_sniffed_stored_and_served(intake):
    png = _png()
    response = await intake.post("/api/v1/media", files={"file": ("x.jpg", png, "image/jpeg")})
    assert response.status_code == 201, response.text
    stored = response.json()
    assert stored["content_type"] == "image/png" and stored["size"] == len(png)
    served = await intake.get(stored["media_url"].removeprefix("http://app"))
    assert served.status_code == 200 and served.content == png
    assert served.headers["content-type"] == "image/png"

    fake = await intake.post(
        "/api/v1/media", files={"file": ("x.png", b"<svg>no</svg>", "image/png")}
    )
    assert fake.status_code == 400
    assert fake.json()["errors"][0]["code"] == "unsupported_type"
    big = await intake.post(
        "/api/v1/media", files={"file": ("x.png", png + b"\0" * 5000, "image/png")}
    )
    assert big.status_code == 413
    huge = await intake.post(
        "/api/v1/media", files={"file": ("x.png", png + b"\0" * 50000, "image/png")}
    )
    assert huge.status_code == 413 and huge.json()["errors"][0]["field"] == "header.content-length"

    accepted = await intake.post("/api/v1/issues", json=_report(media_url=stored["media_url"]))
    assert accepted.status_code == 202
    assert (await intake.get("/api/v1/media/med_nothing")).status_code == 404


async def test_rate_limit_per_client_answers_429_with_retry_after(module_settings):
    settings = module_settings.model_copy(
        update={"intake_rate_per_client": 1.0, "intake_burst_per_client": 2.0}
    )
    async with serving(create_app(settings)) as (intake,):
        answers = [
            (await intake.post("/api/v1/issues", json=_report())).status_code for _ in range(4)
        ]
        assert answers[:2] == [202, 202] and answers[-1] == 429
        limited = await intake.post("/api/v1/issues", json=_report())
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.json()["errors"][0]["field"] == "client"


async def test_a_redelivered_report_changes_nothing(intake, module_settings):
    accepted = (await intake.post("/api/v1/issues", json=_report())).json()
    await eventually(lambda: _view(intake, accepted))
    topic = module_settings.topic_prefix + ISSUES_REPORTED
    records = await read_topic(module_settings.kafka_bootstrap, topic, expect=10_000, timeout_s=3)
    [record] = [r for r in records if r.key.decode() == accepted["issue_id"]]
    duplicates = EVENTS_CONSUMED.labels("intake", ISSUES_REPORTED, "duplicate")
    before = duplicates._value.get()
    await produce(
        module_settings.kafka_bootstrap,
        topic,
        record.value,
        key=record.key,
        headers=list(record.headers),
    )

    async def seen() -> bool:
        return duplicates._value.get() > before

    await eventually(seen)
    view = await _view(intake, accepted)
    assert [h["status"] for h in view["history"]] == ["reported"]


@pytest.mark.parametrize(
    "body",
    [
        json.dumps(_report()),
        json.dumps(_report(category="nope")),
        json.dumps(_report(node_id=None)),
        json.dumps(_report(description="x" * 4001)),
        json.dumps(_report(colour="red")),
        '{"category": ',
        "[]",
    ],
)
async def test_the_fast_lane_answers_as_the_route_does(intake, body):
    """A plain JSON report takes the fast lane; the same body with a charset parameter takes
    the FastAPI route: both must answer alike (status, error body, the answer's fields)."""
    fast = await intake.post(
        "/api/v1/issues", content=body, headers={"content-type": "application/json"}
    )
    routed = await intake.post(
        "/api/v1/issues",
        content=body,
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert fast.status_code == routed.status_code, (fast.text, routed.text)
    assert fast.headers["content-type"] == routed.headers["content-type"]
    if fast.status_code == 202:
        assert fast.json().keys() == routed.json().keys()
        assert fast.json()["issue_id"] != routed.json()["issue_id"]
        assert fast.json()["report_token"] != routed.json()["report_token"]
    else:
        assert fast.json() == routed.json()

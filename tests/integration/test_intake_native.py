"""The native API on intake against real Kafka and FerretDB: idempotency, attributes,
possible duplicates and following, the resident's own view, photos, limits."""

from __future__ import annotations

import json
import struct
import uuid
import zlib

import pytest

from services.intake.app import create_app
from shared.events.lifecycle import IssueProgressedV1
from shared.metrics import EVENTS_CONSUMED
from shared.settings import Settings
from shared.topics import ISSUES_LIFECYCLE, ISSUES_REPORTED
from tests.helpers import eventually, produce, produce_event, read_topic, serving
from tests.servers import isolated_settings

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
    return {"Authorization": f"Bearer {accepted['resident_token']}"}


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
    mine = await intake.get(
        f"/api/v1/residents/{accepted['resident_ref']}/issues", headers=_bearer(accepted)
    )
    assert accepted["issue_id"] in [i["issue_id"] for i in mine.json()["issues"]]

    stranger = {"Authorization": "Bearer nope"}
    assert (
        await intake.get(f"/api/v1/issues/{accepted['issue_id']}", headers=stranger)
    ).status_code == 404
    listing = await intake.get(
        f"/api/v1/residents/{accepted['resident_ref']}/issues", headers=stranger
    )
    assert listing.status_code == 401
    assert listing.json()["errors"][0]["field"] == "header.authorization"


async def test_possible_duplicates_offered_and_followed(intake):
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
        assert fast.json()["resident_ref"] == routed.json()["resident_ref"]
        assert fast.json()["issue_id"] != routed.json()["issue_id"]
    else:
        assert fast.json() == routed.json()

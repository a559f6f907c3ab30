"""Open311 GeoReport v2 on intake, in-process against real Kafka and FerretDB: every endpoint
in JSON and XML, the read model fed by lifecycle events, errors in the spec's format."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY
from typer.testing import CliRunner

from services.intake.app import create_app
from services.ops.cli.main import app as cli
from shared.events.lifecycle import IssueAcknowledgedV1, IssueClosedV1, IssueResolvedV1
from shared.events.payloads import IssueAssignedV1, Owner
from shared.settings import Settings
from shared.topics import ISSUES_LIFECYCLE, ISSUES_REPORTED
from tests.helpers import eventually, produce_event, serving
from tests.servers import isolated_settings

pytestmark = pytest.mark.integration
V2 = "/open311/v2"
HONGQI = "sz.tongjiang.niuerqiao.hongqi"
OWNER = Owner(kind="office", code=HONGQI, name="红旗小区网格站", name_en="Hongqi grid office")


@pytest.fixture(scope="module")
def module_settings(servers) -> Settings:
    return isolated_settings(
        servers,
        intake_rate_per_client=0,
        intake_rate_per_key=0,
    )


@pytest.fixture(scope="module")
async def intake(module_settings):
    async with serving(create_app(module_settings)) as (client,):
        yield client


@pytest.fixture(scope="module")
def api_key(module_settings) -> str:
    env = {
        "LINLI_MONGODB_URL": module_settings.mongodb_url,
        "LINLI_DB_PREFIX": module_settings.db_prefix,
    }
    result = CliRunner().invoke(cli, ["keys", "create", "--name", "test app"], env=env)
    assert result.exit_code == 0, result.output
    key = result.stdout.strip().splitlines()[0]
    assert key.startswith("lk_")
    return key


def _xml(response) -> ET.Element:
    assert response.headers["content-type"].startswith("text/xml")
    assert response.content.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    return ET.fromstring(response.content)


async def _lifecycle(settings, event) -> None:
    await produce_event(
        settings.kafka_bootstrap,
        settings.topic_prefix + ISSUES_LIFECYCLE,
        event,
        key=event.issue_id,
        source="/linli/dispatch",
    )


async def _post(intake, api_key, fmt="json", **fields):
    data = {"api_key": api_key, **fields}
    return await intake.post(f"{V2}/requests.{fmt}", data=data)


async def _recorded(intake, request_id):
    response = await intake.get(f"{V2}/requests/{request_id}.json")
    return response.json()[0] if response.status_code == 200 else None


async def test_discovery_in_both_formats(intake):
    body = (await intake.get(f"{V2}/discovery.json")).json()
    [endpoint] = body["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"].endswith("/open311/v2/")
    assert set(endpoint["formats"]) == {"text/xml", "application/json"}
    root = _xml(await intake.get(f"{V2}/discovery.xml"))
    assert root.tag == "discovery"
    assert [f.text for f in root.iter("format")] == ["text/xml", "application/json"]


async def test_services_list_and_definition_in_json_and_xml(intake):
    services = (await intake.get(f"{V2}/services.json")).json()
    assert len(services) >= 40
    burst = next(s for s in services if s["service_code"] == "water-pipe-burst")
    assert burst["metadata"] is True and burst["type"] == "realtime"
    assert burst["service_name"] == "供水管道爆裂"
    english = (await intake.get(f"{V2}/services.json", params={"locale": "en"})).json()
    assert any(s["service_name"] == "Burst water pipe" for s in english)
    assert {s["type"] for s in services} == {"realtime", "batch", "blackbox"}

    root = _xml(await intake.get(f"{V2}/services.xml"))
    assert root.tag == "services" and len(root.findall("service")) == len(services)
    assert root.find("service/metadata").text in ("true", "false")

    definition = (await intake.get(f"{V2}/services/water-pipe-burst.json")).json()
    severity = definition["attributes"][0]
    assert severity["code"] == "severity" and severity["required"] is True
    assert severity["datatype"] == "singlevaluelist" and severity["order"] == 1
    assert {v["key"] for v in severity["values"]} == {"seeping", "spraying", "flooding"}
    root = _xml(await intake.get(f"{V2}/services/water-pipe-burst.xml"))
    assert root.tag == "service_definition"
    assert root.find("service_code").text == "water-pipe-burst"
    assert [v.text for v in root.findall("attributes/attribute/values/value/key")][:3] == [
        "seeping",
        "spraying",
        "flooding",
    ]


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_unknown_service_code_is_404_in_the_spec_format(intake, fmt):
    response = await intake.get(f"{V2}/services/no-such-thing.{fmt}")
    assert response.status_code == 404
    if fmt == "json":
        [error] = response.json()
        assert error["code"] == 404 and "service_code" in error["description"]
    else:
        root = _xml(response)
        assert root.tag == "errors" and root.find("error/code").text == "404"


async def test_post_and_read_back_in_both_formats_with_lifecycle(intake, api_key, module_settings):
    response = await _post(
        intake,
        api_key,
        service_code="water-pipe-burst",
        lat="29.57819",
        long="103.74945",
        description="水管爆裂 <not html> & cold",
        **{"attribute[severity]": "spraying", "attribute[location-detail]": "3号楼旁"},
        email="a@example.cn",
        first_name="Li",
        media_url="https://example.cn/p.jpg",
    )
    # the description is refused: markup is not accepted
    assert response.status_code == 400
    assert "description" in response.json()[0]["description"]

    response = await _post(
        intake,
        api_key,
        fmt="xml",
        service_code="water-pipe-burst",
        lat="29.57819",
        long="103.74945",
        description="水管爆裂，水喷到路上",
        email="a@example.cn",
        media_url="https://example.cn/p.jpg",
        **{"attribute[severity]": "spraying", "attribute[location-detail]": "3号楼旁"},
    )
    assert response.status_code == 201, response.text
    root = _xml(response)
    request_id = root.find("request/service_request_id").text
    assert request_id.startswith("iss_")

    view = await eventually(lambda: _recorded(intake, request_id))
    assert view["status"] == "open" and view["service_code"] == "water-pipe-burst"
    assert view["address_id"] == HONGQI and view["lat"] == 29.57819
    assert view["media_url"] == "https://example.cn/p.jpg"
    assert view["requested_datetime"].endswith("+00:00")
    assert view["expected_datetime"] is None

    now = datetime.now(UTC)
    due = (now + timedelta(days=3)).replace(microsecond=0)
    common = {"issue_id": request_id, "category": "water-pipe-burst", "node_id": HONGQI}
    await _lifecycle(
        module_settings,
        IssueAssignedV1(
            **common, sequence=1, owner=OWNER, ack_due=now, resolve_due=due, assigned_at=now
        ),
    )
    await _lifecycle(
        module_settings,
        IssueResolvedV1(
            **common, sequence=3, status="resolved", owner=OWNER, public_note="已修复", at=now
        ),
    )
    # older than what the read model holds: ignored
    await _lifecycle(
        module_settings,
        IssueAcknowledgedV1(**common, sequence=2, status="acknowledged", public_note="x", at=now),
    )

    async def resolved():
        view = await _recorded(intake, request_id)
        return view if view and view["status"] == "closed" else None

    view = await eventually(resolved)
    assert view["status_notes"] == "已修复"
    assert view["agency_responsible"] == "红旗小区网格站"
    assert view["expected_datetime"] == due.isoformat()
    english = (await intake.get(f"{V2}/requests/{request_id}.json?locale=en")).json()[0]
    assert english["agency_responsible"] == "Hongqi grid office"

    root = _xml(await intake.get(f"{V2}/requests/{request_id}.xml"))
    assert root.tag == "service_requests"
    request = root.find("request")
    assert request.find("status").text == "closed"
    assert request.find("status_notes").text == "已修复"
    assert request.find("long").text == "103.74945"

    await _lifecycle(
        module_settings,
        IssueClosedV1(**common, sequence=4, status="closed", public_note="回访满意", at=now),
    )
    await eventually(
        lambda: _note_is(intake, request_id, "回访满意"),
    )

    closed = (await intake.get(f"{V2}/requests.json", params={"status": "closed"})).json()
    assert request_id in [r["service_request_id"] for r in closed]
    opened = (await intake.get(f"{V2}/requests.json", params={"status": "open"})).json()
    assert request_id not in [r["service_request_id"] for r in opened]


def _consumed(outcome: str) -> float:
    labels = {"service": "intake", "topic": ISSUES_REPORTED, "outcome": outcome}
    return REGISTRY.get_sample_value("linli_events_consumed_total", labels) or 0.0


async def test_created_requests_are_readable_at_once_with_contact_details_masked(
    intake, api_key, module_settings
):
    """Back-to-back POSTs, then at once a GET of both ids: a 201 is readable by id, before
    the report's event comes back from Kafka; the consumer's write of the same report then
    changes nothing, not even a transition that came in between. What residents wrote of
    their phone, email or ID card is masked in what Open311 clients read."""
    consumed_before = _consumed("ok") + _consumed("duplicate")
    texts = [
        "路灯不亮，请联系我13800000000或座机0833-2123456",
        "路灯闪烁，邮箱li@example.cn，身份证51010219900101123X",
    ]
    ids = []
    for text in texts:
        response = await _post(
            intake, api_key, service_code="streetlight-out", address_id=HONGQI, description=text
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()[0]["service_request_id"])
    response = await intake.get(f"{V2}/requests.json", params={"service_request_id": ",".join(ids)})
    assert response.status_code == 200
    found = {r["service_request_id"]: r for r in response.json()}
    assert sorted(found) == sorted(ids)
    assert found[ids[0]]["description"] == "路灯不亮，请联系我[电话]或座机[电话]"
    assert found[ids[1]]["description"] == "路灯闪烁，邮箱[邮箱]，身份证[证件号]"
    root = _xml(await intake.get(f"{V2}/requests/{ids[0]}.xml"))
    assert root.find("request/description").text == "路灯不亮，请联系我[电话]或座机[电话]"

    now = datetime.now(UTC)
    assigned = IssueAssignedV1(
        issue_id=ids[0],
        category="streetlight-out",
        node_id=HONGQI,
        owner=OWNER,
        ack_due=now,
        resolve_due=now + timedelta(days=3),
        assigned_at=now,
    )
    await _lifecycle(module_settings, assigned)
    await eventually(lambda: _consumed_since(consumed_before, 2))
    await eventually(lambda: _agency_is(intake, ids[0], "红旗小区网格站"))
    view = await _recorded(intake, ids[1])
    assert view["status"] == "open" and view["service_code"] == "streetlight-out"
    assert view["description"] == "路灯闪烁，邮箱[邮箱]，身份证[证件号]"


async def _consumed_since(before: float, n: int) -> bool:
    """The consumer has had the reports' events (a write of its own, or none needed)."""
    return _consumed("ok") + _consumed("duplicate") >= before + n


async def _agency_is(intake, request_id, name):
    view = await _recorded(intake, request_id)
    return view is not None and view["agency_responsible"] == name


async def _note_is(intake, request_id, note):
    view = await _recorded(intake, request_id)
    return view is not None and view["status_notes"] == note


async def test_address_string_address_id_and_multivalue_attributes(intake, api_key):
    response = await intake.post(
        f"{V2}/requests.json",
        data={
            "api_key": api_key,
            "service_code": "manhole-cover-missing",
            "address_string": "乐山市市中区红旗巷18号 东门",
            "description": "井盖丢失",
        },
    )
    assert response.status_code == 201, response.text
    request_id = response.json()[0]["service_request_id"]
    view = await eventually(lambda: _recorded(intake, request_id))
    assert view["address_id"] == HONGQI and view["address"] == "乐山市市中区红旗巷18号 东门"
    assert view["lat"] == 29.57819  # the compound's coordinates
    definition = (await intake.get(f"{V2}/services.json")).json()
    multi = None
    for service in definition:
        if not service["metadata"]:
            continue
        detail = (await intake.get(f"{V2}/services/{service['service_code']}.json")).json()
        if any(a["datatype"] == "multivaluelist" for a in detail["attributes"]):
            multi = detail
            break
    assert multi is not None
    form: list[tuple[str, str]] = [
        ("api_key", api_key),
        ("service_code", multi["service_code"]),
        ("address_id", HONGQI),
        ("description", "多选属性"),
        ("email", "b@example.cn"),
    ]
    for attribute in multi["attributes"]:
        code = attribute["code"]
        if attribute["datatype"] == "multivaluelist":
            form += [(f"attribute[{code}][]", v["key"]) for v in attribute["values"][:2]]
        elif attribute["datatype"] == "singlevaluelist":
            form.append((f"attribute[{code}]", attribute["values"][0]["key"]))
        elif attribute["datatype"] == "number":
            form.append((f"attribute[{code}]", "2"))
        elif attribute["datatype"] == "datetime":
            form.append((f"attribute[{code}]", "2026-11-28T08:00:00+08:00"))
        else:
            form.append((f"attribute[{code}]", "text"))
    response = await intake.post(
        f"{V2}/requests.json",
        content="&".join(f"{k}={v}" for k, v in form).encode(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 201, response.text
    answer = response.json()[0]
    assert "service_request_id" in answer or "token" in answer


@pytest.mark.parametrize(
    ("fields", "status", "named"),
    [
        ({"service_code": "water-pipe-burst", "address_id": HONGQI}, 400, "attribute[severity]"),
        (
            {
                "service_code": "water-pipe-burst",
                "address_id": HONGQI,
                "attribute[severity]": "gushing",
                "attribute[location-detail]": "x",
            },
            400,
            "attribute[severity]",
        ),
        (
            {
                "service_code": "water-pipe-burst",
                "address_id": HONGQI,
                "attribute[severity]": "seeping",
                "attribute[location-detail]": "x",
                "attribute[colour]": "red",
            },
            400,
            "attribute[colour]",
        ),
        ({"service_code": "nope", "address_id": HONGQI}, 404, "service_code"),
        ({"service_code": "streetlight-out", "address_id": "sz.nowhere"}, 400, "address_id"),
        ({"service_code": "streetlight-out", "address_string": "火星小区"}, 400, "address_string"),
        ({"service_code": "streetlight-out", "lat": "0", "long": "0"}, 400, "lat"),
        ({"service_code": "streetlight-out", "lat": "91", "long": "0"}, 400, "lat"),
        ({"service_code": "streetlight-out", "lat": "29.5"}, 400, "long"),
        ({"service_code": "streetlight-out"}, 400, "address_string"),
        ({"address_id": HONGQI}, 400, "service_code"),
        (
            {"service_code": "streetlight-out", "address_id": HONGQI, "email": "not-mail"},
            400,
            "email",
        ),
        (
            {"service_code": "streetlight-out", "address_id": HONGQI, "description": "x" * 4001},
            400,
            "description",
        ),
    ],
)
async def test_post_errors_name_the_field(intake, api_key, fields, status, named):
    for fmt in ("json", "xml"):
        response = await intake.post(
            f"{V2}/requests.{fmt}", data={"api_key": api_key, "email": "c@example.cn", **fields}
        )
        assert response.status_code == status, response.text
        if fmt == "json":
            [error] = response.json()
            assert error["code"] == status and named in error["description"]
        else:
            root = _xml(response)
            assert named in root.find("error/description").text


@pytest.mark.parametrize("key", [None, "", "lk_wrong"])
async def test_missing_or_bad_key_is_403(intake, key):
    data = {"service_code": "streetlight-out", "address_id": HONGQI}
    if key is not None:
        data["api_key"] = key
    response = await intake.post(f"{V2}/requests.json", data=data)
    assert response.status_code == 403
    assert response.json()[0]["code"] == 403
    root = _xml(await intake.post(f"{V2}/requests.xml", data=data))
    assert root.find("error/code").text == "403"


async def test_batch_service_answers_a_token_then_the_id(intake, api_key):
    services = (await intake.get(f"{V2}/services.json")).json()
    batch = next(s for s in services if s["type"] == "batch" and not s["metadata"])
    response = await _post(
        intake,
        api_key,
        service_code=batch["service_code"],
        address_id=HONGQI,
        description="办理",
        phone="13800000009",
    )
    assert response.status_code == 201, response.text
    [answer] = response.json()
    token = answer["token"]
    assert "service_request_id" not in answer

    async def resolved():
        r = await intake.get(f"{V2}/tokens/{token}.json")
        return r.json()[0] if r.status_code == 200 else None

    found = await eventually(resolved)
    assert found["token"] == token and found["service_request_id"].startswith("iss_")
    root = _xml(await intake.get(f"{V2}/tokens/{token}.xml"))
    assert root.find("request/service_request_id").text == found["service_request_id"]
    assert (await intake.get(f"{V2}/tokens/tok_{'0' * 32}.json")).status_code == 404
    assert (await intake.get(f"{V2}/tokens/whatever.xml")).status_code == 404


async def test_get_requests_filters_and_defaults(intake, api_key):
    ids = []
    for code in ("streetlight-out", "streetlight-out", "storm-drain-blocked"):
        response = await _post(
            intake, api_key, service_code=code, address_id=HONGQI, description="f", email="d@e.cn"
        )
        if response.status_code != 201:
            continue
        ids.append(response.json()[0]["service_request_id"])
    assert len(ids) >= 2
    for request_id in ids:
        await eventually(lambda r=request_id: _recorded(intake, r))

    listed = await intake.get(f"{V2}/requests.json", params={"service_request_id": ",".join(ids)})
    assert sorted(r["service_request_id"] for r in listed.json()) == sorted(ids)
    only = await intake.get(f"{V2}/requests.json", params={"service_code": "streetlight-out"})
    assert {r["service_code"] for r in only.json()} == {"streetlight-out"}
    page = await intake.get(
        f"{V2}/requests.json", params={"service_code": "streetlight-out", "page_size": "1"}
    )
    second = await intake.get(
        f"{V2}/requests.json",
        params={"service_code": "streetlight-out", "page_size": "1", "page": "2"},
    )
    assert len(page.json()) == 1 and len(second.json()) == 1
    assert page.json()[0]["service_request_id"] != second.json()[0]["service_request_id"]
    root = _xml(await intake.get(f"{V2}/requests.xml", params={"service_code": "streetlight-out"}))
    assert len(root.findall("request")) == len(only.json())

    old = await intake.get(
        f"{V2}/requests.json",
        params={"start_date": "2020-01-01T00:00:00Z", "end_date": "2020-03-01T00:00:00+08:00"},
    )
    assert old.status_code == 200 and old.json() == []


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"}, "end_date"),
        ({"start_date": "2026-06-01T00:00:00Z", "end_date": "2026-01-01T00:00:00Z"}, "start"),
        ({"start_date": "yesterday"}, "start_date"),
        ({"status": "pending"}, "status"),
        ({"service_code": "no-such"}, "service_code"),
        ({"page_size": "5000"}, "page_size"),
        ({"page": "0"}, "page"),
    ],
)
async def test_get_requests_errors(intake, params, named):
    response = await intake.get(f"{V2}/requests.json", params=params)
    assert response.status_code in (400, 404)
    assert named in response.json()[0]["description"]
    root = _xml(await intake.get(f"{V2}/requests.xml", params=params))
    assert named in root.find("error/description").text


async def test_unknown_request_and_format(intake):
    response = await intake.get(f"{V2}/requests/iss_0000000000000000.json")
    assert response.status_code == 404 and response.json()[0]["code"] == 404
    assert _xml(await intake.get(f"{V2}/requests/iss_00000000000.xml")).tag == "errors"
    assert (await intake.get(f"{V2}/services.html")).status_code == 404


async def test_rate_limit_per_key_is_429_with_retry_after_in_the_spec_format(
    module_settings, api_key
):
    settings = module_settings.model_copy(
        update={"intake_rate_per_key": 0.5, "intake_burst_per_key": 1.0}
    )
    async with serving(create_app(settings)) as (intake,):
        form = {"service_code": "streetlight-daytime", "address_id": HONGQI, "email": "r@e.cn"}
        first = await _post(intake, api_key, **form)
        assert first.status_code == 201, first.text
        limited = await _post(intake, api_key, fmt="xml", **form)
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        assert "api_key" in _xml(limited).find("error/description").text

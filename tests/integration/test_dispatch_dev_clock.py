"""Watching a deadline pass in development: the district office moves dispatch's clock ahead
through the API, and the running service's own timer loop sends the reminder, 催办,
escalation and 通报 as it would days later. Production refuses the offset and the endpoint."""

import secrets
import uuid

import pytest
from pydantic import ValidationError

from services.dispatch.app import create_app
from shared.events import IssueReportedV1, utcnow
from shared.settings import Settings
from shared.topics import ISSUES_REPORTED
from tests.helpers import eventually, produce_event, read_topic, serving
from tests.servers import isolated_settings

pytestmark = pytest.mark.integration
PLACE = "sz.tongjiang.niuerqiao.hongqi"
DAY_S = 24 * 3600


async def _lifecycle(settings, issue_id):
    """The issue's lifecycle event types in order, once per event id (the outbox sweeper may
    publish an event again, with the same id, while a slow writer is still at it)."""
    records = await read_topic(
        settings.kafka_bootstrap,
        settings.topic_prefix + "issues.lifecycle",
        expect=10_000,
        timeout_s=1.0,
    )
    seen, names = set(), []
    for record in records:
        headers = dict(record.headers)
        if record.key.decode() == issue_id and headers["ce_id"] not in seen:
            seen.add(headers["ce_id"])
            names.append(headers["ce_type"].decode().split(".")[2])
    return names


async def test_moving_the_clock_shows_reminder_urging_escalation_and_reprimand(servers):
    settings = isolated_settings(servers, dispatch_timer_interval_s=0.05)
    app = create_app(settings)
    async with serving(app) as [client]:
        district, urban = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        await app.state.store.add_key(district, "office", "sz", utcnow())
        await app.state.store.add_key(urban, "department", "urban-mgmt", utcnow())
        issue_id = "iss_" + uuid.uuid4().hex[:20]
        event = IssueReportedV1(
            issue_id=issue_id,
            category="streetlight-out",
            node_id=PLACE,
            description="路灯不亮",
            reported_at=utcnow(),
        )
        await produce_event(
            settings.kafka_bootstrap,
            settings.topic_prefix + ISSUES_REPORTED,
            event,
            key=issue_id,
        )
        assert await eventually(lambda: app.state.store.get(issue_id), timeout_s=60)
        clock_url = "/api/v1/dispatch/dev/clock"
        as_district = {"Authorization": f"Bearer {district}"}
        refused = await client.post(
            clock_url, json={"advance_s": DAY_S}, headers={"Authorization": f"Bearer {urban}"}
        )
        assert refused.status_code == 403  # only the district office moves the clock
        assert (await client.get(clock_url, headers=as_district)).json()["offset_s"] == 0
        text = await client.post(clock_url, json={"advance_s": "3600"}, headers=as_district)
        assert text.status_code == 422  # an integer, not a string that looks like one
        fraction = await client.post(clock_url, json={"advance_s": 1.5}, headers=as_district)
        assert fraction.status_code == 422  # a whole number of seconds

        # four days on: past the acknowledgement deadline (4 working hours) and beyond
        moved = await client.post(clock_url, json={"advance_s": 4 * DAY_S}, headers=as_district)
        assert moved.status_code == 200 and moved.json()["offset_s"] == 4 * DAY_S

        async def climbed():
            names = await _lifecycle(settings, issue_id)
            return names if "escalated" in names else None

        names = await eventually(climbed, timeout_s=60)
        assert names[:4] == ["assigned", "reminded", "reminded", "escalated"]

        # ten more days: the first missed deadline is long past (3 working days): 通报
        # (as 864000.0: JSON has one number type, and JSON Schema's integer takes it)
        later = {"advance_s": float(10 * DAY_S)}
        assert (await client.post(clock_url, json=later, headers=as_district)).status_code == 200

        async def reprimanded():
            names = await _lifecycle(settings, issue_id)
            return names if "reprimanded" in names else None

        names = await eventually(reprimanded, timeout_s=60)
        assert names.count("reprimanded") == 1
        case = await client.get(
            f"/api/v1/dispatch/cases/{issue_id}", headers={"Authorization": f"Bearer {urban}"}
        )
        assert case.json()["supervisor"] == "sz"  # escalated from the street to the district


def test_production_refuses_a_clock_offset():
    with pytest.raises(ValidationError, match="LINLI_DEV_CLOCK_OFFSET_S"):
        Settings(
            env="production",
            resident_secret="x" * 40,
            consult_secret="w" * 40,
            web_token_secret="v" * 40,
            dev_clock_offset_s=60,
        )


async def test_production_answers_403_to_the_clock_endpoint(servers):
    settings = isolated_settings(
        servers,
        env="production",
        resident_secret="y" * 40,
        consult_secret="z" * 40,
        web_token_secret="u" * 40,
        dispatch_timer_interval_s=0,
    )
    app = create_app(settings)
    async with serving(app) as [client]:
        district = secrets.token_urlsafe(24)
        await app.state.store.add_key(district, "office", "sz", utcnow())
        moved = await client.post(
            "/api/v1/dispatch/dev/clock",
            json={"advance_s": 60},
            headers={"Authorization": f"Bearer {district}"},
        )
        assert moved.status_code == 403
        assert moved.json()["errors"][0]["code"] == "forbidden"

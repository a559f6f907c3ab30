import json
from datetime import UTC, datetime

import jsonschema
import pytest

from shared.events import ALL_PAYLOADS, Envelope, IssueReportedV1, derived_event_id
from shared.events.schemas import schema_of
from shared.kafka.consumer import PoisonMessage, decode

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def _report() -> IssueReportedV1:
    return IssueReportedV1(
        issue_id="iss_01m8h6bjanjx7bs34n5w27mahg",
        category="streetlight-out",
        node_id="sz.tongjiang.niuerqiao.hongqi",
        description="路灯不亮",
        resident_ref="res_vlldw2uf4ehpkbprpvurtjcc",
        reported_at=NOW,
    )


def test_envelope_round_trips_through_binary_mode_headers():
    env = Envelope(type="linli.issues.reported.v1", source="/linli/intake", subject="x", time=NOW)
    headers = env.to_headers()
    assert headers["ce_specversion"] == "1.0"
    assert headers["content-type"] == "application/json"
    raw = [(k, v.encode()) for k, v in headers.items()]
    assert env.record_headers() == raw
    assert Envelope.from_headers(dict(raw)) == env


def test_envelope_names_the_missing_attribute():
    with pytest.raises(ValueError, match="ce_source"):
        Envelope.from_headers(
            {"ce_specversion": "1.0", "ce_id": "1", "ce_type": "t", "ce_time": NOW.isoformat()}
        )


def test_derived_ids_are_deterministic_and_distinct():
    assert derived_event_id("iss_1", "assigned") == derived_event_id("iss_1", "assigned")
    assert derived_event_id("iss_1", "assigned") != derived_event_id("iss_2", "assigned")


@pytest.mark.parametrize("model", ALL_PAYLOADS)
def test_every_payload_has_a_valid_json_schema(model):
    schema = schema_of(model)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$id"].endswith(model.event_type)
    assert model.event_type.endswith(".v1")


def test_a_payload_validates_against_its_exported_schema():
    payload = json.loads(_report().model_dump_json())
    jsonschema.validate(payload, schema_of(IssueReportedV1))


def _headers(event_type: str) -> list[tuple[str, bytes]]:
    env = Envelope(type=event_type, source="/t", subject="s")
    return env.record_headers()


def test_decode_accepts_a_valid_event():
    body = _report().model_dump_json().encode()
    envelope, payload = decode(
        _headers(IssueReportedV1.event_type), body, {IssueReportedV1.event_type: IssueReportedV1}
    )
    assert payload == _report()
    assert envelope.type == IssueReportedV1.event_type


def test_decode_skips_known_events_the_consumer_does_not_handle():
    assert decode(_headers("linli.issues.assigned.v1"), b"{}", {}) is None


@pytest.mark.parametrize(
    ("headers", "body", "reason"),
    [
        ([], b"{}", "CloudEvents"),
        (_headers("linli.nonsense.v9"), b"{}", "unknown event type"),
        (_headers(IssueReportedV1.event_type), b"not json", "invalid"),
        (_headers(IssueReportedV1.event_type), b'{"issue_id": "bad"}', "issue_id"),
    ],
)
def test_decode_refuses_poison_with_the_reason(headers, body, reason):
    with pytest.raises(PoisonMessage, match=reason):
        decode(headers, body, {IssueReportedV1.event_type: IssueReportedV1})

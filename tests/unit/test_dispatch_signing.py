"""The documented signature of a Kafka action, computed by hand as a department's engineer
would from docs/dispatch.md, matches dispatch's; any change of a signed field breaks it."""

import hashlib
import hmac
from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.events.dispatch import DepartmentActionV1, action_signature, signed, signing_secret

pytestmark = pytest.mark.unit
KEY = "lk_example-key"


def test_the_documented_algorithm_gives_the_same_signature():
    beijing = timezone(timedelta(hours=8))
    action = DepartmentActionV1(
        action_id="act-00000001",
        issue_id="iss_0000000001",
        actor="water",
        action="resolve",
        note="水管已修好",
        sent_at=datetime(2026, 11, 30, 9, 0, tzinfo=beijing),
    )
    key_id = hashlib.sha256(KEY.encode()).hexdigest()
    secret = hmac.new(KEY.encode(), b"linli-dispatch-signing-v1", hashlib.sha256).hexdigest()
    canonical = (
        "linli.dept.action.v1\n"
        '{"action":"resolve","action_id":"act-00000001","actor":"water",'
        '"actor_kind":"department","issue_id":"iss_0000000001",'
        f'"key_id":"{key_id}","note":"水管已修好",'
        '"sent_at":"2026-11-30T01:00:00.000000Z"}'
    ).encode()
    expected = hmac.new(secret.encode(), canonical, hashlib.sha256).hexdigest()
    sent = signed(action, KEY)
    assert sent.key_id == key_id and sent.signature == expected
    parsed = DepartmentActionV1.model_validate_json(sent.model_dump_json())  # as received
    assert action_signature(parsed, signing_secret(KEY)) == expected
    changed = parsed.model_copy(update={"sent_at": datetime(2026, 11, 30, 1, 0, 1, tzinfo=UTC)})
    assert action_signature(changed, signing_secret(KEY)) != expected

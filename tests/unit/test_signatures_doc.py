"""docs/signatures.md's worked examples are what notify's code computes."""

import json

import pytest

from services.notify.domain import body_signature, robot_sign
from shared.settings import REPO_ROOT

pytestmark = pytest.mark.unit
DOC = (REPO_ROOT / "docs" / "signatures.md").read_text(encoding="utf-8")
TIMESTAMP = 1767225600000


def test_the_webhook_example_matches_the_code():
    payload = {"msgtype": "text", "text": {"content": "问题已受理\n您反映的路灯问题已受理。"}}
    body = json.dumps(payload, ensure_ascii=False).encode()  # as _post_signed encodes it
    assert body.decode() in DOC and f"{len(body)} bytes" in DOC
    secret = "SEC-example-robot-secret"
    assert f"`x-linli-signature`: `{body_signature(secret, TIMESTAMP, body)}`" in DOC
    assert f"query `sign`: `{robot_sign(secret, TIMESTAMP)}`" in DOC


def test_the_sms_example_matches_the_code():
    payload = {
        "id": "dlv_example",
        "to": "13800000000",
        "text": "【邻里】问题已受理：您反映的路灯问题已受理。",
    }
    body = json.dumps(payload, ensure_ascii=False).encode()
    assert body.decode() in DOC
    assert f"x-linli-signature: {body_signature('gateway-key', TIMESTAMP, body)}" in DOC

"""A resident's live inbox stream, served by uvicorn against real Kafka and FerretDB: with
``LINLI_NOTIFY_STREAM_MAX_S`` set, notify ends a stream after that long (an EventSource then
reconnects by itself, with Last-Event-ID), so no stream holds a connection, a client reading it
to its end, or a stopping replica, indefinitely."""

from __future__ import annotations

import time

import httpx
import pytest

from services.notify.app import create_app
from shared.residents import resident_ref, resident_token
from tests.integration.fuzzing import served
from tests.platform import free_port
from tests.servers import isolated_settings

pytestmark = pytest.mark.integration
MAX_S = 1.0
PATIENCE_S = 10.0  # far past MAX_S and a poll: a stream still open then never ends


def _read_until_end_or(response: httpx.Response, deadline: float) -> tuple[bytes, bool]:
    """What the stream sent, and whether it ended by itself before ``deadline``."""
    body = b""
    for chunk in response.iter_raw():
        body += chunk
        if time.monotonic() > deadline:
            return body, False
    return body, True


def test_a_live_stream_ends_after_its_longest_life(servers):
    settings = isolated_settings(servers, "s", notify_stream_max_s=MAX_S)
    secret = settings.resident_secret.get_secret_value()
    ref = resident_ref(secret, "tel:13800000042")
    url = f"/api/v1/residents/{ref}/inbox/stream"
    headers = {"Authorization": f"Bearer {resident_token(secret, ref)}"}
    with served(create_app(settings), free_port(), "notify") as base:
        began = time.monotonic()
        with httpx.stream("GET", base + url, headers=headers, timeout=PATIENCE_S) as response:
            assert response.status_code == 200
            body, ended = _read_until_end_or(response, began + PATIENCE_S)
        took = time.monotonic() - began
    assert ended, f"the stream was still open after {took:.1f} s: {body!r}"
    assert body.startswith(b": connected\n\n"), body
    assert took >= MAX_S, f"ended after {took:.1f} s"

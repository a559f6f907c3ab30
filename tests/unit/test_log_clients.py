"""Outgoing HTTP calls leave no log line each (the web makes one or more per page: its log
would hold a line per page view, and writing it cost the queue page about 5 % of its CPU);
their warnings still show."""

from __future__ import annotations

import logging

import httpx
import pytest

from shared.logging import configure_logging

pytestmark = pytest.mark.unit


@pytest.fixture
def restored():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    quiet = logging.getLogger("httpx").level
    yield
    root.handlers[:], root.level = handlers, level
    logging.getLogger("httpx").setLevel(quiet)


def test_a_call_through_httpx_is_not_logged_at_info(restored, capsys):
    configure_logging("INFO", "json", "web")
    answer = httpx.Response(200, json={"ok": True})
    with httpx.Client(transport=httpx.MockTransport(lambda request: answer)) as client:
        assert client.get("http://dispatch.invalid/api/v1/dispatch/queue").status_code == 200
    logging.getLogger("httpx").warning("a warning from the client")
    logged = capsys.readouterr().err
    assert "HTTP Request" not in logged
    assert "a warning from the client" in logged

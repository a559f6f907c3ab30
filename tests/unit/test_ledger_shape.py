"""The ledger's shape: its domain and application layer know nothing of HTTP; its refusals
answer through the platform's one error mapping (with the figures that explain them); a
recorded refusal comes back as the refusal; a donation command carries a donor's name only when
the donor chose to be named, and never the contact."""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from services.ledger.access import KeyRefused
from services.ledger.application.ledger import answered, donation_event
from services.ledger.application.requests import DonationIn
from services.ledger.domain.idempotency import ConflictingReplay
from services.ledger.domain.refusals import CommandRefused, RefusalCode
from services.ledger.http import refusals
from shared.http.errors import ErrorMap, install_error_handlers

pytestmark = pytest.mark.unit

LEDGER = Path(__file__).parents[2] / "services" / "ledger"
NOT_HTTP = [
    *sorted((LEDGER / "domain").glob("*.py")),
    *sorted((LEDGER / "application").glob("*.py")),
    *(LEDGER / name for name in ("books.py", "donations.py", "spending.py", "campaigns.py")),
    LEDGER / "access.py",
    LEDGER / "store.py",
]
REF = "res_" + "0" * 16
HTTP_MODULES = ("fastapi", "starlette", "shared.http")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", NOT_HTTP, ids=lambda p: str(p.relative_to(LEDGER)))
def test_the_domain_and_the_application_layer_know_no_http(path):
    http = {m for m in imported_modules(path) if m.startswith(HTTP_MODULES)}
    assert not http, f"{path.name} imports {sorted(http)}"


def _app() -> FastAPI:
    errors = ErrorMap(retry_after_s=3)
    refusals(errors)
    app = FastAPI()
    install_error_handlers(app, errors)
    failures = {
        "overspend": CommandRefused(
            RefusalCode.OVERSPEND, "too much", "body.amount_fen", would_leave_fen=-500
        ),
        "unknown-key": KeyRefused("unknown or revoked key", unknown=True),
        "wrong-role": KeyRefused("this needs a clerk key", unknown=False),
        "replay": ConflictingReplay("campaign", "c-1", "goal_fen"),
        "missing": CommandRefused(RefusalCode.NOT_FOUND, "no disbursement d-1"),
        "goods": CommandRefused(RefusalCode.NO_SUCH_GOODS, "no rice", "body.source"),
    }

    @app.get("/fail/{what}")
    async def fail(what: str) -> None:
        raise failures[what]

    return app


@pytest.mark.parametrize(
    ("what", "status", "error"),
    [
        (
            "overspend",
            409,
            {
                "field": "body.amount_fen",
                "code": "overspend",
                "message": "too much",
                "would_leave_fen": -500,
            },
        ),
        (
            "unknown-key",
            401,
            {
                "field": "header.authorization",
                "code": "unauthenticated",
                "message": "unknown or revoked key",
            },
        ),
        (
            "wrong-role",
            403,
            {
                "field": "header.authorization",
                "code": "forbidden",
                "message": "this needs a clerk key",
            },
        ),
        (
            "replay",
            409,
            {
                "field": "body.goal_fen",
                "code": "conflict",
                "message": "campaign c-1 exists with a different goal_fen",
            },
        ),
        ("missing", 404, {"field": None, "code": "not_found", "message": "no disbursement d-1"}),
        ("goods", 422, {"field": "body.source", "code": "no_such_goods", "message": "no rice"}),
    ],
)
async def test_refusals_answer_through_the_one_error_map(what, status, error):
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        response = await client.get(f"/fail/{what}")
    assert (response.status_code, response.json()) == (status, {"errors": [error]})


def test_a_recorded_refusal_comes_back_as_the_refusal():
    recorded = CommandRefused(
        RefusalCode.OVERSPEND, "too much", "body.amount_fen", would_leave_fen=-5
    ).outcome()
    with pytest.raises(CommandRefused) as refused:
        answered({**recorded, "_id": "cmd-1", "at": "2026-11-10T00:00:00+00:00"})
    assert (refused.value.code, refused.value.field) == ("overspend", "body.amount_fen")
    assert refused.value.extra == {"would_leave_fen": -5}
    replay = answered({"_id": "cmd-2", "status": "exists", "entry_id": "donation:d-1"})
    assert replay.exists and replay.outcome == {"status": "exists", "entry_id": "donation:d-1"}


def test_a_donation_carries_a_name_only_when_chosen_and_never_the_contact():
    now = datetime(2026, 11, 10, tzinfo=UTC)
    request = {
        "donation_id": "desk-1",
        "campaign": "winter",
        "channel": "offline",
        "amount_fen": 100,
        "receipt_book_no": "JZ-1",
    }
    donor = {"name": "王阿姨", "phone": "13800002222"}
    anonymous = donation_event(DonationIn(**request, donor=donor), REF, now)
    named = donation_event(DonationIn(**request, donor={**donor, "named": True}), REF, now)
    assert (anonymous.donor_name, named.donor_name) == (None, "王阿姨")
    assert anonymous.received_at == now and anonymous.donor_ref == REF
    assert "13800002222" not in anonymous.model_dump_json() + named.model_dump_json()

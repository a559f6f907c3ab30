"""Notify's shape: its refusals answer through the platform's one error map (status, code,
the field as the request names it), its enums are the wire's strings, and nothing but its
HTTP adapter and composition root knows FastAPI."""

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.notify.domain import (
    BadRatingToken,
    BroadcastStatus,
    Channel,
    DeliveryOutcome,
    DeliveryStatus,
    Preferences,
    open_rating_token,
    rating_token,
)
from services.notify.domain.names import BroadcastStatusName, ChannelName
from services.notify.domain.refusals import (
    AlreadyDone,
    Incomplete,
    NotFound,
    NotSignedIn,
    OutsideArea,
)
from services.notify.http import refusals
from shared.http.errors import ErrorMap

pytestmark = pytest.mark.unit

NOTIFY = Path(__file__).resolve().parents[2] / "services" / "notify"
NOW = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)


@pytest.fixture
def errors() -> ErrorMap:
    errors = ErrorMap(retry_after_s=3)
    refusals(errors)
    return errors


@pytest.mark.parametrize(
    ("refusal", "status", "code", "field"),
    [
        (NotSignedIn("a valid key is required"), 401, "unauthorized", "header.authorization"),
        (NotFound("unknown_node", "no such node", "node_id"), 404, "unknown_node", "body.node_id"),
        (NotFound("not_found", "none", "broadcast_id"), 404, "not_found", "path.broadcast_id"),
        (OutsideArea("outside_area", "outside", "node_id"), 403, "outside_area", "body.node_id"),
        (AlreadyDone("already_rated", "this visit was already rated"), 409, "already_rated", None),
        (Incomplete("missing", "needs a webhook", "webhook"), 400, "missing", "body.webhook"),
    ],
)  # fmt: skip
def test_each_refusal_answers_with_its_status_code_and_field(errors, refusal, status, code, field):
    answer = errors.answer(refusal)
    assert answer is not None
    assert (answer.status, answer.code, answer.field) == (status, code, field)
    assert answer.message == refusal.message
    assert ("WWW-Authenticate" in answer.headers) == (status == 401)


def test_a_bad_rating_link_is_404_and_an_expired_one_410(errors):
    token = rating_token("s" * 16, issue_id="iss_1", ref="res_1", visit=2, expires=NOW)
    with pytest.raises(BadRatingToken) as expired:
        open_rating_token("s" * 16, token, NOW + timedelta(seconds=1))
    assert expired.value.expired
    with pytest.raises(BadRatingToken) as forged:
        open_rating_token("t" * 16, token, NOW)
    assert not forged.value.expired
    assert (errors.answer(expired.value).status, errors.answer(forged.value).status) == (410, 404)
    assert errors.answer(forged.value).field == "path.token"


def test_the_enums_are_the_strings_on_the_wire():
    assert [c.value for c in Channel] == ["inbox", "email", "webhook", "sms"]
    assert tuple(Channel) == ChannelName.__args__
    assert tuple(BroadcastStatus) == BroadcastStatusName.__args__
    assert {s.value for s in DeliveryStatus} == {
        "sending",
        "retrying",
        "deferred",
        "sent",
        "failed",
    }
    assert DeliveryOutcome.OPTED_OUT == "opted_out" and f"sent.{Channel.SMS}" == "sent.sms"
    prefs = Preferences.model_validate({"channels": ["sms", "inbox"]})
    assert prefs.channels == (Channel.SMS, Channel.INBOX)
    assert prefs.model_dump(mode="json")["channels"] == ["sms", "inbox"]


ADAPTERS = {"http.py", "signin_http.py", "app.py"}  # and everything under routes/


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_only_the_http_adapter_knows_fastapi_or_http_errors():
    leaks = []
    for path in sorted(NOTIFY.rglob("*.py")):
        inside = path.relative_to(NOTIFY)
        if inside.parts[0] == "routes" or str(inside) in ADAPTERS:
            continue
        web = {m for m in _imports(path) if m.split(".")[0] in ("fastapi", "starlette")}
        web |= {m for m in _imports(path) if m.startswith("shared.http")}
        if web:
            leaks.append(f"{inside}: {sorted(web)}")
    assert leaks == []


def test_the_routes_never_touch_the_store():
    for path in [*sorted((NOTIFY / "routes").glob("*.py")), NOTIFY / "http.py"]:
        assert "services.notify.store" not in _imports(path), path.name

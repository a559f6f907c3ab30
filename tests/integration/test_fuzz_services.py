"""Every service's OpenAPI document fuzzed against the real service (real Kafka and FerretDB),
with valid keys on positive cases: no input yields a 5xx, every answer is documented (status,
content type, schema), data the schema allows is accepted and data it forbids is refused.
Bounded: a few examples per operation, phase and mode (about a minute for the four)."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from schemathesis import Case

from services.dispatch.store import CaseStore
from services.intake.keys import key_document
from services.ledger.access import create_key
from services.ledger.store import LedgerStore
from services.notify.operators import create_operator
from services.notify.store import NotifyStore
from shared.mongo import make_client
from shared.reference import load_reference
from shared.residents import resident_ref, resident_token
from shared.settings import Settings
from tests.integration.fuzzing import fuzz, served
from tests.servers import isolated_settings

pytestmark = pytest.mark.integration
PORT = int(os.environ.get("LINLI_TEST_FUZZ_PORT", "18181"))
EXAMPLES = 4  # per operation, phase and mode
# intake's business rules (an unknown category or place is a 400 that no schema can express)
INTAKE_SKIPPED = frozenset({"positive_data_acceptance"})
# notify's live inbox stream ends after this (its documented setting): the fuzzer reads each
# stream to its end (replay, polls, keep-alive) instead of waiting out its request timeout
STREAM_MAX_S = 0.5


def _bearer(case: Case, key: str) -> None:
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {key}"}


def _resident(settings: Settings) -> tuple[str, str]:
    # what notify's phone sign-in answers, minted with the test secret (setup, not the subject)
    secret = settings.resident_secret.get_secret_value()
    ref = resident_ref(secret, "tel:13800000000")
    return ref, resident_token(secret, ref)


async def _intake_keys(settings: Settings, db) -> Callable[[Case], None]:
    ref, token = _resident(settings)
    api_key = "lk_fuzz-open311-key"
    await db["api_keys"].insert_one(key_document(api_key, "fuzz", datetime.now(UTC)))

    def authorize(case: Case) -> None:
        if case.path_parameters and "resident_ref" in case.path_parameters:
            case.path_parameters["resident_ref"] = ref
        _bearer(case, token)
        if isinstance(case.body, dict) and "api_key" in case.body:
            case.body["api_key"] = api_key

    return authorize


async def _dispatch_keys(settings: Settings, db) -> Callable[[Case], None]:
    key = "fuzz-office-key"
    root = load_reference(settings.config_dir).tree.root.id
    await CaseStore(db).add_key(key, "office", root, datetime.now(UTC))
    return lambda case: _bearer(case, key)


async def _notify_keys(settings: Settings, db) -> Callable[[Case], None]:
    ref, token = _resident(settings)
    root = load_reference(settings.config_dir).tree.root.id
    operator = await create_operator(NotifyStore(db), node_id=root, name="fuzz")

    def authorize(case: Case) -> None:
        if "/broadcasts" in case.operation.path:
            _bearer(case, operator)
            return
        if case.path_parameters and "ref" in case.path_parameters:
            case.path_parameters["ref"] = ref
        _bearer(case, token)
        if case.query and "token" in case.query:
            case.query["token"] = token

    return authorize


async def _ledger_keys(settings: Settings, db) -> Callable[[Case], None]:
    store = LedgerStore(db)
    _, clerk = await create_key(store, name="fuzz", role="clerk", party=None, funds=["*"])
    _, approver = await create_key(
        store, name="fuzz", role="approver", party="party-branch", funds=["*"]
    )

    def authorize(case: Case) -> None:
        path = case.operation.path
        _bearer(case, approver if path.endswith(("/approve", "/reject")) else clerk)

    return authorize


KEYS = {
    "intake": (_intake_keys, INTAKE_SKIPPED),
    "dispatch": (_dispatch_keys, frozenset()),
    "notify": (_notify_keys, frozenset()),
    "ledger": (_ledger_keys, frozenset()),
}
# rules between fields, stated in the fields' descriptions (JSON Schema cannot compare them)
CROSS_FIELD = {"POST /api/v1/campaigns": frozenset({"body.approval", "body.ends"})}


@pytest.mark.parametrize("service", list(KEYS))
async def test_fuzzing_finds_no_5xx_and_no_disagreement_with_the_schema(servers, service):
    settings = isolated_settings(
        servers, intake_rate_per_client=0, intake_rate_per_key=0, notify_stream_max_s=STREAM_MAX_S
    )
    keys, skipped = KEYS[service]
    client = make_client(settings.mongodb_url, app_name="fuzz")
    try:
        authorize = await keys(settings, client[settings.database_name(service)])
    finally:
        await client.close()
    app = importlib.import_module(f"services.{service}.app").create_app(settings)
    port = PORT + list(KEYS).index(service)
    with served(app, port, service) as base:
        failures = fuzz(
            app,
            base,
            authorize,
            examples=EXAMPLES,
            skipped_checks=skipped,
            cross_field=CROSS_FIELD,
        )
    assert not failures, "\n".join(failures)

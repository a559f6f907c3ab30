"""Consult's OpenAPI document fuzzed against the real service (real Kafka and FerretDB), as
tests/integration/test_fuzz_services.py fuzzes the other four: with an office key over the
whole tree, a party key of a compound and a resident's token on positive cases, no input
yields a 5xx, every answer is documented (status, content type, schema) and data the schema
forbids is refused with the field named."""

from __future__ import annotations

import os

import pytest
from schemathesis import Case

from services.consult.access import create_key
from services.consult.app import create_app
from services.consult.store import ConsultStore
from shared.mongo import make_client
from shared.reference import load_reference
from shared.residents import resident_ref, resident_token
from tests.integration.fuzzing import fuzz, served
from tests.servers import isolated_settings

pytestmark = pytest.mark.integration
PORT = int(os.environ.get("LINLI_TEST_FUZZ_CONSULT_PORT", "18185"))
EXAMPLES = 4  # per operation, phase and mode
COMPOUND = "sz.haitang.xianjie.demo-y039"
# consult's business rules (an unknown poll, a node outside the office, a closed poll: a
# 403/404/409 that no schema can express)
SKIPPED = frozenset({"positive_data_acceptance"})


async def _keys(settings) -> tuple[str, str, str, str]:
    client = make_client(settings.mongodb_url, app_name="fuzz")
    try:
        store = ConsultStore(client[settings.database_name("consult")])
        tree = load_reference(settings.config_dir).tree
        _, office = await create_key(store, tree, name="fuzz", node=tree.root.id, party=None)
        _, party = await create_key(store, tree, name="fuzz", node=COMPOUND, party="party-branch")
    finally:
        await client.close()
    secret = settings.resident_secret.get_secret_value()
    ref = resident_ref(secret, "tel:13800000000")
    return office, party, ref, resident_token(secret, ref)


@pytest.mark.asyncio
async def test_fuzzing_consult_finds_no_5xx_and_no_disagreement_with_the_schema(servers):
    settings = isolated_settings(servers, consult_tick_s=0, consult_close_settle_s=0.0)
    office, party, ref, token = await _keys(settings)

    def authorize(case: Case) -> None:
        path = case.operation.path
        key = office
        if "resolution" in path:
            key = party
            if case.path_parameters and "compound" in case.path_parameters:
                case.path_parameters["compound"] = COMPOUND
        elif "/residents/" in path or path.endswith(("/ballots", "/comments")):
            key = token
            if case.path_parameters and "resident_ref" in case.path_parameters:
                case.path_parameters["resident_ref"] = ref
            if isinstance(case.body, dict) and "resident_ref" in case.body:
                case.body["resident_ref"] = ref
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {key}"}

    app = create_app(settings)
    with served(app, PORT, "consult") as base:
        failures = fuzz(app, base, authorize, examples=EXAMPLES, skipped_checks=SKIPPED)
    assert not failures, "\n".join(failures)

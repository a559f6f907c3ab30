"""The ledger's integration fixtures, one copy for its test modules: each module defines its
own ``settings`` (which servers, which prefixes); these give the ledger's store, the ledger
served in-process, and keys for a clerk and one approver per party."""

import pytest

from services.ledger.access import create_key
from services.ledger.app import create_app
from services.ledger.domain.approvals import DEFAULT_PARTIES
from services.ledger.store import LedgerStore
from shared.mongo import make_client
from tests.helpers import serving

PARTIES = DEFAULT_PARTIES


@pytest.fixture(scope="module")
async def store(settings):
    client = make_client(settings.mongodb_url, app_name="test")
    yield LedgerStore(client[settings.database_name("ledger")])
    await client.close()


@pytest.fixture(scope="module")
async def ledger(settings):
    async with serving(create_app(settings)) as [client]:
        yield client


async def clerk_and_approvers(store: LedgerStore, funds: list[str]) -> dict[str, dict]:
    """Authorization headers: ``clerk``, and one approver key per party, acting on ``funds``."""

    async def key(role: str, party: str | None = None) -> dict[str, str]:
        _, key = await create_key(store, name=role, role=role, party=party, funds=funds)
        return {"Authorization": f"Bearer {key}"}

    return {"clerk": await key("clerk"), **{p: await key("approver", p) for p in PARTIES}}

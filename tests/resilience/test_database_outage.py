"""FerretDB goes away under each running service: a request that needs the database answers
503 with Retry-After in the error format (never a 500), readiness turns false, and the service
recovers by itself once the database is back.

It stops the local FerretDB the suite started, so it runs only in that set-up, then brings it
back for whatever follows (its data directory is kept)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI

from services.dispatch.app import create_app as dispatch_app
from services.intake.app import create_app as intake_app
from services.ledger.app import create_app as ledger_app
from services.notify.app import create_app as notify_app
from services.ops.infra.local import status, up
from services.ops.infra.processes import wait_gone
from shared.residents import resident_ref, resident_token
from shared.settings import Settings
from tests.helpers import eventually, serving

pytestmark = pytest.mark.integration


def _inbox(settings: Settings) -> tuple[str, dict[str, str]]:
    secret = settings.resident_secret.get_secret_value()
    ref = resident_ref(secret, "tel:13800000000")
    return f"/api/v1/residents/{ref}/inbox", {
        "Authorization": f"Bearer {resident_token(secret, ref)}"
    }


# per service: its app, and a read that needs the database (path, headers)
READS: dict[str, tuple[Callable[[Settings], FastAPI], Callable[[Settings], Any]]] = {
    "intake": (
        intake_app,
        lambda _: ("/api/v1/issues/iss_0000000000", {"Authorization": "Bearer x"}),
    ),
    "dispatch": (
        dispatch_app,
        lambda _: ("/api/v1/dispatch/tasks", {"Authorization": "Bearer some-key"}),
    ),
    "notify": (notify_app, _inbox),
    "ledger": (ledger_app, lambda _: ("/api/v1/public/campaigns", {})),
}


@pytest.mark.parametrize("service", list(READS))
async def test_database_outage_answers_503_and_recovers_by_itself(servers, settings, service):
    if servers.local is None:
        pytest.skip("needs the local FerretDB process that this suite started")
    create_app, read = READS[service]
    path, headers = read(settings)
    async with serving(create_app(settings)) as (client,):
        before = await client.get(path, headers=headers)
        assert before.status_code < 500, before.text

        pid = status(servers.local)["ferretdb"]["pid"]
        os.killpg(pid, signal.SIGTERM)
        assert await asyncio.to_thread(wait_gone, pid, 30)
        try:
            async with asyncio.timeout(30):  # a bounded answer, not a hang
                response = await client.get(path, headers=headers)
            assert response.status_code == 503, response.text
            assert int(response.headers["Retry-After"]) > 0
            [error] = response.json()["errors"]
            assert error["code"] == "unavailable"
            assert "database" in error["message"]

            async def not_ready():
                r = await client.get("/readyz")
                return r.status_code == 503 and r.json()["mongodb"] is False

            await eventually(not_ready, timeout_s=15)
        finally:  # in a thread: the service's loop goes on while FerretDB starts
            await asyncio.to_thread(up, servers.local, progress=lambda line: None)

        async def ready_again():
            return (await client.get("/readyz")).status_code == 200

        await eventually(ready_again, timeout_s=60, interval_s=0.5)

        async def answers_again():
            r = await client.get(path, headers=headers)
            return r.status_code == before.status_code

        await eventually(answers_again, timeout_s=30, interval_s=0.5)

"""The ledger as an OS process, driven as operators drive it: keys from `linli ledger approvers
create`, the front desk over HTTP, `linli ledger verify`, and `linli ledger export --format
hledger` checked by `hledger check` with the same balances as the public account."""

import asyncio
import os
import shutil
import subprocess
import sys
import uuid

import httpx
import pytest

from services.ops.infra import services as procs
from tests.platform import free_port

pytestmark = pytest.mark.e2e
PARTIES = ("party-branch", "owners-committee", "property-company")


@pytest.fixture(scope="module")
def env(servers):
    run = uuid.uuid4().hex[:8]
    return {
        **os.environ,
        "LINLI_KAFKA_BOOTSTRAP": servers.kafka_bootstrap,
        "LINLI_MONGODB_URL": servers.mongodb_url,
        "LINLI_TOPIC_PREFIX": f"e{run}.",
        "LINLI_DB_PREFIX": f"e{run}_",
        "LINLI_TOPIC_PARTITIONS": "2",
    }


@pytest.fixture(scope="module")
def ledger_url(env, tmp_path_factory):
    processes = procs.ServiceProcesses(
        state_dir=tmp_path_factory.mktemp("ledger-e2e"),
        env={k: v for k, v in env.items() if k.startswith("LINLI_")},
        ports={"ledger": free_port()},
    )
    procs.start(processes, ["ledger"], progress=lambda _: None)
    try:
        procs.wait_ready(processes, ["ledger"], timeout_s=60, progress=lambda _: None)
        yield processes.url("ledger")
    finally:
        procs.stop(processes, ["ledger"], progress=lambda _: None)


def linli(env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "services.ops.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_operators_run_a_campaign_and_audit_it(env, ledger_url, tmp_path):
    if shutil.which("hledger") is None:
        pytest.fail("hledger is needed: apt-get update && apt-get install -y hledger")

    def key(*args):
        out = linli(env, "ledger", "approvers", "create", *args)
        assert out.returncode == 0, out.stderr
        return {"Authorization": f"Bearer {out.stdout.strip()}"}

    clerk = await asyncio.to_thread(key, "--name", "front desk", "--role", "clerk")
    approvers = {
        p: await asyncio.to_thread(key, "--name", p, "--party", p, "--fund", "warmth")
        for p in PARTIES
    }
    async with httpx.AsyncClient(base_url=ledger_url, timeout=20) as http:
        # a donation to a campaign nobody set up is refused (nothing is opened for it)
        early = {
            "donation_id": "e-0",
            "campaign": "warmth",
            "channel": "online",
            "amount_fen": 5_000,
        }
        r = await http.post("/api/v1/donations", json=early, headers=clerk)
        assert (r.status_code, r.json()["errors"][0]["field"]) == (404, "body.campaign")
        campaign = {
            "id": "warmth",
            "name": "冬季温暖",
            "goal_fen": 1_000_000,
            "starts": "2026-10-01",
            "ends": "2027-03-31",
            "projects": ["packs"],
        }
        r = await http.post("/api/v1/campaigns", json=campaign, headers=clerk)
        assert r.status_code == 201, r.text
        assert (await http.post("/api/v1/donations", json=early, headers=clerk)).status_code == 201
        gifts = [
            {
                "donation_id": "e-1",
                "channel": "online",
                "amount_fen": 30_000,
                "payment_ref": "alipay-1",
            },
            {
                "donation_id": "e-2",
                "channel": "offline",
                "amount_fen": 20_000,
                "receipt_book_no": "B7/3",
            },
            {
                "donation_id": "e-3",
                "channel": "in-kind",
                "amount_fen": 15_000,
                "item": "coats",
                "valuation_method": "market-price",
            },
        ]
        for gift in gifts:
            r = await http.post(
                "/api/v1/donations", json={"campaign": "warmth", **gift}, headers=clerk
            )
            assert r.status_code == 201, r.text
        request = {
            "disbursement_id": "e-pay",
            "fund": "warmth",
            "project": "packs",
            "amount_fen": 40_000,
            "payee": "厂家",
            "purpose": "packs",
        }
        assert (
            await http.post("/api/v1/disbursements", json=request, headers=clerk)
        ).status_code == 201
        for party in PARTIES:
            r = await http.post("/api/v1/disbursements/e-pay/approve", headers=approvers[party])
            assert r.status_code == 201, r.text
        assert r.json()["disbursement"]["status"] == "approved"
        r = await http.post("/api/v1/disbursements/e-pay/post", headers=clerk)
        assert r.json()["disbursement"]["status"] == "posted"
        over = {**request, "disbursement_id": "e-over", "amount_fen": 35_000}
        r = await http.post("/api/v1/disbursements", json=over, headers=clerk)
        assert r.status_code == 409 and r.json()["errors"][0]["would_leave_fen"] == -5_000
        figures = (await http.get("/api/v1/public/campaigns/warmth")).json()
    assert figures["raised"]["total"] - figures["spent_fen"] == figures["balance_fen"] == 30_000

    verified = await asyncio.to_thread(linli, env, "ledger", "verify")
    assert verified.returncode == 0 and "ok: 5 entries" in verified.stderr
    journal = tmp_path / "books.journal"
    exported = await asyncio.to_thread(
        linli, env, "ledger", "export", "--format", "hledger", "-o", str(journal)
    )
    assert exported.returncode == 0, exported.stderr
    check = await asyncio.to_thread(
        subprocess.run,
        ["hledger", "-f", str(journal), "check", "-s"],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr
    bal = await asyncio.to_thread(
        subprocess.run,
        ["hledger", "-f", str(journal), "bal", "funds:restricted:warmth", "-N", "--flat"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "CNY -300.00" in bal.stdout

"""The public pages under load: the fund page (served from the web's cache of the ledger's
public account) at 100 requests/s, open loop, beside a baseline page that renders the same
template with fixed data (no cache read), both from the same run, same process. The figure
that counts is the server's own time (``Server-Timing`` from ``tests.bench.web_public_server``);
the client's latency from the scheduled start is printed beside it.

Floor (printed as met or missed, asserted only with LINLI_BENCH_ASSERT_FLOORS=1): p95 server
time <= 50 ms at 100 requests/s. The residents' report form (``GET /report``) is benched the
same way when it answers, beside ``report_form_baseline`` in ``tests/bench/web_public_server.py``.

The seeded campaign has 120 donations (a named donor every third) and 10 disbursements
approved by the three parties, so the page lists 100 entries and 10 approval lists.

Measured on the shared 2-core machine (noisy; 10 s per page):
- after merging the residents' pages, load average 19-24: fund page server p95 1.8 ms
  (99.8/s served) beside its baseline's 38.1 ms (72/s); the report form p95 25.2 ms (98.6/s)
  beside its fixed-data render's 61.2 ms (32/s served): both met.
- load average 19-22: fund page server p50 0.3, p95 3.4, p99 12.6 ms, 99.7 requests/s served,
  client p95 27 ms; baseline (the template rendered each time) p95 35 ms but only 54/s
  served (client p95 7.8 s, queueing): met. The page is drawn once per view and language.
- before that, rendered per request, at load 23-28: p95 57 ms beside the baseline's 47 ms
  (38/s served); and before the kept view answered while the database was read again, at
  load 36-41: p95 2,443 ms (every request read the cache's documents when they aged).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from shared.staff_tokens import StaffClaims, sign
from tests.bench.processes import ROOT, free_port, service_process, settings_env
from tests.servers import isolated_settings

pytestmark = [pytest.mark.bench, pytest.mark.timeout(900)]
RATE, SECONDS, CONNECTIONS = 100.0, float(os.environ.get("LINLI_BENCH_PUBLIC_S", "15")), 20
FLOOR_MS = 50.0
CAMPAIGN = "bench-lamps"
DONATIONS, DISBURSEMENTS = 120, 10


def ledger_call(base: str, secret: str, path: str, body: dict, role: str = "fund-clerk",
                party: str | None = None) -> None:  # fmt: skip
    token = sign(secret, StaffClaims("bench", role, "*", int(time.time()) + 120, party))
    answer = httpx.post(f"{base}/api/v1{path}", json=body, timeout=60,
                        headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert answer.status_code in (200, 201, 202), answer.text


def seed(base: str, secret: str) -> None:
    today = datetime.now(UTC).date()
    ledger_call(base, secret, "/campaigns", {
        "id": CAMPAIGN, "name": "楼道照明 · bench", "goal_fen": 50_000_000,
        "starts": str(today - timedelta(days=20)), "ends": str(today + timedelta(days=40)),
        "projects": ["lamps", "wiring"]})  # fmt: skip
    for i in range(DONATIONS):
        donor = {"name": f"捐赠人{i}", "named": i % 3 == 0}
        ledger_call(base, secret, "/donations", {
            "donation_id": f"bd-{i}", "campaign": CAMPAIGN, "channel": "offline",
            "amount_fen": 10_000 + i, "receipt_book_no": f"RB{i}", "donor": donor})  # fmt: skip
    for i in range(DISBURSEMENTS):
        ledger_call(base, secret, "/disbursements", {
            "disbursement_id": f"bx-{i}", "fund": CAMPAIGN, "project": "lamps",
            "amount_fen": 5_000, "payee": "五金店", "purpose": f"第 {i} 批楼道灯"})  # fmt: skip
        for party in ("party-branch", "owners-committee", "property-company"):
            ledger_call(base, secret, f"/disbursements/bx-{i}/approve", {}, "fund-approver", party)


def load(port: int, path: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "tests.bench.page_loadgen", str(port), str(RATE), str(SECONDS),
         str(CONNECTIONS), path],
        cwd=ROOT, capture_output=True, text=True, timeout=SECONDS * 4 + 60, check=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def line(name: str, figures: dict) -> str:
    s, c = figures["server"], figures["client"]
    return (f"{name:<22} server p50 {s['p50']:6.1f} p95 {s['p95']:6.1f} p99 {s['p99']:6.1f} ms"
            f" | client p95 {c['p95']:7.1f} ms | {figures['rate']:.1f}/s"
            f" {figures['statuses']}")  # fmt: skip


def test_the_public_fund_page_at_100_per_second_beside_its_baseline(servers):
    settings = isolated_settings(servers, "p")
    base = os.environ.get("LINLI_TEST_SERVICE_PORT_BASE")
    ports = ({"ledger": int(base) + 6, "web": int(base) + 7} if base
             else {"ledger": free_port(), "web": free_port()})  # fmt: skip
    env = settings_env(settings, LINLI_LEDGER_PORT=str(ports["ledger"]),
                       LINLI_WEB_PORT=str(ports["web"]), LINLI_LOG_LEVEL="WARNING")  # fmt: skip
    secret = settings.web_token_secret.get_secret_value()
    ledger_url, web_url = (f"http://127.0.0.1:{ports[s]}" for s in ("ledger", "web"))
    with (
        service_process(["services.ledger"], env, ports["ledger"]),
        service_process(["tests.bench.web_public_server", "--port", str(ports["web"])], env,
                        ports["web"]),
    ):  # fmt: skip
        began = time.monotonic()
        seed(ledger_url, secret)
        print(f"\nseeded in {time.monotonic() - began:.0f} s")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # the events reach the cache
            page = httpx.get(f"{web_url}/public/fund", timeout=30)
            if page.status_code == 200 and page.text.count("✔") >= 3 * DISBURSEMENTS:
                break
            time.sleep(1)
        else:
            raise AssertionError("the fund page never showed the seeded campaign")
        assert httpx.get(f"{web_url}/bench/baseline/fund").text.count("<tr") == page.text.count(
            "<tr"
        )  # the baseline renders the same data
        pairs = {"fund": ("/public/fund", "/bench/baseline/fund")}
        report = httpx.get(f"{web_url}/report?place=sz.tongjiang.niuerqiao.hongqi.b01")
        if report.status_code == 200:  # the residents' form is there: bench it too
            pairs["report form"] = ("/report?place=sz.tongjiang.niuerqiao.hongqi.b01",
                                    "/bench/baseline/report")  # fmt: skip
        results = {}
        for name, (live, baseline) in pairs.items():
            has_baseline = httpx.get(web_url + baseline).status_code == 200
            results[name] = (load(ports["web"], live),
                             load(ports["web"], baseline) if has_baseline else None)  # fmt: skip
    print(f"\npublic pages at {RATE:.0f} requests/s, {SECONDS:.0f} s each, open loop:")
    missed = []
    for name, (live, baseline) in results.items():
        print(line(name, live))
        print(line(f"{name} baseline", baseline) if baseline else f"{name} baseline: none yet")
        met = live["server"]["p95"] <= FLOOR_MS and live["statuses"] == {"200": int(RATE * SECONDS)}
        missed += [] if met else [name]
        ratio = f"{live['server']['p95'] / baseline['server']['p95']:.2f}" if baseline else "-"
        print(f"{name}: server p95 <= {FLOOR_MS:.0f} ms: {'met' if met else 'missed'}; "
              f"ratio to baseline {ratio}")  # fmt: skip
    if "report form" not in results:
        print("report form (GET /report): not there yet; the hook is report_form_baseline")
    print(f"load average: {os.getloadavg()}")
    if os.environ.get("LINLI_BENCH_ASSERT_FLOORS") == "1":
        assert not missed, f"floors missed: {missed}"

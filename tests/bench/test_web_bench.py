"""Web console benchmark: the case queue of a street with 50,000 cases and one case page,
rendered by the console, each beside dispatch's own API time for the same data (its paged
queue and its case read with an office key of the same street) measured in the same run.

Floors (printed as met or missed, asserted only with LINLI_BENCH_ASSERT_FLOORS=1): queue p95
<= 150 ms, case page p95 <= 100 ms, and the console adds at most 30 % to the API's time.
The cases are routed by dispatch's own code (the documents it stores) and inserted through its
store (``CaseStore.insert_cases``, which also writes the queue documents) in bulks of 1,000,
spread over twelve reporting months as a year of reports would be, so the run measures reads,
not routing. The first read of each (a replica that has read nothing of the street yet) is
printed too. ``LINLI_BENCH_WEB_CASES`` sets the count (default 50,000).

Measured with 50,000 cases (noisy: other checkouts' tests running):
- load average 7-10, queues kept down to communities, case and timeline read at once: loading
  41 s; queue: console p95 67 ms beside dispatch's queue API p95 10 ms (ratio 6.70: the 150 ms
  floor met, the 30 % overhead missed), the API's first read of the street 824 ms; case page:
  console p95 19 ms beside the API's 15 ms (ratio 1.24): met.
- load average 21-27, queues kept at every place: loading 199 s; queue p95 192 ms beside the
  API's 127 ms; case page 202 ms beside 84 ms: missed.

Before dispatch kept its queue in documents read by ``_id`` (measured with 2,000 cases at a load
average of 13-18): queue p95 1,867-1,938 ms beside the task list's 1,488-1,831 ms, since the
task list filtered on ``places`` (a scan of every case) and answered at most 500 cases.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from datetime import UTC, datetime

import httpx
import pytest

from services.dispatch.app import create_app as dispatch_app
from services.dispatch.store import CaseStore
from services.ops.cli.web import DEMO_PASSWORD
from shared.events import IssueReportedV1
from shared.mongo import make_client
from shared.reference import load_reference
from tests.bench.processes import free_port, service_process, settings_env
from tests.servers import isolated_settings
from tests.web.conftest import csrf_of

pytestmark = [pytest.mark.bench, pytest.mark.timeout(1800)]
CASES = int(os.environ.get("LINLI_BENCH_WEB_CASES", "50000"))
STREET = "sz.tongjiang"
ROUNDS = 20
QUEUE_FLOOR_MS, CASE_FLOOR_MS, OVERHEAD_MAX = 150.0, 100.0, 1.30


async def seed(settings) -> str:
    """CASES routed cases below STREET; a dispatch key of the street's office."""
    dispatcher = dispatch_app(settings).state.dispatcher  # its routing makes the documents
    tree = load_reference(settings.config_dir).tree
    compounds = [n.id for n in tree.descendants(STREET, "compound")]
    client = make_client(settings.mongodb_url, app_name="bench-web")
    store = CaseStore(client[settings.database_name("dispatch")])
    await store.prepare()
    now = datetime.now(UTC)
    began = time.perf_counter()
    for start in range(0, CASES, 1000):
        docs = []
        for i in range(start, min(start + 1000, CASES)):
            event = IssueReportedV1(issue_id=f"iss_bench{i:010d}", category="streetlight-out",
                                    node_id=compounds[i % len(compounds)],
                                    description=f"路灯不亮 #{i}", reported_at=now)  # fmt: skip
            doc = dispatcher._open(event)[1]
            doc["reported_month"] = f"2026-{1 + i * 12 // CASES:02d}"  # a year of reports
            docs.append(doc)
        await store.insert_cases(docs)
    print(f"\nloaded {CASES} cases through CaseStore.insert_cases in "
          f"{time.perf_counter() - began:.1f} s; load average {os.getloadavg()}")  # fmt: skip
    key = "bench-office-key-" + os.urandom(8).hex()
    await store.add_key(key, "office", STREET, now)
    await client.close()
    return key


def timed(client: httpx.Client, path: str, headers=None) -> list[float]:
    began = time.perf_counter()
    client.get(path, headers=headers).raise_for_status()  # warm
    print(f"\nfirst read {path}: {(time.perf_counter() - began) * 1000:.0f} ms")
    out = []
    for _ in range(ROUNDS):
        began = time.perf_counter()
        answer = client.get(path, headers=headers)
        out.append((time.perf_counter() - began) * 1000)
        assert answer.status_code == 200, answer.text[-300:]
    return out


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1]


def test_case_queue_and_case_page_against_the_api(servers):
    settings = isolated_settings(servers, "b")
    key = asyncio.run(seed(settings))
    base = os.environ.get("LINLI_TEST_SERVICE_PORT_BASE")
    ports = ({"dispatch": int(base) + 20, "web": int(base) + 21} if base
             else {"dispatch": free_port(), "web": free_port()})  # fmt: skip
    env = settings_env(
        settings, LINLI_DISPATCH_PORT=str(ports["dispatch"]), LINLI_WEB_PORT=str(ports["web"]),
        LINLI_DISPATCH_TIMER_INTERVAL_S="0")  # fmt: skip
    from services.ops.cli.web import create_demo_accounts

    create_demo_accounts(settings)
    with (
        service_process(["services.dispatch"], env, ports["dispatch"]),
        service_process(["services.web"], env, ports["web"]),
    ):
        api = httpx.Client(base_url=f"http://127.0.0.1:{ports['dispatch']}", timeout=60)
        web = httpx.Client(base_url=f"http://127.0.0.1:{ports['web']}", timeout=60)
        page = web.get("/signin")
        web.post("/signin", data={"csrf": csrf_of(page.text), "username": "tongjiang",
                                  "password": DEMO_PASSWORD})  # fmt: skip
        auth = {"Authorization": f"Bearer {key}"}
        figures = {
            "queue": (timed(api, "/api/v1/dispatch/queue?open=true&sort=deadline", auth),
                      timed(web, "/cases")),
            "case": (timed(api, "/api/v1/dispatch/cases/iss_bench0000000007", auth),
                     timed(web, "/cases/iss_bench0000000007")),
        }  # fmt: skip
    floors = {"queue": QUEUE_FLOOR_MS, "case": CASE_FLOOR_MS}
    missed = []
    for name, (baseline, console) in figures.items():
        ratio = p95(console) / p95(baseline)
        met = p95(console) <= floors[name] and ratio <= OVERHEAD_MAX
        missed += [] if met else [name]
        print(f"\nweb {name} ({CASES} cases below {STREET}): console p95 {p95(console):.1f} ms, "
              f"API p95 {p95(baseline):.1f} ms, ratio {ratio:.2f}; floor {floors[name]:.0f} ms "
              f"and <= {OVERHEAD_MAX:.2f}: {'met' if met else 'missed'}")  # fmt: skip
    print(f"load average: {os.getloadavg()}")
    if os.environ.get("LINLI_BENCH_ASSERT_FLOORS") == "1":
        assert not missed, f"floors missed: {missed}"

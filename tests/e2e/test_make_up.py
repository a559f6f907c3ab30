"""`make up` as a newcomer runs it, from an empty state folder on its own ports: it exits 0,
prints where to look, the demo reports reach their departments' topics and the demo donations
the fund; a second `make up` loads nothing twice. (Set ``LINLI_TEST_UP_PORT_BASE`` to pick the
ports it uses, base upwards: three servers, then one per service; by default they are free
ports of the moment.)"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.intake.http import ReportIn
from services.intake.idempotency import body_fingerprint, issue_id_for_key
from services.ops.cli.demo import DEMO_CAMPAIGN, DEMO_DONATIONS, DEMO_REPORTS, _report_key
from shared.settings import REPO_ROOT, SERVICE_PORTS
from shared.topics import dept_tasks
from tests.e2e.conftest import free_port
from tests.helpers import eventually, read_topic
from tests.unit.test_demo_data import demo_department

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


def _ports() -> list[int]:
    base = os.environ.get("LINLI_TEST_UP_PORT_BASE")
    count = 3 + len(SERVICE_PORTS)  # Kafka, its controller, FerretDB, then the services
    return [int(base) + i for i in range(count)] if base else [free_port() for _ in range(count)]


@pytest.fixture(scope="module")
def up_env(tmp_path_factory) -> Iterator[dict[str, str]]:
    """The environment of a `make up` of its own: state folder, servers' and services' ports
    (nothing else of the caller's LINLI_* settings, so it runs as on a fresh machine)."""
    state = tmp_path_factory.mktemp("up") / "state"
    kafka, controller, mongo, *services = _ports()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINLI_")}
    env.update(
        LINLI_LOCAL_STATE_DIR=str(state),
        LINLI_LOCAL_KAFKA_PORT=str(kafka),
        LINLI_LOCAL_KAFKA_CONTROLLER_PORT=str(controller),
        LINLI_LOCAL_MONGO_PORT=str(mongo),
        **{f"LINLI_{s.upper()}_PORT": str(p) for s, p in zip(SERVICE_PORTS, services, strict=True)},
    )
    if "LINLI_CACHE_DIR" in os.environ:
        env["LINLI_CACHE_DIR"] = os.environ["LINLI_CACHE_DIR"]
    try:
        yield env
    finally:
        down = _make("down", env)
        assert down.returncode == 0, down.stdout
        assert not list(state.glob("**/*.pid")), "make down left a process behind"


def _make(target: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(REPO_ROOT), target],
        env={**env, "COLUMNS": "200"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )


def _expected_issue_ids() -> dict[str, str]:
    """issue id -> department: what intake derives from each report's Idempotency-Key and
    body, and where dispatch's routing sends it."""
    return {
        issue_id_for_key(
            f"{_report_key(i)}:{body_fingerprint(ReportIn.model_validate(body).model_dump(mode='json'))}"
        ): demo_department(body)
        for i, body in enumerate(DEMO_REPORTS)
    }


async def _tasks_by_issue(bootstrap: str, departments: set[str]) -> dict[str, set[str]]:
    """issue id -> ids of its "new" tasks (timers add reminders later), read from the
    department topics as a department would: every topic at once, each for 3 s (a task sent
    twice within them is seen; one after the other, the reads took 15 s a call)."""
    found: dict[str, set[str]] = {}
    reads = [read_topic(bootstrap, dept_tasks(d), expect=99, timeout_s=3) for d in departments]
    for records in await asyncio.gather(*reads):
        for record in records:
            task = json.loads(record.value)
            if task["action"] != "new":
                continue
            found.setdefault(task["issue_id"], set()).add(task["task_id"])
    return found


async def _wait_tasks(bootstrap: str, expected: dict[str, str]) -> dict[str, set[str]]:
    deadline = time.monotonic() + 60
    while True:
        found = await _tasks_by_issue(bootstrap, set(expected.values()))
        if set(expected) <= set(found) or time.monotonic() > deadline:
            return found


def _fund(ledger_url: str) -> dict:
    response = httpx.get(f"{ledger_url}/api/v1/public/campaigns/{DEMO_CAMPAIGN['id']}", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


async def test_make_up_from_an_empty_state_folder_loads_the_demo_once(up_env):
    began = time.monotonic()
    first = _make("up", up_env)
    took = time.monotonic() - began
    print(f"\nfirst `make up` from an empty state folder: {took:.1f}s\n{first.stdout[-3000:]}")
    assert first.returncode == 0, first.stdout
    intake = f"http://127.0.0.1:{up_env['LINLI_INTAKE_PORT']}"
    ledger = f"http://127.0.0.1:{up_env['LINLI_LEDGER_PORT']}"
    assert "Where to look" in first.stdout
    assert f"{intake}/docs" in first.stdout
    assert f"127.0.0.1:{up_env['LINLI_WEB_PORT']}/residents" in first.stdout
    assert f"127.0.0.1:{up_env['LINLI_LOCAL_KAFKA_PORT']}" in first.stdout
    assert f"demo data: {len(DEMO_REPORTS)} reports, {len(DEMO_DONATIONS)} donations" in (
        first.stdout
    )
    assert (Path(up_env["LINLI_LOCAL_STATE_DIR"]) / "demo-loaded").is_file()

    bootstrap = f"127.0.0.1:{up_env['LINLI_LOCAL_KAFKA_PORT']}"
    expected = _expected_issue_ids()
    tasks = await _wait_tasks(bootstrap, expected)
    assert set(tasks) == set(expected), "every demo report reaches its department's topic"
    assert all(len(ids) == 1 for ids in tasks.values()), tasks
    fund = _fund(ledger)
    by_channel = {d["channel"]: 0 for d in DEMO_DONATIONS}
    for donation in DEMO_DONATIONS:
        by_channel[donation["channel"]] += donation["amount_fen"]
    assert {ch: fund["raised"][ch] for ch in by_channel} == by_channel, fund["raised"]

    second = _make("up", up_env)
    assert second.returncode == 0, second.stdout
    assert "demo data: already loaded" in second.stdout
    assert "Where to look" in second.stdout
    assert await _tasks_by_issue(bootstrap, set(expected.values())) == tasks
    assert _fund(ledger)["raised"] == fund["raised"]

    (Path(up_env["LINLI_LOCAL_STATE_DIR"]) / "demo-loaded").unlink()  # as if a run was cut off
    third = _make("up", up_env)
    assert third.returncode == 0, third.stdout
    assert f"demo data: {len(DEMO_REPORTS)} reports" in third.stdout
    assert await _tasks_by_issue(bootstrap, set(expected.values())) == tasks
    assert _fund(ledger)["raised"] == fund["raised"]


def _try_it_blocks() -> list[str]:
    """The shell blocks of the README's "Try it" section, in order."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Try it\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.S)


def _as_on_these_ports(block: str, env: dict[str, str], tmp: Path) -> str:
    """The block as a newcomer would run it here: this run's ports and a file folder of its
    own; every curl fails on an HTTP error (the README's ``-s`` alone would not)."""
    for service, default in SERVICE_PORTS.items():
        port = env[f"LINLI_{service.upper()}_PORT"]
        block = block.replace(f"127.0.0.1:{default}", f"127.0.0.1:{port}")
    return block.replace("/tmp/linli-", f"{tmp}/linli-")


def _bash(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    strict = 'set -euo pipefail\ncurl() { command curl --fail-with-body --max-time 20 "$@"; }\n'
    return subprocess.run(
        ["bash", "-c", strict + script],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
    )


async def test_the_readmes_try_it_section_runs_as_written(up_env, tmp_path):
    """Report, read it with its report token, sign in by code, read the inbox and one's
    reports, tail the department's topic, vote in the demo poll after signing in with the
    roll's phone (as the README says): every command answers without an HTTP error."""
    assert _make("up", up_env).returncode == 0  # already up: nothing is loaded twice
    env = {**up_env, "LINLI_KAFKA_BOOTSTRAP": f"127.0.0.1:{up_env['LINLI_LOCAL_KAFKA_PORT']}"}
    report, read, sign_in, tail, vote = (
        _as_on_these_ports(b, up_env, tmp_path) for b in _try_it_blocks()
    )
    filed = _bash(report, env)
    assert filed.returncode == 0, filed.stdout
    answer = json.loads((tmp_path / "linli-report.json").read_text())
    assert set(answer) == {"issue_id", "status", "report_token"}, answer

    intake = f"http://127.0.0.1:{up_env['LINLI_INTAKE_PORT']}"
    auth = {"Authorization": f"Bearer {answer['report_token']}"}
    async with httpx.AsyncClient(base_url=intake, headers=auth) as client:

        async def recorded() -> bool:  # "404 until then": wait as a reader would
            return (await client.get(f"/api/v1/issues/{answer['issue_id']}")).is_success

        await eventually(recorded, timeout_s=30)
    voter = sign_in.replace("13800000000", "13701101000")  # "sign in with that phone"
    for block, shows in ((read, answer["issue_id"]), (sign_in, '"messages"'),
                         (voter + vote, '"receipt"')):  # fmt: skip
        ran = _bash(block, env)
        assert ran.returncode == 0 and shows in ran.stdout, ran.stdout[-3000:]
    tasks = _bash(tail, env)
    assert tasks.returncode == 0 and "dept.urban-mgmt.tasks" in tasks.stdout, tasks.stdout
    assert "13800000000" not in tasks.stdout, "a department's task carries no phone number"

"""Consult as its own OS process, as `make up` runs it.

Exactly one counted ballot per household under a crash: households vote and change their
ballots concurrently, the process is killed with SIGKILL mid-voting and restarted; the voters
whose request got no answer retry it (same ballot key, same choice, as a voter's device
does). The count then equals the households that got a success, each counted with its last
successful choice, none twice. The operators' tool imports the roll, lists the polls and
recounts the published ballots; the demo opens 嘉定小院's naming poll."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
from collections import Counter

import httpx
import pytest

from services.consult.access import create_key
from services.consult.domain.ballots import heads
from services.consult.store import ConsultStore
from services.ops.infra import services as procs
from shared.mongo import make_client
from shared.reference import load_reference
from shared.residents import normalise_contact, resident_ref, resident_token
from tests.servers import isolated_settings

pytestmark = pytest.mark.e2e
COMPOUND = "sz.haitang.xianjie.jiading"
HOUSEHOLDS = 240
OPTIONS = ["a", "b", "c", "d", "e"]
PORT = int(os.environ.get("LINLI_TEST_CONSULT_PORT", "28185"))


def phone(i: int) -> str:
    return f"1390{i:07d}"


@pytest.fixture
def consult_process(servers, tmp_path):
    settings = isolated_settings(servers, "k")
    processes = procs.ServiceProcesses(
        state_dir=tmp_path,
        env={
            "LINLI_ENV": "test",
            "LINLI_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "LINLI_MONGODB_URL": settings.mongodb_url,
            "LINLI_TOPIC_PREFIX": settings.topic_prefix,
            "LINLI_DB_PREFIX": settings.db_prefix,
            "LINLI_TOPIC_PARTITIONS": "2",
            "LINLI_CONSULT_TICK_S": "0",
            "LINLI_CONSULT_CLOSE_SETTLE_S": "0",
        },
        ports={"consult": PORT},
    )
    procs.start(processes, ["consult"], progress=lambda _: None)
    try:
        procs.wait_ready(processes, ["consult"], timeout_s=60, progress=lambda _: None)
        yield settings, processes
    finally:
        procs.stop(processes, ["consult"], progress=lambda _: None)


async def office_key(settings) -> tuple[str, ConsultStore, object]:
    client = make_client(settings.mongodb_url, app_name="test")
    store = ConsultStore(client[settings.database_name("consult")])
    tree = load_reference(settings.config_dir).tree
    _, key = await create_key(store, tree, name="office", node=COMPOUND, party=None)
    return f"Bearer {key}", store, client


class Voter:
    def __init__(self, settings, i: int):
        secret = settings.resident_secret.get_secret_value()
        self.ref = resident_ref(secret, normalise_contact(phone(i), None))
        self.headers = {"Authorization": f"Bearer {resident_token(secret, self.ref)}"}
        self.key = secrets.token_urlsafe(32)
        self.plan = [[OPTIONS[i % 5], OPTIONS[(i + 1) % 5]]]
        if i % 3 == 0:
            self.plan.append([OPTIONS[(i + 2) % 5]])  # changes its ballot
        self.succeeded: list[str] | None = None  # the last choice answered with success
        self.unanswered: list[str] | None = None  # a request that got no answer

    async def send(self, client: httpx.AsyncClient, choice: list[str]) -> bool:
        body = {"resident_ref": self.ref, "choice": choice, "ballot_key": self.key}
        try:
            answer = await client.post(
                "/api/v1/consult/polls/poll_crash/ballots", json=body, headers=self.headers
            )
        except httpx.HTTPError:
            self.unanswered = choice
            return False
        assert answer.status_code == 201, answer.text
        self.succeeded, self.unanswered = choice, None
        return True

    async def vote(self, client: httpx.AsyncClient) -> None:
        for choice in self.plan:
            if not await self.send(client, choice):
                return


async def vote_until_killed(url: str, voters: list[Voter], pid: int) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        queue = list(voters)

        async def worker() -> None:
            while queue:
                await queue.pop(0).vote(client)

        async def killer() -> None:
            while sum(v.succeeded is not None for v in voters) < HOUSEHOLDS // 3:  # noqa: ASYNC110
                await asyncio.sleep(0.005)
            os.killpg(pid, signal.SIGKILL)

        await asyncio.gather(killer(), *(worker() for _ in range(12)))


def linli(processes, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **processes.env}
    return subprocess.run(
        [sys.executable, "-m", "services.ops.cli.main", "consult", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.asyncio
async def test_kill_9_mid_voting_counts_each_household_once(consult_process) -> None:
    settings, processes = consult_process
    url = processes.url("consult")
    auth, store, mongo = await office_key(settings)
    buildings = [f"{COMPOUND}.b01", f"{COMPOUND}.b02"]
    roll = "building,household,phone,language\n" + "".join(
        f"{buildings[i % 2]},{i},{phone(i)},zh-CN\n" for i in range(HOUSEHOLDS)
    )
    roll_file = processes.state_dir / "roll.csv"
    roll_file.write_text(roll + f"{COMPOUND}.b09,1,,zh-CN\n")
    imported = linli(processes, "rolls", "import", str(roll_file), "--office", COMPOUND)
    assert f"{HOUSEHOLDS} households imported, 1 lines rejected" in imported.stderr
    assert f"line {HOUSEHOLDS + 2}: no building" in imported.stderr
    async with httpx.AsyncClient(base_url=url, timeout=30, headers={"Authorization": auth}) as c:
        poll = {"poll_id": "poll_crash", "node_id": COMPOUND, "question": "?", "kind": "ranked"}
        poll["options"] = [{"id": o, "label": o} for o in OPTIONS]
        assert (await c.post("/api/v1/consult/polls", json=poll)).status_code == 201
        assert (await c.post("/api/v1/consult/polls/poll_crash/open")).status_code == 200

    voters = [Voter(settings, i) for i in range(HOUSEHOLDS)]
    pid = procs.ServiceProcesses.pids(processes, "consult").live_pid()[0]
    await vote_until_killed(url, voters, pid)
    answered = sum(v.succeeded is not None for v in voters)
    in_doubt = [v for v in voters if v.unanswered is not None]
    assert answered >= HOUSEHOLDS // 3 and in_doubt, "the kill came mid-voting"

    rows = [d async for d in store.ballots("poll_crash").find({})]
    counted = len(heads(rows))  # as stored right after the crash
    sure = sum(v.succeeded is not None and v.unanswered is None for v in voters)
    assert sure <= counted <= sure + len(in_doubt)
    print(f"\nkilled with {sure} sure successes, {len(in_doubt)} in doubt; {counted} counted")

    procs.start(processes, ["consult"], progress=lambda _: None)
    procs.wait_ready(processes, ["consult"], timeout_s=60, progress=lambda _: None)
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        for voter in in_doubt:  # the voter's device retries what got no answer
            assert await voter.send(client, voter.unanswered)
        closed = await client.post(
            "/api/v1/consult/polls/poll_crash/close", headers={"Authorization": auth}
        )
    results = closed.json()["results"]
    voted = [v for v in voters if v.succeeded is not None]
    assert results["turnout"] == len(voted)
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        rows = (await client.get("/api/v1/consult/polls/poll_crash/ballots")).json()["ballots"]
    counted_choices = Counter(tuple(d["choice"]) for d in heads(rows))
    assert counted_choices == Counter(tuple(v.succeeded) for v in voted)
    recounted = linli(processes, "recount", "poll_crash", "--url", url)
    assert recounted.returncode == 0 and "same result" in recounted.stderr, recounted.stderr
    listed = linli(processes, "polls", "list")
    assert "poll_crash" in listed.stdout and "closed" in listed.stdout
    await mongo.close()


@pytest.mark.asyncio
async def test_the_demo_opens_the_jiading_naming_poll(consult_process) -> None:
    from services.consult.demo import NAMES, POLL_ID, load_demo

    settings, processes = consult_process
    url = processes.url("consult")
    done, _key = await asyncio.to_thread(load_demo, settings, url)
    assert POLL_ID in done
    async with httpx.AsyncClient(base_url=url) as client:
        poll = (await client.get(f"/api/v1/consult/polls/{POLL_ID}")).json()
    assert poll["status"] == "open" and poll["kind"] == "ranked"
    assert [o["label"] for o in poll["options"]] == [label for _, label in NAMES]
    assert poll["roll_size"] == 12  # two buildings of six households
    voter = Voter(settings, 0)  # household 101 of building 1, as the README's example votes
    secret = settings.resident_secret.get_secret_value()
    voter.ref = resident_ref(secret, normalise_contact("13701101000", None))
    voter.headers = {"Authorization": f"Bearer {resident_token(secret, voter.ref)}"}
    async with httpx.AsyncClient(base_url=url) as client:
        body = {"resident_ref": voter.ref, "choice": ["jiading", "linli"], "ballot_key": voter.key}
        cast = await client.post(
            f"/api/v1/consult/polls/{POLL_ID}/ballots", json=body, headers=voter.headers
        )
    assert cast.status_code == 201 and cast.json()["receipt"].startswith("r_")

"""Consult benchmark against the real FerretDB and Kafka, each figure beside a baseline from
the same run, as a ratio:

1. Casting ballots: households (each its own ballot key) cast through the application object
   (the call HTTP makes: poll and roll checks, token bound, ballot
   inserted; concurrent inserts share an ``insert_many``), 64 at a time; baselines: the very
   ballot documents inserted into the same store by ``insert_one`` at the same concurrency,
   and by ``insert_many`` in batches of 64. Floor: 1,000 ballots/s, printed, and asserted only
   with ``LINLI_BENCH_ASSERT_FLOORS=1`` (it depends on how busy the shared machine is).
2. Closing and counting a ranked poll of 100,000 ballots among 5 options (a tenth of the
   households changed their ballot once, so 110,000 ballots), packed in batch documents as
   casting 64 at a time packs them: ``Polls.close`` (state change, reading every batch, each
   ballot once, chain heads, instant runoff and Borda, results stored and published; the
   audit of the households' bindings follows on the timer, off this path); baseline: a raw
   read of the same batch documents. Floor: 5 s, asserted.
"""

import asyncio
import os
import random
import secrets
import time

import pytest

from services.consult.app import create_app
from services.consult.domain import ballots as chain
from services.consult.domain.polls import Option, Poll, Rules
from services.consult.records import poll_to_doc
from services.consult.store import insert_missing
from tests.helpers import serving

pytestmark = pytest.mark.bench

OPTIONS = ["a", "b", "c", "d", "e"]
N_CAST, CONCURRENCY, CAST_FLOOR = 5_000, 64, 1_000
N_COUNT, COUNT_FLOOR_S = 100_000, 5.0
ASSERT_FLOORS = os.environ.get("LINLI_BENCH_ASSERT_FLOORS") == "1"


async def open_poll(consult, poll_id: str, households: list[str]) -> None:
    rules = Rules("ranked", tuple(Option(o, o) for o in OPTIONS), 5)
    poll = Poll(poll_id, "sz", "sz", "bench", rules, status="open", roll_size=len(households))
    await consult.store.polls.insert_one(poll_to_doc(poll, {"announced": True}))
    tokens = [{"_id": consult.voting.token(poll_id, h)} for h in households]
    for start in range(0, len(tokens), 5_000):
        await insert_missing(consult.store.tokens(poll_id), tokens[start : start + 5_000])


async def in_parallel(jobs, concurrency: int) -> float:
    queue = list(jobs)
    began = time.perf_counter()

    async def worker() -> None:
        while queue:
            await queue.pop()()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - began


def ranking(rng: random.Random) -> tuple[str, ...]:
    order = OPTIONS[:]
    rng.shuffle(order)
    return tuple(order[: rng.randint(1, 5)])


@pytest.mark.asyncio
async def test_casting_ballots(settings) -> None:
    app = create_app(settings.model_copy(update={"consult_tick_s": 0}))
    async with serving(app):
        consult = app.state.consult
        households = [f"b|{i}" for i in range(N_CAST)]
        await open_poll(consult, "poll_benchcast", households)
        rng = random.Random(7)
        votes = [(h, secrets.token_urlsafe(32), ranking(rng)) for h in households]

        def cast(h, key, choice):
            return lambda: consult.voting.cast("poll_benchcast", h, key, choice)

        cast_s = await in_parallel([cast(*v) for v in votes], CONCURRENCY)
        docs = [
            {"_id": d["_id"] + "r", **{k: d[k] for k in ("choice", "receipt", "prev")}}
            async for d in consult.store.ballots("poll_benchcast").find({})
        ]
        raw = consult.store.db["raw_ballots"]
        raw_s = await in_parallel([lambda d=d: raw.insert_one(d) for d in docs], CONCURRENCY)
        many = consult.store.db["raw_ballots_many"]
        chunks = [docs[i : i + CONCURRENCY] for i in range(0, len(docs), CONCURRENCY)]
        began = time.perf_counter()
        for chunk in chunks:
            await many.insert_many(chunk, ordered=False)
        many_s = time.perf_counter() - began
    rate, raw_rate, many_rate = N_CAST / cast_s, len(docs) / raw_s, len(docs) / many_s
    verdict = "met" if rate >= CAST_FLOOR else "MISSED"
    print(
        f"\nconsult casting: {rate:,.0f} ballots/s ({N_CAST} households, {CONCURRENCY} at a "
        f"time); raw insert_one of the same documents {raw_rate:,.0f}/s (ratio "
        f"{rate / raw_rate:.2f}), raw insert_many of {CONCURRENCY} {many_rate:,.0f}/s (ratio "
        f"{rate / many_rate:.2f}); floor {CAST_FLOOR:,}/s {verdict}"
    )
    assert len(docs) == N_CAST
    if ASSERT_FLOORS:
        assert rate >= CAST_FLOOR


@pytest.mark.asyncio
async def test_closing_and_counting_100k_ranked_ballots(settings) -> None:
    app = create_app(settings.model_copy(update={"consult_tick_s": 0, "consult_close_settle_s": 0}))
    async with serving(app):
        consult = app.state.consult
        await open_poll(consult, "poll_benchcount", [])
        await consult.store.polls.update_one(
            {"_id": "poll_benchcount"}, {"$set": {"roll_size": N_COUNT}}
        )
        rng, batches = random.Random(11), []
        casts: list[list[tuple]] = []  # each cast packs its ballot and the one it replaces
        for i in range(N_COUNT):
            token, key = f"t{i}", f"k{i}".ljust(32, "x")
            first = (chain.ballot_id(key, token, 1), ranking(rng))
            line = (chain.receipt(*first), None, first[1])
            casts.append([line])
            if i % 10 == 0:  # a tenth change their ballot once
                second = (chain.ballot_id(key, token, 2), ranking(rng))
                casts.append([line, (chain.receipt(*second), line[0], second[1])])
        rng.shuffle(casts)
        for start in range(0, len(casts), CONCURRENCY):  # as casting 64 at a time packs them
            lines = [line for cast in casts[start : start + CONCURRENCY] for line in cast]
            batches.append({"_id": f"k_{start:08d}", "ballots": chain.pack(lines)})
        collection = consult.store.batches("poll_benchcount")
        for start in range(0, len(batches), 500):
            await collection.insert_many(batches[start : start + 500], ordered=False)
        began = time.perf_counter()
        raw = [d async for d in collection.find({})]
        raw_s = time.perf_counter() - began
        stored = sum(d["ballots"].count("\n") + 1 for d in raw)
        began = time.perf_counter()
        closed = await consult.polls.close("poll_benchcount")
        close_s = time.perf_counter() - began
    results = closed["results"]
    print(
        f"\nconsult close and count: {close_s:.2f} s for {N_COUNT:,} households "
        f"({results['ballots_cast']:,} ballots in {len(raw):,} batches, ranked, 5 options; winner "
        f"{results['outcome']['winners']}, {len(results['outcome']['rounds'])} rounds); raw read "
        f"of the same batch documents {raw_s:.2f} s; ratio {close_s / raw_s:.2f}; floor "
        f"{COUNT_FLOOR_S:.0f} s {'met' if close_s <= COUNT_FLOOR_S else 'MISSED'}"
    )
    assert results["turnout"] == N_COUNT and results["ballots_cast"] == N_COUNT * 11 // 10
    assert stored == N_COUNT * 11 // 10 + N_COUNT // 10  # a changed ballot packs its first again
    assert close_s <= COUNT_FLOOR_S

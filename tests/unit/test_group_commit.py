"""Group commit: concurrent items in one write, each caller its own answer."""

from __future__ import annotations

import asyncio

import pytest

from shared.group_commit import GroupCommit

pytestmark = pytest.mark.unit


async def test_items_arriving_during_a_write_go_together_in_the_next():
    writes: list[list[int]] = []

    async def write(items: list[int]) -> list[int]:
        writes.append(items)
        await asyncio.sleep(0.01)
        return [i * 10 for i in items]

    commit = GroupCommit(write, max_batch=3)
    results = await asyncio.gather(*(commit.submit(i) for i in range(7)))
    assert results == [i * 10 for i in range(7)]
    assert writes == [[0, 1, 2], [3, 4, 5], [6]]  # at most max_batch a write


async def test_an_item_s_own_error_reaches_its_caller_alone():
    async def write(items: list[int]) -> list[object]:
        return [ValueError(i) if i == 1 else i for i in items]

    commit = GroupCommit(write, gather_turn=True)
    results = await asyncio.gather(*(commit.submit(i) for i in range(3)), return_exceptions=True)
    assert results[0] == 0 and results[2] == 2
    assert isinstance(results[1], ValueError)


async def test_a_failed_write_reaches_every_caller_and_the_next_batch_still_runs():
    calls = 0

    async def write(items: list[int]) -> list[int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("away")
        return list(items)

    commit = GroupCommit(write, max_batch=2, gather_turn=True)
    first = await asyncio.gather(*(commit.submit(i) for i in range(2)), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in first)
    assert await commit.submit(5) == 5


async def test_a_write_answering_the_wrong_number_of_results_fails_its_callers():
    async def write(items: list[int]) -> list[int]:
        return []

    commit = GroupCommit(write)
    with pytest.raises(RuntimeError, match="0 results for a batch of 1"):
        await asyncio.wait_for(commit.submit(1), 2)

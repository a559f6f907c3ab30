"""The live boards' bookkeeping: streams bounded per person and per process, one ask of a
scope's stamp per interval however many streams watch it, and a change told once."""

from __future__ import annotations

import asyncio

import pytest

from services.web.live import CHANGED, KEEP_ALIVE, LiveBoards, TooManyStreams


def boards(**kw) -> LiveBoards:
    return LiveBoards(**({"per_person": 2, "streams": 3, "poll_s": 0.01, "stream_s": 5.0} | kw))


def test_streams_are_bounded_per_person_and_per_process():
    live = boards()
    with live.held("a", "office:sz"), live.held("a", "office:sz"):
        with pytest.raises(TooManyStreams):
            live.admit("a")
        live.admit("b")
        with live.held("b", "office:sz"), pytest.raises(TooManyStreams):
            live.admit("c")  # the process is full
        live.admit("c")
    live.admit("a")
    assert live.open_streams == 0


async def test_a_scopes_stamp_is_asked_once_per_interval_for_all_its_streams():
    live = boards(poll_s=60.0)
    asked = 0

    async def ask() -> str:
        nonlocal asked
        asked += 1
        await asyncio.sleep(0.01)
        return "s1"

    with live.held("a", "office:sz"), live.held("b", "office:sz"):
        found = await asyncio.gather(*(live.stamp("office:sz", ask) for _ in range(5)))
    assert found == ["s1"] * 5 and asked == 1
    with live.held("a", "office:sz"):
        await live.stamp("office:sz", ask)
    assert asked == 2  # nobody watched it in between: its stamp was forgotten


async def test_a_change_is_told_once_and_dispatch_away_tells_nothing():
    live = boards()
    stamps = iter(["s1", "s1", None, "s2", "s2", "s3"])
    polls = 0

    async def ask() -> str:
        found = next(stamps)
        if found is None:
            raise ConnectionError("dispatch away")
        return found

    async def still_here() -> bool:
        nonlocal polls
        polls += 1
        return polls <= 5

    with live.held("a", "department:zhujian"):
        told = [what async for what in live.follow("department:zhujian", ask, still_here)]
    assert told == [KEEP_ALIVE, KEEP_ALIVE, CHANGED, KEEP_ALIVE, CHANGED]

"""The dump a hung in-process stop leaves behind names every task and where it waits."""

import asyncio

from shared.task_dump import task_dump


async def test_the_dump_names_each_task_and_where_it_waits():
    async def waits_for_ever(event: asyncio.Event) -> None:
        await event.wait()

    event = asyncio.Event()
    task = asyncio.create_task(waits_for_ever(event), name="stuck-one")
    await asyncio.sleep(0)
    try:
        dump = task_dump()
    finally:
        task.cancel()
    assert "--- stuck-one" in dump
    assert "waits_for_ever" in dump and "await event.wait()" in dump

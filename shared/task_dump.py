"""Where every asyncio task of this process waits, for a hang: a service writes it to its log
when it gets SIGUSR1 (``kill -USR1 <pid>``), the tests print it when an app will not stop."""

from __future__ import annotations

import asyncio
import io
import signal
from contextlib import suppress

from shared.logging import get_logger

log = get_logger("linli.tasks")


def task_dump(limit: int = 12) -> str:
    """Each asyncio task of this loop with where it waits (its innermost frames)."""
    out = io.StringIO()
    for task in sorted(asyncio.all_tasks(), key=lambda t: t.get_name()):
        out.write(f"--- {task.get_name()}: {task.get_coro()!r}\n")
        task.print_stack(limit=limit, file=out)
    return out.getvalue()


async def dump_tasks_on_sigusr1() -> None:
    """Runs beside the app: each SIGUSR1 logs the task dump (``task_dump`` event)."""
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, lambda: log.warning("task_dump", tasks=task_dump()))
    try:
        await asyncio.Event().wait()
    finally:
        with suppress(Exception):
            loop.remove_signal_handler(signal.SIGUSR1)

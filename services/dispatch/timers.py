"""Durable timers: a tick seals the minutes that have passed, reads by exact id the chunks
of the minutes between the shared cursor and now, claims each due entry (one replica fires
it) and fires it through the state machine, which refuses a timer the case no longer wants,
so a timer acts at most once; the case's change places its next timers. A tick's cost
depends on the time elapsed and the timers coming due, never on how many are pending."""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from datetime import datetime, timedelta

from services.dispatch.application import CaseNotFound, Dispatcher
from services.dispatch.domain.machine import Refused, TimerFired
from services.dispatch.wheel import Entry, WheelStore, bounded, minute_of
from shared.events import utcnow
from shared.logging import get_logger
from shared.metrics import Counter, Histogram

log = get_logger("linli.dispatch.timers")
TIMERS_FIRED = Counter(
    "linli_dispatch_timers_fired_total", "Timers fired, by kind and outcome.", ["kind", "outcome"]
)
TIMER_LAG = Histogram(
    "linli_dispatch_timer_lag_seconds",
    "Delay between a timer's due time and its firing.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)


FIRING_AT_ONCE = 16  # firings in flight per replica (more only queue up in the database)


class TimerWheel:
    def __init__(
        self,
        wheel: WheelStore,
        dispatcher: Dispatcher,
        *,
        lease: timedelta = timedelta(seconds=30),
        batch: int = 200,
    ):
        self._wheel = wheel
        self._dispatcher = dispatcher
        self._lease = lease
        self._batch = batch
        self.replica = uuid.uuid4().hex[:12]
        self.lags: deque[float] = deque(maxlen=100_000)  # seconds late, latest firings
        self._chunks: dict[str, list[Entry]] = {}  # chunks are immutable: read each once
        self._done: set[str] = set()  # entries this replica fired, of minutes not dropped
        self._busy: dict[str, datetime] = {}  # entries another replica holds, until
        self._firing: dict[str, asyncio.Task[int]] = {}  # entries being fired here
        self._gate = asyncio.Semaphore(FIRING_AT_ONCE)

    async def tick(self, *, wait: bool = True) -> int:
        """Fire the entries due between the shared cursor and now (at most ``batch`` at a
        time); the number fired (``wait``), or started in the background (not ``wait``: the
        service's loop, so an entry coming due is fired while slower firings still run).
        Minutes wholly past whose entries are all fired are then dropped and the cursor
        moves past them."""
        now = self._dispatcher.clock()
        current = minute_of(now)
        cursor = await self._wheel.cursor(current)
        if current <= cursor:
            return 0  # the clock is behind the cursor (a test moved it back): nothing is due
        minutes = await self._wheel.seal(cursor, current - 1)
        found = await bounded(map(self._wheel.chunk_ids, minutes))
        chunk_ids = dict(zip(minutes, found, strict=True))
        unread = [c for ids in chunk_ids.values() for c in ids if c not in self._chunks]
        self._chunks.update(await self._wheel.chunks(unread))
        due: list[tuple[str, int, Entry]] = []
        for minute, ids in chunk_ids.items():
            for chunk in ids:
                for index, entry in enumerate(self._chunks[chunk]):
                    entry_id = f"{chunk}/{index}"
                    if entry["d"] <= now and entry_id not in self._done:
                        due.append((entry_id, minute, entry))
        due.sort(key=lambda item: item[2]["d"])
        room = max(0, self._batch - len(self._firing))
        starting = [item for item in due if item[0] not in self._firing][:room]
        tasks = [self._start(*item) for item in starting]
        fired = sum(await asyncio.gather(*tasks)) if wait else len(tasks)
        open_minutes = {minute for entry_id, minute, _ in due if entry_id not in self._done}
        complete = cursor
        for minute in range(cursor + 1, current):
            if minute in open_minutes:
                break
            complete = minute
        if complete > cursor:
            await self._wheel.advance(complete)
            dropped = {m: chunk_ids.get(m, []) for m in range(cursor + 1, complete + 1)}
            await self._wheel.drop({m: ids for m, ids in dropped.items() if ids})
            for ids in dropped.values():
                for chunk in ids:
                    gone = [f"{chunk}/{i}" for i in range(len(self._chunks.pop(chunk, ())))]
                    self._done.difference_update(gone)
                    for entry_id in gone:
                        self._busy.pop(entry_id, None)
        return fired

    def _start(self, entry_id: str, minute: int, entry: Entry) -> asyncio.Task[int]:
        task = asyncio.create_task(self._claim_and_fire(entry_id, minute, entry))
        self._firing[entry_id] = task
        task.add_done_callback(lambda _: self._firing.pop(entry_id, None))
        return task

    async def _claim_and_fire(self, entry_id: str, minute: int, entry: Entry) -> int:
        async with self._gate:
            return await self._claim_and_fire_now(entry_id, minute, entry)

    async def _claim_and_fire_now(self, entry_id: str, minute: int, entry: Entry) -> int:
        wall = utcnow()  # leases run on the real clock, whatever clock the cases use
        if self._busy.get(entry_id, wall) > wall:
            return 0
        state, until = await self._wheel.claim(entry_id, minute, wall, self._lease, self.replica)
        if state == "busy":
            self._busy[entry_id] = until
            return 0
        self._busy.pop(entry_id, None)
        try:
            await self._fire(entry)
        except Exception as exc:  # the lease runs out and the entry is fired again
            log.warning("timer_fire_failed", entry=entry_id, error=repr(exc))
            self._busy[entry_id] = until
            return 0
        self._done.add(entry_id)
        return 1

    async def _fire(self, entry: Entry) -> None:
        command = TimerFired(entry["t"], entry["k"], entry["d"])
        outcome = "fired"
        try:
            await self._dispatcher.apply(entry["i"], command)
            lag = max(0.0, (self._dispatcher.clock() - entry["d"]).total_seconds())
            TIMER_LAG.observe(lag)
            self.lags.append(lag)
        except (Refused, CaseNotFound) as exc:
            outcome = "stale"
            log.info("timer_stale", issue=entry["i"], kind=entry["k"], reason=str(exc))
        TIMERS_FIRED.labels(entry["k"], outcome).inc()

    async def run(self, interval_s: float, sweep_every_s: float = 5.0) -> None:
        """Tick forever (the service's background task); errors are logged and retried.
        Now and then, finish what a dead replica left in the outbox."""
        loop = asyncio.get_running_loop()
        next_sweep = loop.time()
        while True:
            try:
                if loop.time() >= next_sweep:
                    next_sweep = loop.time() + sweep_every_s
                    await self._dispatcher.sweep_outbox()
                if await self.tick(wait=False) == 0:
                    await asyncio.sleep(interval_s)
            except asyncio.CancelledError:
                for task in list(self._firing.values()):
                    task.cancel()
                raise
            except Exception as exc:
                log.warning("timer_tick_failed", error=repr(exc))
                await asyncio.sleep(interval_s)

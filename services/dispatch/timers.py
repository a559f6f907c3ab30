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

from services.dispatch.cases import CaseNotFound, Dispatcher
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
        self._done: set[str] = set()  # entries fired (by any replica), of minutes not dropped
        self._busy: dict[str, datetime] = {}  # entries another replica holds, until

    async def tick(self) -> int:
        """Fire the entries due between the shared cursor and now (at most ``batch``); the
        number this replica fired. Minutes wholly past whose entries are all fired are then
        dropped and the cursor moves past them."""
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
        open_minutes = {minute for _, minute, _ in due}  # not known to be all fired yet
        results = await bounded(self._claim_and_fire(*item) for item in due[: self._batch])
        fired = sum(results)
        if len(due) <= self._batch:
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

    async def _claim_and_fire(self, entry_id: str, minute: int, entry: Entry) -> int:
        wall = utcnow()  # leases run on the real clock, whatever clock the cases use
        if self._busy.get(entry_id, wall) > wall:
            return 0
        state, detail = await self._wheel.claim(entry_id, minute, wall, self._lease, self.replica)
        if state == "done":
            self._done.add(entry_id)
            return 0
        if state == "busy":
            assert isinstance(detail, datetime)
            self._busy[entry_id] = detail
            return 0
        self._busy.pop(entry_id, None)
        assert isinstance(detail, str)
        try:
            await self._fire(entry)
        except Exception as exc:  # the lease runs out and the entry is fired again
            log.warning("timer_fire_failed", entry=entry_id, error=repr(exc))
            return 0
        await self._wheel.finish(detail)
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
                if await self.tick() == 0:
                    await asyncio.sleep(interval_s)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("timer_tick_failed", error=repr(exc))
                await asyncio.sleep(interval_s)

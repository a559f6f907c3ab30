"""Durable timers: each due timer is claimed by one replica (lease), fired through the state
machine (which refuses a timer it no longer wants, so a timer acts at most once) and replaced
by the case's next timers. A tick reads the wheel's slots from the shared cursor to now by
exact id: its cost does not grow with the number of pending timers."""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from datetime import timedelta

from services.dispatch.cases import CaseNotFound, Dispatcher
from services.dispatch.domain.machine import Refused, TimerFired
from services.dispatch.store import CaseStore
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
        store: CaseStore,
        dispatcher: Dispatcher,
        *,
        lease: timedelta = timedelta(seconds=30),
        batch: int = 200,
    ):
        self._store = store
        self._dispatcher = dispatcher
        self._lease = lease
        self._batch = batch
        self.replica = uuid.uuid4().hex[:12]
        self.lags: deque[float] = deque(maxlen=100_000)  # seconds late, latest firings

    async def tick(self) -> int:
        """Fire the timers due between the shared cursor and now; the number fired. Minutes
        wholly past are then dropped and the cursor moves past them."""
        fired = 0
        now = self._dispatcher.clock()
        current = self._store.minute_of(now)
        cursor = await self._store.cursor(now)
        for minute in await self._store.minutes_between(cursor, current):
            for entry in await self._store.minute_timers(minute):
                if entry["due"] > now or fired >= self._batch:
                    continue
                timer = await self._store.claim_timer(entry["id"], now, self._lease, self.replica)
                if timer is not None:
                    await self._fire(timer)
                    fired += 1
            if minute < current and fired < self._batch:
                await self._store.drop_minute(minute)
        if fired < self._batch and current - 1 > cursor:
            await self._store.advance(cursor, current - 1)
        return fired

    async def _fire(self, timer: dict) -> None:
        command = TimerFired(timer["target"], timer["kind"], timer["due"])
        outcome = "fired"
        try:
            await self._dispatcher.apply(timer["issue_id"], command)
            lag = max(0.0, (self._dispatcher.clock() - timer["due"]).total_seconds())
            TIMER_LAG.observe(lag)
            self.lags.append(lag)
        except (Refused, CaseNotFound) as exc:
            outcome = "stale"
            log.info("timer_stale", timer=timer["_id"], reason=str(exc))
            doc = await self._store.get(timer["issue_id"])
            if doc is not None:
                await self._dispatcher.resync_timers(doc)
        # the case's sync replaced this timer by its successor; a claimed leftover goes
        await self._store.release_timer(timer)
        TIMERS_FIRED.labels(timer["kind"], outcome).inc()

    async def run(self, interval_s: float, sweep_every_s: float = 5.0) -> None:
        """Tick forever (the service's background task); errors are logged and retried.
        Now and then, publish outboxes a dead replica left behind."""
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

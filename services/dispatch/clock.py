"""Dispatch's clock, which development can move ahead to watch deadlines pass (催办,
escalation, 通报) without waiting days. Production never builds one with an offset: the
settings refuse ``LINLI_DEV_CLOCK_OFFSET_S`` there and the HTTP endpoint answers 403."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

MAX_ADVANCE_S = 90 * 24 * 3600  # one move: at most 90 days


class DevClock:
    """``base()`` plus an offset that only grows (time never runs back for the timers)."""

    def __init__(self, base: Callable[[], datetime], offset_s: float = 0.0):
        self._base = base
        self.offset_s = float(offset_s)

    def __call__(self) -> datetime:
        return self._base() + timedelta(seconds=self.offset_s)

    def advance(self, seconds: float) -> None:
        if not 0 < seconds <= MAX_ADVANCE_S:
            raise ValueError(f"advance by 0 < seconds <= {MAX_ADVANCE_S}")
        self.offset_s += seconds

"""What the district page shows, from dispatch's public API: the monthly rates and the open
reports per compound, kept for ``keep_s`` seconds per process, so visitors do not each make
dispatch count."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from services.web.backends import Backends

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONTHS_SHOWN = 6


def recent_months(now: datetime, n: int = MONTHS_SHOWN) -> list[str]:
    """This month and the ``n - 1`` before it, newest first (Asia/Shanghai)."""
    local = now.astimezone(SHANGHAI)
    year, month = local.year, local.month
    months = []
    for _ in range(n):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months


class DistrictStats:
    def __init__(self, backends: Backends, keep_s: float = 60.0):
        self.backends, self.keep_s = backends, keep_s
        self._kept: dict[str, tuple[float, Any]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def _kept_call(self, path: str, **params: str) -> Any:
        """Dispatch's answer, asked again once older than ``keep_s`` (one question at a time
        per path: visitors arriving meanwhile wait for that answer instead of asking too)."""
        key = path + repr(sorted(params.items()))
        async with self._locks.setdefault(key, asyncio.Lock()):
            at, value = self._kept.get(key, (-1e9, None))
            if time.monotonic() - at < self.keep_s:
                return value
            value = await self.backends.call("dispatch", "GET", path, params=params or None)
            self._kept[key] = (time.monotonic(), value)
            return value

    async def rates(self, month: str) -> dict[str, list[dict[str, Any]]]:
        return (await self._kept_call("/api/v1/public/rates", month=month))["rankings"]

    async def open_counts(self) -> dict[str, int]:
        return (await self._kept_call("/api/v1/public/open-counts"))["compounds"]

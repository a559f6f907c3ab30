"""Rate limits: an in-process token bucket per API key and per client address."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from shared.http.errors import ApiError


class TokenBuckets:
    """``rate`` tokens per second, at most ``burst`` saved up, one bucket per name."""

    def __init__(
        self,
        rate: float,
        burst: float,
        clock: Callable[[], float] = time.monotonic,
        max_buckets: int = 100_000,
    ):
        self.rate, self.burst = rate, burst
        self._clock = clock
        self._max = max_buckets
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, name: str) -> float:
        """0 when allowed; otherwise the seconds until a token is available."""
        if self.rate <= 0:
            return 0.0
        now = self._clock()
        tokens, last = self._buckets.get(name, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens >= 1:
            if len(self._buckets) >= self._max and name not in self._buckets:
                self._buckets.clear()
            self._buckets[name] = (tokens - 1, now)
            return 0.0
        self._buckets[name] = (tokens, now)
        return (1 - tokens) / self.rate


class RateLimiter:
    def __init__(self, per_client: TokenBuckets, per_key: TokenBuckets):
        self._client = per_client
        self._key = per_key

    def check(self, client: str, api_key: str | None = None) -> None:
        """``ApiError`` 429 with Retry-After when the client or the key is over its rate."""
        for buckets, name, field in (
            (self._key, api_key, "api_key"),
            (self._client, client, "client"),
        ):
            if name is None:
                continue
            wait = buckets.take(name)
            if wait > 0:
                raise ApiError(
                    429,
                    "rate_limited",
                    f"too many requests for this {field}; retry later",
                    field,
                    headers={"Retry-After": str(max(1, math.ceil(wait)))},
                )

"""Delivery rules: the key that makes a send happen once, and the back-off between tries."""

from __future__ import annotations

import random


def retry_delay(attempt: int, *, base_s: float, max_s: float, rng: random.Random) -> float:
    """Exponential back-off with full jitter before attempt ``attempt`` (2, 3, ...)."""
    ceiling = min(max_s, base_s * 2 ** max(0, attempt - 2))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


def delivery_id(source_event: str, ref: str, channel: str) -> str:
    return f"{source_event}:{ref}:{channel}"

"""What every channel shares: the message addressed to one resident on one channel, the one
small interface (``await sender.send(message)`` returns when the message is handed over, or
raises ``SendFailed`` saying whether trying again could help), and the per-channel pace."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Protocol

from services.notify.domain import Contact
from services.notify.rendering import Message


class SendFailed(Exception):
    def __init__(self, reason: str, *, permanent: bool):
        super().__init__(reason)
        self.reason, self.permanent = reason, permanent


@dataclass(frozen=True)
class AddressedMessage:
    """One rendered message for one resident on one channel; ``delivery_id`` says which."""

    delivery_id: str
    source_event: str
    resident_ref: str
    contact: Contact
    message: Message
    issue_id: str | None = None
    urgent: bool = False


class Sender(Protocol):
    name: str

    async def send(self, outgoing: AddressedMessage) -> None: ...


class ChannelThrottle:
    """A token bucket per channel and replica: ``acquire`` waits for the next free slot."""

    def __init__(self, per_s: float):
        self._interval = 1.0 / per_s if per_s > 0 else 0.0
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        if not self._interval:
            return
        async with self._lock:
            now = time.monotonic()
            wait = self._next - now
            self._next = max(now, self._next) + self._interval
        if wait > 0:
            await asyncio.sleep(wait)


def parse_rates(spec: str) -> dict[str, float]:
    """``email=20,sms=10`` -> {"email": 20.0, "sms": 10.0}."""
    rates = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, value = item.partition("=")
        rates[name.strip()] = float(value)
    return rates

"""The ledger's events as the public fund page's cache hears them: a receipt (a donation was
posted) on ``ledger.receipts``, and the commands on ``ledger.commands`` (spending requested,
decided, reversed; front-desk donations). Each batch refreshes the cache once for the funds it
names. A command is an intention: its fund is read again once the ledger has answered it (the
command's outcome, polled briefly by its event id); one still unanswered after the wait is
read anyway, and the timer's next full refresh catches what it changed later. The ledger
unreachable is transient (the consumer backs off and retries the batch); nothing here can be
poisoned by an event's content, so nothing is dead-lettered."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from services.web.backends import ServiceError
from services.web.public.fund_cache import FundCache
from shared.events import DonationReceivedV1, Envelope, EventPayload
from shared.events.ledger import DisbursementDecidedV1, DisbursementRequestedV1, ReversalRequestedV1
from shared.events.lifecycle import ReceiptIssuedV1
from shared.kafka.failures import TransientError
from shared.logging import get_logger

log = get_logger("linli.web.public")
COMMANDS = (DonationReceivedV1, DisbursementRequestedV1, DisbursementDecidedV1, ReversalRequestedV1)
OUTCOME_WAIT_S = 5.0


def fund_of(payload: EventPayload) -> str:
    return getattr(payload, "campaign", None) or payload.fund  # type: ignore[attr-defined]


class FundEvents:
    def __init__(self, cache: FundCache, outcome_wait_s: float = OUTCOME_WAIT_S):
        self.cache, self.outcome_wait_s = cache, outcome_wait_s

    async def on_receipts(self, items: list[tuple[Envelope, EventPayload]]) -> list[None]:
        await self._refresh({fund_of(p) for _, p in items})
        return [None] * len(items)

    async def on_commands(self, items: list[tuple[Envelope, EventPayload]]) -> list[None]:
        await self._answered([e.id for e, _ in items])
        await self._refresh({fund_of(p) for _, p in items})
        return [None] * len(items)

    async def _answered(self, command_ids: list[str]) -> None:
        """Wait (briefly) until the ledger has an outcome for each command."""
        deadline = time.monotonic() + self.outcome_wait_s
        waiting = list(dict.fromkeys(command_ids))
        while waiting and time.monotonic() < deadline:
            found = await asyncio.gather(*(self._outcome(c) for c in waiting))
            waiting = [c for c, done in zip(waiting, found, strict=True) if not done]
            if waiting:
                await asyncio.sleep(0.1)
        if waiting:
            log.info("public_fund_commands_unanswered", commands=len(waiting))

    async def _outcome(self, command_id: str) -> bool:
        try:
            await self.cache.backends.call("ledger", "GET", f"/api/v1/commands/{command_id}")
        except ServiceError as exc:
            if exc.status == 503:
                raise TransientError(f"ledger: {exc.message}") from exc
            return exc.status != 404  # 404: no outcome yet; a refusal is an outcome too
        return True

    async def _refresh(self, funds: set[str]) -> None:
        try:
            await self.cache.refresh(funds)
        except ServiceError as exc:
            if exc.status == 503:
                raise TransientError(f"ledger: {exc.message}") from exc
            raise


def handlers(events: FundEvents) -> dict[str, dict[type[EventPayload], Any]]:
    """Batch handlers per topic, as ``ServiceParts.consume`` takes them."""
    return {
        "receipts": {ReceiptIssuedV1: events.on_receipts},
        "commands": {model: events.on_commands for model in COMMANDS},
    }

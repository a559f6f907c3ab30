"""Delivering one message to one resident, exactly once per (source event, resident, channel).

The inbox write is itself idempotent (its id is the delivery id). Every other channel first
inserts the delivery id as its delivery record, then sends, then records the outcome. A record found
already there decides: sent -> nothing more (the outcome event is re-published with its fixed
id, in case the crash came before it); failed -> fail over to the next channel; retrying ->
re-publish the stored retry; sending -> an earlier attempt died mid-send, so the outcome is in
doubt and nothing is sent again (at most once). Temporary failures go to the retry topic with
exponential back-off and jitter; permanent ones and exhausted retries are dead-lettered with
the reason and fail over to the next preferred channel, the inbox last. In the resident's
quiet hours a message that is not urgent goes to the silent inbox at once, and an external
channel's send is deferred to the end of the quiet hours.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from services.notify.channels import AddressedMessage, ChannelThrottle, Sender, SendFailed
from services.notify.domain import (
    Channel,
    DeliveryOutcome,
    DeliveryStatus,
    Preferences,
    channel_plan,
    delivery_id,
    not_before,
    retry_delay,
    wanted,
)
from services.notify.notices import Notice, Recipient, Steps, outcome_label, recipient_of
from services.notify.outcomes import OutcomeEvents, retry_event
from services.notify.rendering import Message, Templates
from services.notify.store import NotifyStore
from services.notify.timing import stage
from shared.events import utcnow
from shared.events.notify import NotificationRetryV1
from shared.kafka.publisher import EventPublisher
from shared.logging import get_logger

log = get_logger("linli.notify")


@dataclass(frozen=True)
class Job:
    outgoing: AddressedMessage
    prefs: Preferences


RetryObserver = Callable[[NotificationRetryV1, Steps], Awaitable[None]]


@dataclass
class RetryPolicy:
    max_attempts: int
    base_s: float
    max_s: float


class Deliverer:
    def __init__(
        self,
        store: NotifyStore,
        templates: Templates,
        channels: dict[str, Sender],
        limits: dict[str, ChannelThrottle],
        publisher: EventPublisher,
        policy: RetryPolicy,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
    ):
        self._store = store
        self._templates = templates
        self._channels = channels
        self._limits = limits
        self._policy = policy
        self._clock = clock
        self._rng = rng or random.Random()
        self._retry_observers: list[RetryObserver] = []
        self._outcomes = OutcomeEvents(publisher, clock)

    @property
    def templates(self) -> Templates:
        return self._templates

    def plan(self, recipient: Recipient) -> tuple[str, ...]:
        return channel_plan(
            recipient.prefs,
            recipient.contact,
            email_on=Channel.EMAIL in self._channels,
            sms_on=Channel.SMS in self._channels,
        )

    def render(self, notice: Notice, language: str) -> Message:
        language = notice.language_for(language)
        return self._templates.render(notice.kind, language, notice.context(language))

    def after_retry(self, observer: RetryObserver) -> None:
        """Call ``observer`` with a retried (or deferred) send's event and its outcome."""
        self._retry_observers.append(observer)

    async def notify(self, notice: Notice, recipient: Recipient | None = None) -> str:
        """Deliver a notice on the resident's channels; the outcome label for the metrics."""
        if recipient is None:
            with stage("resident"):
                stored = await self._store.resident(notice.resident_ref)
            recipient = recipient_of(stored, notice.language)
        return outcome_label(await self.deliver(notice, recipient))

    async def deliver(self, notice: Notice, recipient: Recipient) -> Steps:
        """Like ``notify`` but says what happened on each channel tried: (channel, outcome)."""
        if not wanted(recipient.prefs, notice.kind, urgent=notice.urgent):
            return [("none", DeliveryOutcome.OPTED_OUT)]
        outgoing = AddressedMessage(
            delivery_id="",
            source_event=notice.source_event,
            resident_ref=notice.resident_ref,
            contact=recipient.contact,
            message=self.render(notice, recipient.prefs.language),
            issue_id=notice.issue_id,
            urgent=notice.urgent,
        )
        return await self._walk(Job(outgoing, recipient.prefs), self.plan(recipient))

    async def _walk(
        self, job: Job, plan: tuple[str, ...], attempt: int = 1, claimed: bool = False
    ) -> Steps:
        steps = []
        for index, channel in enumerate(plan):
            outcome = await self._try(job, channel, plan[index + 1 :], attempt, claimed)
            steps.append((channel, outcome))
            if outcome == DeliveryOutcome.DEFERRED:  # quiet hours: the inbox now, the channel later
                steps.append((Channel.INBOX, await self._try(job, Channel.INBOX, (), 1, False)))
            if outcome != DeliveryOutcome.FAILED:
                break
            attempt, claimed = 1, False
        return steps

    async def _try(
        self, job: Job, channel: str, later: tuple[str, ...], attempt: int, claimed: bool
    ) -> DeliveryOutcome:
        out = replace(
            job.outgoing,
            delivery_id=delivery_id(job.outgoing.source_event, job.outgoing.resident_ref, channel),
        )
        if channel == Channel.INBOX:
            with stage("inbox"):
                await self._channels[Channel.INBOX].send(out)
            with stage("outcome"):
                await self._outcomes.delivered(out, Channel.INBOX, 1)
            return DeliveryOutcome.SENT
        if not claimed:
            existing = await self._store.claim(out.delivery_id, _record_fields(out, channel))
            if existing is not None:
                return await self._already(out, channel, existing)
        now = self._clock()
        due = not_before(job.prefs, channel, now, urgent=out.urgent)
        if due > now:
            retry = retry_event(out, channel, later, 1, due, "quiet hours")
            await self._store.defer(out.delivery_id, due, attempt=0, retry=_dump(retry))
            return DeliveryOutcome.DEFERRED
        return await self._send(out, channel, later, attempt)

    async def _send(
        self, out: AddressedMessage, channel: str, later: tuple[str, ...], attempt: int
    ) -> DeliveryOutcome:
        """Send on an external channel (its pace kept) and record what came of it."""
        limit = self._limits.get(channel)
        if limit is not None:
            await limit.acquire()
        try:
            await self._channels[channel].send(out)
        except SendFailed as failure:
            return await self._after_failure(out, channel, later, attempt, failure)
        await self._store.settle(out.delivery_id, DeliveryStatus.SENT, attempts=attempt)
        await self._outcomes.delivered(out, channel, attempt)
        return DeliveryOutcome.SENT

    async def _after_failure(
        self,
        out: AddressedMessage,
        channel: str,
        later: tuple[str, ...],
        attempt: int,
        failure: SendFailed,
    ) -> DeliveryOutcome:
        """A temporary failure with tries left goes to the retry topic; any other is final."""
        if not failure.permanent and attempt < self._policy.max_attempts:
            delay = retry_delay(
                attempt + 1, base_s=self._policy.base_s, max_s=self._policy.max_s, rng=self._rng
            )
            due = self._clock() + timedelta(seconds=delay)
            retry = retry_event(out, channel, later, attempt + 1, due, failure.reason)
            await self._store.settle(
                out.delivery_id, DeliveryStatus.RETRYING, reason=failure.reason, retry=_dump(retry)
            )
            await self._outcomes.retry(retry)
            return DeliveryOutcome.RETRYING
        reason = (
            failure.reason if failure.permanent else f"gave up after {attempt}: {failure.reason}"
        )
        await self._store.settle(
            out.delivery_id,
            DeliveryStatus.FAILED,
            reason=reason,
            failover_to=later[0] if later else None,
        )
        await self._outcomes.failed(out, channel, attempt, reason, later)
        return DeliveryOutcome.FAILED

    async def _already(
        self, out: AddressedMessage, channel: str, existing: dict[str, Any]
    ) -> DeliveryOutcome:
        """What the delivery's record, found already there, says to do."""
        status = existing.get("status")
        if status == DeliveryStatus.SENT:
            await self._outcomes.delivered(out, channel, int(existing.get("attempts", 1)))
            return DeliveryOutcome.DUPLICATE
        if status == DeliveryStatus.FAILED:
            await self._outcomes.failed(
                out,
                channel,
                int(existing.get("attempt", 1)),
                str(existing.get("reason", "")),
                (existing["failover_to"],) if existing.get("failover_to") else (),
            )
            return DeliveryOutcome.FAILED
        if status == DeliveryStatus.RETRYING and existing.get("retry"):
            await self._outcomes.retry(NotificationRetryV1.model_validate(existing["retry"]))
            return DeliveryOutcome.RETRYING
        if status == DeliveryStatus.DEFERRED:
            return DeliveryOutcome.DEFERRED
        if status == DeliveryStatus.SENDING:
            log.warning("delivery_in_doubt", delivery=out.delivery_id, channel=channel)
        return DeliveryOutcome.DUPLICATE

    # --- the retry topic ---------------------------------------------------------------

    async def on_retry(self, event: NotificationRetryV1) -> str:
        if not await self._store.claim_retry(event.delivery_id, event.attempt):
            existing = await self._store.delivery(event.delivery_id) or {}
            stored = existing.get("retry") or {}
            if (
                existing.get("status") == DeliveryStatus.RETRYING
                and stored.get("attempt") == event.attempt
            ):
                await self._outcomes.retry(NotificationRetryV1.model_validate(stored))
            return DeliveryOutcome.DUPLICATE
        recipient = recipient_of(await self._store.resident(event.resident_ref))
        outgoing = AddressedMessage(
            delivery_id=event.delivery_id,
            source_event=event.source_event,
            resident_ref=event.resident_ref,
            contact=recipient.contact,
            message=Message(event.kind, event.language, event.title, event.body),
            issue_id=event.issue_id,
            urgent=event.urgent,
        )
        job = Job(outgoing, recipient.prefs)
        plan = (event.channel, *event.later_channels)
        steps = await self._walk(job, plan, attempt=event.attempt, claimed=True)
        for observer in self._retry_observers:
            await observer(event, steps)
        return outcome_label(steps)

    async def wake_deferred(self) -> int:
        """Hand deferred sends whose quiet hours are over to the retry topic."""
        woken = 0
        for doc in await self._store.due_deferred(self._clock()):
            retry = NotificationRetryV1.model_validate(doc["retry"])
            await self._outcomes.retry(retry)
            await self._store.woken(doc["_id"])
            woken += 1
        return woken


def _record_fields(out: AddressedMessage, channel: str) -> dict[str, Any]:
    """What a delivery record holds beside its status: whose, from which event, on which
    channel."""
    return {
        "resident_ref": out.resident_ref,
        "source_event": out.source_event,
        "kind": out.message.kind,
        "channel": channel,
    }


def _dump(retry: NotificationRetryV1) -> dict[str, Any]:
    return retry.model_dump(mode="python")

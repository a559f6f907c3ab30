"""Delivering one message to one resident, exactly once per (source event, resident, channel).

The inbox write is itself idempotent (its id is the delivery id). Every other channel first
inserts the delivery id into the ledger, then sends, then records the outcome. A record found
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

from services.notify.channels import Channel, Outgoing, RateLimiter, SendFailed
from services.notify.domain import (
    Contact,
    Preferences,
    channel_plan,
    delivery_id,
    not_before,
    retry_delay,
    wanted,
)
from services.notify.rendering import Message, Templates
from services.notify.store import NotifyStore
from services.notify.timing import stage
from shared.events import derived_event_id, utcnow
from shared.events.notify import (
    NotificationDeliveredV1,
    NotificationFailedV1,
    NotificationRetryV1,
    NotificationsBatchDeliveredV1,
)
from shared.kafka.publisher import EventPublisher
from shared.logging import get_logger
from shared.topics import (
    NOTIFICATIONS_DEAD,
    NOTIFICATIONS_DELIVERED,
    NOTIFICATIONS_FAILED,
    NOTIFICATIONS_RETRY,
)

log = get_logger("linli.notify")


@dataclass(frozen=True)
class Notice:
    """Something to tell one resident: the template kind and what fills it, per language."""

    source_event: str
    kind: str
    resident_ref: str
    context: Callable[[str], dict[str, Any]]
    issue_id: str | None = None
    urgent: bool = False
    language: str | None = None  # the event's hint, for a resident notify does not know yet
    # the languages the notice's text exists in, the fallback first (None: every language)
    languages: tuple[str, ...] | None = None

    def language_for(self, wanted: str) -> str:
        """The language the resident reads it in: their own if the text exists in it."""
        if self.languages and wanted not in self.languages:
            return self.languages[0]
        return wanted


@dataclass(frozen=True)
class Recipient:
    prefs: Preferences
    contact: Contact


def recipient_of(doc: dict[str, Any] | None, language_hint: str | None = None) -> Recipient:
    """A stored resident as preferences and contact (defaults for one never seen, in the
    language the event says the resident used)."""
    doc = doc or {}
    stored = dict(doc.get("prefs") or {})
    stored.setdefault("language", doc.get("language") or language_hint or "zh-CN")
    prefs = Preferences.model_validate(stored)
    contact = Contact(phone=doc.get("phone"), email=doc.get("email"), webhook=prefs.webhook)
    return Recipient(prefs, contact)


@dataclass(frozen=True)
class Job:
    outgoing: Outgoing
    prefs: Preferences


Steps = list[tuple[str, str]]  # (channel, outcome) of each channel tried, in order
RetryObserver = Callable[[NotificationRetryV1, Steps], Awaitable[None]]


def outcome_label(steps: Steps) -> str:
    """What came of a delivery, for the metrics: the last channel's outcome, or "deferred"
    when the chosen channel waits for the end of quiet hours (the inbox has it meanwhile)."""
    return "deferred" if any(outcome == "deferred" for _, outcome in steps) else steps[-1][1]


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
        channels: dict[str, Channel],
        limits: dict[str, RateLimiter],
        publisher: EventPublisher,
        policy: RetryPolicy,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
    ):
        self._store = store
        self._templates = templates
        self._channels = channels
        self._limits = limits
        self._publisher = publisher
        self._policy = policy
        self._clock = clock
        self._rng = rng or random.Random()
        self._retry_observers: list[RetryObserver] = []
        publisher.declare(NOTIFICATIONS_DELIVERED, NotificationDeliveredV1)
        publisher.declare(NOTIFICATIONS_DELIVERED, NotificationsBatchDeliveredV1)
        publisher.declare(NOTIFICATIONS_FAILED, NotificationFailedV1)
        publisher.declare(NOTIFICATIONS_RETRY, NotificationRetryV1)
        publisher.declare(NOTIFICATIONS_DEAD, NotificationRetryV1)

    @property
    def templates(self) -> Templates:
        return self._templates

    def plan(self, recipient: Recipient) -> tuple[str, ...]:
        return channel_plan(
            recipient.prefs,
            recipient.contact,
            email_on="email" in self._channels,
            sms_on="sms" in self._channels,
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
            return [("none", "opted_out")]
        outgoing = Outgoing(
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
            if outcome == "deferred":  # quiet hours: the silent inbox now, the channel later
                steps.append(("inbox", await self._try(job, "inbox", (), 1, False)))
            if outcome != "failed":
                break
            attempt, claimed = 1, False
        return steps

    async def _try(
        self, job: Job, channel: str, later: tuple[str, ...], attempt: int, claimed: bool
    ) -> str:
        out = replace(
            job.outgoing,
            delivery_id=delivery_id(job.outgoing.source_event, job.outgoing.resident_ref, channel),
        )
        if channel == "inbox":
            with stage("inbox"):
                await self._channels["inbox"].send(out)
            with stage("outcome"):
                await self._delivered(out, "inbox", 1)
            return "sent"
        if not claimed:
            existing = await self._store.claim(out.delivery_id, _ledger_fields(out, channel))
            if existing is not None:
                return await self._already(out, channel, existing)
        now = self._clock()
        due = not_before(job.prefs, channel, now, urgent=out.urgent)
        if due > now:
            retry = self._retry(out, channel, later, 1, due, "quiet hours")
            await self._store.defer(out.delivery_id, due, attempt=0, retry=_dump(retry))
            return "deferred"
        limit = self._limits.get(channel)
        if limit is not None:
            await limit.acquire()
        try:
            await self._channels[channel].send(out)
        except SendFailed as failure:
            if not failure.permanent and attempt < self._policy.max_attempts:
                delay = retry_delay(
                    attempt + 1, base_s=self._policy.base_s, max_s=self._policy.max_s, rng=self._rng
                )
                retry = self._retry(
                    out, channel, later, attempt + 1, now + timedelta(seconds=delay), failure.reason
                )
                await self._store.settle(
                    out.delivery_id, "retrying", reason=failure.reason, retry=_dump(retry)
                )
                await self._publish_retry(retry)
                return "retrying"
            reason = (
                failure.reason
                if failure.permanent
                else f"gave up after {attempt}: {failure.reason}"
            )
            await self._store.settle(
                out.delivery_id, "failed", reason=reason, failover_to=later[0] if later else None
            )
            await self._failed(out, channel, attempt, reason, later)
            return "failed"
        await self._store.settle(out.delivery_id, "sent", attempts=attempt)
        await self._delivered(out, channel, attempt)
        return "sent"

    async def _already(self, out: Outgoing, channel: str, existing: dict[str, Any]) -> str:
        status = existing.get("status")
        if status == "sent":
            await self._delivered(out, channel, int(existing.get("attempts", 1)))
            return "duplicate"
        if status == "failed":
            await self._failed(
                out,
                channel,
                int(existing.get("attempt", 1)),
                str(existing.get("reason", "")),
                (existing["failover_to"],) if existing.get("failover_to") else (),
            )
            return "failed"
        if status == "retrying" and existing.get("retry"):
            await self._publish_retry(NotificationRetryV1.model_validate(existing["retry"]))
            return "retrying"
        if status == "deferred":
            return "deferred"
        if status == "sending":
            log.warning("delivery_in_doubt", delivery=out.delivery_id, channel=channel)
        return "duplicate"

    # --- the retry topic ---------------------------------------------------------------

    async def on_retry(self, event: NotificationRetryV1) -> str:
        if not await self._store.claim_retry(event.delivery_id, event.attempt):
            existing = await self._store.deliveries.find_one({"_id": event.delivery_id}) or {}
            stored = existing.get("retry") or {}
            if existing.get("status") == "retrying" and stored.get("attempt") == event.attempt:
                await self._publish_retry(NotificationRetryV1.model_validate(stored))
            return "duplicate"
        recipient = recipient_of(await self._store.resident(event.resident_ref))
        outgoing = Outgoing(
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
            await self._publish_retry(retry)
            await self._store.woken(doc["_id"])
            woken += 1
        return woken

    def _retry(
        self,
        out: Outgoing,
        channel: str,
        later: tuple[str, ...],
        attempt: int,
        due: datetime,
        reason: str,
    ) -> NotificationRetryV1:
        return NotificationRetryV1(
            delivery_id=out.delivery_id,
            source_event=out.source_event,
            kind=out.message.kind,
            resident_ref=out.resident_ref,
            channel=channel,
            later_channels=later,
            attempt=attempt,
            due_at=due,
            title=out.message.title,
            body=out.message.body,
            language=out.message.language,
            issue_id=out.issue_id,
            urgent=out.urgent,
            reason=reason,
        )

    async def _publish_retry(self, retry: NotificationRetryV1) -> None:
        await self._publisher.publish(
            NOTIFICATIONS_RETRY,
            retry,
            key=retry.resident_ref,
            event_id=derived_event_id("retry", retry.delivery_id, str(retry.attempt)),
        )

    # --- outcomes --------------------------------------------------------------------------

    async def _delivered(self, out: Outgoing, channel: str, attempts: int) -> None:
        await self._publisher.publish(
            NOTIFICATIONS_DELIVERED,
            delivered_event(out, channel, attempts, self._clock()),
            key=out.resident_ref,
            event_id=derived_event_id("delivered", out.delivery_id),
        )

    async def _failed(
        self, out: Outgoing, channel: str, attempts: int, reason: str, later: tuple[str, ...]
    ) -> None:
        now = self._clock()
        failed = NotificationFailedV1(
            delivery_id=out.delivery_id,
            source_event=out.source_event,
            kind=out.message.kind,
            resident_ref=out.resident_ref,
            channel=channel,
            attempts=attempts,
            reason=reason[:500],
            failover_to=later[0] if later else None,
            issue_id=out.issue_id,
            failed_at=now,
        )
        await self._publisher.publish(
            NOTIFICATIONS_FAILED,
            failed,
            key=out.resident_ref,
            event_id=derived_event_id("failed", out.delivery_id),
        )
        dead = self._retry(out, channel, later, attempts, now, reason[:500])
        await self._publisher.publish(
            NOTIFICATIONS_DEAD,
            dead,
            key=out.resident_ref,
            event_id=derived_event_id("dead", out.delivery_id),
        )


def delivered_event(
    out: Outgoing, channel: str, attempts: int, at: datetime
) -> NotificationDeliveredV1:
    return NotificationDeliveredV1(
        delivery_id=out.delivery_id,
        source_event=out.source_event,
        kind=out.message.kind,
        resident_ref=out.resident_ref,
        channel=channel,
        attempts=attempts,
        issue_id=out.issue_id,
        delivered_at=at,
    )


def _ledger_fields(out: Outgoing, channel: str) -> dict[str, Any]:
    return {
        "resident_ref": out.resident_ref,
        "source_event": out.source_event,
        "kind": out.message.kind,
        "channel": channel,
    }


def _dump(retry: NotificationRetryV1) -> dict[str, Any]:
    return retry.model_dump(mode="python")

"""Notify's composition root."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from functools import partial

import httpx
from fastapi import FastAPI

from services.notify.broadcasts import Broadcasts
from services.notify.channels import (
    Channel,
    EmailChannel,
    InboxChannel,
    InboxWriter,
    RateLimiter,
    SmsChannel,
    WebhookChannel,
    parse_rates,
)
from services.notify.consult import ConsultNotices
from services.notify.delivery import Deliverer, RetryPolicy
from services.notify.followers import Followers
from services.notify.http import build_router
from services.notify.live import LiveInbox
from services.notify.messages import Notifier
from services.notify.rendering import Templates
from services.notify.signin_http import signin_router
from services.notify.store import NotifyStore
from services.notify.timing import waited
from shared.events import IssueAssignedV1, IssueReportedV1, ResidentContactV1
from shared.events.consult import ConsultNoticeV1
from shared.events.follow import IssueFollowedV1
from shared.events.lifecycle import TRANSITIONS, IssueRatedV1, ReceiptIssuedV1
from shared.events.notify import NotificationRetryV1
from shared.logging import get_logger
from shared.reference import load_reference
from shared.service import build_parts, run_alongside
from shared.settings import Settings
from shared.topics import (
    CONSULT_NOTICES,
    ISSUES_FEEDBACK,
    ISSUES_LIFECYCLE,
    ISSUES_REPORTED,
    LEDGER_RECEIPTS,
    NOTIFICATIONS_RETRY,
    RESIDENTS_CONTACTS,
)

log = get_logger("linli.notify")


def build_channels(
    settings: Settings, store: NotifyStore, live: LiveInbox, client: httpx.AsyncClient
) -> dict[str, Channel]:
    channels: dict[str, Channel] = {
        "inbox": InboxChannel(InboxWriter(store), live.wake),
        "webhook": WebhookChannel(client),
    }
    if settings.smtp_host:
        channels["email"] = EmailChannel(
            host=settings.smtp_host,
            port=settings.smtp_port,
            starttls=settings.smtp_starttls,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value(),
            sender=settings.smtp_from,
            timeout_s=settings.smtp_timeout_s,
            ca_file=settings.smtp_ca_file,
        )
    if settings.sms_gateway_url:
        channels["sms"] = SmsChannel(
            client,
            url=settings.sms_gateway_url,
            secret=settings.sms_gateway_secret.get_secret_value(),
        )
    return channels


async def _every(seconds: float, work, name: str) -> None:
    while True:
        try:
            await work()
        except Exception as exc:
            log.warning(f"{name}_failed", error=repr(exc))
        await asyncio.sleep(seconds)


CONSUMER_BATCH = 200  # records per poll, processed concurrently across keys


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    parts = build_parts(settings, "notify")
    reference = load_reference(settings.config_dir)
    store = NotifyStore(parts.db)
    live = LiveInbox()
    client = httpx.AsyncClient(timeout=settings.http_send_timeout_s)
    limits = {
        name: RateLimiter(rate) for name, rate in parse_rates(settings.notify_rate_per_s).items()
    }
    deliverer = Deliverer(
        store,
        Templates(),
        build_channels(settings, store, live, client),
        limits,
        parts.publisher,
        RetryPolicy(
            settings.notify_retry_max_attempts,
            settings.notify_retry_base_s,
            settings.notify_retry_max_s,
        ),
    )
    secret = settings.resident_secret.get_secret_value()
    followers = Followers(store, deliverer)
    notifier = Notifier(
        store,
        deliverer,
        reference,
        secret=secret,
        public_url=settings.web_public_url,
        rating_ttl=timedelta(hours=settings.notify_rating_ttl_h),
        max_retry_wait_s=settings.notify_retry_max_s,
        followers=followers,
    )
    broadcasts = Broadcasts(
        store,
        deliverer,
        parts.publisher,
        live,
        batch=settings.notify_broadcast_batch,
        lease_s=settings.notify_broadcast_lease_s,
    )
    parts.publisher.declare(ISSUES_FEEDBACK, IssueRatedV1)
    parts.consume(RESIDENTS_CONTACTS, {ResidentContactV1: notifier.on_contact})
    batched = {
        ISSUES_REPORTED: {
            IssueReportedV1: notifier.on_reported,
            IssueFollowedV1: followers.on_followed,
        },
        ISSUES_LIFECYCLE: {
            IssueAssignedV1: notifier.on_assigned,
            **{transition: notifier.on_transition for transition in TRANSITIONS},
        },
        LEDGER_RECEIPTS: {ReceiptIssuedV1: notifier.on_receipt},
        CONSULT_NOTICES: {ConsultNoticeV1: ConsultNotices(deliverer).on_notice},
    }
    for topic, handlers in batched.items():
        timed = {model: waited(handler) for model, handler in handlers.items()}
        parts.consume(topic, timed, batch_size=CONSUMER_BATCH, streaming=True)
    parts.consume(  # retries wait for their due time on purpose: not counted as waiting
        NOTIFICATIONS_RETRY, {NotificationRetryV1: notifier.on_retry}, batch_size=CONSUMER_BATCH
    )
    router = build_router(
        store,
        secret=secret,
        live=live,
        publisher=parts.publisher,
        broadcasts=broadcasts,
        tree=reference.tree,
        staff_secret=settings.web_token_secret.get_secret_value(),
    )
    app = parts.app(
        title="Linli notify",
        description="Residents' notifications on the channels they chose, and area broadcasts.",
        routers=[router, signin_router(settings, parts.db, client)],
        prepare_db=store.prepare,
    )
    run_alongside(
        app,
        broadcasts.run_forever,
        partial(_every, 5.0, deliverer.wake_deferred, "wake_deferred"),
        close=client.aclose,
    )
    app.state.notify = {"store": store, "deliverer": deliverer, "broadcasts": broadcasts}
    return app

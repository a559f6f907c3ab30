"""Notify's composition root: the channels, the deliverer, the application object, its
consumers and its routes, and the background work (broadcast fan-out, deferred sends)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import partial

import httpx
from fastapi import FastAPI

from services.notify.application import NotifyOptions, build_notify
from services.notify.channels import (
    ChannelThrottle,
    EmailChannel,
    InboxChannel,
    InboxWriter,
    Sender,
    SmsChannel,
    WebhookChannel,
    parse_rates,
)
from services.notify.consumers import CONSUMER_BATCH, subscribe
from services.notify.delivery import Deliverer, RetryPolicy
from services.notify.domain import Channel
from services.notify.http import build_router, refusals
from services.notify.live import LiveInbox
from services.notify.rendering import Templates
from services.notify.signin_http import signin_router
from services.notify.store import NotifyStore
from shared.events import utcnow
from shared.kafka.publisher import EventPublisher
from shared.logging import get_logger
from shared.reference import load_reference
from shared.service import build_parts, run_alongside
from shared.settings import Settings

log = get_logger("linli.notify")

__all__ = ["CONSUMER_BATCH", "build_channels", "create_app"]


def build_channels(
    settings: Settings, store: NotifyStore, live: LiveInbox, client: httpx.AsyncClient
) -> dict[str, Sender]:
    channels: dict[str, Sender] = {
        Channel.INBOX: InboxChannel(InboxWriter(store), live.wake),
        Channel.WEBHOOK: WebhookChannel(client),
    }
    if settings.smtp_host:
        channels[Channel.EMAIL] = EmailChannel(
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
        channels[Channel.SMS] = SmsChannel(
            client,
            url=settings.sms_gateway_url,
            secret=settings.sms_gateway_secret.get_secret_value(),
        )
    return channels


def build_deliverer(
    settings: Settings,
    store: NotifyStore,
    live: LiveInbox,
    client: httpx.AsyncClient,
    publisher: EventPublisher,
) -> Deliverer:
    rates = parse_rates(settings.notify_rate_per_s)
    return Deliverer(
        store,
        Templates(),
        build_channels(settings, store, live, client),
        {name: ChannelThrottle(rate) for name, rate in rates.items()},
        publisher,
        RetryPolicy(
            settings.notify_retry_max_attempts,
            settings.notify_retry_base_s,
            settings.notify_retry_max_s,
        ),
    )


def options(settings: Settings) -> NotifyOptions:
    return NotifyOptions(
        resident_secret=settings.resident_secret.get_secret_value(),
        staff_secret=settings.web_token_secret.get_secret_value(),
        public_url=settings.web_public_url,
        rating_ttl=timedelta(hours=settings.notify_rating_ttl_h),
        max_retry_wait_s=settings.notify_retry_max_s,
        broadcast_batch=settings.notify_broadcast_batch,
        broadcast_lease_s=settings.notify_broadcast_lease_s,
        stream_max_s=settings.notify_stream_max_s,
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    parts = build_parts(settings, "notify")
    reference = load_reference(settings.config_dir)
    store = NotifyStore(parts.db)
    live = LiveInbox()
    client = httpx.AsyncClient(timeout=settings.http_send_timeout_s)
    deliverer = build_deliverer(settings, store, live, client, parts.publisher)
    notify = build_notify(
        store, deliverer, parts.publisher, reference, live, options(settings), utcnow
    )
    subscribe(parts, notify)
    refusals(parts.errors)
    app = parts.app(
        title="Linli notify",
        description="Residents' notifications on the channels they chose, and area broadcasts.",
        routers=[build_router(notify), signin_router(settings, parts.db, client)],
        prepare_db=store.prepare,
    )
    run_alongside(
        app,
        notify.broadcasts.run_forever,
        partial(notify.reach.run_forever, settings.notify_reach_every_s),
        partial(_every, 5.0, notify.deliverer.wake_deferred, "wake_deferred"),
        close=client.aclose,
    )
    app.state.notify = {"store": store, "deliverer": deliverer, "broadcasts": notify.broadcasts}
    return app


async def _every(seconds: float, work: Callable[[], Awaitable[object]], name: str) -> None:
    while True:
        try:
            await work()
        except Exception as exc:
            log.warning(f"{name}_failed", error=repr(exc))
        await asyncio.sleep(seconds)

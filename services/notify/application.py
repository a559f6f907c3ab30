"""Notify's application object: every use case, for its HTTP routes and its consumers alike.

Residents read their inbox and set their preferences (``residents``), answer return visits
(``ratings``); operators start and follow area broadcasts (``broadcast_requests``, with the
fan-out in ``broadcasts``); events from the other services become notices (``notifier``,
``followers``, ``consult_notices``), each delivered once per channel (``deliverer``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.notify.broadcast_requests import BroadcastRequests
from services.notify.broadcasts import Broadcasts
from services.notify.consult import ConsultNotices
from services.notify.delivery import Deliverer
from services.notify.followers import Followers
from services.notify.live import LiveInbox
from services.notify.messages import Notifier
from services.notify.operators import Operators
from services.notify.ratings import Ratings
from services.notify.reach import Reach
from services.notify.residents import Residents
from services.notify.store import NotifyStore
from shared.kafka.publisher import EventPublisher
from shared.reference import Reference


@dataclass
class Notify:
    store: NotifyStore
    deliverer: Deliverer
    notifier: Notifier
    followers: Followers
    consult_notices: ConsultNotices
    broadcasts: Broadcasts
    broadcast_requests: BroadcastRequests
    operators: Operators
    residents: Residents
    ratings: Ratings
    reach: Reach


@dataclass(frozen=True)
class NotifyOptions:
    """What the use cases need from the settings."""

    resident_secret: str
    staff_secret: str | None
    public_url: str
    rating_ttl: timedelta
    max_retry_wait_s: float
    broadcast_batch: int
    broadcast_lease_s: float
    stream_max_s: float


def build_notify(
    store: NotifyStore,
    deliverer: Deliverer,
    publisher: EventPublisher,
    reference: Reference,
    live: LiveInbox,
    options: NotifyOptions,
    clock: Callable[[], datetime],
) -> Notify:
    followers = Followers(store, deliverer)
    notifier = Notifier(
        store,
        deliverer,
        reference,
        secret=options.resident_secret,
        public_url=options.public_url,
        rating_ttl=options.rating_ttl,
        max_retry_wait_s=options.max_retry_wait_s,
        followers=followers,
        clock=clock,
    )
    broadcasts = Broadcasts(
        store,
        deliverer,
        publisher,
        live,
        batch=options.broadcast_batch,
        lease_s=options.broadcast_lease_s,
        clock=clock,
    )
    return Notify(
        store=store,
        deliverer=deliverer,
        notifier=notifier,
        followers=followers,
        consult_notices=ConsultNotices(deliverer),
        broadcasts=broadcasts,
        broadcast_requests=BroadcastRequests(store, broadcasts, reference.tree, clock=clock),
        operators=Operators(store, staff_secret=options.staff_secret, clock=clock),
        residents=Residents(
            store,
            live,
            secret=options.resident_secret,
            clock=clock,
            stream_max_s=options.stream_max_s,
        ),
        ratings=Ratings(store, publisher, secret=options.resident_secret, clock=clock),
        reach=Reach(store, deliverer, reference.tree, clock=clock, batch=options.broadcast_batch),
    )

"""One FastStream ``KafkaBroker`` per service, with durable producer settings."""

from __future__ import annotations

import logging

from faststream.kafka import KafkaBroker

from shared.settings import Settings


def make_broker(settings: Settings, service: str, *, description: str = "") -> KafkaBroker:
    """acks=all plus the idempotent producer: an acknowledged send is on every in-sync replica
    and a retried send is never written twice. Topics are never auto-created."""
    return KafkaBroker(
        settings.kafka_servers,
        client_id=f"linli-{service}",
        acks="all",
        enable_idempotence=True,
        linger_ms=2,
        request_timeout_ms=int(settings.publish_timeout_s * 1000) + 1000,
        allow_auto_create_topics=False,
        graceful_timeout=20.0,
        logger=logging.getLogger(f"linli.{service}.kafka"),
        log_level=logging.DEBUG,
        description=description or f"Linli {service} service",
    )

"""Helpers for notify's tests: settings for a module, events onto topics, residents' tokens."""

from __future__ import annotations

import mailbox
import uuid
from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from shared.events import Envelope, EventPayload, Owner
from shared.residents import resident_token
from shared.settings import Settings
from tests.servers import Endpoints

NOW = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)  # noon in Beijing
HONGQI = "sz.tongjiang.niuerqiao.hongqi"
OWNER = Owner(kind="department", code="urban-mgmt", name="城管局", name_en="Urban Management")


def module_settings(servers: Endpoints, **overrides: Any) -> Settings:
    run = uuid.uuid4().hex[:8]
    return Settings(
        env="test",
        kafka_bootstrap=servers.kafka_bootstrap,
        mongodb_url=servers.mongodb_url,
        topic_prefix=f"t{run}.",
        db_prefix=f"t{run}_",
        topic_partitions=2,
        probe_interval_s=0.5,
        **overrides,
    )


def ref(name: str) -> str:
    return "res_" + uuid.uuid5(uuid.NAMESPACE_URL, name).hex[:20]


def issue(name: str) -> str:
    return "iss_" + uuid.uuid5(uuid.NAMESPACE_URL, name).hex[:16]


def auth(settings: Settings, resident: str) -> dict[str, str]:
    token = resident_token(settings.resident_secret.get_secret_value(), resident)
    return {"Authorization": f"Bearer {token}"}


class Emitter:
    def __init__(self, settings: Settings):
        self._settings = settings
        self._producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")

    async def __aenter__(self) -> Emitter:
        await self._producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._producer.stop()

    async def emit(
        self, topic: str, payload: EventPayload, key: str, event_id: str | None = None
    ) -> Envelope:
        envelope = Envelope(
            type=payload.event_type,
            source="/test",
            subject=payload.subject(),
            **({"id": event_id} if event_id else {}),
        )
        headers = [(k, v.encode()) for k, v in envelope.to_headers().items()]
        await self._producer.send_and_wait(
            self._settings.topic_prefix + topic,
            payload.model_dump_json().encode(),
            key=key.encode(),
            headers=headers,
        )
        return envelope


def transition(model: type, issue_id: str, resident: str, sequence: int, **fields: Any):
    return model(
        issue_id=issue_id,
        sequence=sequence,
        status=fields.pop("status", "in-progress"),
        category="streetlight-out",
        node_id=HONGQI,
        owner=fields.pop("owner", OWNER),
        resident_ref=resident,
        resolve_due=NOW + timedelta(days=3),
        at=NOW,
        **fields,
    )


def mails(maildir: Path) -> list[dict[str, str]]:
    box = mailbox.Maildir(maildir, create=False)
    found = []
    for message in box:
        body = message.get_payload(decode=True) or b""
        found.append(
            {
                "to": message["To"],
                "subject": str(make_header(decode_header(message["Subject"]))),
                "delivery": message["X-Linli-Delivery"],
                "body": body.decode("utf-8", "replace"),
            }
        )
    return found

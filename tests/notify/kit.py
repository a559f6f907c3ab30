"""Helpers for notify's tests: settings for a module, events onto topics, residents' tokens."""

from __future__ import annotations

import mailbox
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from services.notify.store import NotifyStore
from shared.events import Envelope, EventPayload, IssueAssignedV1, Owner
from shared.mongo import make_client
from shared.residents import resident_token
from shared.settings import REPO_ROOT, Settings
from tests.servers import Endpoints

NOW = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)  # noon in Beijing
HONGQI = "sz.tongjiang.niuerqiao.hongqi"
OWNER = Owner(kind="department", code="urban-mgmt", name="城管局", name_en="Urban Management")


def module_settings(servers: Endpoints, **overrides: Any) -> Settings:
    run = uuid.uuid4().hex[:8]
    values: dict[str, Any] = {
        "env": "test",
        "kafka_bootstrap": servers.kafka_bootstrap,
        "mongodb_url": servers.mongodb_url,
        "topic_prefix": f"t{run}.",
        "db_prefix": f"t{run}_",
        "topic_partitions": 2,
        "probe_interval_s": 0.5,
    }
    return Settings(**(values | overrides))


def receiver_settings(
    servers: Endpoints, smtp: tuple[int, Path, Path], **overrides: Any
) -> Settings:
    """Settings for a module whose notify sends mail to the SMTP receiver
    (``receivers.smtp_server``'s (port, maildir, certificate))."""
    smtp_port, _, cert = smtp
    return module_settings(
        servers,
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        smtp_starttls=True,
        smtp_username="linli",
        smtp_password="pw-123",
        smtp_ca_file=str(cert),
        **overrides,
    )


@asynccontextmanager
async def opened_store(settings: Settings) -> AsyncIterator[NotifyStore]:
    """Notify's store in the module's database, for what a test reads or sets up directly."""
    client = make_client(settings.mongodb_url, app_name="test")
    try:
        yield NotifyStore(client[settings.database_name("notify")])
    finally:
        await client.close()


def assigned(issue_id: str, resident: str) -> IssueAssignedV1:
    """The issue assigned to urban management at ``NOW``, its resident ``resident``."""
    return IssueAssignedV1(
        issue_id=issue_id,
        category="streetlight-out",
        node_id=HONGQI,
        owner=OWNER,
        ack_due=NOW + timedelta(hours=2),
        resolve_due=NOW + timedelta(days=3),
        resident_ref=resident,
        assigned_at=NOW,
    )


def ref(name: str) -> str:
    return "res_" + uuid.uuid5(uuid.NAMESPACE_URL, name).hex[:20]


def issue(name: str) -> str:
    return "iss_" + uuid.uuid5(uuid.NAMESPACE_URL, name).hex[:16]


def auth(settings: Settings, resident: str) -> dict[str, str]:
    # what notify's phone sign-in answers, minted with the test secret (setup, not the subject)
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
        headers = envelope.record_headers()
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
    if not (maildir / "new").exists():  # the server makes it on the first connection
        return []
    box = mailbox.Maildir(maildir, create=False)
    found = []
    for message in box:
        body = message.get_payload(decode=True) or b""
        found.append(
            {
                "to": message["To"],
                "subject": str(make_header(decode_header(message["Subject"]))),
                "delivery": message["X-Linli-Delivery"],
                "date": message["Date"],
                "message_id": message["Message-ID"],
                "body": body.decode("utf-8", "replace"),
            }
        )
    return found


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that gives a service process exactly these settings."""
    env = {}
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        if isinstance(value, bool):
            value = "true" if value else "false"
        env[f"LINLI_{name.upper()}"] = str(value)
    return env


@contextmanager
def notify_process(settings: Settings, port: int, log: Path) -> Iterator[subprocess.Popen]:
    """Notify as its own OS process on 127.0.0.1:``port``, ready when yielded; stopped (this
    process only) at the end."""
    env = {**os.environ, **settings_env(settings), "LINLI_NOTIFY_PORT": str(port)}
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.notify"],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while not _ready(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"notify on {port} did not become ready; see {log}")
            time.sleep(0.2)
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as response:
            return response.status == 200
    except (OSError, ValueError):
        return False

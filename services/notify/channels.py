"""The channels behind one small interface: ``await channel.send(outgoing)`` returns when the
message is handed over, or raises ``SendFailed`` saying whether trying again could help."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any, Protocol

import aiosmtplib
import httpx

from services.notify.domain import Contact, body_signature, robot_sign
from services.notify.rendering import Message
from services.notify.store import NotifyStore
from shared.events import utcnow


class SendFailed(Exception):
    def __init__(self, reason: str, *, permanent: bool):
        super().__init__(reason)
        self.reason, self.permanent = reason, permanent


@dataclass(frozen=True)
class Outgoing:
    delivery_id: str
    source_event: str
    resident_ref: str
    contact: Contact
    message: Message
    issue_id: str | None = None
    urgent: bool = False


class Channel(Protocol):
    name: str

    async def send(self, outgoing: Outgoing) -> None: ...


class RateLimiter:
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


class InboxWriter:
    """Group commit for inbox messages: concurrent ``write`` calls are gathered into one bulk
    insert (ids are idempotency keys, duplicates count as written); each caller returns only
    once its document is stored, or gets the error."""

    def __init__(self, store: NotifyStore, max_batch: int = 500):
        self._store = store
        self._max_batch = max_batch
        self._pending: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def write(self, document: dict[str, Any]) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((document, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await future

    async def _flush(self) -> None:
        while self._pending:
            await asyncio.sleep(0)  # let the callers of this loop turn queue up
            batch, self._pending = (
                self._pending[: self._max_batch],
                self._pending[self._max_batch :],
            )
            try:
                await self._store.deliver_many_to_inbox([doc for doc, _ in batch])
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for _, future in batch:
                if not future.done():
                    future.set_result(None)


class InboxChannel:
    name = "inbox"

    def __init__(self, writer: InboxWriter, on_new: Any = None):
        self._writer = writer
        self._on_new = on_new

    async def send(self, outgoing: Outgoing) -> None:
        await self._writer.write({"_id": outgoing.delivery_id, **inbox_document(outgoing)})
        if self._on_new is not None:
            self._on_new(outgoing.resident_ref)


def inbox_document(outgoing: Outgoing) -> dict[str, Any]:
    message = outgoing.message
    return {
        "resident_ref": outgoing.resident_ref,
        "issue_id": outgoing.issue_id,
        "kind": message.kind,
        "title": message.title,
        "body": message.body,
        "language": message.language,
        "source_event": outgoing.source_event,
        "urgent": outgoing.urgent,
        "created_at": utcnow(),
        "read": False,
    }


class EmailChannel:
    name = "email"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        starttls: bool,
        username: str,
        password: str,
        sender: str,
        timeout_s: float,
        ca_file: str = "",
    ):
        self._host, self._port, self._starttls = host, port, starttls
        self._username, self._password = username or None, password or None
        self._sender, self._timeout_s = sender, timeout_s
        self._ca_file = ca_file or None

    async def send(self, outgoing: Outgoing) -> None:
        email = EmailMessage()
        email["From"] = self._sender
        email["To"] = outgoing.contact.email or ""
        email["Subject"] = outgoing.message.title
        email["Date"] = format_datetime(utcnow())
        email["Message-ID"] = message_id(outgoing.delivery_id, self._sender)
        email["X-Linli-Delivery"] = outgoing.delivery_id
        email["Content-Language"] = outgoing.message.language
        email.set_content(outgoing.message.body)
        try:
            await aiosmtplib.send(
                email,
                hostname=self._host,
                port=self._port,
                start_tls=self._starttls,
                username=self._username,
                password=self._password,
                timeout=self._timeout_s,
                cert_bundle=self._ca_file,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise SendFailed("recipient refused", permanent=True) from exc
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise SendFailed(f"smtp authentication failed ({exc.code})", permanent=False) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise SendFailed(f"smtp {exc.code}", permanent=exc.code >= 500) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise SendFailed(f"smtp unreachable: {type(exc).__name__}", permanent=False) from exc


def message_id(delivery_id: str, sender: str) -> str:
    """The same Message-ID for every attempt of one delivery, so a mail client can drop a
    second copy; in the sender's domain (RFC 5322)."""
    digest = hashlib.sha256(delivery_id.encode()).hexdigest()[:32]
    domain = sender.rpartition("@")[2] or "linli"
    return f"<{digest}@{domain}>"


async def _post_signed(
    client: httpx.AsyncClient, url: str, secret: str, payload: dict[str, Any], delivery_id: str
) -> None:
    """POST a JSON body signed with a millisecond timestamp; classify the answer. The URL's
    own query (a robot's ``access_token``) is kept: the signature's parameters join it."""
    body = json.dumps(payload, ensure_ascii=False).encode()
    timestamp = int(time.time() * 1000)
    signed = httpx.URL(url).copy_merge_params(
        {"timestamp": str(timestamp), "sign": robot_sign(secret, timestamp)}
    )
    try:
        response = await client.post(
            signed,
            content=body,
            headers={
                "content-type": "application/json; charset=utf-8",
                "x-linli-timestamp": str(timestamp),
                "x-linli-signature": body_signature(secret, timestamp, body),
                "x-linli-delivery": delivery_id,
            },
        )
    except httpx.HTTPError as exc:
        raise SendFailed(f"unreachable: {type(exc).__name__}", permanent=False) from exc
    status = response.status_code
    if status == 429 or status >= 500:
        raise SendFailed(f"http {status}", permanent=False)
    if status >= 300:
        raise SendFailed(f"http {status}", permanent=True)
    try:
        answer = response.json()
    except ValueError:
        return
    if isinstance(answer, dict) and answer.get("errcode", 0) not in (0, "0"):
        raise SendFailed(f"refused: errcode {answer.get('errcode')}", permanent=True)


class WebhookChannel:
    """Chat-robot webhooks (DingTalk/WeCom style), signed with the resident's robot secret."""

    name = "webhook"

    def __init__(self, client: httpx.AsyncClient):
        self._client = client

    async def send(self, outgoing: Outgoing) -> None:
        hook = outgoing.contact.webhook
        if hook is None:
            raise SendFailed("no webhook configured", permanent=True)
        text = f"{outgoing.message.title}\n{outgoing.message.body}"
        payload = {"msgtype": "text", "text": {"content": text}}
        await _post_signed(self._client, hook.url, hook.secret, payload, outgoing.delivery_id)


class SmsChannel:
    """An HTTP SMS gateway adapter: ``{id, to, text}`` signed with the gateway's key."""

    name = "sms"

    def __init__(self, client: httpx.AsyncClient, *, url: str, secret: str):
        self._client, self._url, self._secret = client, url, secret

    async def send(self, outgoing: Outgoing) -> None:
        payload = {
            "id": outgoing.delivery_id,
            "to": outgoing.contact.phone,
            "text": f"【邻里】{outgoing.message.title}：{outgoing.message.body}"
            if outgoing.message.language == "zh-CN"
            else f"[Linli] {outgoing.message.title}: {outgoing.message.body}",
        }
        await _post_signed(self._client, self._url, self._secret, payload, outgoing.delivery_id)

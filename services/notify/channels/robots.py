"""Signed HTTP channels: chat-robot webhooks and the SMS gateway."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from services.notify.channels.sending import AddressedMessage, SendFailed
from services.notify.domain import body_signature, robot_sign


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

    async def send(self, outgoing: AddressedMessage) -> None:
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

    async def send(self, outgoing: AddressedMessage) -> None:
        payload = {
            "id": outgoing.delivery_id,
            "to": outgoing.contact.phone,
            "text": f"【邻里】{outgoing.message.title}：{outgoing.message.body}"
            if outgoing.message.language == "zh-CN"
            else f"[Linli] {outgoing.message.title}: {outgoing.message.body}",
        }
        await _post_signed(self._client, self._url, self._secret, payload, outgoing.delivery_id)

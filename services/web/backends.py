"""The services as the console reaches them: their public HTTP APIs, each call carrying the
signed-in person's own short-lived staff token (so the services check the person's scope)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

DUTY_TIMES = ("since", "ack_due", "resolve_due", "acked_at", "resolved_at", "extension_until",
              "missed_at")  # fmt: skip


class ServiceError(Exception):
    """A service said no (``status`` 4xx with its error list) or could not be reached (503)."""

    def __init__(self, status: int, message: str, code: str = ""):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.message, self.code = status, message, code


def parse_service_urls(text: str, ports: dict[str, int]) -> dict[str, str]:
    """``name=url`` pairs; the services not named are on 127.0.0.1 at their own port."""
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        name, _, url = pair.partition("=")
        urls[name.strip()] = url.strip().rstrip("/")
    return urls


def _message(response: httpx.Response) -> tuple[str, str]:
    try:
        errors = response.json().get("errors") or [{}]
        first = errors[0]
        where = f" ({first['field']})" if first.get("field") else ""
        return str(first.get("message", response.reason_phrase)) + where, first.get("code", "")
    except (ValueError, AttributeError, KeyError, IndexError, TypeError):
        return response.reason_phrase, ""


def with_times(case: dict[str, Any]) -> dict[str, Any]:
    for duty in case.get("duties", ()):
        for name in DUTY_TIMES:
            if isinstance(duty.get(name), str):
                duty[name] = datetime.fromisoformat(duty[name])
    return case


class Backends:
    def __init__(self, client: httpx.AsyncClient, urls: dict[str, str]):
        self.client, self.urls = client, urls

    async def call(
        self, service: str, method: str, path: str, token: str | None = None, **kwargs: Any
    ) -> Any:
        headers = {
            **kwargs.pop("headers", {}),
            **({"Authorization": f"Bearer {token}"} if token else {}),
        }
        try:
            response = await self.client.request(
                method, self.urls[service] + path, headers=headers, **kwargs
            )
        except httpx.HTTPError as exc:
            raise ServiceError(503, f"{service} unreachable") from exc
        if response.status_code >= 500:
            raise ServiceError(503, f"{service} unavailable")
        if response.status_code >= 400:
            message, code = _message(response)
            raise ServiceError(response.status_code, message, code)
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.text

    # dispatch -------------------------------------------------------------------------------
    async def queue(self, token: str, params: dict[str, Any]) -> dict[str, Any]:
        """One page of the person's case queue (dispatch filters, counts and pages it)."""
        return await self.call("dispatch", "GET", "/api/v1/dispatch/queue", token, params=params)

    async def case(self, token: str, issue_id: str) -> dict[str, Any]:
        return with_times(
            await self.call("dispatch", "GET", f"/api/v1/dispatch/cases/{issue_id}", token)
        )

    async def queue_stamp(self, token: str) -> str:
        """What moves when a case in the person's scope changes (and says nothing else)."""
        answer = await self.call("dispatch", "GET", "/api/v1/dispatch/queue/stamp", token)
        return str(answer["stamp"])

    async def timeline(self, token: str, issue_id: str) -> list[dict[str, Any]]:
        """Every event of the case, its times parsed."""
        path = f"/api/v1/dispatch/cases/{issue_id}/timeline"
        events = (await self.call("dispatch", "GET", path, token))["events"]
        return [{**e, "at": datetime.fromisoformat(e["at"])} for e in events]

    async def act(self, token: str, issue_id: str, action: dict[str, Any]) -> dict[str, Any]:
        path = f"/api/v1/dispatch/cases/{issue_id}/actions"
        return await self.call("dispatch", "POST", path, token, json=action)

    async def rates(self, token: str, month: str) -> dict[str, Any]:
        params = {"month": month}
        return await self.call("dispatch", "GET", "/api/v1/dispatch/rates", token, params=params)

    # intake ---------------------------------------------------------------------------------
    async def photo(self, media_id: str, max_bytes: int) -> tuple[bytes, str]:
        """A report's photo from intake: its bytes and type, at most ``max_bytes`` read."""
        url = f"{self.urls['intake']}/api/v1/media/{media_id}"
        try:
            async with self.client.stream("GET", url) as response:
                if response.status_code == 404:
                    raise ServiceError(404, "no such photo")
                if response.status_code >= 400:
                    raise ServiceError(503, "intake unavailable")
                data = b""
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > max_bytes:
                        raise ServiceError(413, "the photo is larger than photos may be")
                return data, response.headers.get("content-type", "").split(";")[0].strip()
        except httpx.HTTPError as exc:
            raise ServiceError(503, "intake unreachable") from exc

    # ledger ---------------------------------------------------------------------------------
    async def campaigns(self) -> list[dict[str, Any]]:
        return await self.call("ledger", "GET", "/api/v1/public/campaigns")

    async def ledger(self, token: str, path: str, body: dict[str, Any] | None = None) -> Any:
        if body is None:
            return await self.call("ledger", "GET", f"/api/v1{path}", token)
        return await self.call("ledger", "POST", f"/api/v1{path}", token, json=body)

    # notify ---------------------------------------------------------------------------------
    async def notify(self, token: str, path: str, body: dict[str, Any] | None = None) -> Any:
        if body is None:
            return await self.call("notify", "GET", f"/api/v1{path}", token)
        return await self.call("notify", "POST", f"/api/v1{path}", token, json=body)

    async def reach(self, token: str, node_id: str) -> dict[str, Any]:
        """How many residents a broadcast below the node reaches (notify's counts)."""
        params = {"node_id": node_id}
        return await self.call("notify", "GET", "/api/v1/broadcasts/reach", token, params=params)

    async def readiness(self, service: str) -> dict[str, Any]:
        try:
            response = await self.client.get(self.urls[service] + "/readyz", timeout=2.0)
            return response.json()
        except (httpx.HTTPError, ValueError):
            return {"ready": False, "detail": "no answer"}

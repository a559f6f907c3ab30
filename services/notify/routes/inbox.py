"""The resident's inbox: the newest messages, and new ones live as Server-Sent Events."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from services.notify.residents import Residents
from services.notify.routes.auth import UNAUTHORIZED, bearer
from shared.http.stopping import is_stopping


class InboxMessage(BaseModel):
    id: str
    issue_id: str | None
    kind: str
    title: str
    body: str
    language: str
    urgent: bool = False
    created_at: str
    read: bool


class Inbox(BaseModel):
    resident_ref: str
    messages: list[InboxMessage]


def message_view(d: dict[str, Any]) -> InboxMessage:
    return InboxMessage(
        id=d["_id"],
        issue_id=d.get("issue_id"),
        kind=d["kind"],
        title=d["title"],
        body=d["body"],
        language=d.get("language", "zh-CN"),
        urgent=d.get("urgent", False),
        created_at=d["created_at"].isoformat(),
        read=d.get("read", False),
    )


def server_event(doc: dict[str, Any] | None) -> bytes:
    """One inbox message as a Server-Sent Event, its id the message id (None: a keep-alive)."""
    if doc is None:
        return b": keep-alive\n\n"
    data = json.dumps(message_view(doc).model_dump(), ensure_ascii=False)
    return f"id: {doc['_id']}\nevent: message\ndata: {data}\n\n".encode()


def routes(residents: Residents) -> APIRouter:
    api = APIRouter()

    @api.get("/residents/{ref}/inbox", response_model=Inbox, responses=UNAUTHORIZED, tags=["inbox"])
    async def inbox(
        ref: str,
        authorization: str = Header("", description="Bearer <resident_token>"),
        limit: int = Query(50, ge=1, le=200),
    ) -> Inbox:
        """The resident's messages, newest first. Only the resident's own token opens it."""
        residents.check(ref, bearer(authorization))
        docs = await residents.inbox(ref, limit)
        return Inbox(resident_ref=ref, messages=[message_view(d) for d in docs])

    @api.get(
        "/residents/{ref}/inbox/stream",
        responses={**UNAUTHORIZED, 200: {"content": {"text/event-stream": {}}}},
        tags=["inbox"],
    )
    async def inbox_stream(
        ref: str,
        request: Request,
        authorization: str = Header("", description="Bearer <resident_token>"),
        token: str | None = Query(None, description="The token, for EventSource clients."),
        last_event_id: str | None = Header(
            None,
            alias="Last-Event-ID",
            max_length=300,
            description="The id of the last message received: those stored after it come "
            "first (EventSource sends it when it reconnects).",
        ),
    ) -> StreamingResponse:
        """New inbox messages as Server-Sent Events (``event: message``, JSON data, the
        message id as the event id). After ``Last-Event-ID`` the messages missed since that
        one come first, oldest first, then new ones as they arrive. Notify may end a stream
        after a while (``LINLI_NOTIFY_STREAM_MAX_S``): reconnect, with ``Last-Event-ID``."""
        residents.check(ref, token or bearer(authorization))

        async def connected() -> bool:
            return not is_stopping(request.app) and not await request.is_disconnected()

        async def events() -> AsyncIterator[bytes]:
            yield b": connected\n\n"
            async for doc in residents.follow(ref, last_event_id, connected):
                yield server_event(doc)

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return api

"""Notify's HTTP adapter: residents' inbox (and its live stream), preferences, return-visit
ratings, and operators' area broadcasts."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from services.notify.broadcasts import Broadcasts, new_broadcast_id, progress_view
from services.notify.delivery import recipient_of
from services.notify.domain import (
    BadRatingToken,
    Channel,
    Language,
    Preferences,
    QuietHours,
    Webhook,
    open_rating_token,
)
from services.notify.live import LiveInbox
from services.notify.operators import authenticate, staff_operator
from services.notify.store import NotifyStore
from shared.events import derived_event_id, utcnow
from shared.events.lifecycle import IssueRatedV1
from shared.http.errors import ApiError
from shared.kafka.publisher import EventPublisher
from shared.reference import Tree
from shared.residents import token_matches
from shared.staff_tokens import is_staff_token
from shared.topics import ISSUES_FEEDBACK


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


class PreferencesView(BaseModel):
    channels: tuple[Channel, ...]
    language: Language
    quiet_hours: QuietHours | None
    opt_outs: tuple[str, ...]
    webhook_url: str | None = Field(None, description="The robot URL; its secret is never shown.")


class RatingLink(BaseModel):
    issue_id: str
    answered: bool


class RatingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rating: int = Field(ge=1, le=5)
    comment: str | None = Field(None, max_length=1000)


class RatingOut(BaseModel):
    issue_id: str
    rating: int
    status: Literal["accepted"]


class BroadcastText(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=120)
    body: str = Field(min_length=1, max_length=2000)


class BroadcastIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    node_id: str = Field(min_length=1, max_length=200, description="Everyone below this node.")
    urgent: bool = Field(False, description="Overrides quiet hours and opt-outs.")
    zh_cn: BroadcastText = Field(alias="zh-CN")
    en: BroadcastText | None = Field(None, description="English text; Chinese when absent.")


class BroadcastOut(BaseModel):
    id: str
    node_id: str
    urgent: bool
    status: Literal["queued", "sending", "done", "cancelled"]
    progress: dict[str, Any]
    created_at: str
    messages: dict[str, BroadcastText] = Field(
        default_factory=dict,
        description="The text per language as sent (zh-CN always, en when given): what a "
        "printed notice for the board says.",
    )


def _message(d: dict[str, Any]) -> InboxMessage:
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


def _broadcast(doc: dict[str, Any]) -> BroadcastOut:
    return BroadcastOut(
        id=doc["_id"],
        node_id=doc["node_id"],
        urgent=doc["urgent"],
        status=doc["status"],
        progress=progress_view(doc),
        created_at=doc["created_at"].isoformat(),
        messages=doc.get("messages") or {},
    )


REPLAY_PAGE = 100  # messages per read when a stream catches up after Last-Event-ID


def _event(doc: dict[str, Any]) -> bytes:
    """One inbox message as a Server-Sent Event, its id the message id."""
    data = json.dumps(_message(doc).model_dump(), ensure_ascii=False)
    return f"id: {doc['_id']}\nevent: message\ndata: {data}\n\n".encode()


UNAUTHORIZED = {401: {"description": "Missing or wrong token"}, 503: {"description": "Down"}}


def build_router(
    store: NotifyStore,
    *,
    secret: str,
    live: LiveInbox,
    publisher: EventPublisher,
    broadcasts: Broadcasts,
    tree: Tree,
    clock: Callable[[], datetime] = utcnow,
    poll_s: float = 2.0,
    staff_secret: str | None = None,
) -> APIRouter:
    """``staff_secret``: accept the web console's operator tokens beside operator keys."""
    router = APIRouter(prefix="/api/v1")

    def resident(ref: str, authorization: str, token: str | None = None) -> None:
        given = token or authorization.removeprefix("Bearer ").strip()
        if not given or not token_matches(secret, ref, given):
            raise ApiError(
                401,
                "unauthorized",
                "a valid resident token is required",
                "header.authorization",
                {"WWW-Authenticate": "Bearer"},
            )

    @router.get(
        "/residents/{ref}/inbox", response_model=Inbox, responses=UNAUTHORIZED, tags=["inbox"]
    )
    async def inbox(
        ref: str,
        authorization: str = Header("", description="Bearer <resident_token>"),
        limit: int = Query(50, ge=1, le=200),
    ) -> Inbox:
        """The resident's messages, newest first. Only the resident's own token opens it."""
        resident(ref, authorization)
        docs = await store.inbox(ref, limit)
        return Inbox(resident_ref=ref, messages=[_message(d) for d in docs])

    @router.get(
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
        one come first, oldest first, then new ones as they arrive."""
        resident(ref, authorization, token)

        async def events() -> AsyncIterator[bytes]:
            since = clock()
            seen: set[str] = set()
            yield b": connected\n\n"
            if last_event_id:
                async for doc in _missed(ref, last_event_id):
                    if doc["_id"] not in seen:
                        seen.add(doc["_id"])
                        yield _event(doc)
            while not await request.is_disconnected():
                try:
                    docs = await store.inbox(ref, 50, after=since)
                except Exception:
                    docs = []
                for doc in reversed(docs):
                    if doc["_id"] in seen:
                        continue
                    seen.add(doc["_id"])
                    since = max(since, doc["created_at"])
                    yield _event(doc)
                await live.wait(ref, poll_s)
                yield b": keep-alive\n\n"

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def _missed(ref: str, last_id: str) -> AsyncIterator[dict[str, Any]]:
        """The resident's messages stored after ``last_id``, oldest first, a page at a time
        (none when the id is unknown or not the resident's, or the database is away)."""
        while True:
            try:
                page = await store.inbox_after(ref, last_id, REPLAY_PAGE)
            except Exception:
                return
            for doc in page:
                yield doc
            if len(page) < REPLAY_PAGE:
                return
            last_id = page[-1]["_id"]

    @router.get(
        "/residents/{ref}/preferences",
        response_model=PreferencesView,
        responses=UNAUTHORIZED,
        tags=["preferences"],
    )
    async def get_preferences(
        ref: str, authorization: str = Header("", description="Bearer <resident_token>")
    ) -> PreferencesView:
        """Channels in order of preference, language, quiet hours, opt-outs."""
        resident(ref, authorization)
        prefs = recipient_of(await store.resident(ref)).prefs
        return _view(prefs)

    @router.put(
        "/residents/{ref}/preferences",
        response_model=PreferencesView,
        responses={**UNAUTHORIZED, 422: {"description": "Invalid preferences"}},
        tags=["preferences"],
    )
    async def put_preferences(
        ref: str,
        prefs: Preferences,
        authorization: str = Header("", description="Bearer <resident_token>"),
    ) -> PreferencesView:
        """Replace the resident's preferences. A webhook channel needs a webhook (URL, secret)."""
        resident(ref, authorization)
        if "webhook" in prefs.channels and prefs.webhook is None:
            raise ApiError(400, "missing", "the webhook channel needs a webhook", "body.webhook")
        await store.save_preferences(ref, prefs.model_dump(mode="json"))
        return _view(prefs)

    def _opened(token: str) -> tuple[str, str, int]:
        try:
            return open_rating_token(secret, token, clock())
        except BadRatingToken as exc:
            status = 410 if "expired" in str(exc) else 404
            raise ApiError(status, "bad_link", str(exc), "path.token") from exc

    @router.get(
        "/ratings/{token}",
        response_model=RatingLink,
        tags=["ratings"],
        responses={404: {"description": "Bad link"}, 410: {"description": "Expired"}},
    )
    async def rating_link(token: str) -> RatingLink:
        """What a signed return-visit link is about, and whether it was answered."""
        issue_id, _ref, visit = _opened(token)
        doc = await store.ratings.find_one({"_id": f"{issue_id}:{visit}"})
        return RatingLink(issue_id=issue_id, answered=bool(doc and doc.get("published")))

    @router.post(
        "/ratings/{token}",
        status_code=202,
        response_model=RatingOut,
        tags=["ratings"],
        responses={
            404: {"description": "Bad link"},
            409: {"description": "Already rated"},
            410: {"description": "Expired"},
            503: {"description": "Kafka or the database is down; nothing was accepted"},
        },
    )
    async def rate(token: str, answer: RatingIn) -> RatingOut:
        """The resident's 1-5 rating and comment; published as IssueRatedV1 on issues.feedback."""
        issue_id, ref, visit = _opened(token)
        key = f"{issue_id}:{visit}"
        now = clock()
        stored = await store.record_rating(
            key, {"rating": answer.rating, "comment": answer.comment, "ref": ref, "at": now}
        )
        if stored is not None and stored.get("published"):
            raise ApiError(409, "already_rated", "this visit was already rated")
        if stored is not None:  # an earlier answer was stored but not published: publish that
            answer = RatingIn(rating=stored["rating"], comment=stored.get("comment"))
            now = stored["at"]
        event = IssueRatedV1(
            issue_id=issue_id,
            rating=answer.rating,
            comment=answer.comment,
            resident_ref=ref,
            rated_at=now,
        )
        await publisher.publish(
            ISSUES_FEEDBACK, event, key=issue_id, event_id=derived_event_id("rated", key)
        )
        await store.rating_published(key)
        return RatingOut(issue_id=issue_id, rating=answer.rating, status="accepted")

    async def operator(authorization: str) -> dict[str, Any]:
        key = authorization.removeprefix("Bearer ").strip()
        if staff_secret is not None and is_staff_token(key):
            found = staff_operator(staff_secret, key, clock())
        else:
            found = await authenticate(store, key) if key else None
        if found is None:
            raise ApiError(
                401,
                "unauthorized",
                "a valid operator key is required",
                "header.authorization",
                {"WWW-Authenticate": "Bearer"},
            )
        return found

    @router.post(
        "/broadcasts",
        status_code=202,
        response_model=BroadcastOut,
        tags=["broadcasts"],
        responses={
            401: {"description": "No or wrong operator key"},
            403: {"description": "The node is outside the operator's area"},
            404: {"description": "Unknown node"},
        },
    )
    async def create_broadcast(
        body: BroadcastIn,
        authorization: str = Header("", description="Bearer <operator key>"),
    ) -> BroadcastOut:
        """Alert every resident below a node. Answers at once; progress is readable."""
        who = await operator(authorization)
        if tree.get(body.node_id) is None:
            raise ApiError(404, "unknown_node", "no such node", "body.node_id")
        if not tree.is_within(body.node_id, who["node_id"]):
            raise ApiError(403, "outside_area", "the node is outside your area", "body.node_id")
        messages = {"zh-CN": body.zh_cn.model_dump()}
        if body.en is not None:
            messages["en"] = body.en.model_dump()
        doc = {
            "_id": new_broadcast_id(),
            "node_id": body.node_id,
            "urgent": body.urgent,
            "messages": messages,
            "operator": who["_id"],
            "status": "queued",
            "walked": 0,
            "lease_owner": None,
            "lease_until": None,
            "progress": {"recipients": 0, "skipped": 0, "queued": {}, "sent": {}, "failed": {}},
            "created_at": clock(),
        }
        await store.create_broadcast(doc)
        broadcasts.wake()
        return _broadcast(doc)

    async def _own(broadcast_id: str, authorization: str) -> dict[str, Any]:
        who = await operator(authorization)
        doc = await store.broadcast(broadcast_id)
        if doc is None or not tree.is_within(doc["node_id"], who["node_id"]):
            raise ApiError(404, "not_found", "no such broadcast", "path.broadcast_id")
        return doc

    @router.get("/broadcasts/{broadcast_id}", response_model=BroadcastOut, tags=["broadcasts"])
    async def get_broadcast(
        broadcast_id: str, authorization: str = Header("", description="Bearer <operator key>")
    ) -> BroadcastOut:
        """Status and progress: residents reached so far; queued, sent, failed per channel."""
        return _broadcast(await _own(broadcast_id, authorization))

    @router.post(
        "/broadcasts/{broadcast_id}/cancel", response_model=BroadcastOut, tags=["broadcasts"]
    )
    async def cancel_broadcast(
        broadcast_id: str, authorization: str = Header("", description="Bearer <operator key>")
    ) -> BroadcastOut:
        """Stop the fan-out after the batch in flight; a finished one cannot be cancelled."""
        doc = await _own(broadcast_id, authorization)
        cancelled = await store.cancel_broadcast(broadcast_id)
        if cancelled is None:
            raise ApiError(409, "finished", f"the broadcast is {doc['status']}")
        return _broadcast(cancelled)

    return router


def _view(prefs: Preferences) -> PreferencesView:
    return PreferencesView(
        channels=prefs.channels,
        language=prefs.language,
        quiet_hours=prefs.quiet_hours,
        opt_outs=prefs.opt_outs,
        webhook_url=prefs.webhook.url if prefs.webhook else None,
    )


__all__ = ["Webhook", "build_router"]

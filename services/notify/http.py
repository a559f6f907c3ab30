"""Notify's HTTP adapter: a resident's in-app inbox."""

from __future__ import annotations

from fastapi import APIRouter, Header, Query
from pydantic import BaseModel

from services.notify.store import NotifyStore
from shared.http.errors import ApiError, Unavailable
from shared.residents import token_matches


class InboxMessage(BaseModel):
    id: str
    issue_id: str | None
    kind: str
    title: str
    body: str
    language: str
    created_at: str
    read: bool


class Inbox(BaseModel):
    resident_ref: str
    messages: list[InboxMessage]


def build_router(store: NotifyStore, *, secret: str, retry_after_s: int) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["inbox"])

    @router.get(
        "/residents/{ref}/inbox",
        response_model=Inbox,
        responses={401: {"description": "Missing or wrong token"}, 503: {"description": "Down"}},
    )
    async def inbox(
        ref: str,
        authorization: str = Header("", description="Bearer <resident_token>"),
        limit: int = Query(50, ge=1, le=200),
    ) -> Inbox:
        """The resident's messages, newest first. Only the resident's own token opens it."""
        token = authorization.removeprefix("Bearer ").strip()
        if not token or not token_matches(secret, ref, token):
            raise ApiError(
                401,
                "unauthorized",
                "a valid resident token is required",
                "header.authorization",
                {"WWW-Authenticate": "Bearer"},
            )
        try:
            docs = await store.inbox(ref, limit)
        except Exception as exc:
            raise Unavailable("the database", retry_after_s) from exc
        return Inbox(
            resident_ref=ref,
            messages=[
                InboxMessage(
                    id=d["_id"],
                    issue_id=d.get("issue_id"),
                    kind=d["kind"],
                    title=d["title"],
                    body=d["body"],
                    language=d.get("language", "zh-CN"),
                    created_at=d["created_at"].isoformat(),
                    read=d.get("read", False),
                )
                for d in docs
            ],
        )

    return router

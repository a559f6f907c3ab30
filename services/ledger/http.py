"""Ledger's HTTP adapter: the public account (no donor data)."""

from __future__ import annotations

from fastapi import APIRouter

from services.ledger.books import Books
from shared.http.errors import Unavailable


def build_router(books: Books, *, retry_after_s: int) -> APIRouter:
    router = APIRouter(prefix="/api/v1/public", tags=["public account"])

    @router.get("/campaigns", responses={503: {"description": "Database down"}})
    async def campaigns() -> dict[str, dict[str, int]]:
        """Money raised per campaign and channel, in fen."""
        try:
            return await books.raised()
        except Exception as exc:
            raise Unavailable("the database", retry_after_s) from exc

    return router

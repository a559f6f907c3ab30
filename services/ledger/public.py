"""The public account: per campaign raised (online, offline, in-kind), spent, held, available,
projects and quarters; the quarterly disclosure as CSV and as a printable page. No donor
personal data: only the names donors chose to show."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import HTMLResponse, PlainTextResponse

from services.ledger.campaigns import public_figures
from services.ledger.domain.disclosure import disclosure_csv, disclosure_html, disclosure_rows
from services.ledger.store import LedgerStore
from shared.http.errors import ApiError

Quarter = Annotated[str, Path(pattern=r"^\d{4}Q[1-4]$", description="e.g. 2026Q4")]


class PublicAccount:
    def __init__(self, store: LedgerStore):
        self._store = store

    async def campaigns(self) -> list[dict[str, Any]]:
        return [public_figures(doc) for doc in await self._store.all_funds()]

    async def disclosure(self, quarter: str) -> tuple[list[dict[str, Any]], list[tuple]]:
        rows = disclosure_rows(await self._store.entries_of_quarter(quarter))
        summaries = [s for s in await self.campaigns() if quarter in s["quarters"]]
        return summaries, rows


def build_public_router(account: PublicAccount) -> APIRouter:
    router = APIRouter(prefix="/api/v1/public", tags=["public account"])
    down = {503: {"description": "Database down"}}

    @router.get("/campaigns", responses=down)
    async def campaigns() -> list[dict[str, Any]]:
        """Every campaign's account, in fen: raised by channel, spent, held, available."""
        return await account.campaigns()

    @router.get("/campaigns/{campaign}", responses={404: {"description": "No such campaign"}})
    async def campaign(campaign: Annotated[str, Path(max_length=64)]) -> dict[str, Any]:
        """One campaign's account, with its projects and quarters."""
        for figures in await account.campaigns():
            if figures["id"] == campaign:
                return figures
        raise ApiError(404, "not_found", f"no campaign {campaign}")

    @router.get(
        "/disclosures/{quarter}.csv",
        response_class=PlainTextResponse,
        responses={**down, 200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
    )
    async def disclosure_as_csv(quarter: Quarter) -> PlainTextResponse:
        """The quarterly disclosure (信息公开) as CSV: per campaign summary, then every entry."""
        summaries, rows = await account.disclosure(quarter)
        return PlainTextResponse(
            disclosure_csv(quarter, summaries, rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="disclosure-{quarter}.csv"'},
        )

    @router.get("/disclosures/{quarter}", response_class=HTMLResponse, responses=down)
    async def disclosure_page(quarter: Quarter) -> HTMLResponse:
        """The quarterly disclosure as a printable page."""
        summaries, rows = await account.disclosure(quarter)
        return HTMLResponse(disclosure_html(quarter, summaries, rows))

    return router

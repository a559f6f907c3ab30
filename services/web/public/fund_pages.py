"""The fund's public account (no sign-in): every campaign's goal, raised, spent and balance,
its donations and disbursements as the ledger publishes them, the parties' approvals, the
quarterly disclosure for download, and each chain head with the last verification. Served
from ``FundCache``: a page never reads the books."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response

from services.web.pages import Pages, Refusal
from services.web.public.figures import bars, yuan
from services.web.public.fund_cache import FundCache, FundView

QUARTER = r"^\d{4}Q[1-4]$"


def router(pages: Pages, cache: FundCache) -> APIRouter:
    web = APIRouter(include_in_schema=False)
    # the page is the same for everyone: drawn once per view and language, then sent as is
    drawn: dict[str, tuple[FundView, bytes]] = {}

    @web.get("/public/fund")
    async def fund(request: Request) -> Response:
        view = await cache.view()
        if view is None:
            raise Refusal(503, "unavailable")
        lang = pages.language(request)
        kept = drawn.get(lang)
        if kept is not None and kept[0] is view and not request.url.query:
            return HTMLResponse(kept[1])
        page = pages.render(request, "public/fund.html.j2", None, view=view, bars=bars, yuan=yuan)
        if not request.url.query:  # (a query shows in the language link: not kept)
            drawn[lang] = (view, bytes(page.body))
        return page

    @web.get("/public/fund/disclosures/{quarter}.csv")
    async def disclosure(quarter: Annotated[str, Path(pattern=QUARTER)]) -> Response:
        text = await cache.disclosure_csv(quarter)
        if text is None:
            raise Refusal(404, "notfound")
        return Response(
            text,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="disclosure-{quarter}.csv"'},
        )

    return web

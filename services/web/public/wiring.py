"""The public pages' part of the web's composition root: their routers, the fund cache's
consumers of the ledger's topics, and the background refresh started with the app."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from fastapi import APIRouter

from services.web.pages import Pages
from services.web.public import district_pages, fund_pages, notices_pages, open311_page
from services.web.public.district_stats import DistrictStats
from services.web.public.fund_cache import FundCache, keep_fresh
from services.web.public.fund_events import FundEvents, handlers
from shared.service import ServiceParts
from shared.settings import Settings
from shared.topics import LEDGER_COMMANDS, LEDGER_RECEIPTS


@dataclass
class PublicSide:
    routers: list[APIRouter]
    fund: FundCache
    background: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def start(self) -> list[asyncio.Task[None]]:
        return [asyncio.create_task(run()) for run in self.background]


def public_base(settings: Settings) -> str:
    """Where people reach the web (QR codes and printed notices link there)."""
    return settings.web_public_url.rstrip("/") or f"http://127.0.0.1:{settings.port_of('web')}"


def public_side(parts: ServiceParts, pages: Pages) -> PublicSide:
    settings = parts.settings
    fund = FundCache(parts.db, pages.backends)
    events = FundEvents(fund)
    by_topic = handlers(events)
    parts.consume(
        LEDGER_RECEIPTS, {}, "The public fund page's cache: a donation was posted",
        batch_handlers=by_topic["receipts"],
    )  # fmt: skip
    parts.consume(
        LEDGER_COMMANDS, {}, "The public fund page's cache: spending and its approvals",
        batch_handlers=by_topic["commands"],
    )  # fmt: skip
    stats = DistrictStats(pages.backends, keep_s=settings.web_public_stats_s)
    open311 = settings.web_open311_url or pages.backends.urls["intake"] + "/open311/v2/"
    side = PublicSide(
        routers=[
            fund_pages.router(pages, fund),
            district_pages.router(pages, stats),
            open311_page.router(pages, open311, settings.intake_rate_per_key),
            notices_pages.router(pages, public_base(settings)),
        ],
        fund=fund,
    )
    side.background.append(lambda: keep_fresh(fund, settings.web_public_refresh_s))
    return side

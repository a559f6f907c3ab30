"""How the district is doing (no sign-in): a month's response, resolution and satisfaction
rates by street and by department as charts (this month and the five before, one link each),
and the open reports per compound on the schematic picture. Only dispatch's public figures:
no case, text, photo or place finer than a compound."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from services.web.backends import ServiceError
from services.web.domain.i18n import translate
from services.web.pages import Pages, Refusal
from services.web.public.district_picture import district_pictures
from services.web.public.district_stats import DistrictStats, recent_months
from services.web.public.rate_chart import rate_chart
from shared.events import utcnow

RATES = ("response", "resolution", "satisfaction")
DIMENSIONS = ("street", "department")


def charts_of(
    rankings: dict[str, list[dict[str, Any]]], pages: Pages, lang: str, t: Callable[[str], str]
) -> list[tuple[str, str, str]]:
    """(dimension, rate, chart) for each dimension and rate shown, with no chart for a
    dimension without rows."""
    charts = []
    for dimension in DIMENSIONS:
        rows = rankings.get(dimension) or []
        for rate in RATES:
            shown = [r for r in rows if (r.get("rates") or {}).get(rate) is not None]
            if shown:
                title = f"{t('pub.by-' + dimension)} · {t(rate)}"
                bars = [(pages.place(str(r["key"]), lang), r["rates"][rate]) for r in shown]
                charts.append((dimension, rate, rate_chart(title, bars)))
    return charts


def router(pages: Pages, stats: DistrictStats) -> APIRouter:
    web = APIRouter(include_in_schema=False)

    @web.get("/public/district")
    async def district(
        request: Request, month: Annotated[str, Query(max_length=7)] = ""
    ) -> Response:
        months = recent_months(utcnow())
        month = month or months[0]
        if month not in months:
            raise Refusal(400, "invalid", "month: one of the last six months (YYYY-MM)")
        lang = pages.language(request)
        try:
            rankings = await stats.rates(month)
            counts = await stats.open_counts()
        except ServiceError as exc:
            raise pages.service_refusal(exc) from exc
        t = partial(translate, lang)
        open_places = sorted(
            ((pages.tree.path_name(n, lang), c) for n, c in counts.items() if n in pages.tree),
            key=lambda p: (-p[1], p[0]),
        )
        return pages.render(
            request, "public/district.html.j2", None, month=month, months=months,
            charts=charts_of(rankings, pages, lang, t),
            pictures=district_pictures(pages.tree, counts, lang),
            open_places=open_places, total_open=sum(counts.values()),
        )  # fmt: skip

    return web

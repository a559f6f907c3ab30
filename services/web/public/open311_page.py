"""Open311 discovery for app makers (no sign-in): the GeoReport v2 endpoint, its discovery
and service list, the formats, and how an app gets its key. Nothing is fetched to draw it."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.web.pages import Pages


def router(pages: Pages, endpoint: str, rate_per_key: float) -> APIRouter:
    web = APIRouter(include_in_schema=False)
    base = endpoint.rstrip("/") + "/"

    @web.get("/public/open311")
    async def open311(request: Request) -> Response:
        return pages.render(
            request, "public/open311.html.j2", None, base=base, rate_per_key=rate_per_key
        )

    return web

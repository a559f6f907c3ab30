"""Printable notices for the board (many older residents read paper): for a compound, a sheet
of QR codes that open the report form with the compound or one of its buildings filled in
(public); for a broadcast, the notice itself in both languages (for the operators who may
see that broadcast: notify checks the area with the person's token)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from services.web.backends import ServiceError
from services.web.pages import Pages, Refusal
from services.web.public.qr import qr_svg, report_url
from shared.reference import Level

NODE = r"^[a-z0-9][a-z0-9.-]{0,199}$"
BROADCAST = r"^[A-Za-z0-9_-]{4,80}$"


def router(pages: Pages, public_base: str) -> APIRouter:
    web = APIRouter(include_in_schema=False)
    tree = pages.tree

    @web.get("/public/notices")
    async def compounds(request: Request) -> Response:
        streets = [
            (s, [(c, [n for n in tree.descendants(c.id) if n.level is Level.COMPOUND])
                 for c in tree.descendants(s.id) if c.level is Level.COMMUNITY])
            for s in tree.at_level(Level.STREET)
        ]  # fmt: skip
        return pages.render(request, "public/notices.html.j2", None, streets=streets)

    @web.get("/public/notices/{node_id}")
    async def sheet(request: Request, node_id: Annotated[str, Path(pattern=NODE)]) -> Response:
        compound = tree.get(node_id)
        if compound is None or compound.level is not Level.COMPOUND:
            raise Refusal(404, "notfound")
        lang = pages.language(request)
        places = [compound, *(n for n in tree.descendants(node_id) if n.level is Level.BUILDING)]
        codes = [
            (place, report_url(public_base, place.id),
             qr_svg(report_url(public_base, place.id), place.name.get(lang)))
            for place in places
        ]  # fmt: skip
        return pages.render(
            request, "public/qr_sheet.html.j2", None, compound=compound, codes=codes,
            path_name=tree.path_name(node_id, lang),
        )  # fmt: skip

    @web.get("/broadcasts/{broadcast_id}/notice")
    async def broadcast_notice(
        request: Request, broadcast_id: Annotated[str, Path(pattern=BROADCAST)]
    ) -> Response:
        person = await pages.person(request)
        pages.needs_page(person, "broadcasts")
        try:
            broadcast = await pages.backends.notify(
                pages.staff.token_for(person), f"/broadcasts/{broadcast_id}"
            )
        except ServiceError as exc:
            raise pages.service_refusal(exc) from exc
        node = broadcast["node_id"]
        lang = pages.language(request)
        return pages.render(
            request, "public/broadcast_notice.html.j2", None, broadcast=broadcast,
            area=tree.path_name(node, lang) if node in tree else node,
            qr=qr_svg(report_url(public_base, node), tree[node].name.get(lang))
            if node in tree else "",
        )  # fmt: skip

    return web

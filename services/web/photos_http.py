"""A report's photo on the staff case page, served from the console's own origin: the case
is read from dispatch with the person's token first (so only a case in their scope shows its
photo), then the photo from intake, its size bounded and its type one of the photo types."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from services.web.backends import ServiceError
from services.web.cases_http import ISSUE_ID
from services.web.domain.photos import PHOTO_TYPES, media_id_of
from services.web.pages import Pages, Refusal


def router(pages: Pages, max_bytes: int) -> APIRouter:
    web = APIRouter(include_in_schema=False)

    @web.get("/cases/{issue_id}/photo")
    async def case_photo(
        request: Request, issue_id: Annotated[str, Path(pattern=ISSUE_ID)]
    ) -> Response:
        person = await pages.person(request)
        pages.needs_page(person, "cases")
        try:
            case = await pages.backends.case(pages.staff.token_for(person), issue_id)
            media_id = media_id_of(case.get("media_url"))
            if media_id is None:
                raise Refusal(404, "notfound")
            data, kind = await pages.backends.photo(media_id, max_bytes)
        except ServiceError as exc:
            raise pages.service_refusal(exc) from exc
        if kind not in PHOTO_TYPES:
            raise Refusal(404, "notfound")
        return Response(data, media_type=kind, headers={"Content-Disposition": "inline"})

    return web

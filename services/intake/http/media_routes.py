"""Photos over the native API: upload one (its type judged by its bytes), read one back."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import Response

from services.intake.application import Intake
from services.intake.http.filing_routes import client_of
from services.intake.http.limits import RateLimiter
from services.intake.http.models import MediaStored
from shared.http.schema import error_responses

PHOTO_CACHE = {"Cache-Control": "public, max-age=86400, immutable"}


def media_routes(intake: Intake, limiter: RateLimiter, max_photo_bytes: int) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["reports"])

    @router.post(
        "/media",
        status_code=201,
        response_model=MediaStored,
        responses=error_responses(400, 413, 422, 429, 503),
    )
    async def upload_photo(
        request: Request, file: Annotated[UploadFile, File(description="JPEG, PNG or WebP")]
    ) -> MediaStored:
        """Upload a photo; the type is judged by its bytes. Use the media_url in a report."""
        limiter.check(client_of(request))
        data = await file.read(max_photo_bytes + 1)
        media_id, kind = await intake.filing.save_photo(data, max_photo_bytes)
        url = str(request.url_for("read_photo", media_id=media_id))
        return MediaStored(media_id=media_id, media_url=url, content_type=kind, size=len(data))

    @router.get(
        "/media/{media_id}",
        name="read_photo",
        response_class=Response,
        responses={
            200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}},
            **error_responses(404, 503),
        },
    )
    async def read_photo(media_id: str) -> Response:
        """A photo uploaded with a report."""
        doc = await intake.reading.photo(media_id)
        headers = {**PHOTO_CACHE, "X-Content-Type-Options": "nosniff"}
        return Response(bytes(doc["data"]), media_type=doc["content_type"], headers=headers)

    return router

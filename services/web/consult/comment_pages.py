"""A consultation on its own (院坝会 online: the link in its notice): its question, its
comments (a hidden one shows the reason), and posting a comment as the signed-in resident's
household; consult refuses households outside the consultation's node."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.web.consult.common import known
from services.web.consult.common import resident_call as call
from services.web.pages import see_other
from services.web.residents.common import ResidentRefusal, Residents
from services.web.residents.sessions import Resident

CONSULTATION = r"^con_[0-9a-z_-]{3,60}$"


async def post_comment(
    residents: Residents, resident: Resident, consultation_id: str, text: Any
) -> None:
    """As the resident's household; consult refuses those outside the consultation."""
    text = str(text or "").strip()
    if not text:
        raise ResidentRefusal(400, "invalid", "text: 1 to 2000 characters")
    body = {"resident_ref": resident.ref, "text": text}
    path = f"/consultations/{consultation_id}/comments"
    await call(residents, "POST", path, resident.token, json=body)


def router(residents: Residents) -> APIRouter:
    web = APIRouter(include_in_schema=False)

    @web.get("/me/consultations/{consultation_id}")
    async def consultation(request: Request, consultation_id: str, posted: int = 0) -> Response:
        known(consultation_id, CONSULTATION, ResidentRefusal)
        resident = await residents.signed_in(request)
        item = await call(residents, "GET", f"/consultations/{consultation_id}")
        path = f"/consultations/{consultation_id}/comments"
        comments = (await call(residents, "GET", path))["comments"]
        return residents.render(request, "consultation.html.j2", resident, consultation=item,
                                comments=comments, posted=bool(posted))  # fmt: skip

    @web.post("/me/consultations/{consultation_id}/comments")
    async def comment(request: Request, consultation_id: str) -> Response:
        known(consultation_id, CONSULTATION, ResidentRefusal)
        resident = await residents.signed_in(request)
        form = await residents.form(request, resident)
        await post_comment(residents, resident, consultation_id, form.get("text"))
        return see_other(f"/me/consultations/{consultation_id}?posted=1#comments")

    return web

"""How consult's pages join the web service (called by its composition root)."""

from __future__ import annotations

from fastapi import APIRouter

from services.web.consult import (
    comment_pages,
    paper_pages,
    public_pages,
    resident_pages,
    resolution_pages,
    staff_pages,
)
from services.web.pages import Pages
from services.web.residents.common import Residents


def consult_routers(pages: Pages, residents: Residents) -> list[APIRouter]:
    """The consultation routes before the staff's ``/polls/{poll_id}``-style ones; each
    path is distinct."""
    return [
        resident_pages.router(residents),
        comment_pages.router(residents),
        paper_pages.router(residents),
        public_pages.router(pages),
        staff_pages.router(pages),
        resolution_pages.router(pages),
    ]

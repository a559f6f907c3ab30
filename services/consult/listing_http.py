"""Consult's lists, for the web console's pages: an office's polls and consultations (at or
below its node), a poll's frozen roll (the office over it), a consultation's own page
(anyone), and a compound's resolutions (its parties). Each list scans its collection (a
few hundred documents, a roll a few thousand): pages for staff, never the voting path."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from services.consult.access import office_over
from services.consult.application import Consult
from services.consult.http import ERRORS, Auth, PollPath, party_of, public_poll

CONSULTATION_FIELDS = ("node_id", "question", "description", "attachments", "opens_at",
                       "closes_at")  # fmt: skip


def public_consultation(doc: dict[str, Any]) -> dict[str, Any]:
    return {"consultation_id": doc["_id"], **{k: doc[k] for k in CONSULTATION_FIELDS}}


def listing_router(consult: Consult) -> APIRouter:
    api = APIRouter(prefix="/api/v1/consult", tags=["consult"])

    @api.get("/polls", responses=ERRORS)
    async def office_polls(authorization: Auth = None) -> dict[str, Any]:
        """The polls at or below the office's node, drafts included."""
        who = await consult.principal(authorization)
        office_over(consult.tree, who, who.node)
        found = await consult.polls.under(who.node)
        return {"polls": [public_poll(d) for d in found]}

    @api.get("/polls/{poll_id}/roll", responses=ERRORS)
    async def poll_roll(poll_id: PollPath, authorization: Auth = None) -> dict[str, Any]:
        """The households on the poll's frozen roll and whether each has a phone (the office
        prints paper codes for those without); the office over the poll's node only."""
        who = await consult.principal(authorization)
        office_over(consult.tree, who, (await consult.polls.doc(poll_id))["node_id"])
        return {"households": await consult.polls.roll_of(poll_id)}

    @api.get("/consultations", responses=ERRORS)
    async def office_consultations(authorization: Auth = None) -> dict[str, Any]:
        """The consultations at or below the office's node (to moderate their comments)."""
        who = await consult.principal(authorization)
        office_over(consult.tree, who, who.node)
        found = await consult.consultations.under(who.node)
        return {"consultations": [public_consultation(d) for d in found]}

    @api.get("/consultations/{consultation_id}", responses=ERRORS)
    async def consultation(consultation_id: str) -> dict[str, Any]:
        """A consultation's question, description, attachments and window."""
        item = await consult.consultations.get(consultation_id)
        return {"consultation_id": item.id, "node_id": item.node_id, "question": item.question,
                "description": item.description, "attachments": list(item.attachments),
                "opens_at": item.opens_at, "closes_at": item.closes_at}  # fmt: skip

    @api.get("/compounds/{compound}/resolutions", responses=ERRORS)
    async def compound_resolutions(compound: str, authorization: Auth = None) -> dict:
        """The compound's resolutions with each party's verdict (its parties only)."""
        party_of(await consult.principal(authorization), compound)
        return {"resolutions": await consult.resolutions.of(compound)}

    return api

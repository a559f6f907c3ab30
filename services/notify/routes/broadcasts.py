"""Operators' area broadcasts: start one, read its progress, cancel it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Header, Query
from pydantic import BaseModel, ConfigDict, Field

from services.notify.broadcast_requests import BroadcastRequests, NewBroadcast
from services.notify.broadcasts import progress_view
from services.notify.domain.names import BroadcastStatusName
from services.notify.operators import Operators
from services.notify.reach import Reach
from services.notify.routes.auth import bearer


class BroadcastText(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=120)
    body: str = Field(min_length=1, max_length=2000)


class BroadcastIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    node_id: str = Field(min_length=1, max_length=200, description="Everyone below this node.")
    urgent: bool = Field(False, description="Overrides quiet hours and opt-outs.")
    zh_cn: BroadcastText = Field(alias="zh-CN")
    en: BroadcastText | None = Field(None, description="English text; Chinese when absent.")

    def command(self) -> NewBroadcast:
        texts = {"zh-CN": self.zh_cn.model_dump()}
        if self.en is not None:
            texts["en"] = self.en.model_dump()
        return NewBroadcast(node_id=self.node_id, urgent=self.urgent, texts=texts)


class BroadcastOut(BaseModel):
    id: str
    node_id: str
    urgent: bool
    status: BroadcastStatusName
    progress: dict[str, Any]
    created_at: str
    messages: dict[str, BroadcastText] = Field(
        default_factory=dict,
        description="The text per language as sent (zh-CN always, en when given): what a "
        "printed notice for the board says.",
    )


def broadcast_view(doc: dict[str, Any]) -> BroadcastOut:
    return BroadcastOut(
        id=doc["_id"],
        node_id=doc["node_id"],
        urgent=doc["urgent"],
        status=doc["status"],
        progress=progress_view(doc),
        created_at=doc["created_at"].isoformat(),
        messages=doc.get("messages") or {},
    )


class ReachOut(BaseModel):
    node_id: str
    residents: int = Field(description="Residents known to live below the node.")
    not_opted_out: int = Field(
        description="Of them, those a non-urgent broadcast reaches (an urgent one: all)."
    )
    first_channel: dict[str, int] = Field(
        description="Residents by the channel they would be tried on first (inbox, sms, "
        "email, webhook); the inbox always has it too."
    )
    counted_at: str | None = Field(
        description="When the residents were last counted (the tally runs every "
        "LINLI_NOTIFY_REACH_EVERY_S); null before the first count."
    )


OPERATOR_KEY = "Bearer <operator key>"


def routes(operators: Operators, requests: BroadcastRequests, reach: Reach) -> APIRouter:
    api = APIRouter(tags=["broadcasts"])

    @api.get(
        "/broadcasts/reach",
        response_model=ReachOut,
        responses={
            401: {"description": "No or wrong operator key"},
            403: {"description": "The node is outside the operator's area"},
            404: {"description": "Unknown node"},
        },
    )
    async def broadcast_reach(
        node_id: str = Query(min_length=1, max_length=200, description="The node to preview."),
        authorization: str = Header("", description=OPERATOR_KEY),
    ) -> dict[str, Any]:
        """How many residents a broadcast below the node would reach, per first channel:
        one read by ``_id`` of the node's counts (at most one tally period old)."""
        who = await operators.who(bearer(authorization))
        return await reach.of(who, node_id)

    @api.post(
        "/broadcasts",
        status_code=202,
        response_model=BroadcastOut,
        responses={
            401: {"description": "No or wrong operator key"},
            403: {"description": "The node is outside the operator's area"},
            404: {"description": "Unknown node"},
        },
    )
    async def create_broadcast(
        body: BroadcastIn,
        authorization: str = Header("", description=OPERATOR_KEY),
    ) -> BroadcastOut:
        """Alert every resident below a node. Answers at once; progress is readable."""
        who = await operators.who(bearer(authorization))
        return broadcast_view(await requests.start(who, body.command()))

    @api.get("/broadcasts/{broadcast_id}", response_model=BroadcastOut)
    async def get_broadcast(
        broadcast_id: str, authorization: str = Header("", description=OPERATOR_KEY)
    ) -> BroadcastOut:
        """Status and progress: residents reached so far; queued, sent, failed per channel."""
        who = await operators.who(bearer(authorization))
        return broadcast_view(await requests.get(who, broadcast_id))

    @api.post("/broadcasts/{broadcast_id}/cancel", response_model=BroadcastOut)
    async def cancel_broadcast(
        broadcast_id: str, authorization: str = Header("", description=OPERATOR_KEY)
    ) -> BroadcastOut:
        """Stop the fan-out after the batch in flight; a finished one cannot be cancelled."""
        who = await operators.who(bearer(authorization))
        return broadcast_view(await requests.cancel(who, broadcast_id))

    return api

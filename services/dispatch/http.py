"""Departments' and offices' HTTP API: their tasks, their actions, the monthly rates.

Every request carries ``Authorization: Bearer <key>``; a key is scoped to one department
(it sees and acts on the cases it holds or held a duty on) or to one office node (it sees
its subtree). Keys are created with ``linli dispatch keys create`` and stored hashed.
"""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query
from pydantic import BaseModel, ConfigDict, Field

from services.dispatch.actions import to_command
from services.dispatch.cases import CaseNotFound, Dispatcher
from services.dispatch.domain.machine import FINAL, Holder, Refused
from services.dispatch.domain.rates import DIMENSIONS
from services.dispatch.reports import month_rates
from services.dispatch.store import CaseStore, Conflict, case_from_doc, duty_to_doc
from shared.events import utcnow
from shared.events.dispatch import ActionTarget, ActionType, DepartmentActionV1
from shared.http.errors import ApiError, ErrorMap
from shared.reference.tree import Tree

MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"


class ActionRequest(BaseModel):
    """One action on a case (the fields an action needs; others are ignored)."""

    model_config = ConfigDict(extra="forbid")

    action_id: str = Field(
        min_length=8, max_length=100, description="Your id; a resend is harmless."
    )
    action: ActionType
    note: str | None = Field(None, max_length=2000)
    photo_url: str | None = Field(None, max_length=1000, pattern=r"^https?://")
    reason: str | None = Field(None, max_length=1000)
    to: ActionTarget | None = None
    until: datetime | None = None
    departments: tuple[str, ...] = ()
    holder: str | None = None
    approve: bool | None = None
    into: str | None = Field(None, pattern=r"^iss_[0-9a-z]{10,40}$")


def _view(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "issue_id": doc["_id"],
        "status": doc["status"],
        "category": doc["category"],
        "priority": doc["priority"],
        "node_id": doc["node_id"],
        "description": doc.get("description", ""),
        "owner": doc["owner"],
        "supervisor": doc["supervisor"],
        "version": doc["version"],
        "duties": [
            {k: v for k, v in duty_to_doc(d).items() if k not in ("stage",)}
            for d in case_from_doc(doc).duties
        ],
        "rating": doc.get("rating"),
        "merged_into": doc.get("merged_into"),
    }


def refusals(errors: ErrorMap) -> None:
    """How dispatch's domain refusals answer over HTTP."""
    errors.refuse(Refused, lambda exc: ApiError(409, exc.code, exc.reason))
    errors.refuse(CaseNotFound, lambda exc: ApiError(404, "not_found", f"no case {exc}"))
    errors.refuse(
        Conflict,
        lambda _: ApiError(409, "busy", "the case is changing; retry", None, {"Retry-After": "1"}),
    )


def router(store: CaseStore, dispatcher: Dispatcher, tree: Tree) -> APIRouter:
    api = APIRouter(prefix="/api/v1/dispatch", tags=["dispatch"])

    async def principal(authorization: Annotated[str | None, Header()] = None) -> Holder:
        if not authorization or not authorization.startswith("Bearer "):
            raise ApiError(
                401, "unauthenticated", "send Authorization: Bearer <key>", "header.authorization"
            )
        holder = await store.principal(authorization.removeprefix("Bearer ").strip())
        if holder is None:
            raise ApiError(401, "unauthenticated", "unknown key", "header.authorization")
        return holder

    def can_see(who: Holder, doc: dict[str, Any]) -> bool:
        if who.kind == "office":
            return tree.is_within(doc["node_id"], who.code)
        held = [d["holder"]["code"] for d in (*doc.get("duties", ()), *doc.get("history", ()))]
        return who.code in held

    async def load(issue_id: str, who: Holder) -> dict[str, Any]:
        doc = await store.get(issue_id)
        if doc is None or not can_see(who, doc):
            raise ApiError(404, "not_found", f"no case {issue_id} for {who.code}")
        return doc

    @api.get("/tasks", summary="Cases this key's department holds, or this office's subtree")
    async def tasks(
        who: Annotated[Holder, Depends(principal)],
        open_only: Annotated[bool, Query(alias="open")] = True,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> dict[str, Any]:
        docs = await store.visible(who, open_only, limit, tuple(FINAL))
        return {
            "principal": {"kind": who.kind, "code": who.code},
            "cases": [_view(d) for d in docs],
        }

    @api.get("/cases/{issue_id}", summary="One case, if this key may see it")
    async def case(issue_id: str, who: Annotated[Holder, Depends(principal)]) -> dict[str, Any]:
        return _view(await load(issue_id, who))

    @api.post("/cases/{issue_id}/actions", summary="Act on a case: acknowledge, progress, resolve…")
    async def act(
        issue_id: str, body: ActionRequest, who: Annotated[Holder, Depends(principal)]
    ) -> dict[str, Any]:
        await load(issue_id, who)
        action = DepartmentActionV1(
            issue_id=issue_id, actor_kind=who.kind, actor=who.code, sent_at=utcnow(),
            **body.model_dump(),
        )  # fmt: skip
        # refusals, a missing case and a concurrent change answer by ``refusals`` below
        applied = await dispatcher.apply(
            issue_id, to_command(who, action), action_id=body.action_id
        )
        doc = await store.get(issue_id)
        assert doc is not None
        return {"duplicate": applied.duplicate, "case": _view(doc)}

    @api.get("/rates", summary="Monthly response, resolution, satisfaction and on-time rates")
    async def rates(
        who: Annotated[Holder, Depends(principal)],
        month: Annotated[str, Query(pattern=MONTH, description="YYYY-MM (Asia/Shanghai)")],
        dimension: Annotated[
            str | None, Query(pattern=f"^({'|'.join(DIMENSIONS)})$", description="Default: all")
        ] = None,
    ) -> dict[str, Any]:
        result = await month_rates(store, tree, month)
        return {
            "month": month,
            "rankings": {
                d: [row.__dict__ for row in rows]
                for d, rows in result.items()
                if dimension in (None, d)
            },
        }

    return api

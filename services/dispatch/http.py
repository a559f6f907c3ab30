"""Departments' and offices' HTTP API: their tasks, their actions, the monthly rates.

Every request carries ``Authorization: Bearer <key>``; a key is scoped to one department
(it sees and acts on the cases it holds or held a duty on) or to one office node (it sees
its subtree). Keys are created with ``linli dispatch keys create`` and stored hashed.
A refused action answers 404 (unknown case or target), 422 (a field is missing or out of
bounds; the field is named) or 409 (the case's state or the key's rights forbid it).
"""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query
from pydantic import BaseModel, ConfigDict, Field

from services.dispatch.actions import refusal_status, to_command
from services.dispatch.application import CaseNotFound, Dispatcher
from services.dispatch.clock import MAX_ADVANCE_S, DevClock
from services.dispatch.domain.machine import Holder, Refused
from services.dispatch.domain.queue import (
    MAX_PAGE_SIZE,
    PAGE_SIZE,
    SCOPED_LEVELS,
    Flag,
    QueueQuery,
    Sort,
)
from services.dispatch.domain.rates import DIMENSIONS
from services.dispatch.monthly_rates import month_rates
from services.dispatch.store import CaseStore, Conflict
from services.dispatch.timeline import case_timeline
from services.dispatch.views import (
    ActionAnswer,
    CaseView,
    ClockAnswer,
    QueueAnswer,
    QueueStampAnswer,
    RatesAnswer,
    TasksAnswer,
    TimelineAnswer,
    case_view,
    queue_row_view,
)
from shared.events import utcnow
from shared.events.base import INTEGRAL
from shared.events.dispatch import ActionTarget, ActionType, DepartmentActionV1
from shared.http.errors import ApiError, ErrorMap
from shared.http.schema import ErrorBody, error_responses
from shared.reference.tree import Tree
from shared.staff_tokens import is_staff_token
from shared.staff_tokens import verify as verify_staff

FORBIDDEN_CLOCK = {
    "model": ErrorBody,
    "description": "In production, or the key is not the district (root) office's",
}
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


class ClockMove(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    advance_s: Annotated[int, INTEGRAL] = Field(
        ge=1, le=MAX_ADVANCE_S, description="Seconds to move the clock ahead (60 or 60.0)."
    )


def refusals(errors: ErrorMap) -> None:
    """How dispatch's domain refusals answer over HTTP: 404 unknown, 422 invalid input (the
    field named), 409 the case's state or the key's rights; a concurrent change: busy."""
    errors.refuse(
        Refused,
        lambda exc: ApiError(
            refusal_status(exc), exc.code, exc.reason, f"body.{exc.field}" if exc.field else None
        ),
    )
    errors.refuse(CaseNotFound, lambda exc: ApiError(404, "not_found", f"no case {exc}"))
    errors.refuse(
        Conflict,
        lambda _: ApiError(409, "busy", "the case is changing; retry", None, {"Retry-After": "1"}),
    )


class Access:
    """Who is asking (a dispatch key or a web staff token) and what they may see: an office
    its subtree, a department the cases it holds or held a duty on."""

    def __init__(self, store: CaseStore, tree: Tree, staff_secret: str | None):
        self.store, self.tree, self.staff_secret = store, tree, staff_secret

    async def principal(self, authorization: Annotated[str | None, Header()] = None) -> Holder:
        if not authorization or not authorization.startswith("Bearer "):
            raise ApiError(
                401, "unauthenticated", "send Authorization: Bearer <key>", "header.authorization"
            )
        credential = authorization.removeprefix("Bearer ").strip()
        if self.staff_secret is not None and is_staff_token(credential):
            claims = verify_staff(self.staff_secret, credential, utcnow())
            if claims is None or claims.role not in ("office", "department"):
                raise ApiError(
                    401, "unauthenticated", "invalid staff token", "header.authorization"
                )
            return Holder(claims.role, claims.code)  # type: ignore[arg-type]
        holder = await self.store.principal(credential)
        if holder is None:
            raise ApiError(401, "unauthenticated", "unknown key", "header.authorization")
        return holder

    def can_see(self, who: Holder, doc: dict[str, Any]) -> bool:
        if who.kind == "office":
            return self.tree.is_within(doc["node_id"], who.code)
        held = [d["holder"]["code"] for d in (*doc.get("duties", ()), *doc.get("history", ()))]
        return who.code in held

    async def load(self, issue_id: str, who: Holder) -> dict[str, Any]:
        doc = await self.store.get(issue_id)
        if doc is None or not self.can_see(who, doc):
            raise ApiError(404, "not_found", f"no case {issue_id} for {who.code}")
        return doc

    def queue_scope(self, who: Holder, node: str) -> tuple[str, str]:
        """The stored queue to read and the place to filter it to: the department's, or the
        office's own node's (or the filter's node's, inside its subtree); below a community
        that community's queue, filtered to the place."""
        if node and node not in self.tree:
            raise ApiError(404, "not_found", f"no place {node}", "query.node")
        if who.kind == "department":
            return f"d:{who.code}", node
        if node and not self.tree.is_within(node, who.code):
            raise ApiError(404, "not_found", f"no place {node} for {who.code}", "query.node")
        place = node or who.code
        if place not in self.tree:
            return f"n:{place}", ""
        path = [*self.tree.ancestors(place), self.tree[place]]
        kept = path[: min(len(path), SCOPED_LEVELS)][-1].id
        return f"n:{kept}", "" if kept == place else place


def router(
    store: CaseStore,
    dispatcher: Dispatcher,
    tree: Tree,
    dev_clock: DevClock | None = None,
    *,
    staff_secret: str | None = None,
) -> APIRouter:
    """``staff_secret``: accept the web console's staff tokens (office and department roles)
    beside the keys; None refuses them. ``dev_clock``: the development-only clock offset."""
    api = APIRouter(prefix="/api/v1/dispatch", tags=["dispatch"])
    access = Access(store, tree, staff_secret)
    _task_routes(api, access, store)
    _stamp_routes(api, access, store)
    _queue_routes(api, access, store, dispatcher)
    _case_routes(api, access, store, dispatcher)
    _rates_routes(api, access, store, tree)
    _clock_routes(api, access, tree, dev_clock)
    return api


def _task_routes(api: APIRouter, access: Access, store: CaseStore) -> None:
    @api.get(
        "/tasks",
        summary="Cases this key's department holds, or this office's subtree",
        response_model=TasksAnswer,
        responses=error_responses(401, 422, 503),
    )
    async def tasks(
        who: Annotated[Holder, Depends(access.principal)],
        open_only: Annotated[bool, Query(alias="open")] = True,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> dict[str, Any]:
        scope, node = access.queue_scope(who, "")
        docs = await store.listed(scope, node, open_only, limit, access.tree.is_within)
        return {
            "principal": {"kind": who.kind, "code": who.code},
            "cases": [case_view(d) for d in docs],
        }


def _queue_routes(api: APIRouter, access: Access, store: CaseStore, dispatcher: Dispatcher) -> None:
    @api.get(
        "/queue",
        summary="One page of the case queue of this office's subtree or this department",
        description="Read from queue documents addressed by `_id` (docs/storage.md): filters "
        "by status, category, place (a node inside the office's subtree), overdue or due-soon "
        "(within 24 h); counts per status, category and place; sorted and paged.",
        response_model=QueueAnswer,
        responses=error_responses(401, 404, 422, 503),
    )
    async def queue(
        who: Annotated[Holder, Depends(access.principal)],
        status: Annotated[str, Query(max_length=40)] = "",
        category: Annotated[str, Query(max_length=100)] = "",
        node: Annotated[str, Query(max_length=100)] = "",
        flag: Annotated[Flag | None, Query()] = None,
        sort: Annotated[Sort, Query()] = Sort.DEADLINE,
        open_only: Annotated[bool, Query(alias="open")] = False,
        page: Annotated[int, Query(ge=1, le=100_000)] = 1,
        size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = PAGE_SIZE,
    ) -> dict[str, Any]:
        scope, node_filter = access.queue_scope(who, node)
        q = QueueQuery(status, category, node_filter, flag or "", sort, open_only)
        now = dispatcher.clock()
        chosen = await store.queue.select(scope, q, now, access.tree.is_within)
        rows, number, pages = chosen.page(page, size)
        return {
            "principal": {"kind": who.kind, "code": who.code},
            "total": len(chosen.rows), "page": number, "pages": pages, "size": size,
            "counts": chosen.counts, "categories": chosen.categories, "places": chosen.places,
            "rows": [queue_row_view(r, now) for r in rows],
        }  # fmt: skip


def _stamp_routes(api: APIRouter, access: Access, store: CaseStore) -> None:
    @api.get(
        "/queue/stamp",
        summary="A stamp that moves whenever a case in this scope changes",
        description="Reads by `_id` only (the scope's queue stamp): a console asks it often and "
        "reloads the queue only when it moved. It carries no case, id or count.",
        response_model=QueueStampAnswer,
        responses=error_responses(401, 503),
    )
    async def queue_stamp(who: Annotated[Holder, Depends(access.principal)]) -> dict[str, Any]:
        scope, place = access.queue_scope(who, "")
        stamp = await store.queue.stamp(scope, place, access.tree.is_within)
        return {"principal": {"kind": who.kind, "code": who.code}, "stamp": stamp}


def _case_routes(api: APIRouter, access: Access, store: CaseStore, dispatcher: Dispatcher) -> None:
    @api.get(
        "/cases/{issue_id}",
        summary="One case, if this key may see it",
        response_model=CaseView,
        responses=error_responses(401, 404, 503),
    )
    async def case(
        issue_id: str, who: Annotated[Holder, Depends(access.principal)]
    ) -> dict[str, Any]:
        return case_view(await access.load(issue_id, who))

    @api.get(
        "/cases/{issue_id}/timeline",
        summary="Every event dispatch published for a case, in order",
        description="A department sees the lifecycle and its own tasks.",
        response_model=TimelineAnswer,
        responses=error_responses(401, 404, 503),
    )
    async def timeline(
        issue_id: str, who: Annotated[Holder, Depends(access.principal)]
    ) -> dict[str, Any]:
        doc = await access.load(issue_id, who)
        events = await case_timeline(store, dispatcher.routed_events, doc, who)
        return {"issue_id": issue_id, "events": events}

    @api.post(
        "/cases/{issue_id}/actions",
        summary="Act on a case: acknowledge, progress, resolve…",
        response_model=ActionAnswer,
        responses={
            **error_responses(401, 404, 422, 503),
            409: {
                "model": ErrorBody,
                "description": "The case's state or the key's rights forbid the action "
                "(e.g. not_acknowledged, not_holder, not_supervisor, case_final), or the case "
                "is changing (busy, with Retry-After)",
            },
        },
    )
    async def act(
        issue_id: str, body: ActionRequest, who: Annotated[Holder, Depends(access.principal)]
    ) -> dict[str, Any]:
        await access.load(issue_id, who)
        action = DepartmentActionV1(
            issue_id=issue_id, actor_kind=who.kind, actor=who.code, sent_at=utcnow(),
            **body.model_dump(),
        )  # fmt: skip
        # refusals, a missing case and a concurrent change answer by ``refusals`` above
        applied = await dispatcher.apply(
            issue_id, to_command(who, action), action_id=body.action_id
        )
        doc = await store.get(issue_id)
        assert doc is not None
        return {"duplicate": applied.duplicate, "case": case_view(doc)}


def _rates_routes(api: APIRouter, access: Access, store: CaseStore, tree: Tree) -> None:
    @api.get(
        "/rates",
        summary="Monthly response, resolution, satisfaction and on-time rates",
        description="How each rate is computed: docs/dispatch.md.",
        response_model=RatesAnswer,
        responses=error_responses(400, 401, 422, 503),
    )
    async def rates(
        who: Annotated[Holder, Depends(access.principal)],
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


def _clock_routes(api: APIRouter, access: Access, tree: Tree, dev_clock: DevClock | None) -> None:
    def clock_of(who: Holder) -> DevClock:
        if dev_clock is None:
            raise ApiError(403, "forbidden", "the clock moves only outside production")
        if who != Holder("office", tree.root.id):
            raise ApiError(403, "forbidden", f"only the {tree.root.id} office moves the clock")
        return dev_clock

    @api.get(
        "/dev/clock",
        summary="Development only: how far dispatch's clock runs ahead",
        response_model=ClockAnswer,
        responses={**error_responses(401), 403: FORBIDDEN_CLOCK},
    )
    async def clock(who: Annotated[Holder, Depends(access.principal)]) -> dict[str, Any]:
        moved = clock_of(who)
        return {"offset_s": moved.offset_s, "now": moved()}

    @api.post(
        "/dev/clock",
        summary="Development only: move dispatch's clock ahead (403 in production)",
        response_model=ClockAnswer,
        responses={**error_responses(401, 422), 403: FORBIDDEN_CLOCK},
    )
    async def move_clock(
        body: ClockMove, who: Annotated[Holder, Depends(access.principal)]
    ) -> dict[str, Any]:
        moved = clock_of(who)
        moved.advance(body.advance_s)
        return {"offset_s": moved.offset_s, "now": moved()}

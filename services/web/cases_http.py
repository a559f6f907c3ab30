"""Pages of offices and departments: the case queue, a case with its actions, the deadline
board and the monthly rates. Every read and action goes to dispatch with the person's token;
dispatch decides what the person may see and do."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import PlainTextResponse, Response

from services.web.backends import ServiceError
from services.web.domain.actions import FIELDS, offered, pressable
from services.web.domain.charts import bar_chart
from services.web.domain.i18n import translate
from services.web.domain.photos import media_id_of
from services.web.domain.queue import (
    DUE_SOON,
    FLAGS,
    SORTS,
    QueuePage,
    QueueQuery,
    queue_page,
    time_left,
)
from services.web.pages import Pages, Refusal, client_address, see_other
from services.web.staff import Person

ISSUE_ID = r"^iss_[0-9a-z]{10,40}$"
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
Text = Annotated[str, Query(max_length=200)]
BOARD_ROWS = 200  # cases per flag on the deadline board (the soonest deadlines first)


def duty_flag(due: datetime, now: datetime) -> str:
    """A duty's own flag (a case's flag is its earliest duty's)."""
    if due < now:
        return "overdue"
    return "due-soon" if due - now <= DUE_SOON else ""


def action_body(action: str, form: Any) -> dict[str, Any]:
    """Dispatch's action request from the posted form's fields for ``action``."""
    body: dict[str, Any] = {"action_id": str(form.get("action_id") or uuid.uuid4()),
                            "action": action}  # fmt: skip
    for name in FIELDS[action]:
        value = form.get(name)
        if name == "departments":
            body["departments"] = [d for d in form.getlist("departments") if d]
        elif name == "to":
            kind, _, code = str(value or "").partition(":")
            if kind not in ("department", "office") or not code:
                raise Refusal(400, "invalid", "to: a department or an office")
            body["to"] = {"kind": kind, "code": code}
        elif name == "approve":
            body["approve"] = value == "yes"
        elif value:
            body[name] = value
    if action == "request-extension" and "until" in body:
        body["until"] = _local_time(body["until"])
    return body


def _local_time(text: str) -> str:
    """A datetime-local field (Asia/Shanghai) as an ISO time with its offset."""
    try:
        return datetime.fromisoformat(text).isoformat() + "+08:00"
    except ValueError as exc:
        raise Refusal(400, "invalid", "until") from exc


def router(pages: Pages) -> APIRouter:
    web = APIRouter(include_in_schema=False)
    _queue_routes(web, pages)
    _case_routes(web, pages)
    _action_routes(web, pages)
    _deadline_routes(web, pages)
    _rate_routes(web, pages)
    return web


async def _queue_of(pages: Pages, person: Person, params: dict[str, Any]) -> QueuePage:
    try:
        answer = await pages.backends.queue(pages.staff.token_for(person), params)
    except ServiceError as exc:
        raise pages.service_refusal(exc) from exc
    return queue_page(answer)


def _queue_routes(web: APIRouter, pages: Pages) -> None:
    """The case queue: filters, a page of cases and the cases by place."""

    @web.get("/cases")
    async def queue(
        request: Request,
        status: Text = "",
        category: Text = "",
        node: Text = "",
        flag: Text = "",
        sort: Text = "deadline",
        page: Annotated[int, Query(ge=1, le=100_000)] = 1,
        closed: bool = False,
    ) -> Response:
        person = await pages.person(request)
        pages.needs_page(person, "cases")
        q = QueueQuery(status, category, node, flag if flag in FLAGS else "",
                       sort if sort in SORTS else "deadline", page)  # fmt: skip
        result = await _queue_of(pages, person, q.params(open_only=not closed))
        now = pages.staff.clock()
        lang = pages.language(request)
        by_place = pages.counts_by_place(result.places, person.scope.code).most_common(20)
        chart = bar_chart(translate(lang, "by-place"), [(pages.place(code, lang), float(n))
                          for code, n in by_place], percent=False)  # fmt: skip
        return pages.render(
            request, "cases.html.j2", person, q=q, result=result, closed=closed, sorts=SORTS,
            chart=chart, nodes=pages.places_within(person.scope.code), flags=FLAGS,
            categories=sorted(result.categories), left=lambda c: time_left(c["next_due"], now),
        )  # fmt: skip


def _case_routes(web: APIRouter, pages: Pages) -> None:
    """One case: its record, its timeline and the actions the person may take."""

    @web.get("/cases/{issue_id}")
    async def case_page(
        request: Request, issue_id: Annotated[str, Path(pattern=ISSUE_ID)], done: str = ""
    ) -> Response:
        person = await pages.person(request)
        pages.needs_page(person, "cases")
        token = pages.staff.token_for(person)
        try:
            case, timeline = await asyncio.gather(
                pages.backends.case(token, issue_id), pages.backends.timeline(token, issue_id)
            )
        except ServiceError as exc:
            await pages.staff.audit(person, "open-case", client_address(request),
                                    f"refused {exc.status}", target=issue_id)  # fmt: skip
            raise pages.service_refusal(exc) from exc
        level = pages.level(person.scope.code) if person.scope.role == "office" else None
        now = pages.staff.clock()
        return pages.render(
            request, "case.html.j2", person, case=case, done=done == "1", timeline=timeline,
            actions=offered(person.scope.role, person.scope.code, level, case, now),
            fields=FIELDS, pressable=lambda a: pressable(a, person.scope.code, case, now),
            departments=pages.departments, left=lambda due: time_left(due, now),
            action_id=lambda: uuid.uuid4().hex, photo=media_id_of(case.get("media_url")),
            picture=pages.picture(case["node_id"], pages.language(request)),
            offices=[n.id for n in pages.tree.ancestors(case["node_id"])]
            if case["node_id"] in pages.tree else [],
        )  # fmt: skip


def _action_routes(web: APIRouter, pages: Pages) -> None:
    """An action on a case, sent to dispatch and written to the audit log."""

    @web.post("/cases/{issue_id}/actions/{action}")
    async def act(
        request: Request,
        issue_id: Annotated[str, Path(pattern=ISSUE_ID)],
        action: Annotated[str, Path(max_length=40)],
    ) -> Response:
        person = await pages.person(request)
        pages.needs_page(person, "cases")
        form = await pages.form(request, person)
        if action not in FIELDS:
            raise Refusal(404, "notfound")
        body = action_body(action, form)
        try:
            await pages.backends.act(pages.staff.token_for(person), issue_id, body)
        except ServiceError as exc:
            await pages.staff.audit(person, f"case:{action}", client_address(request),
                                    f"refused {exc.status}", target=issue_id)  # fmt: skip
            raise pages.service_refusal(exc) from exc
        await pages.staff.audit(person, f"case:{action}", client_address(request), "ok",
                                target=issue_id)  # fmt: skip
        return see_other(f"/cases/{issue_id}?done=1")


def _deadline_routes(web: APIRouter, pages: Pages) -> None:
    """The deadline board: overdue and due-soon duties by holder."""

    @web.get("/deadlines")
    async def deadlines(request: Request) -> Response:
        person = await pages.person(request)
        pages.needs_page(person, "deadlines")
        now = pages.staff.clock()
        board: dict[str, list[tuple[dict[str, Any], dict[str, Any], str]]] = {}
        shown = 0
        for flag in FLAGS:
            found = await _queue_of(pages, person, QueueQuery(flag=flag).params(True, BOARD_ROWS))
            shown = max(shown, found.total)
            for case in found.rows:
                for duty in case["duties"]:
                    if duty_flag(duty["due"], now) == flag:
                        board.setdefault(duty["holder"], []).append((case, duty, flag))
        return pages.render(
            request, "deadlines.html.j2", person, board=dict(sorted(board.items())),
            left=lambda d: time_left(d["due"], now), more=shown > BOARD_ROWS, shown=BOARD_ROWS,
        )  # fmt: skip


def _rate_routes(web: APIRouter, pages: Pages) -> None:
    """The monthly rates: rankings as tables and charts, or as CSV."""

    @web.get("/rates")
    async def rates(request: Request, month: Text = "", fmt: Text = "") -> Response:
        person = await pages.person(request)
        pages.needs_page(person, "rates")
        month = month or pages.staff.clock().strftime("%Y-%m")
        if not MONTH.match(month):
            raise Refusal(400, "invalid", "month: YYYY-MM")
        try:
            data = await pages.backends.rates(pages.staff.token_for(person), month)
        except ServiceError as exc:
            raise pages.service_refusal(exc) from exc
        rankings = {d: [flat(r) for r in rows] for d, rows in data.get("rankings", {}).items()}
        if fmt == "csv":
            return PlainTextResponse(
                rates_csv(rankings), media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="rates-{month}.csv"'},
            )  # fmt: skip
        lang = pages.language(request)
        charts = {
            dim: bar_chart(dim, [(pages.place(str(r["key"]), lang), r.get("resolution") or 0.0)
                                 for r in rows[:15]])
            for dim, rows in rankings.items()
        }  # fmt: skip
        return pages.render(request, "rates.html.j2", person, month=month, rankings=rankings,
                            charts=charts)  # fmt: skip


def flat(row: dict[str, Any]) -> dict[str, Any]:
    """A ranking row with its rates beside the counts (one level, for tables and CSV)."""
    rates = row.get("rates") or {}
    return {k: v for k, v in row.items() if k != "rates"} | rates


def rates_csv(rankings: dict[str, list[dict[str, Any]]]) -> str:
    lines = []
    for dim, rows in rankings.items():
        columns = sorted({k for r in rows for k in r})
        lines.append(",".join(["dimension", *columns]))
        lines += [",".join([dim, *(_cell(r.get(c)) for c in columns)]) for r in rows]
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@"):
        text = "'" + text  # no formulas in a spreadsheet
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text

"""The shapes dispatch's HTTP API answers with (response models, so the OpenAPI document
says what a department's client receives)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from services.dispatch.domain.queue import Row, at, flag_of
from services.dispatch.store import case_from_doc, duty_to_doc


class HolderView(BaseModel):
    kind: Literal["department", "office"]
    code: str = Field(description="Department code or office node id.")


class DutyView(BaseModel):
    """One holder's duty on a case, with its deadlines."""

    holder: HolderView
    status: str = Field(description="summoned, acknowledged, in_progress or resolved.")
    since: datetime
    ack_due: datetime
    resolve_due: datetime
    acked_at: datetime | None = None
    resolved_at: datetime | None = None
    extension_until: datetime | None = Field(None, description="A pending extension request.")
    missed_at: datetime | None = Field(None, description="The first deadline missed.")
    reprimanded: bool = False
    escalations: int = 0


class CaseView(BaseModel):
    issue_id: str
    status: str = Field(
        description="assigned, called_up, whistled, acknowledged, in_progress, resolved, "
        "return_visit, reopened, rejected, closed or merged."
    )
    category: str
    priority: str
    node_id: str
    description: str = ""
    media_url: str | None = Field(None, description="The report's photo, as the reporter gave it.")
    owner: HolderView = Field(description="Who answers for the case as a whole (首接负责).")
    supervisor: str = Field(description="The office watching the case; decides extensions.")
    version: int
    duties: list[DutyView]
    rating: int | None = Field(None, description="The latest rating.")
    ratings: list[int] = Field([], description="Every rating, in order.")
    merged_into: str | None = None


class TasksAnswer(BaseModel):
    principal: HolderView
    cases: list[CaseView]


class ActionAnswer(BaseModel):
    duplicate: bool = Field(description="This action_id was applied before: nothing changed.")
    case: CaseView = Field(description="The case after the action.")


class RateRowView(BaseModel):
    dimension: str
    key: str
    rank: int = Field(description="1 = best.")
    assigned: int
    rated: int = Field(description="Ratings counted (every rating of a case counts).")
    rates: dict[str, float | None]
    score: float


class RatesAnswer(BaseModel):
    month: str
    rankings: dict[str, list[RateRowView]]


class ClockAnswer(BaseModel):
    offset_s: float = Field(description="How far dispatch's clock runs ahead of real time.")
    now: datetime = Field(description="Dispatch's time now.")


def case_view(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "issue_id": doc["_id"],
        "status": doc["status"],
        "category": doc["category"],
        "priority": doc["priority"],
        "node_id": doc["node_id"],
        "description": doc.get("description", ""),
        "media_url": doc.get("media_url"),
        "owner": doc["owner"],
        "supervisor": doc["supervisor"],
        "version": doc["version"],
        "duties": [
            {k: v for k, v in duty_to_doc(d).items() if k not in ("stage",)}
            for d in case_from_doc(doc).duties
        ],
        "rating": doc.get("rating"),
        "ratings": list(doc.get("ratings") or ()),
        "merged_into": doc.get("merged_into"),
    }


class QueueDuty(BaseModel):
    holder: str = Field(description="Department code or office node id.")
    status: str = Field(description="summoned, acknowledged or in_progress.")
    due: datetime = Field(description="The duty's next deadline (acknowledge, then resolve).")


class QueueRowView(BaseModel):
    issue_id: str
    version: int
    status: str
    category: str
    node_id: str
    assigned_at: datetime | None
    next_due: datetime | None = Field(description="The earliest deadline of its active duties.")
    flag: str = Field(description="overdue, due-soon (within 24 h) or empty.")
    duties: list[QueueDuty] = Field(description="The active duties.")


class QueueAnswer(BaseModel):
    principal: HolderView
    total: int = Field(description="Rows the filters chose (all pages).")
    page: int
    pages: int
    size: int
    counts: dict[str, int] = Field(
        description="Cases per status in scope after the place and category filters."
    )
    categories: dict[str, int] = Field(description="Cases per category after the place filter.")
    places: dict[str, int] = Field(
        description="Cases per node id after the place and category filters."
    )
    rows: list[QueueRowView]


class QueueStampAnswer(BaseModel):
    principal: HolderView
    stamp: str = Field(
        description="Changes whenever a case in this scope changes (compare it with the last "
        "one read); it says nothing else."
    )


def queue_row_view(row: Row, now: datetime) -> dict[str, Any]:
    return {
        "issue_id": row.issue_id,
        "version": row.version,
        "status": row.status,
        "category": row.category,
        "node_id": row.node_id,
        "assigned_at": at(row.reported),
        "next_due": at(row.due),
        "flag": flag_of(row.due, now),
        "duties": [{"holder": d.holder, "status": d.status, "due": at(d.due)} for d in row.duties],
    }


class TimelineEntry(BaseModel):
    version: int = Field(description="The case version whose change published the event.")
    at: datetime
    event_type: str = Field(description="The CloudEvents type (docs/asyncapi/dispatch.json).")
    status: str | None = Field(None, description="The case's status after it.")
    actor: str | None = Field(None, description="Who acted (None: a timer).")
    reason: str | None = None
    note: str | None = Field(None, description="A public note, or a task's note.")
    department: str | None = Field(None, description="The department a task went to.")
    task: str | None = Field(None, description="The task's action (new, reminder, ...).")


class TimelineAnswer(BaseModel):
    issue_id: str
    events: list[TimelineEntry]

"""Intake's HTTP adapter: the native reporting API under /api/v1."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Header
from pydantic import BaseModel, ConfigDict, Field

from services.intake.domain import Contact, ReportDraft, ReportRejected
from services.intake.reports import ReportService
from shared.http.errors import ApiError

ERRORS = {
    400: {"description": "The report names an unknown category or place, or breaks a rule"},
    401: {"description": "Missing or wrong reporter token"},
    404: {"description": "No such issue"},
    413: {"description": "Body too large"},
    422: {"description": "A field is missing or malformed"},
    503: {"description": "Kafka or the database is down; nothing was accepted (Retry-After)"},
}


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=100)
    phone: str | None = Field(None, pattern=r"^\+?[0-9 ()-]{5,20}$")
    email: str | None = Field(None, max_length=254, pattern=r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
    language: Literal["zh-CN", "en"] = "zh-CN"


class ReportIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "category": "streetlight-out",
                    "node_id": "sz.tongjiang.niuerqiao.hongqi",
                    "description": "红旗巷路灯不亮 / The lane light at the gate is out",
                    "contact": {"phone": "13800000000", "language": "zh-CN"},
                }
            ]
        },
    )

    category: str = Field(min_length=1, max_length=64, description="Category code")
    node_id: str = Field(min_length=1, max_length=200, description="Place in the tree")
    description: str = Field(min_length=1, max_length=4000)
    contact: ContactIn | None = Field(None, description="Optional; goes to notify alone")


class ReportAccepted(BaseModel):
    issue_id: str
    status: Literal["accepted"] = "accepted"
    resident_ref: str = Field(description="Your pseudonymous reference (your inbox)")
    resident_token: str = Field(description="Bearer token to read your reports and inbox")


class IssueView(BaseModel):
    issue_id: str
    category: str
    node_id: str
    status: str
    owner: dict | None = None
    reported_at: str | None = None
    ack_due: str | None = None
    resolve_due: str | None = None
    history: list[dict] = []


def build_router(reports: ReportService) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["reports"])

    @router.post("/issues", status_code=202, response_model=ReportAccepted, responses=ERRORS)
    async def report_issue(body: ReportIn) -> ReportAccepted:
        """Report a problem or request a service. 202 means the report is durably in Kafka."""
        contact = Contact(**body.contact.model_dump()) if body.contact else None
        draft = ReportDraft(body.category, body.node_id, body.description, contact)
        try:
            issue_id, ref, token = await reports.submit(draft)
        except ReportRejected as exc:
            raise ApiError(400, exc.code, exc.message, exc.field) from exc
        return ReportAccepted(issue_id=issue_id, resident_ref=ref, resident_token=token)

    @router.get("/issues/{issue_id}", response_model=IssueView, responses=ERRORS)
    async def read_issue(issue_id: str, authorization: str = Header("")) -> IssueView:
        """The reporter's view of their own issue (Authorization: Bearer <resident_token>)."""
        doc = await reports.view(issue_id, authorization.removeprefix("Bearer ").strip())
        return IssueView(**doc)

    return router

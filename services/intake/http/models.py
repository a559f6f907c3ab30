"""The native API's request and answer bodies (strict: no coercion, bounded sizes)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Attributes = dict[
    Annotated[str, Field(min_length=1, max_length=64)],
    str | float | list[Annotated[str, Field(max_length=255)]],
]


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # no coercion: "1.5" is no number

    name: str | None = Field(None, max_length=100, pattern=r"^[^<>&]*$")
    phone: str | None = Field(None, pattern=r"^\+?[0-9 ()-]{5,20}$")
    email: str | None = Field(None, max_length=254, pattern=r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
    language: Literal["zh-CN", "en"] = "zh-CN"


class ReportIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,  # no coercion: "1.5" is no latitude, true no number
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
    node_id: str | None = Field(
        None, min_length=1, max_length=200, description="Place in the tree (or address/lat+lon)"
    )
    address: str | None = Field(None, min_length=1, max_length=500)
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    description: str = Field(min_length=1, max_length=4000)
    attributes: Attributes = Field(
        default_factory=dict, max_length=50, description="Answers to the category's questions"
    )
    media_url: str | None = Field(
        None, max_length=2000, pattern=r"^https?://[^\s<>]+$", description="From POST /media"
    )
    contact: ContactIn | None = Field(None, description="Optional; goes to notify alone")
    if_duplicate: Literal["file", "offer"] = Field(
        "file",
        description="offer: when open reports of the category are at the same place, answer "
        "200 with them instead of filing (follow one with POST /issues/{id}/followers)",
    )


class ReportAccepted(BaseModel):
    issue_id: str
    status: Literal["accepted"] = "accepted"
    report_token: str = Field(
        description="Bearer token that reads this report alone (GET /api/v1/issues/{id}). "
        "Your other reports, inbox and preferences take the token of a phone sign-in "
        "(notify's POST /api/v1/residents/signin)"
    )


class Duplicate(BaseModel):
    issue_id: str
    category: str | None = None
    node_id: str | None = None
    status: str
    reported_at: str | None = None
    description: str = ""


class DuplicatesOffered(BaseModel):
    status: Literal["possible_duplicates"] = "possible_duplicates"
    candidates: list[Duplicate]


class FollowIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # no coercion: "1.5" is no number

    contact: ContactIn | None = None


class HistoryEntry(BaseModel):
    status: str
    at: str | None = None
    note: str | None = None


class IssueView(BaseModel):
    issue_id: str
    category: str
    node_id: str
    description: str | None = None
    attributes: dict[str, Any] = {}
    media_url: str | None = None
    status: str
    open311_status: Literal["open", "closed"]
    status_note: str | None = None
    owner: dict | None = None
    reported_at: str | None = None
    updated_at: str | None = None
    ack_due: str | None = None
    resolve_due: str | None = None
    history: list[HistoryEntry] = []


class IssueList(BaseModel):
    issues: list[IssueView]


class MediaStored(BaseModel):
    media_id: str
    media_url: str
    content_type: str
    size: int

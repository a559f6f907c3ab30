"""Departments' actions on their tasks, by Kafka (topic ``dept.actions``, keyed by issue id).

The same actions exist over HTTP. ``action_id`` is chosen by the sender and makes a resend
harmless: dispatch applies each action id once per case.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.events.base import EventPayload, IssueId

ActionType = Literal[
    "acknowledge",
    "progress",
    "resolve",
    "reject",
    "transfer",
    "request-extension",
    "decide-extension",
    "call-up",
    "whistle",
    "merge",
]


class ActionTarget(BaseModel):
    """A department or an office (tree node) that a case is transferred to."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["department", "office"]
    code: str = Field(min_length=1, max_length=200)


class DepartmentActionV1(EventPayload):
    """A department (or office) acts on a case: acknowledge, progress note, resolve with a
    note and photo link, reject or transfer with a reason, ask for an extension."""

    event_type: ClassVar[str] = "linli.dept.action.v1"
    subject_field: ClassVar[str] = "issue_id"

    action_id: str = Field(min_length=8, max_length=100, description="Sender's id; dedupes.")
    issue_id: IssueId
    actor_kind: Literal["department", "office"] = "department"
    actor: str = Field(min_length=1, max_length=200, description="Department code or node id.")
    action: ActionType
    note: str | None = Field(None, max_length=2000, description="Progress or resolution note.")
    photo_url: str | None = Field(None, max_length=1000, pattern=r"^https?://")
    reason: str | None = Field(None, max_length=1000)
    to: ActionTarget | None = Field(None, description="Target of a transfer.")
    until: datetime | None = Field(None, description="Requested new deadline (extension).")
    departments: tuple[str, ...] = Field((), description="Departments to summon (whistle).")
    holder: str | None = Field(None, description="Whose extension is decided.")
    approve: bool | None = None
    into: IssueId | None = Field(None, description="Case this one duplicates (merge).")
    sent_at: datetime

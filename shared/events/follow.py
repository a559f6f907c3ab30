"""A resident follows an existing report instead of filing a duplicate (published by intake on
``issues.reported``, keyed by issue id, so it comes after the report itself). Notify then tells
the follower every later status change of the issue, on the follower's own channels."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import Field

from shared.events.base import EventPayload, IssueId, Language, ResidentRef


class IssueFollowedV1(EventPayload):
    """A resident follows an issue; the event id is derived from (issue, follower), so a
    repeated follow is the same event."""

    event_type: ClassVar[str] = "linli.issues.followed.v1"
    subject_field: ClassVar[str] = "issue_id"

    issue_id: IssueId
    resident_ref: ResidentRef = Field(description="The follower.")
    language: Language | None = Field(
        None, description="The follower's language, for messages sent before notify knows it."
    )
    reporter_ref: ResidentRef | None = Field(
        None,
        description="The issue's reporter (absent for anonymous reports): notify marks the "
        "issue as followed on the reporter's record, which it reads for every status change "
        "anyway, so issues nobody follows cost no extra read.",
    )
    followed_at: datetime

"""Consult's events: public facts on ``consult.events`` (keyed by poll or resolution id) and
per-household notices for notify on ``consult.notices`` (keyed by notice id). A notice names
only its own household's residents and says nothing about any ballot."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import Field

from shared.events.base import EventPayload, Language, NodeId, ResidentRef

PollId = Field(pattern=r"^poll_[0-9a-z_-]{3,60}$", description="Poll id.")
NoticeKind = Literal["poll-opened", "poll-reminder", "poll-results", "resolution-decided"]


class PollOpenedV1(EventPayload):
    """A poll opened: its frozen rules and the size of the roll frozen with it."""

    event_type: ClassVar[str] = "linli.consult.poll-opened.v1"
    subject_field: ClassVar[str] = "poll_id"

    poll_id: str = PollId
    node_id: NodeId
    question: str = Field(max_length=500)
    kind: Literal["single", "multiple", "ranked"]
    options: dict[str, str] = Field(description="Option id -> label, in the published order.")
    roll_size: int = Field(ge=1, description="Households eligible, frozen at opening.")
    quorum_percent: int = Field(ge=0, le=100)
    opened_at: datetime
    closes_at: datetime | None = None


class PollResultsPublishedV1(EventPayload):
    """A poll closed and was counted; ``ballots_digest`` is the SHA-256 of the published
    ballot list, so anyone can recount that very list."""

    event_type: ClassVar[str] = "linli.consult.poll-results.v1"
    subject_field: ClassVar[str] = "poll_id"

    poll_id: str = PollId
    node_id: NodeId
    question: str = Field(max_length=500)
    roll_size: int = Field(ge=0)
    turnout: int = Field(ge=0, description="Households whose ballot counted.")
    quorum_met: bool
    winners: list[str]
    result: dict[str, Any] = Field(description="Totals, IRV rounds and Borda scores.")
    ballots_digest: str
    closed_at: datetime


class ResolutionDecidedV1(EventPayload):
    """A three-party resolution passed or was refused, with every party's reason."""

    event_type: ClassVar[str] = "linli.consult.resolution-decided.v1"
    subject_field: ClassVar[str] = "resolution_id"

    resolution_id: str = Field(pattern=r"^res_[0-9a-z_-]{3,60}$")
    compound: NodeId
    title: str = Field(max_length=200)
    status: Literal["passed", "refused"]
    votes: list[dict[str, str]] = Field(description="party, verdict, reason")
    poll_id: str | None = None
    disbursement_id: str | None = None
    decided_at: datetime


class ConsultNoticeV1(EventPayload):
    """Something to tell one household (each of its residents, in the household's language):
    a poll opened for it, a reminder that it has not voted yet, results, a resolution."""

    event_type: ClassVar[str] = "linli.consult.notice.v1"
    subject_field: ClassVar[str] = "notice_id"

    notice_id: str = Field(min_length=8, max_length=120)
    kind: NoticeKind
    resident_refs: list[ResidentRef] = Field(min_length=1, max_length=20)
    language: Language = "zh-CN"
    subject_id: str = Field(description="The poll or resolution id.")
    title: str = Field(max_length=500, description="The question or the resolution's title.")
    place: str = Field("", max_length=200, description="The node's name in that language.")
    closes_at: datetime | None = None
    summary: str = Field("", max_length=1000, description="Winners or outcome, for results.")


CONSULT_PAYLOADS: tuple[type[EventPayload], ...] = (
    PollOpenedV1,
    PollResultsPublishedV1,
    ResolutionDecidedV1,
    ConsultNoticeV1,
)

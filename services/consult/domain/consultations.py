"""Consultations (院坝会 online): a question put to the residents under a node, with comments
that the opening office moderates. A hidden comment keeps its text and says why and by whom
it was hidden; nothing is ever deleted."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from services.consult.domain.polls import Refused


@dataclass(frozen=True)
class Consultation:
    id: str
    node_id: str
    office: str
    question: str
    description: str
    attachments: tuple[str, ...]
    opens_at: datetime
    closes_at: datetime


@dataclass(frozen=True)
class Comment:
    id: str
    consultation_id: str
    author: str  # the household's roll key; shown to nobody but the moderating office
    text: str
    at: datetime
    hidden: bool = False
    hidden_reason: str | None = None
    hidden_by: str | None = None
    hidden_at: datetime | None = None


def check_window(opens_at: datetime, closes_at: datetime) -> None:
    if closes_at <= opens_at:
        raise Refused("invalid", "closes_at must be after opens_at", "body.closes_at")


def may_comment(consultation: Consultation, now: datetime) -> None:
    if now < consultation.opens_at:
        raise Refused("not_open", "the consultation has not opened yet", "path.consultation_id")
    if now >= consultation.closes_at:
        raise Refused("closed", "the consultation is closed", "path.consultation_id")


def hide(comment: Comment, *, reason: str, by: str, now: datetime) -> Comment:
    """Hide a comment from residents, with the reason shown in its place."""
    if not reason.strip():
        raise Refused("invalid", "hiding needs a reason", "body.reason")
    if comment.hidden:
        raise Refused("already_hidden", "the comment is already hidden", "path.comment_id")
    return replace(comment, hidden=True, hidden_reason=reason, hidden_by=by, hidden_at=now)


def public_view(comment: Comment) -> dict:
    """What residents see: a hidden comment shows only that it was hidden and why."""
    if comment.hidden:
        return {"id": comment.id, "hidden": True, "reason": comment.hidden_reason, "at": comment.at}
    return {"id": comment.id, "hidden": False, "text": comment.text, "at": comment.at}

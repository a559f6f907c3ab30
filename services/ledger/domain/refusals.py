"""What the ledger answers a command: its status, and the refusals with their stable codes.

A refusal is an answer, not an error: the fund's writer records it for the caller (the HTTP
request waiting for it, or a later poll) and goes on. Codes and statuses are stored and
answered as their values."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from services.ledger.domain.funds import Overspend


class AnswerStatus(StrEnum):
    """The status of an answer (a disbursement's answer carries its ``DisbursementStatus``)."""

    CREATED = "created"  # a campaign opened
    POSTED = "posted"  # an entry took its place in the fund's chain
    EXISTS = "exists"  # the same id with the same content was done before
    REFUSED = "refused"
    ACCEPTED = "accepted"  # published; the fund's writer has not answered yet


class RefusalCode(StrEnum):
    CONFLICT = "conflict"  # the same id with other content (the field is named)
    OVERSPEND = "overspend"  # it would leave the fund, or an asset of it, below zero
    ALREADY_REVERSED = "already_reversed"
    NOT_REVERSIBLE = "not_reversible"
    NOT_APPROVED = "not_approved"
    WRONG_STATUS = "wrong_status"
    NOT_A_PARTY = "not_a_party"
    NOT_FOUND = "not_found"
    UNKNOWN_CAMPAIGN = "unknown_campaign"
    UNKNOWN_FUND = "unknown_fund"
    UNKNOWN_PROJECT = "unknown_project"
    NO_SUCH_GOODS = "no_such_goods"
    INVALID = "invalid"
    UNPROCESSABLE = "unprocessable"  # a command the ledger can never process (set aside)


class CommandRefused(Exception):
    """A command the ledger refuses: a stable code, a message for people, the input field it
    is about (``body.<name>``, or None), and figures that explain it (``would_leave_fen``)."""

    def __init__(self, code: str, message: str, field: str | None = None, **extra: Any):
        super().__init__(message)
        self.code, self.message, self.field, self.extra = code, message, field, extra

    def outcome(self) -> dict[str, Any]:
        """The refusal as the recorded answer."""
        return {
            "status": AnswerStatus.REFUSED,
            "code": self.code,
            "field": self.field,
            "message": self.message,
            **self.extra,
        }

    @classmethod
    def of(cls, outcome: dict[str, Any]) -> CommandRefused:
        """A recorded refusal (``outcome``'s status is refused) as the refusal again."""
        fixed = ("status", "code", "field", "message", "_id", "at")
        extra = {k: v for k, v in outcome.items() if k not in fixed}
        code, message = outcome.get("code") or "", outcome.get("message") or ""
        return cls(code, message, outcome.get("field"), **extra)


def overspent(exc: Overspend, field: str = "body.amount_fen") -> CommandRefused:
    """An overspend as a refusal, with what it would leave."""
    return CommandRefused(
        RefusalCode.OVERSPEND, str(exc), field, would_leave_fen=exc.would_leave_fen
    )


def is_refusal(outcome: dict[str, Any]) -> bool:
    return outcome.get("status") == AnswerStatus.REFUSED

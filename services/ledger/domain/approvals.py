"""Disbursements: requested -> approved (N of M parties) -> posted; or rejected, or voided.

By default a compound's three parties decide together (党组织 + 业委会 + 物业), all three
required; each fund may set its own parties and how many of them must approve.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

DEFAULT_PARTIES = ("party-branch", "owners-committee", "property-company")
PARTY_NAMES = {
    "party-branch": "党组织",
    "owners-committee": "业委会",
    "property-company": "物业",
}


class DisbursementStatus(StrEnum):
    """Where a disbursement stands (stored and answered as its value)."""

    REQUESTED = "requested"
    APPROVED = "approved"
    POSTED = "posted"
    REJECTED = "rejected"
    VOIDED = "voided"
    REFUSED = "refused"  # the request itself was refused (an overspend), nothing is held


REQUESTED, APPROVED, POSTED = (
    DisbursementStatus.REQUESTED,
    DisbursementStatus.APPROVED,
    DisbursementStatus.POSTED,
)
REJECTED, VOIDED, REFUSED = (
    DisbursementStatus.REJECTED,
    DisbursementStatus.VOIDED,
    DisbursementStatus.REFUSED,
)
OPEN = (REQUESTED, APPROVED)


class NotAllowed(ValueError):
    def __init__(self, code: str, message: str):
        self.code = code
        super().__init__(message)


@dataclass(frozen=True)
class ApprovalRule:
    parties: tuple[str, ...] = DEFAULT_PARTIES
    required: int = len(DEFAULT_PARTIES)

    def __post_init__(self) -> None:
        if not self.parties or len(set(self.parties)) != len(self.parties):
            raise ValueError("parties must be distinct and at least one")
        if not 1 <= self.required <= len(self.parties):
            raise ValueError(f"required must be between 1 and {len(self.parties)}")


@dataclass(frozen=True)
class Disbursement:
    status: DisbursementStatus
    rule: ApprovalRule
    approvals: tuple[str, ...] = field(default_factory=tuple)  # parties that approved

    def approve(self, party: str) -> Disbursement:
        if party in self.approvals:
            return self  # a replay counts once
        if self.status != REQUESTED:
            raise NotAllowed("wrong_status", f"cannot approve a {self.status} disbursement")
        if party not in self.rule.parties:
            raise NotAllowed("not_a_party", f"{party} does not decide on this fund")
        approvals = (*self.approvals, party)
        status = APPROVED if len(approvals) >= self.rule.required else REQUESTED
        return replace(self, approvals=approvals, status=status)

    def reject(self, party: str) -> Disbursement:
        if self.status not in OPEN:
            raise NotAllowed("wrong_status", f"cannot reject a {self.status} disbursement")
        if party not in self.rule.parties:
            raise NotAllowed("not_a_party", f"{party} does not decide on this fund")
        return replace(self, status=REJECTED)

    def void(self) -> Disbursement:
        if self.status not in OPEN:
            raise NotAllowed("wrong_status", f"cannot void a {self.status} disbursement")
        return replace(self, status=VOIDED)

    def post(self) -> Disbursement:
        if self.status != APPROVED:
            raise NotAllowed("not_approved", f"cannot post a {self.status} disbursement")
        return replace(self, status=POSTED)

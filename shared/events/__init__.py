"""Event contracts: the CloudEvents envelope and versioned payloads."""

from shared.events.base import EventPayload
from shared.events.envelope import Envelope, derived_event_id, utcnow
from shared.events.payloads import (
    DepartmentTaskV1,
    DonationReceivedV1,
    IssueAssignedV1,
    IssueReportedV1,
    Owner,
    ResidentContactV1,
)
from shared.events.registry import ALL_PAYLOADS, PAYLOADS_BY_TYPE

__all__ = [
    "ALL_PAYLOADS",
    "PAYLOADS_BY_TYPE",
    "DepartmentTaskV1",
    "DonationReceivedV1",
    "Envelope",
    "EventPayload",
    "IssueAssignedV1",
    "IssueReportedV1",
    "Owner",
    "ResidentContactV1",
    "derived_event_id",
    "utcnow",
]

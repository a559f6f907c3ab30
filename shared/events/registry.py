"""Every payload type the platform knows, by CloudEvents type. A new payload module adds its
models here (and ``linli docs write`` exports their schemas)."""

from __future__ import annotations

from shared.events import consult, dispatch, follow, ledger, lifecycle, notify, payloads
from shared.events.base import EventPayload

ALL_PAYLOADS: tuple[type[EventPayload], ...] = (
    payloads.IssueReportedV1,
    payloads.IssueAssignedV1,
    payloads.DepartmentTaskV1,
    payloads.ResidentContactV1,
    payloads.DonationReceivedV1,
    *lifecycle.TRANSITIONS,
    lifecycle.IssueRatedV1,
    lifecycle.ReceiptIssuedV1,
    *ledger.COMMANDS,
    *notify.NOTIFY_PAYLOADS,
    dispatch.DepartmentActionV1,
    dispatch.DepartmentActionOutcomeV1,
    follow.IssueFollowedV1,
    *consult.CONSULT_PAYLOADS,
)
PAYLOADS_BY_TYPE: dict[str, type[EventPayload]] = {p.event_type: p for p in ALL_PAYLOADS}

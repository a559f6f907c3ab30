"""The statuses intake speaks of: a case's status as dispatch publishes it (intake names the
ones it acts on), Open311's two, and the answers to a filing. String enums: on the wire and
in the store they are the same strings as before."""

from __future__ import annotations

from enum import StrEnum


class CaseStatus(StrEnum):
    """The case statuses intake itself writes or tests for; lifecycle events may carry others
    (``acknowledged``, ``reopened``…), kept as the strings they are."""

    REPORTED = "reported"
    ASSIGNED = "assigned"
    RESOLVED = "resolved"
    RETURN_VISIT = "return-visit"
    CLOSED = "closed"
    MERGED = "merged"


class Open311Status(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class FilingStatus(StrEnum):
    """What a filing answered: accepted (in Kafka), or possible duplicates offered."""

    ACCEPTED = "accepted"
    POSSIBLE_DUPLICATES = "possible_duplicates"


CLOSED_STATUSES = frozenset(
    {CaseStatus.RESOLVED, CaseStatus.RETURN_VISIT, CaseStatus.CLOSED, CaseStatus.MERGED}
)


def open311_status(status: str | None) -> Open311Status:
    """The platform's case status as Open311's two: open or closed."""
    return Open311Status.CLOSED if status in CLOSED_STATUSES else Open311Status.OPEN

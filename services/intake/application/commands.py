"""The commands intake's use cases take and the results they return (plain data; the HTTP
adapters parse into them and map out of them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.intake.domain import ReportDraft
from services.intake.domain.status import FilingStatus

OPEN311_PLACE_FIELDS = ("address_id", "address_string", "lat", "long")
NATIVE_PLACE_FIELDS = ("body.node_id", "body.address", "body.lat", "body.lon")


@dataclass(frozen=True)
class PlaceAsked:
    """How the client named the place; ``fields`` name the inputs in refusals.
    ``address_from_place``: a report without an address takes the place's."""

    node_id: str | None = None
    address: str | None = None
    lat: float | None = None
    lon: float | None = None
    fields: tuple[str, str, str, str] = OPEN311_PLACE_FIELDS
    address_from_place: bool = False


@dataclass(frozen=True)
class FileReport:
    """File a report. ``draft.node_id`` is filled in from ``place``. With an
    ``idempotency_key``, the same key and ``fingerprint`` (of the body) replay the first
    answer; ``offer_duplicates``: answer with open reports of the category nearby, if any,
    instead of filing."""

    draft: ReportDraft
    place: PlaceAsked
    idempotency_key: str | None = None
    fingerprint: str = ""
    offer_duplicates: bool = False


@dataclass(frozen=True)
class Accepted:
    """The report (or the follow) is in Kafka; the token that opens this report alone.
    Never the resident's own token or reference: whoever typed a phone number is not shown
    to be its owner (that takes a sign-in)."""

    issue_id: str
    report_token: str

    def answer(self) -> dict[str, Any]:
        return {
            "issue_id": self.issue_id,
            "status": FilingStatus.ACCEPTED.value,
            "report_token": self.report_token,
        }


@dataclass(frozen=True)
class Replayed:
    """The answer stored for an Idempotency-Key: ``first`` when this request stored it."""

    status: int
    answer: dict[str, Any]
    first: bool = False


@dataclass(frozen=True)
class DuplicatesFound:
    """Open reports of the category nearby; nothing was filed."""

    candidates: list[dict[str, Any]]


@dataclass(frozen=True)
class RequestFiled:
    """An Open311 request filed: its id, or for a batch service the token to ask it with."""

    service_request_id: str | None = None
    token: str | None = None

"""Open311 GeoReport v2: the service list, definitions, request views and query filters,
as plain data (rendering to JSON or XML is the HTTP adapter's job). No I/O here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from services.intake.domain.attributes import parse_datetime
from services.intake.domain.status import Open311Status, open311_status
from services.intake.domain.text import ReportRejected
from shared.masking import mask_contacts
from shared.reference import Category, Tree

SPEC_URL = "http://wiki.open311.org/GeoReport_v2"
MAX_WINDOW = timedelta(days=90)
DEFAULT_PAGE_SIZE = 1000
MAX_PAGE_SIZE = 1000
MAX_IDS = 100
DATATYPE_DESCRIPTIONS = {
    "string": "A line of text",
    "number": "A decimal number",
    "datetime": "An ISO-8601 date-time with time zone",
    "text": "Free text",
    "singlevaluelist": "One key from the values",
    "multivaluelist": "One or more keys from the values",
}


def iso(value: datetime | None) -> str | None:
    """ISO-8601 with an explicit time zone (UTC), to the second."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="seconds")


def language(locale: str | None) -> str:
    return "en" if locale and locale.lower().startswith("en") else "zh-CN"


def service_entry(category: Category, lang: str) -> dict[str, Any]:
    return {
        "service_code": category.code,
        "service_name": category.name.get(lang),
        "description": category.notice.get(lang) if category.notice else category.name.get(lang),
        "metadata": bool(category.attributes),
        "type": category.open311_type,
        "keywords": ",".join(getattr(category.keywords, "en" if lang == "en" else "zh_CN")),
        "group": category.group,
    }


def service_definition(category: Category, lang: str) -> dict[str, Any]:
    return {
        "service_code": category.code,
        "attributes": [
            {
                "variable": True,
                "code": a.code,
                "datatype": a.datatype,
                "required": a.required,
                "datatype_description": DATATYPE_DESCRIPTIONS[a.datatype],
                "order": order,
                "description": a.description.get(lang),
                "values": [{"key": v.key, "name": v.name.get(lang)} for v in a.values],
            }
            for order, a in enumerate(category.attributes, start=1)
        ],
    }


def request_view(
    doc: Mapping[str, Any], category: Category | None, tree: Tree, lang: str
) -> dict[str, Any]:
    """One service request as the spec names its fields, from the read model document."""
    node = tree.get(doc.get("node_id", ""))
    owner = doc.get("owner") or {}
    location = node.location if node is not None else None
    lat = doc.get("lat", location.lat if location else None)
    lon = doc.get("lon", location.lon if location else None)
    owner_name = owner.get("name_en") if lang == "en" else owner.get("name")
    return {
        "service_request_id": doc["_id"],
        "status": open311_status(doc.get("status")).value,
        "status_notes": doc.get("status_note"),
        "service_name": category.name.get(lang) if category else None,
        "service_code": doc.get("category"),
        "description": mask_contacts(doc.get("description") or "") or None,
        "agency_responsible": owner_name or owner.get("name") or owner.get("code"),
        "service_notice": category.notice.get(lang) if category and category.notice else None,
        "requested_datetime": iso(doc.get("reported_at")),
        "updated_datetime": iso(doc.get("updated_at") or doc.get("reported_at")),
        "expected_datetime": iso(doc.get("resolve_due")),
        "address": doc.get("address") or (node.address if node else None),
        "address_id": doc.get("node_id"),
        "zipcode": None,
        "lat": lat,
        "long": lon,
        "media_url": doc.get("media_url"),
    }


@dataclass(frozen=True)
class RequestQuery:
    """The filters of ``GET requests``: by ids alone, or by codes, window and status."""

    ids: tuple[str, ...] = ()
    service_codes: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    statuses: tuple[str, ...] = ()
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE

    @property
    def skip(self) -> int:
        return (self.page - 1) * self.page_size


def _split(text: str | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(p.strip() for p in (text or "").split(",") if p.strip()))


def _positive(params: Mapping[str, str], name: str, default: int, most: int) -> int:
    text = params.get(name)
    if text is None or text == "":
        return default
    if not text.strip().isdigit() or not 1 <= int(text) <= most:
        raise ReportRejected(name, "out_of_range", f"{name} must be a whole number 1..{most}")
    return int(text)


def parse_request_query(
    params: Mapping[str, str], now: datetime, known_codes: frozenset[str] | set[str]
) -> RequestQuery:
    """The spec's filters with its defaults: the last 90 days when no window is given, a
    window at most 90 days long, at most 1000 requests (``page``/``page_size`` page on)."""
    page = _positive(params, "page", 1, 1_000_000)
    page_size = _positive(params, "page_size", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    ids = _split(params.get("service_request_id"))
    if ids:
        if len(ids) > MAX_IDS:
            raise ReportRejected("service_request_id", "too_many", f"at most {MAX_IDS} ids")
        return RequestQuery(ids=ids, page=page, page_size=page_size)
    codes = _split(params.get("service_code"))
    for code in codes:
        if code not in known_codes:
            raise ReportRejected("service_code", "unknown", f"no service {code!r}")
    statuses = _split(params.get("status"))
    for status in statuses:
        if status not in tuple(Open311Status):
            raise ReportRejected("status", "not_allowed", "status is open or closed")
    start = _date(params, "start_date")
    end = _date(params, "end_date")
    if start is None and end is None:
        end = now
        start = now - MAX_WINDOW
    elif start is None:
        start = end - MAX_WINDOW
    elif end is None:
        end = start + MAX_WINDOW
    if start > end:
        raise ReportRejected("start_date", "after_end", "start_date is after end_date")
    if end - start > MAX_WINDOW:
        raise ReportRejected("end_date", "too_wide", "at most 90 days after start_date")
    return RequestQuery(
        service_codes=codes,
        start=start,
        end=end,
        statuses=statuses,
        page=page,
        page_size=page_size,
    )


def _date(params: Mapping[str, str], name: str) -> datetime | None:
    text = params.get(name)
    if text is None or not text.strip():
        return None
    return parse_datetime(text, name)


def discovery(base_url: str, changeset: datetime, contact: str) -> dict[str, Any]:
    return {
        "changeset": iso(changeset),
        "contact": contact,
        "key_service": "API keys are issued by the platform's operators",
        "endpoints": [
            {
                "specification": SPEC_URL,
                "url": base_url,
                "changeset": iso(changeset),
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }

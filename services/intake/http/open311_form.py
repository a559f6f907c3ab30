"""Open311's wire rules: its error (``{code, description}`` in the asked format), answering
every failure in that format through the platform's error mapping, and a request's form
(``service_code``, place, contact, ``attribute[CODE]``) parsed into the filing command."""

from __future__ import annotations

import re
from collections.abc import Awaitable
from typing import Any

from fastapi.responses import Response
from starlette.datastructures import FormData

from services.intake.application.commands import FileReport, PlaceAsked
from services.intake.domain import Contact, ReportDraft
from services.intake.domain.attributes import open311_field
from services.intake.domain.places import parse_coordinate
from services.intake.http.open311_render import FORMATS, render_errors
from shared.http.errors import ErrorMap
from shared.reference import Category

_ATTRIBUTE = re.compile(r"^attribute\[([^\[\]]{1,64})\](\[\])?$")
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_PHONE = re.compile(r"^\+?[0-9 ()-]{5,20}$")
_URL = re.compile(r"^https?://[^\s<>\"]+$")
_NAME = re.compile(r"^[^<>&\x00-\x1f]{0,50}$")


class Open311Error(Exception):
    def __init__(self, status: int, field: str | None, message: str, headers=None):
        super().__init__(message)
        self.status, self.field, self.message = status, field, message
        self.headers = headers or {}

    def response(self, fmt: str) -> Response:
        description = f"{self.field}: {self.message}" if self.field else self.message
        return render_errors(
            fmt, self.status, [{"code": self.status, "description": description}], self.headers
        )


async def in_format(errors: ErrorMap, fmt: str, work: Awaitable[Response]) -> Response:
    """Run a route's work (once the format is known), answering every refusal and outage (the
    platform's error mapping) in the spec's error format."""
    try:
        if fmt not in FORMATS:
            raise Open311Error(404, "format", "the format is json or xml")
        return await work
    except Open311Error as exc:
        return exc.response(fmt)
    except Exception as exc:
        answer = errors.answer(exc)
        if answer is None:
            raise
        return Open311Error(answer.status, answer.field, answer.message, answer.headers).response(
            fmt
        )
    finally:
        if hasattr(work, "close"):
            work.close()  # not awaited when the format was refused: no warning


def one(form: FormData, name: str, most: int = 2000) -> str | None:
    values = form.getlist(name)
    if not values:
        return None
    if len(values) > 1:
        raise Open311Error(400, name, "given more than once")
    value = values[0]
    if not isinstance(value, str):
        raise Open311Error(400, name, "a text value expected, not a file")
    if len(value) > most:
        raise Open311Error(400, name, f"at most {most} characters")
    return value


def _attributes(form: FormData) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for name in dict.fromkeys(form.keys()):
        if not name.startswith("attribute"):
            continue
        match = _ATTRIBUTE.match(name)
        if match is None:
            raise Open311Error(400, name, "attributes are attribute[CODE] or attribute[CODE][]")
        code, many = match.group(1), bool(match.group(2))
        values = [v for v in form.getlist(name) if isinstance(v, str)]
        if len(values) != len(form.getlist(name)):
            raise Open311Error(400, name, "a text value expected, not a file")
        if code in answers:
            raise Open311Error(400, name, "given both as attribute[CODE] and attribute[CODE][]")
        answers[code] = values if many or len(values) > 1 else values[0]
    return answers


def _contact(form: FormData) -> Contact | None:
    email = one(form, "email", 254)
    phone = one(form, "phone", 32)
    first, last = one(form, "first_name", 50), one(form, "last_name", 50)
    if email and not _EMAIL.match(email):
        raise Open311Error(400, "email", "not an email address")
    if phone and not _PHONE.match(phone):
        raise Open311Error(400, "phone", "not a phone number")
    for field, value in (("first_name", first), ("last_name", last)):
        if value and not _NAME.match(value):
            raise Open311Error(400, field, "no markup or control characters")
    name = " ".join(p for p in (first, last) if p) or None
    if not (email or phone):
        return None
    return Contact(name=name, phone=phone or None, email=email or None)


def service_of(form: FormData, categories: dict[str, Category]) -> Category:
    code = one(form, "service_code", 64)
    if not code:
        raise Open311Error(400, "service_code", "service_code is required")
    category = categories.get(code)
    if category is None:
        raise Open311Error(404, "service_code", f"no service {code!r}")
    return category


def request_command(form: FormData, category: Category) -> FileReport:
    """A request's form as the filing command (the place is resolved by the use case)."""
    lat = parse_coordinate(one(form, "lat", 40), "lat")
    lon = parse_coordinate(one(form, "long", 40), "long")
    address = one(form, "address_string", 500)
    place = PlaceAsked(one(form, "address_id", 200), address, lat, lon, address_from_place=True)
    media_url = one(form, "media_url", 2000)
    if media_url and not _URL.match(media_url):
        raise Open311Error(400, "media_url", "an http(s) URL expected")
    for name in ("device_id", "account_id"):
        one(form, name, 200)
    draft = ReportDraft(
        category.code,
        "",  # placed by the use case
        one(form, "description", 4000) or "",
        _contact(form),
        channel="open311",
        attributes=_attributes(form),
        address=address,
        lat=lat,
        lon=lon,
        media_url=media_url or None,
        description_required=False,
        field_of_attribute=open311_field,
    )
    return FileReport(draft, place)

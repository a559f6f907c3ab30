"""Open311 GeoReport v2 under /open311/v2: discovery, services, requests, tokens; each in
JSON and XML, errors as the spec's list of ``{code, description}``."""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from services.intake.domain import Contact, ReportDraft, ReportRejected
from services.intake.domain import open311 as spec
from services.intake.domain.attributes import open311_field
from services.intake.domain.places import parse_coordinate
from services.intake.idempotency import issue_id_for_key
from services.intake.keys import ApiKeys
from services.intake.limits import RateLimiter
from services.intake.open311_render import FORMATS, render, render_errors
from services.intake.reports import ReportService
from shared.http.errors import ErrorMap

PREFIX = "/open311/v2"
TOKEN_SCOPE = "open311-token"
_ATTRIBUTE = re.compile(r"^attribute\[([^\[\]]{1,64})\](\[\])?$")
_TOKEN = re.compile(r"^tok_[0-9a-f]{32}$")
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_PHONE = re.compile(r"^\+?[0-9 ()-]{5,20}$")
_URL = re.compile(r"^https?://[^\s<>\"]+$")
_NAME = re.compile(r"^[^<>&\x00-\x1f]{0,50}$")

Format = Annotated[str, Path(description="json or xml")]
Locale = Annotated[str | None, Query(description="zh-CN (default) or en")]
Jurisdiction = Annotated[str | None, Query(description="Accepted and ignored: one jurisdiction")]


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


def _responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    content = {
        "application/json": {
            "schema": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["code", "description"],
                    "properties": {
                        "code": {"type": "integer"},
                        "description": {"type": "string"},
                    },
                },
            }
        },
        "text/xml": {"schema": {"type": "string"}},
    }
    ok = {"content": {"application/json": {}, "text/xml": {"schema": {"type": "string"}}}}
    answers: dict[int | str, dict[str, Any]] = {200: {"description": "OK", **ok}}
    for status in statuses:
        answers[status] = {"description": f"Open311 error {status}", "content": content}
    return answers


_POST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["api_key", "service_code"],
                    "properties": {
                        "api_key": {"type": "string"},
                        "service_code": {"type": "string"},
                        "lat": {"type": "string"},
                        "long": {"type": "string"},
                        "address_string": {"type": "string"},
                        "address_id": {"type": "string"},
                        "email": {"type": "string"},
                        "device_id": {"type": "string"},
                        "account_id": {"type": "string"},
                        "first_name": {"type": "string"},
                        "last_name": {"type": "string"},
                        "phone": {"type": "string"},
                        "description": {"type": "string"},
                        "media_url": {"type": "string"},
                    },
                    "additionalProperties": {"type": "string"},
                }
            }
        },
    }
}


def _check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise Open311Error(404, "format", "the format is json or xml")
    return fmt


def _rejected(exc: ReportRejected) -> Open311Error:
    status = 404 if exc.code == "unknown" and exc.field == "service_code" else 400
    return Open311Error(status, exc.field, exc.message)


async def _answer_in_format(
    errors: ErrorMap, fmt: str, work: Callable[[], Awaitable[Response]]
) -> Response:
    """Run a route body, turning every refusal (and an outage: the platform's error mapping)
    into the spec's error format."""
    try:
        return await work()
    except Open311Error as exc:
        return exc.response(fmt)
    except ReportRejected as exc:
        return _rejected(exc).response(fmt)
    except Exception as exc:
        answer = errors.answer(exc)
        if answer is None:
            raise
        return Open311Error(answer.status, answer.field, answer.message, answer.headers).response(
            fmt
        )


def _one(form: FormData, name: str, most: int = 2000) -> str | None:
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
    email = _one(form, "email", 254)
    phone = _one(form, "phone", 32)
    first, last = _one(form, "first_name", 50), _one(form, "last_name", 50)
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


def build_open311_router(
    reports: ReportService,
    keys: ApiKeys,
    limiter: RateLimiter,
    started: datetime,
    errors: ErrorMap,
) -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["open311"])
    _answer = partial(_answer_in_format, errors)
    categories = reports.categories
    codes = frozenset(categories)

    @router.get("/discovery.{fmt}", responses=_responses(404))
    async def discovery(request: Request, fmt: Format) -> Response:
        """Service discovery: where this endpoint is, what it speaks."""

        async def work() -> Response:
            base = str(request.base_url).rstrip("/") + PREFIX + "/"
            body = spec.discovery(base, started, "Linli intake operators")
            return render(_check_format(fmt), "discovery", body)

        return await _answer(fmt, work)

    @router.get("/services.{fmt}", responses=_responses(404))
    async def services(fmt: Format, locale: Locale = None, jurisdiction_id: Jurisdiction = None):
        """Every service (category) that can be requested."""

        async def work() -> Response:
            lang = spec.language(locale)
            body = [spec.service_entry(c, lang) for c in categories.values()]
            return render(_check_format(fmt), "services", body)

        return await _answer(fmt, work)

    @router.get("/services/{service_code}.{fmt}", responses=_responses(404))
    async def service_definition(
        service_code: str, fmt: Format, locale: Locale = None, jurisdiction_id: Jurisdiction = None
    ) -> Response:
        """The extra attributes a service asks for."""

        async def work() -> Response:
            _check_format(fmt)
            category = categories.get(service_code)
            if category is None:
                raise Open311Error(404, "service_code", f"no service {service_code!r}")
            body = spec.service_definition(category, spec.language(locale))
            return render(fmt, "service_definition", body)

        return await _answer(fmt, work)

    @router.post(
        "/requests.{fmt}", responses=_responses(400, 403, 404, 429, 503), openapi_extra=_POST_BODY
    )
    async def post_request(request: Request, fmt: Format) -> Response:
        """Create a service request (form-encoded, with an API key)."""

        async def work() -> Response:
            _check_format(fmt)
            try:
                form = await request.form(max_files=0, max_fields=200)
            except Exception as exc:  # malformed or unsupported body
                raise Open311Error(400, "body", "a form-encoded body is expected") from exc
            api_key = _one(form, "api_key", 200) or request.query_params.get("api_key")
            if not api_key:
                raise Open311Error(403, "api_key", "an API key is required")
            if await keys.name_of(api_key) is None:
                raise Open311Error(403, "api_key", "unknown API key")
            client = request.client.host if request.client else "unknown"
            limiter.check(client, api_key)
            return await _create(form, fmt)

        return await _answer(fmt, work)

    async def _create(form: FormData, fmt: str) -> Response:
        code = _one(form, "service_code", 64)
        if not code:
            raise Open311Error(400, "service_code", "service_code is required")
        category = categories.get(code)
        if category is None:
            raise Open311Error(404, "service_code", f"no service {code!r}")
        lat = parse_coordinate(_one(form, "lat", 40), "lat")
        lon = parse_coordinate(_one(form, "long", 40), "long")
        address = _one(form, "address_string", 500)
        place = reports.places.resolve(
            node_id=_one(form, "address_id", 200), address=address, lat=lat, lon=lon
        )
        media_url = _one(form, "media_url", 2000)
        if media_url and not _URL.match(media_url):
            raise Open311Error(400, "media_url", "an http(s) URL expected")
        for name in ("device_id", "account_id"):
            _one(form, name, 200)
        draft = ReportDraft(
            category.code,
            place.node.id,
            _one(form, "description", 4000) or "",
            _contact(form),
            channel="open311",
            attributes=_attributes(form),
            address=address or place.address,
            lat=lat,
            lon=lon,
            media_url=media_url or None,
            description_required=False,
            field_of_attribute=open311_field,
        )
        notice = category.notice.get("zh-CN") if category.notice else None
        if category.open311_type == "batch":
            token = "tok_" + secrets.token_hex(16)
            await reports.submit(draft, issue_id_for_key(token, TOKEN_SCOPE), readable=True)
            answer: dict[str, Any] = {"token": token}
        else:
            submitted = await reports.submit(draft, readable=True)
            answer = {"service_request_id": submitted.issue_id}
        answer.update(service_notice=notice, account_id=None)
        return render(fmt, "service_requests", [answer], status=201)

    @router.get("/requests.{fmt}", responses=_responses(400, 404, 503))
    async def get_requests(
        request: Request,
        fmt: Format,
        service_request_id: Annotated[str | None, Query(description="Comma separated")] = None,
        service_code: Annotated[str | None, Query(description="Comma separated")] = None,
        start_date: Annotated[str | None, Query(description="ISO-8601")] = None,
        end_date: Annotated[str | None, Query(description="ISO-8601, ≤90 days after")] = None,
        status: Annotated[str | None, Query(description="open, closed or both")] = None,
        page: Annotated[str | None, Query(description="1-based page")] = None,
        page_size: Annotated[str | None, Query(description="At most 1000")] = None,
        locale: Locale = None,
        jurisdiction_id: Jurisdiction = None,
    ) -> Response:
        """Service requests: by ids, or by service, window (default the last 90 days) and
        status; newest first, at most 1000 (page/page_size page on)."""

        async def work() -> Response:
            _check_format(fmt)
            params = {k: v for k, v in request.query_params.items()}
            query = spec.parse_request_query(params, reports.clock(), codes)
            docs = await reports.store.query(query)
            lang = spec.language(locale)
            body = [
                spec.request_view(d, categories.get(d.get("category")), reports.places.tree, lang)
                for d in docs
            ]
            return render(fmt, "service_requests", body)

        return await _answer(fmt, work)

    @router.get("/requests/{service_request_id}.{fmt}", responses=_responses(404, 503))
    async def get_request(
        service_request_id: str,
        fmt: Format,
        locale: Locale = None,
        jurisdiction_id: Jurisdiction = None,
    ) -> Response:
        """One service request (a list of one, as the spec says)."""

        async def work() -> Response:
            _check_format(fmt)
            doc = await reports.store.get(service_request_id)
            if doc is None:
                raise Open311Error(404, "service_request_id", f"no request {service_request_id!r}")
            view = spec.request_view(
                doc,
                categories.get(doc.get("category")),
                reports.places.tree,
                spec.language(locale),
            )
            return render(fmt, "service_requests", [view])

        return await _answer(fmt, work)

    @router.get("/tokens/{token}.{fmt}", responses=_responses(404, 503))
    async def get_token(token: str, fmt: Format, jurisdiction_id: Jurisdiction = None):
        """The request id behind a batch service's token, once it is recorded."""

        async def work() -> Response:
            _check_format(fmt)
            doc = None
            if _TOKEN.match(token):
                doc = await reports.store.get(issue_id_for_key(token, TOKEN_SCOPE))
            if doc is None:
                raise Open311Error(404, "token", f"no request for token {token!r} (yet)")
            return render(
                fmt, "service_requests", [{"service_request_id": doc["_id"], "token": token}]
            )

        return await _answer(fmt, work)

    return router

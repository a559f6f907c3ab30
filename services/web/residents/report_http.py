"""Reporting a problem: choose the kind (grouped, searchable), answer its questions, say
where (a compound's or building's QR code links here with ``?place=``), add a photo and a
phone; before filing, open reports of the same kind nearby are offered to follow instead.
Everything posts and redirects: no script needed.

Intake answers a filing (or a follow) with a token that opens that report alone; the browser
keeps it in an HttpOnly cookie scoped to the report's own page, which shows the report through
it (a signed-in resident's own token opens it too)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from starlette.datastructures import FormData, UploadFile

from services.web.backends import ServiceError
from services.web.domain.report_form import check, form_field, grouped, place_of
from services.web.pages import see_other
from services.web.residents.common import ResidentRefusal, Residents
from services.web.residents.sessions import Resident
from shared.reference import Level

ISSUE_ID = r"^[A-Za-z0-9_.:-]{1,80}$"
REPORT_COOKIE = "linli_report"  # the report token, sent only to /report/done/<its id>
REPORT_COOKIE_AGE = 90 * 24 * 3600


FormPage = Callable[..., Response]


def router(residents: Residents) -> APIRouter:
    web = APIRouter(include_in_schema=False)
    form_page = _form_page(residents)
    _form_routes(web, residents, form_page)
    _send_routes(web, residents, form_page)
    _after_routes(web, residents)
    return web


def _form_page(residents: Residents) -> FormPage:
    """The report form's page renderer: the place pickers and the photo limits filled in."""
    tree = residents.tree
    compounds = tree.at_level(Level.COMPOUND)

    def form_page(
        request: Request, resident: Resident | None, category: Any, status: int = 200,
        **context: Any,
    ) -> Response:  # fmt: skip
        compound = context.get("values", {}).get("compound", [""])[0]
        return residents.render(
            request, "report.html.j2", resident, status, cat=category, compounds=compounds,
            tree=tree, buildings=tree.children(compound) if compound in tree else (),
            photo_mb=residents.photo_max // (1024 * 1024), photo_max=residents.photo_max,
            errors=context.pop("errors", {}), **context,
        )  # fmt: skip

    return form_page


def _form_routes(web: APIRouter, residents: Residents, form_page: FormPage) -> None:
    """Choosing the kind of problem, then its form (the place prefilled from a QR code)."""
    reference, tree = residents.reference, residents.tree

    @web.get("/report")
    async def report_form(
        request: Request,
        category: Annotated[str, Query(max_length=64)] = "",
        place: Annotated[str, Query(max_length=200)] = "",
        q: Annotated[str, Query(max_length=60)] = "",
    ) -> Response:
        resident = await residents.resident(request)
        chosen = reference.categories.get(category)
        if chosen is None:
            lang = residents.pages.language(request)
            return residents.render(request, "choose.html.j2", resident, q=q, deep_place=place,
                                    groups=grouped(reference, lang, q))  # fmt: skip
        compound, building = place_of(tree, place)
        values = {"compound": [compound], "building": [building]}
        return form_page(request, resident, chosen, values=values, key=secrets.token_hex(16))


def _send_routes(web: APIRouter, residents: Residents, form_page: FormPage) -> None:
    """Sending the form: checked here, the photo stored, then filed with intake."""
    reference = residents.reference

    @web.post("/report")
    async def send_report(request: Request) -> Response:
        resident = await residents.resident(request)
        form = await residents.form(request, resident, files=1)
        values = _values(form)
        values["lang"] = [residents.pages.language(request)]
        checked = check(reference, values, resident.phone if resident else None)
        chosen = reference.categories.get(values.get("category", [""])[0])
        if chosen is None:
            raise ResidentRefusal(400, "r.choice")
        key = str(form.get("key", ""))[:64] or secrets.token_hex(16)
        again = {"values": values, "key": key}
        media_url = str(form.get("media_url", ""))[:2000]
        photo = form.get("photo")
        if isinstance(photo, UploadFile) and photo.filename and not checked.errors:
            media_url, error = await _upload(residents, photo)
            if error:
                checked.errors["photo"] = error
        if checked.errors:
            return form_page(request, resident, chosen, 400, errors=checked.errors,
                             media_url=media_url, **again)  # fmt: skip
        body = checked.body
        if media_url:
            body["media_url"] = media_url
        if form.get("anyway") == "1":
            body["if_duplicate"] = "file"
        try:
            answer = await residents.backends.call(
                "intake", "POST", "/api/v1/issues", json=body,
                headers={"Idempotency-Key": f"web-{key}"},
            )  # fmt: skip
        except ServiceError as exc:
            if exc.status in (503, 429):
                raise residents.refusal(exc) from exc
            errors = {form_field(_field(exc)): "r.refused"}
            return form_page(request, resident, chosen, 400, errors=errors, detail=exc.message,
                             media_url=media_url, **again)  # fmt: skip
        if answer.get("status") == "possible_duplicates":
            return form_page(request, resident, chosen, dupes=answer["candidates"],
                             media_url=media_url, **again)  # fmt: skip
        return _to_report(residents, answer)


def _after_routes(web: APIRouter, residents: Residents) -> None:
    """Following an open report instead of filing another, and the page after either."""

    @web.post("/report/follow/{issue_id}")
    async def follow(request: Request, issue_id: str) -> Response:
        resident = await residents.resident(request)
        form = await residents.form(request, resident, files=1)
        phone = resident.phone if resident else str(form.get("phone", "")).strip()[:20]
        body = {"contact": {"phone": phone, "language": residents.pages.language(request)}}
        try:
            answer = await residents.backends.call(
                "intake", "POST", f"/api/v1/issues/{issue_id}/followers", json=body
            )
        except ServiceError as exc:
            raise residents.refusal(exc) from exc
        return _to_report(residents, answer, "?followed=1")

    @web.get("/report/done/{issue_id}")
    async def done(
        request: Request, issue_id: Annotated[str, Path(pattern=ISSUE_ID)], followed: int = 0
    ) -> Response:
        resident = await residents.resident(request)
        token = request.cookies.get(REPORT_COOKIE, "")[:100] or (resident and resident.token)
        issue = await _report(residents, issue_id, token) if token else None
        return residents.render(request, "done.html.j2", resident, issue_id=issue_id,
                                followed=bool(followed), issue=issue)  # fmt: skip


def _to_report(residents: Residents, answer: dict[str, Any], query: str = "") -> Response:
    """To the report's page, its token in a cookie that only that page receives."""
    path = f"/report/done/{answer['issue_id']}"
    response = see_other(path + query)
    response.set_cookie(
        REPORT_COOKIE, answer["report_token"], max_age=REPORT_COOKIE_AGE, path=path,
        httponly=True, samesite="strict", secure=residents.pages.secure_cookie,
    )  # fmt: skip
    return response


async def _report(residents: Residents, issue_id: str, token: str) -> dict[str, Any] | None:
    """The report as its token shows it; None while intake has not recorded it yet (or the
    token is not this report's: the same 404)."""
    try:
        return await residents.backends.call("intake", "GET", f"/api/v1/issues/{issue_id}", token)
    except ServiceError as exc:
        if exc.status == 404:
            return None
        raise residents.refusal(exc) from exc


def _values(form: FormData) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for name, value in form.multi_items():
        if isinstance(value, str) and name not in ("csrf", "key", "media_url", "anyway"):
            values.setdefault(name, []).append(value)
    return values


def _field(exc: ServiceError) -> str | None:
    return exc.message.rpartition("(")[2].rstrip(")") if exc.message.endswith(")") else None


async def _upload(residents: Residents, photo: UploadFile) -> tuple[str, str]:
    """(media URL, "") once intake stored the photo; ("", word key) when refused."""
    data = await photo.read(residents.photo_max + 1)
    if len(data) > residents.photo_max:
        return "", "r.photo.big"
    try:
        stored = await residents.backends.call(
            "intake", "POST", "/api/v1/media",
            files={"file": (photo.filename or "photo", data,
                            photo.content_type or "application/octet-stream")},
        )  # fmt: skip
    except ServiceError as exc:
        if exc.status == 503:
            raise residents.refusal(exc) from exc
        return "", "r.photo.big" if exc.status == 413 else "r.photo.type"
    return stored["media_url"], ""

"""The operators' pages: area broadcasts (compose, preview, send, progress, cancel) through
notify with the operator's token, and the overview of the services' readiness."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from services.web.backends import ServiceError
from services.web.operations import kafka_overview
from services.web.pages import Pages, client_address, see_other
from shared.logging import get_logger
from shared.settings import SERVICE_PORTS

log = get_logger("linli.web.overview")
BROADCAST_ID = r"^[A-Za-z0-9_-]{4,80}$"


def router(pages: Pages) -> APIRouter:
    web = APIRouter(include_in_schema=False)
    _compose_routes(web, pages)
    _send_routes(web, pages)
    _overview_routes(web, pages)
    return web


def broadcast_body(form: Any) -> dict[str, Any]:
    """Notify's broadcast request from the posted form (English only with both its fields)."""
    body: dict[str, Any] = {
        "node_id": form.get("node_id", ""),
        "urgent": form.get("urgent") == "yes",
        "zh-CN": {"title": form.get("title_zh", ""), "body": form.get("body_zh", "")},
    }
    if form.get("title_en") and form.get("body_en"):
        body["en"] = {"title": form["title_en"], "body": form["body_en"]}
    return body


def _compose_routes(web: APIRouter, pages: Pages) -> None:
    """The compose page, with a sent broadcast's progress when one is shown."""

    @web.get("/broadcasts")
    async def compose(request: Request, shown: str = "") -> Response:
        person = await pages.person(request)
        pages.needs_page(person, "broadcasts")
        broadcast = None
        if shown:
            try:
                broadcast = await pages.backends.notify(
                    pages.staff.token_for(person), f"/broadcasts/{shown[:80]}"
                )
            except ServiceError as exc:
                raise pages.service_refusal(exc) from exc
        nodes = [pages.tree.get(person.scope.code),
                 *pages.tree.descendants(person.scope.code)]  # fmt: skip
        return pages.render(request, "broadcasts.html.j2", person, broadcast=broadcast,
                            nodes=[n for n in nodes if n is not None][:400],
                            new_id=lambda: uuid.uuid4().hex)  # fmt: skip


def _send_routes(web: APIRouter, pages: Pages) -> None:
    """Sending a broadcast through notify and cancelling one, both audited."""

    @web.post("/broadcasts")
    async def send(request: Request) -> Response:
        person = await pages.person(request)
        pages.needs_page(person, "broadcasts")
        form = await pages.form(request, person)
        body = broadcast_body(form)
        try:
            made = await pages.backends.notify(pages.staff.token_for(person), "/broadcasts", body)
        except ServiceError as exc:
            await pages.staff.audit(person, "broadcast", client_address(request), "refused")
            raise pages.service_refusal(exc) from exc
        await pages.staff.audit(person, "broadcast", client_address(request), "ok",
                                target=made["id"])  # fmt: skip
        return see_other(f"/broadcasts?shown={made['id']}")

    @web.post("/broadcasts/{broadcast_id}/cancel")
    async def cancel(
        request: Request, broadcast_id: Annotated[str, Path(pattern=BROADCAST_ID)]
    ) -> Response:
        person = await pages.person(request)
        pages.needs_page(person, "broadcasts")
        await pages.form(request, person)
        try:
            await pages.backends.notify(
                pages.staff.token_for(person), f"/broadcasts/{broadcast_id}/cancel", {}
            )
        except ServiceError as exc:
            raise pages.service_refusal(exc) from exc
        await pages.staff.audit(person, "broadcast:cancel", client_address(request), "ok",
                                target=broadcast_id)  # fmt: skip
        return see_other(f"/broadcasts?shown={broadcast_id}")


def _overview_routes(web: APIRouter, pages: Pages) -> None:
    """The services' readiness with Kafka's lags and dead letters."""

    @web.get("/overview")
    async def overview(request: Request) -> Response:
        person = await pages.person(request)
        pages.needs_page(person, "overview")
        services = {s: await pages.backends.readiness(s) for s in SERVICE_PORTS if s != "web"}
        try:
            lags, dead = await kafka_overview(pages.kafka_bootstrap, pages.topic_prefix)
        except Exception as exc:  # Kafka down: the page says so instead of failing
            log.warning("kafka_overview_failed", error=repr(exc))
            lags, dead = None, None
        return pages.render(request, "overview.html.j2", person, services=services, lags=lags,
                            dead=dead)  # fmt: skip

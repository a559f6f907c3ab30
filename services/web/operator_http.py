"""The operators' pages: area broadcasts (compose, preview, send, progress, cancel) through
notify with the operator's token, and the overview of the services' readiness."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from services.web.backends import ServiceError
from services.web.operations import kafka_overview
from services.web.pages import Pages, Refusal, client_address, see_other
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
    """The compose page with the reach of the chosen area, and a sent broadcast's progress
    when one is shown (the page refreshes itself while it is being sent)."""

    @web.get("/broadcasts")
    async def compose(
        request: Request,
        shown: Annotated[str, Query(max_length=200)] = "",
        node_id: Annotated[str, Query(max_length=200)] = "",
    ) -> Response:
        person = await pages.person(request)
        pages.needs_page(person, "broadcasts")
        if shown and not re.match(BROADCAST_ID, shown):  # it becomes part of notify's path
            raise Refusal(404, "notfound")
        token = pages.staff.token_for(person)
        broadcast = None
        try:
            if shown:
                broadcast = await pages.backends.notify(token, f"/broadcasts/{shown}")
            area = node_id or (broadcast["node_id"] if broadcast else person.scope.code)
            reach = await _reach(pages, token, area)
        except ServiceError as exc:
            raise pages.service_refusal(exc) from exc
        nodes = [pages.tree.get(person.scope.code),
                 *pages.tree.descendants(person.scope.code)]  # fmt: skip
        return pages.render(request, "broadcasts.html.j2", person, broadcast=broadcast,
                            nodes=[n for n in nodes if n is not None][:400], reach=reach,
                            channels=progress_channels(broadcast),
                            new_id=lambda: uuid.uuid4().hex)  # fmt: skip


async def _reach(pages: Pages, token: str, node_id: str) -> dict[str, Any]:
    """Notify's count of the residents below the node (its time parsed for the page)."""
    reach = await pages.backends.reach(token, node_id)
    if reach.get("counted_at"):
        reach["counted_at"] = datetime.fromisoformat(reach["counted_at"])
    return reach


def progress_channels(broadcast: dict[str, Any] | None) -> list[str]:
    """The channels a broadcast's progress names, in a fixed order (the inbox first)."""
    if broadcast is None:
        return []
    progress = broadcast["progress"]
    named = {c for part in ("sent", "queued", "failed") for c in progress.get(part) or {}}
    return sorted(named, key=lambda c: (c != "inbox", c))


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

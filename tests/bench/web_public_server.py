"""The web service as its own OS process for the public pages' bench:
``python -m tests.bench.web_public_server --port P``. The same app as ``python -m
services.web`` plus, for the bench alone (so no deployment can serve them):

- ``Server-Timing: app;dur=<ms>`` on every answer: the time from the request's arrival to
  its answer's start, i.e. the server's own time (the page is rendered whole before that);
- ``/bench/baseline/fund``: the fund page's template rendered with fixed data (the cache's
  view taken once, at the first call), no cache read: the baseline of ``/public/fund``;
- ``/bench/baseline/report``: the residents' report form (``GET /report``) rendered with fixed
  data by ``report_form_baseline`` (404 when the web has no residents' pages)."""

from __future__ import annotations

import argparse
import time
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response

from services.web.app import create_app
from services.web.public.figures import bars, yuan
from shared.logging import configure_logging
from shared.service import settle_collector
from shared.settings import Settings

REPORT_PLACE = "sz.tongjiang.niuerqiao.hongqi.b01"


class ServerTiming:
    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()

        async def timed(message):
            if message["type"] == "http.response.start":
                ms = (time.perf_counter() - began) * 1000
                headers = [
                    *message.get("headers", []),
                    (b"server-timing", f"app;dur={ms:.3f}".encode()),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, timed)


def report_form_baseline(app: FastAPI, request: Request) -> Response | None:
    """The report form's template with fixed data (the form for a building of 红旗小区, as
    ``tests/bench/test_residents_bench.py`` renders it): the baseline of ``GET /report``.
    None while the web has no residents' pages."""
    residents = getattr(app.state, "residents", None)
    if residents is None:
        return None
    compound = REPORT_PLACE.rsplit(".", 1)[0]
    return residents.render(
        request, "report.html.j2", None, cat=residents.reference.categories["streetlight-out"],
        compounds=residents.tree.at_level("compound"), tree=None,
        buildings=residents.tree.children(compound), photo_mb=2, photo_max=2 << 20, errors={},
        key="k" * 32, values={"compound": [compound], "building": [REPORT_PLACE]},
    )  # fmt: skip


def add_baselines(app: FastAPI) -> None:
    pages, cache = app.state.pages, app.state.public.fund
    fixed: dict[str, Any] = {}

    @app.get("/bench/baseline/fund", include_in_schema=False)
    async def fund_baseline(request: Request) -> Response:
        if "view" not in fixed:
            fixed["view"] = await cache.view()
        return pages.render(request, "public/fund.html.j2", None, view=fixed["view"], bars=bars,
                            yuan=yuan)  # fmt: skip

    @app.get("/bench/baseline/report", include_in_schema=False)
    async def report_baseline(request: Request) -> Response:
        return report_form_baseline(app, request) or Response(status_code=404)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format, "web")
    app = create_app(settings)
    add_baselines(app)
    app.add_middleware(ServerTiming)
    settle_collector(app)  # as shared.service.serve does
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()

"""Intake as its own OS process for the benchmark: ``python -m tests.bench.intake_server``.

Settings come from the ``LINLI_*`` environment like ``python -m services.intake``, served by
uvicorn the same way (its fastest event loop and HTTP parser when installed). The bench-only
flag ``--no-publish`` makes the publisher's hand-over to Kafka answer at once: the same app,
the same validation, envelopes and answers, no publishing; the baseline the figures are
compared with. It lives here, not in the settings, so no deployment can switch publishing off."""

from __future__ import annotations

import argparse
import asyncio

import uvicorn

from services.intake.app import create_app
from shared.logging import configure_logging
from shared.service import settle_collector
from shared.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--no-publish", action="store_true", help="baseline: skip Kafka")
    args = parser.parse_args()
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format, "intake")
    app = create_app(settings)
    if args.no_publish:
        publisher = app.state.parts.publisher

        async def acknowledged_at_once(topic, body, key, headers):
            ack = asyncio.get_running_loop().create_future()
            ack.set_result(None)
            return ack

        # everything up to the producer still runs (envelope, JSON, headers); only the
        # hand-over to Kafka and the wait for its ack are skipped
        publisher._transmit = acknowledged_at_once
    settle_collector(app)  # as shared.service.serve does
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()

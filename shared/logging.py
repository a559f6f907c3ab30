"""Structured logging: key-value events, as JSON for collectors or coloured for people.

Secrets never reach a log: values of keys that look secret are masked by a processor.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import structlog

_SECRET_HINTS = ("secret", "password", "token", "api_key", "authorization", "phone", "email")


def _mask_secrets(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    for key in event:
        if any(hint in key.lower() for hint in _SECRET_HINTS):
            event[key] = "***"
    return event


class RepeatDamper(logging.Filter):
    """Lets a library's repeated message through once per ``window_s`` seconds, with the count
    of the ones held back since. aiokafka logs an error many times a second while a fresh
    broker creates its group-coordination topic; one line per window says the same."""

    def __init__(self, prefixes: tuple[str, ...], window_s: float = 30.0) -> None:
        super().__init__()
        self._prefixes = prefixes
        self._window_s = window_s
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self._prefixes):
            return True
        key = (record.name, record.levelno, str(record.msg))
        now = time.monotonic()
        last, held = self._seen.get(key, (float("-inf"), 0))
        if now - last < self._window_s:
            self._seen[key] = (last, held + 1)
            return False
        if len(self._seen) > 1000:
            self._seen.clear()
        self._seen[key] = (now, 0)
        if held:
            record.msg = f"{record.msg} ({held} more like this in the last {self._window_s:.0f} s)"
        return True


def configure_logging(level: str = "INFO", fmt: str = "console", service: str = "linli") -> None:
    """Route structlog and the standard library through one renderer."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _mask_secrets,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RepeatDamper(("aiokafka",)))
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
            foreign_pre_chain=shared,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "pymongo", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    structlog.contextvars.bind_contextvars(service=service)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)

"""Which failures of a consumer's handler are worth trying again, and how long a record has
been tried again.

A failure is transient when trying the same record later may succeed: Kafka or the network
away, a timeout, MongoDB unreachable or without a primary, another writer holding what the
record needs. Everything else (a validation error, a refusal raised instead of answered, a
bug) fails the same way every time, so the consumer sends the record to the dead-letter topic
at once instead of spinning on it. A handler that waits on purpose for something to change
raises ``TransientError`` (or a subclass) to say so.

``StuckWatch`` keeps, per subscription, when each piece of work now being retried first
failed; the gauge ``linli_consumer_stuck_seconds{service,topic}`` reads the oldest at scrape
time (0 when nothing is being retried), so an alert can fire when one record blocks its
partition for longer than a limit (see the README).
"""

from __future__ import annotations

import time
from collections.abc import Hashable

from aiokafka.errors import KafkaError, MessageSizeTooLargeError
from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    ExecutionTimeout,
    OperationFailure,
    PyMongoError,
)

from shared.kafka.publisher import PublishFailed
from shared.metrics import CONSUMER_STUCK

STUCK_AFTER_S = 60.0  # retried this long: the retries are logged as errors, not warnings

# MongoDB server error codes that mean "the server is away or changing", as drivers retry them
_TRANSIENT_MONGO_CODES = frozenset(
    {6, 7, 50, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436}
)
_TRANSIENT_LABELS = ("RetryableWriteError", "TransientTransactionError")


class TransientError(Exception):
    """This record may succeed later: the consumer backs off and tries it again."""


def is_transient(exc: BaseException) -> bool:
    """Whether trying the same record again later may succeed (see the module's docstring)."""
    if isinstance(exc, BaseExceptionGroup):
        return any(is_transient(inner) for inner in exc.exceptions)
    if isinstance(exc, TransientError | TimeoutError | ConnectionError):
        return True
    if isinstance(exc, KafkaError):
        return not isinstance(exc, MessageSizeTooLargeError)
    if isinstance(exc, ConnectionFailure | ExecutionTimeout):
        return True
    if isinstance(exc, PyMongoError) and any(map(exc.has_error_label, _TRANSIENT_LABELS)):
        return True
    if isinstance(exc, BulkWriteError):  # each write's own error, or the replication's
        details = exc.details or {}
        errors = details.get("writeErrors") or []
        return bool(details.get("writeConcernErrors")) or (
            bool(errors) and all(e.get("code") in _TRANSIENT_MONGO_CODES for e in errors)
        )
    if isinstance(exc, OperationFailure):
        return exc.code in _TRANSIENT_MONGO_CODES
    return isinstance(exc, PublishFailed)  # Kafka did not acknowledge in time


def failure_text(exc: BaseException) -> str:
    """The error a dead letter carries: its type and message."""
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"


class StuckWatch:
    """When each piece of work of one subscription now being retried first failed."""

    def __init__(self, service: str, topic: str):
        self._since: dict[Hashable, float] = {}
        CONSUMER_STUCK.labels(service, topic).set_function(self.seconds)

    def failed(self, key: Hashable) -> float:
        """Record a failure of ``key``'s work; how long it has been failing."""
        now = time.monotonic()
        return now - self._since.setdefault(key, now)

    def done(self, key: Hashable) -> None:
        self._since.pop(key, None)

    def seconds(self) -> float:
        """How long the oldest work still being retried has been failing (0: none)."""
        if not self._since:
            return 0.0
        return time.monotonic() - min(self._since.values())

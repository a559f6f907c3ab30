"""Prometheus metrics shared by the services (each service adds its own beside these)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_PUBLISHED = Counter(
    "linli_events_published_total", "Events acknowledged by Kafka.", ["service", "topic"]
)
EVENTS_CONSUMED = Counter(
    "linli_events_consumed_total",
    "Events consumed, by outcome (ok, duplicate, skipped, dead_letter, retry).",
    ["service", "topic", "outcome"],
)
EVENT_SECONDS = Histogram(
    "linli_event_processing_seconds",
    "Time to process one consumed event.",
    ["service", "topic"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
HTTP_REQUESTS = Counter(
    "linli_http_requests_total", "HTTP requests answered.", ["service", "route", "status"]
)
HTTP_SECONDS = Histogram(
    "linli_http_request_seconds",
    "HTTP request latency.",
    ["service", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
DEPENDENCY_UP = Gauge(
    "linli_dependency_up", "1 when a dependency answers its probe.", ["service", "dependency"]
)
CONSUMER_STUCK = Gauge(
    "linli_consumer_stuck_seconds",
    "How long the oldest record a consumer is retrying (a transient failure) has been failing; "
    "0 when none. It blocks the records after it on its partition: alert when it stays high.",
    ["service", "topic"],
)

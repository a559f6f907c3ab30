"""A service's AsyncAPI 3.0 document, made from what its code declares: every payload model
its publisher declares on each topic, every model its consumers handle. A topic that carries
several event types lists each as a message of its channel (the operation sends or receives
one of them), with the payload's JSON Schema and the CloudEvents headers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shared.events import EventPayload

Models = Sequence[type[EventPayload]]
RAW = "RawRecord"  # a dead-letter topic's record: the original bytes and why it was refused

_CLOUDEVENTS_HEADERS = {
    "type": "object",
    "description": "CloudEvents 1.0 attributes in Kafka headers (binary content mode)",
    "required": ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "content-type"],
    "properties": {
        "ce_specversion": {"const": "1.0"},
        "ce_id": {"type": "string", "description": "Unique per event; consumers dedupe on it"},
        "ce_source": {"type": "string", "description": "/linli/<service>"},
        "ce_type": {"type": "string", "description": "The message's name, e.g. linli.…v1"},
        "ce_time": {"type": "string", "format": "date-time"},
        "ce_subject": {"type": "string", "description": "What it is about, e.g. the issue id"},
        "content-type": {"const": "application/json"},
    },
}
_DEAD_LETTER_HEADERS = {
    "type": "object",
    "description": "The original record's headers, plus where it came from and why it failed",
    "required": ["dlq_error", "dlq_consumer", "dlq_source_topic", "dlq_source_offset"],
    "properties": {
        name: {"type": "string"}
        for name in (
            "dlq_error",
            "dlq_consumer",
            "dlq_source_topic",
            "dlq_source_partition",
            "dlq_source_offset",
            "dlq_time",
        )
    },
}


def _message(model: type[EventPayload] | None) -> dict[str, Any]:
    if model is None:
        return {
            "name": RAW,
            "title": "Refused record",
            "summary": "A record a consumer could not process, as it was, with the reason",
            "headers": {"$ref": "#/components/schemas/DeadLetterHeaders"},
            "payload": {"type": "string", "format": "binary"},
        }
    doc = (model.__doc__ or "").strip()
    return {
        "name": model.event_type,
        "title": model.__name__,
        "summary": doc.split("\n\n")[0].replace("\n", " "),
        "contentType": "application/json",
        "headers": {"$ref": "#/components/schemas/CloudEventsHeaders"},
        "payload": {"$ref": f"#/components/schemas/{model.__name__}"},
    }


def _schemas(models: set[type[EventPayload]]) -> dict[str, Any]:
    schemas: dict[str, Any] = {
        "CloudEventsHeaders": _CLOUDEVENTS_HEADERS,
        "DeadLetterHeaders": _DEAD_LETTER_HEADERS,
    }
    for model in sorted(models, key=lambda m: m.__name__):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return schemas


def _operations(
    service: str, action: str, topics: Mapping[str, tuple[Models, str]]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(channels, operations) for the topics a service sends to or receives from."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic, (models, description) in sorted(topics.items()):
        names = [m.__name__ for m in models] or [RAW]
        channels[topic] = {
            "address": topic,
            "messages": {n: {"$ref": f"#/components/messages/{n}"} for n in names},
            "bindings": {"kafka": {"topic": topic, "bindingVersion": "0.5.0"}},
        }
        verb = "publishes to" if action == "send" else "consumes"
        operations[f"{action}.{topic}"] = {
            "action": action,
            "title": description or f"{service} {verb} {topic}",
            "channel": {"$ref": f"#/channels/{topic}"},
            "messages": [{"$ref": f"#/channels/{topic}/messages/{n}"} for n in names],
        }
    return channels, operations


def asyncapi_document(
    service: str,
    *,
    kafka_bootstrap: str,
    sends: Mapping[str, tuple[Models, str]],
    receives: Mapping[str, tuple[Models, str]],
) -> dict[str, Any]:
    """``sends``/``receives``: topic -> (payload models, description); no models: raw."""
    channels, operations = _operations(service, "send", sends)
    more_channels, more_operations = _operations(service, "receive", receives)
    for topic, channel in more_channels.items():  # a topic both sent and received: one channel
        channels.setdefault(topic, channel)["messages"].update(channel["messages"])
    operations.update(more_operations)
    models = {m for models, _ in (*sends.values(), *receives.values()) for m in models}
    messages = {m.__name__: _message(m) for m in models}
    if any(not models for models, _ in (*sends.values(), *receives.values())):
        messages[RAW] = _message(None)
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": f"Linli {service}",
            "version": "1.0.0",
            "description": f"Kafka topics that {service} publishes and consumes. Every "
            "record is JSON with CloudEvents headers; a topic that carries several event "
            "types lists each as a message (ce_type tells them apart).",
        },
        "defaultContentType": "application/json",
        "servers": {
            "development": {
                "host": kafka_bootstrap,
                "protocol": "kafka",
                "description": f"Linli {service} service",
            }
        },
        "channels": dict(sorted(channels.items())),
        "operations": operations,
        "components": {"messages": dict(sorted(messages.items())), "schemas": _schemas(models)},
    }

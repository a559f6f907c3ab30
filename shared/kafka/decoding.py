"""A consumed record read back into an envelope and a validated payload, or refused."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pydantic import ValidationError

from shared.events import PAYLOADS_BY_TYPE, Envelope, EventPayload

Item = tuple[Envelope, EventPayload]


class PoisonMessage(Exception):
    """This event can never be processed: send it to the dead-letter topic and go on."""


def decode(
    record_headers: Iterable[tuple[str, bytes]] | None,
    body: bytes | None,
    accepts: Mapping[str, type[EventPayload]],
) -> Item | None:
    """Envelope and payload of a record; None for a known platform event this consumer does
    not handle; ``PoisonMessage`` for anything malformed or unknown (a header that is not
    UTF-8 included)."""
    try:
        envelope = Envelope.from_headers(dict(record_headers or ()))
    except ValueError as exc:
        raise PoisonMessage(f"bad CloudEvents headers: {exc}") from exc
    model = accepts.get(envelope.type)
    if model is None:
        if envelope.type in PAYLOADS_BY_TYPE:
            return None
        raise PoisonMessage(f"unknown event type {envelope.type!r}")
    try:
        return envelope, model.model_validate_json(body or b"")
    except ValidationError as exc:
        errors = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise PoisonMessage(f"invalid {envelope.type} payload: {errors}") from exc

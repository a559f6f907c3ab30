"""What intake's use cases refuse, beside ``ReportRejected`` (an invalid report): plain
exceptions naming the field at fault. ``services/intake/http/refusals.py`` maps each to its
HTTP answer through the platform's one error mapping."""

from __future__ import annotations


class Refusal(Exception):
    """A use case said no; ``field`` names the input at fault (None: not one field)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message, self.field = message, field


class NotFound(Refusal):
    """No such thing, or not this caller's (ids are not probed: the same answer)."""


class BadToken(Refusal):
    """The resident token is missing or does not match the reference."""


class IdempotencyConflict(Refusal):
    """The Idempotency-Key was already used with a different body."""


class PlaceMissing(Refusal):
    """The native API was given no place at all (no node id, address or point)."""

"""Notify's domain refusals: what a use case says instead of a result. Each names the input
it is about (``field``) and a stable ``code``; the HTTP adapter maps each kind to an answer
(services/notify/http.py, through the platform's one error map)."""

from __future__ import annotations


class NotifyRefusal(Exception):
    def __init__(self, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


class NotSignedIn(NotifyRefusal):
    """No credential, or one that does not open what it was shown for."""

    def __init__(self, message: str):
        super().__init__("unauthorized", message, "authorization")


class NotFound(NotifyRefusal):
    """The thing asked about does not exist (or is not the asker's to see)."""


class OutsideArea(NotifyRefusal):
    """An operator reached beyond the node their key is scoped to."""


class AlreadyDone(NotifyRefusal):
    """The thing is past the point where this could happen (rated, finished)."""


class Incomplete(NotifyRefusal):
    """A command lacks something its other fields require."""

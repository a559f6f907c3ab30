"""Errors raised by the local-server manager."""

from __future__ import annotations


class LocalInfraError(RuntimeError):
    """A local server could not be installed, started, reached or stopped; the message says why."""

"""The one way services open their database (PyMongo's native async API)."""

from __future__ import annotations

from pymongo import AsyncMongoClient


def make_client(url: str, *, app_name: str, timeout_ms: int = 3000) -> AsyncMongoClient:
    """A client that fails fast when the server is away, so requests can answer 503."""
    return AsyncMongoClient(
        url,
        appname=app_name,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        socketTimeoutMS=max(timeout_ms * 3, 10000),
        retryWrites=False,  # FerretDB v1 has no sessions; single writes are atomic anyway
        tz_aware=True,
    )

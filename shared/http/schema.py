"""OpenAPI descriptions of the platform's error format, so documented errors match what
``shared.http.errors`` really sends (FastAPI's default 422 schema does not)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

REASONS = {
    400: "The request breaks a rule (unknown category or place, bad value); the field is named",
    401: "Missing or wrong token",
    403: "Missing or unknown key",
    404: "No such resource",
    409: "Conflicts with an earlier request",
    413: "Body too large",
    422: "A field is missing or malformed",
    429: "Too many requests; see Retry-After",
    503: "Kafka or the database is down; nothing was accepted (Retry-After)",
}


class ErrorItem(BaseModel):
    field: str | None = Field(description="body.<path>, query.<name>, header.<name> or null")
    code: str = Field(description="Stable code for programs")
    message: str = Field(description="Explanation for people")


class ErrorBody(BaseModel):
    errors: list[ErrorItem] = Field(min_length=1)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status with the error body's schema."""
    return {status: {"model": ErrorBody, "description": REASONS[status]} for status in statuses}

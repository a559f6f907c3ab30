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
    410: "Gone (e.g. an expired link)",
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


def declare_error_answers(document: dict[str, Any]) -> dict[str, Any]:
    """Declare on every operation of the JSON APIs (``/api/``) the errors the platform can
    answer there, in the error format: 503 everywhere (Kafka or the database down), 422 where
    there is input, 400 where there is a body (unparsable), 401 where an ``Authorization``
    header is read, 404 where the path names a resource. A route's own declarations (409, 403,
    …) stay; any without a body schema gets the error format's. FastAPI's default 422 schema
    (not what is sent) is replaced."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    body = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(body.pop("$defs", {}))
    schemas["ErrorBody"] = body
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    for path, operations in document.get("paths", {}).items():
        if not path.startswith("/api/"):
            continue
        for operation in operations.values():
            answers = operation.setdefault("responses", {})
            for status in sorted(_error_statuses(path, operation)):
                answer = answers.setdefault(str(status), {"description": REASONS[status]})
                if status == 422 or "content" not in answer:
                    answer["content"] = content
    return document


def _error_statuses(path: str, operation: dict[str, Any]) -> set[int]:
    params = operation.get("parameters", [])
    statuses = {503} | {int(s) for s in operation.get("responses", {}) if s[0] in "45"}
    if params or "requestBody" in operation:
        statuses.add(422)
    if "requestBody" in operation:  # a body that is not JSON (or not a form) at all
        statuses.add(400)
    if any(p["in"] == "header" and p["name"].lower() == "authorization" for p in params):
        statuses.add(401)
    if "{" in path:
        statuses.add(404)
    return statuses

"""How Open311's routes are described in the OpenAPI document: every answer in JSON or XML,
errors as the spec's list of ``{code, description}``, the form-encoded body of a request."""

from __future__ import annotations

from typing import Any


def open311_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    content = {
        "application/json": {
            "schema": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["code", "description"],
                    "properties": {
                        "code": {"type": "integer"},
                        "description": {"type": "string"},
                    },
                },
            }
        },
        "text/xml": {"schema": {"type": "string"}},
    }
    ok = {"content": {"application/json": {}, "text/xml": {"schema": {"type": "string"}}}}
    answers: dict[int | str, dict[str, Any]] = {200: {"description": "OK", **ok}}
    for status in statuses:
        answers[status] = {"description": f"Open311 error {status}", "content": content}
    return answers


POST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["api_key", "service_code"],
                    "properties": {
                        "api_key": {"type": "string"},
                        "service_code": {"type": "string"},
                        "lat": {"type": "string"},
                        "long": {"type": "string"},
                        "address_string": {"type": "string"},
                        "address_id": {"type": "string"},
                        "email": {"type": "string"},
                        "device_id": {"type": "string"},
                        "account_id": {"type": "string"},
                        "first_name": {"type": "string"},
                        "last_name": {"type": "string"},
                        "phone": {"type": "string"},
                        "description": {"type": "string"},
                        "media_url": {"type": "string"},
                    },
                    "additionalProperties": {"type": "string"},
                }
            }
        },
    }
}

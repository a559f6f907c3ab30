"""Every JSON API operation declares, in the error format, the errors it can answer: 503 (Kafka
or the database down) everywhere, 422 where there is input, 400 where there is a body, 401
where a key or token is read, 404 where the path names a resource. (The fuzz tests check the
other way round: no answer the document does not declare.)"""

from __future__ import annotations

import importlib

import pytest

from shared.settings import Settings
from shared.topics import SERVICES

pytestmark = pytest.mark.unit
ERROR_BODY = {"$ref": "#/components/schemas/ErrorBody"}


@pytest.fixture(scope="module", params=SERVICES)
def document(request) -> dict:
    app = importlib.import_module(f"services.{request.param}.app").create_app(
        Settings.model_construct()
    )
    return app.openapi()


def _expected(path: str, operation: dict) -> set[str]:
    params = operation.get("parameters", [])
    expected = {"503"}
    if params or "requestBody" in operation:
        expected.add("422")
    if "requestBody" in operation:
        expected.add("400")
    if any(p["in"] == "header" and p["name"].lower() == "authorization" for p in params):
        expected.add("401")
    if "{" in path:
        expected.add("404")
    return expected


def test_every_operation_declares_the_errors_it_can_answer(document):
    missing = {}
    for path, operations in document["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, operation in operations.items():
            lacking = _expected(path, operation) - set(operation["responses"])
            if lacking:
                missing[f"{method.upper()} {path}"] = sorted(lacking)
    assert missing == {}


def test_every_declared_error_has_the_error_format(document):
    wrong = []
    for path, operations in document["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, operation in operations.items():
            for status, answer in operation["responses"].items():
                schema = answer.get("content", {}).get("application/json", {}).get("schema")
                if status[0] in "45" and schema != ERROR_BODY:
                    wrong.append(f"{method.upper()} {path} {status}")
    assert wrong == []
    assert "HTTPValidationError" not in document["components"]["schemas"]

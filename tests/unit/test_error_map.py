"""The platform's one error mapping: outages answer 503 with Retry-After, a service's domain
refusals answer as it registered them, anything else is a 500 without a stack trace, and a
405 lists every method of the path."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from pymongo.errors import ServerSelectionTimeoutError

from shared.http.errors import ApiError, ErrorMap, install_error_handlers
from shared.kafka.publisher import PublishFailed

pytestmark = pytest.mark.unit


class NoSuchThing(LookupError):
    pass


def _app() -> FastAPI:
    errors = ErrorMap(retry_after_s=7)
    errors.refuse(NoSuchThing, lambda exc: ApiError(404, "not_found", str(exc), "path.thing"))
    app = FastAPI()
    install_error_handlers(app, errors)
    failures = {
        "kafka": PublishFailed("no ack"),
        "database": ServerSelectionTimeoutError("no server"),
        "refused": NoSuchThing("no thing 7"),
        "bug": ZeroDivisionError("oops"),
    }

    @app.get("/fail/{what}")
    async def fail(what: str) -> None:
        raise failures[what]

    @app.post("/fail/{what}")
    async def fail_too(what: str) -> None:
        raise failures[what]

    return app


@pytest.fixture
async def client():
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as c:
        yield c


@pytest.mark.parametrize(("what", "name"), [("kafka", "Kafka"), ("database", "the database")])
async def test_outages_answer_503_with_retry_after(client, what, name):
    response = await client.get(f"/fail/{what}")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "7"
    [error] = response.json()["errors"]
    assert error["code"] == "unavailable" and error["message"].startswith(name)


async def test_a_registered_refusal_answers_as_registered(client):
    response = await client.get("/fail/refused")
    assert response.status_code == 404
    assert response.json() == {
        "errors": [{"field": "path.thing", "code": "not_found", "message": "no thing 7"}]
    }


async def test_anything_else_is_a_500_without_details(client):
    response = await client.get("/fail/bug")
    assert response.status_code == 500
    assert "oops" not in response.text and response.json()["errors"][0]["code"] == "internal"


async def test_a_405_lists_every_method_of_the_path(client):
    response = await client.put("/fail/kafka")
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, POST"

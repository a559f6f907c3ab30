"""The platform's HTTP plumbing without servers: body limits (declared and chunked) and the
error format for unknown routes. The app's lifespan is not run, so nothing is connected."""

import httpx
import pytest

from services.intake.app import create_app
from shared.settings import Settings

pytestmark = pytest.mark.unit


@pytest.fixture
def client():
    app = create_app(Settings(max_body_bytes=2048))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app")


async def test_a_declared_oversized_body_is_refused_before_it_is_read(client):
    response = await client.post("/api/v1/issues", content=b"x" * 5000)
    assert response.status_code == 413
    assert response.json()["errors"][0]["code"] == "too_large"


async def test_a_chunked_oversized_body_is_refused_too(client):
    async def chunks():
        for _ in range(10):
            yield b"x" * 1000

    response = await client.post("/api/v1/issues", content=chunks())
    assert response.status_code == 413


async def test_unknown_routes_use_the_error_format(client):
    response = await client.get("/nope")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "not_found"

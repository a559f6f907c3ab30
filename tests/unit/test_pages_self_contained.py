"""Every page the platform serves (each service's /docs, /redoc and its OAuth2 redirect page,
the ledger's printable disclosure) loads only from the service itself: no CDN, no font
service, no icon from another site, so it works on an intranet. Each file a page refers to
is served."""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from urllib.parse import urljoin

import pytest
from fastapi.testclient import TestClient

from services.ledger.domain.disclosure import disclosure_html
from shared.settings import Settings
from shared.topics import SERVICES

pytestmark = pytest.mark.unit

PAGES = ("/docs", "/redoc", "/docs/oauth2-redirect")
# src= / href= / CSS url() / @import, and any absolute or protocol-relative URL in code
REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']?([^"'\s>]+)|url\(\s*["']?([^"')]+)""", re.I)
OTHER_ORIGIN = re.compile(r"""(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}""", re.I)


def references(html: str) -> Iterator[str]:
    for match in REFERENCE.finditer(html):
        yield match.group(1) or match.group(2)


def foreign(html: str) -> list[str]:
    """Anything in a page that would make the browser reach another origin."""
    found = [ref for ref in references(html) if not ref.startswith(("data:", "#"))]
    found = [ref for ref in found if OTHER_ORIGIN.match(ref)]
    # scripts build URLs too (e.g. a fonts stylesheet, a validator badge): none may appear
    found += [m.group(0) for m in OTHER_ORIGIN.finditer(html) if "w3.org" not in m.group(0)]
    return found


@pytest.fixture(scope="module", params=SERVICES)
def client(request) -> TestClient:
    module = importlib.import_module(f"services.{request.param}.app")
    app = module.create_app(Settings.model_construct())
    return TestClient(app)  # no lifespan: these pages need neither Kafka nor the database


@pytest.mark.parametrize("page", PAGES)
def test_api_docs_pages_load_only_from_the_service(client, page):
    response = client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert foreign(response.text) == []
    for ref in references(response.text):
        if ref.startswith(("data:", "#")):
            continue
        asset = client.get(urljoin(page, ref))
        assert asset.status_code == 200, ref
        if ref.endswith(".css"):
            assert foreign(asset.text) == [], ref


def test_the_ledgers_printable_disclosure_loads_nothing_from_elsewhere():
    html = disclosure_html("2026Q4", [], [("2026-10-01", "d1", "donation", "100.00")])
    assert "<html" in html
    assert foreign(html) == []
    assert [ref for ref in references(html) if not ref.startswith(("data:", "#"))] == []

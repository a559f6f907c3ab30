"""docs/ holds the generated contracts; this fails when the code changed and they did not
(run `make docs`)."""

import json

import pytest

from services.ops.cli.docs import rendered_documents
from shared.settings import REPO_ROOT

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def documents() -> dict[str, str]:
    return rendered_documents()


def test_generated_documents_are_committed_and_current(documents):
    stale = [
        rel
        for rel, text in documents.items()
        if not (REPO_ROOT / "docs" / rel).exists()
        or (REPO_ROOT / "docs" / rel).read_text(encoding="utf-8") != text
    ]
    assert stale == [], "run `make docs` and commit the result"


def test_asyncapi_documents_each_department_topic_with_its_payload(documents):
    spec = json.loads(documents["asyncapi/dispatch.json"])
    channels = json.dumps(spec["channels"])
    assert "dept.urban-mgmt.tasks" in channels
    assert "DepartmentTaskV1" in json.dumps(spec["components"])

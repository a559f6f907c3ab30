"""The AsyncAPI documents list every event type each service publishes and consumes: the
payload models its publisher declares per topic (publishing an undeclared one fails) and the
models its consumers' handlers take, compared with the generated documents."""

from __future__ import annotations

import json
import re

import pytest

from services.ops.cli.docs import rendered_documents
from shared.events import IssueReportedV1
from shared.events.follow import IssueFollowedV1
from shared.events.lifecycle import TRANSITIONS
from shared.kafka.broker import make_broker
from shared.kafka.publisher import EventPublisher
from shared.settings import Settings
from shared.topics import ISSUES_LIFECYCLE, ISSUES_REPORTED, SERVICES

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def documents() -> dict[str, dict]:
    docs = rendered_documents()
    return {s: json.loads(docs[f"asyncapi/{s}.json"]) for s in SERVICES}


@pytest.fixture(scope="module")
def parts() -> dict[str, object]:
    import importlib

    settings = Settings.model_construct()
    return {
        s: importlib.import_module(f"services.{s}.app").create_app(settings).state.parts
        for s in SERVICES
    }


def _listed(doc: dict, action: str, topic: str) -> set[str]:
    """The ce_type of every message the document's operation on ``topic`` names."""
    operation = doc["operations"][f"{action}.{topic}"]
    assert operation["channel"] == {"$ref": f"#/channels/{topic}"}
    names = [ref["$ref"].rsplit("/", 1)[-1] for ref in operation["messages"]]
    channel = doc["channels"][topic]["messages"]
    assert set(names) <= set(channel)
    return {doc["components"]["messages"][n]["name"] for n in names}


@pytest.mark.parametrize("service", SERVICES)
def test_every_published_event_type_is_in_the_document(documents, parts, service):
    publisher = parts[service].publisher
    doc = documents[service]
    for topic, models in publisher.declared.items():
        expected = {m.event_type for m in models} or {"RawRecord"}
        assert _listed(doc, "send", topic) == expected, topic
    assert {k for k in doc["operations"] if k.startswith("send.")} == {
        f"send.{t}" for t in publisher.declared
    }


@pytest.mark.parametrize("service", SERVICES)
def test_every_consumed_event_type_is_in_the_document(documents, parts, service):
    doc = documents[service]
    for topic, (models, _) in parts[service].consumed.items():
        assert _listed(doc, "receive", topic) == {m.event_type for m in models}, topic
    assert {k for k in doc["operations"] if k.startswith("receive.")} == {
        f"receive.{t}" for t in parts[service].consumed
    }


def test_topics_with_several_event_types_list_each(documents):
    assert _listed(documents["intake"], "send", ISSUES_REPORTED) == {
        IssueReportedV1.event_type,
        IssueFollowedV1.event_type,
    }
    assert _listed(documents["notify"], "receive", ISSUES_REPORTED) >= {IssueFollowedV1.event_type}
    lifecycle = _listed(documents["dispatch"], "send", ISSUES_LIFECYCLE)
    assert {t.event_type for t in TRANSITIONS} <= lifecycle
    schema = documents["intake"]["components"]["schemas"]["IssueFollowedV1"]
    assert "issue_id" in schema["properties"]


async def test_publishing_an_undeclared_event_type_on_a_topic_fails():
    publisher = EventPublisher(
        make_broker(Settings.model_construct(), "test"), service="test", prefix="", timeout_s=1
    )
    publisher.declare(ISSUES_REPORTED, IssueReportedV1)
    follow = IssueFollowedV1.model_validate(
        {
            "issue_id": "iss_0000000000",
            "resident_ref": "res_" + "a" * 24,
            "followed_at": "2026-01-01T00:00:00Z",
        }
    )
    with pytest.raises(KeyError, match=re.escape(IssueFollowedV1.event_type)):
        await publisher.publish(ISSUES_REPORTED, follow, key="iss_0000000000")

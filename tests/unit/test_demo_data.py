"""Every record `make up` loads is valid against the current catalogue, tree, routing and the
APIs' own models: a catalogue or API change that would break the demo fails here, fast."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.dispatch.domain.routing import route
from services.dispatch.rule_files import load_routing
from services.intake.domain import Contact, ReportDraft, accept_report
from services.intake.http import ReportIn
from services.ledger.application.requests import CampaignIn, DonationIn
from services.ops.cli.demo import DEMO_CAMPAIGN, DEMO_DONATIONS, DEMO_REPORTS, _report_key
from shared.reference import load_reference
from shared.settings import Settings

pytestmark = pytest.mark.unit
REF = load_reference()
NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def demo_department(body: dict) -> str:
    """The department whose task topic the demo report lands on (dispatch's own rule)."""
    category = REF.categories[body["category"]]
    node = REF.tree[body["node_id"]]
    path = tuple((n.id, str(n.level)) for n in (*REF.tree.ancestors(node.id), node))
    routing = load_routing(Settings().config_dir / "routing.yaml", set(REF.departments))
    owner = route(
        category=category.code,
        group=category.group,
        category_department=category.department,
        node_path=path,
        table=routing,
    )
    assert owner.owner_kind == "department", f"{body['category']} goes to an office"
    return owner.owner_code


@pytest.mark.parametrize("body", DEMO_REPORTS, ids=[r["category"] for r in DEMO_REPORTS])
def test_each_demo_report_is_accepted_by_intake_and_routed_to_a_department(body):
    report = ReportIn.model_validate(body)
    accepted = accept_report(
        ReportDraft(
            report.category,
            report.node_id or "",
            report.description,
            Contact(**report.contact.model_dump()) if report.contact else None,
            attributes=dict(report.attributes),
        ),
        categories=REF.categories,
        node_exists=lambda node_id: REF.tree.get(node_id) is not None,
        issue_id="iss_demo000000",
        now=NOW,
        secret="demo-test",
    )
    assert accepted.issue.category == body["category"]
    assert demo_department(body) in REF.departments


def test_demo_reports_have_their_own_idempotency_keys():
    keys = {_report_key(i) for i in range(len(DEMO_REPORTS))}
    assert len(keys) == len(DEMO_REPORTS)


def test_the_demo_campaign_and_donations_are_valid_ledger_requests():
    campaign = CampaignIn.model_validate(DEMO_CAMPAIGN)
    ids = set()
    for body in DEMO_DONATIONS:
        donation = DonationIn.model_validate(body)
        assert donation.campaign == campaign.id
        ids.add(donation.donation_id)
    assert len(ids) == len(DEMO_DONATIONS)

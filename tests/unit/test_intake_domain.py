from datetime import UTC, datetime

import pytest

from services.intake.domain import Contact, ReportDraft, ReportRejected, accept_report
from shared.reference import load_reference

pytestmark = pytest.mark.unit
NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
REF = load_reference()
NODE = "sz.tongjiang.niuerqiao.hongqi"


def _accept(draft: ReportDraft):
    return accept_report(
        draft,
        categories=REF.categories,
        node_exists=lambda n: REF.tree.get(n) is not None,
        issue_id="iss_01m8h6bjanjx7bs34n5w27mahg",
        now=NOW,
        secret="k",
    )


def test_a_report_becomes_an_event_and_a_separate_contact():
    accepted = _accept(
        ReportDraft("streetlight-out", NODE, " 路灯不亮 ", Contact(phone="138 0000 0000"))
    )
    assert accepted.issue.description == "路灯不亮"
    assert accepted.issue.resident_ref == accepted.contact.resident_ref
    assert "phone" not in accepted.issue.model_dump()
    assert accepted.contact.phone == "138 0000 0000"


def test_the_same_phone_always_maps_to_the_same_reference():
    a = _accept(ReportDraft("streetlight-out", NODE, "x", Contact(phone="+86 138-0000-0000")))
    b = _accept(ReportDraft("streetlight-out", NODE, "y", Contact(phone="13800000000")))
    assert a.issue.resident_ref == b.issue.resident_ref


@pytest.mark.parametrize(
    ("draft", "field", "code"),
    [
        (ReportDraft("no-such", NODE, "x", None), "body.category", "unknown"),
        (ReportDraft("streetlight-out", "sz.nowhere", "x", None), "body.node_id", "unknown"),
        (ReportDraft("streetlight-out", NODE, "   ", None), "body.description", "empty"),
        (ReportDraft("streetlight-out", NODE, "a" * 4001, None), "body.description", "too_long"),
        (
            ReportDraft("streetlight-out", NODE, "<script>x</script>", None),
            "body.description",
            "markup",
        ),
    ],
)
def test_bad_reports_name_the_field(draft, field, code):
    with pytest.raises(ReportRejected) as err:
        _accept(draft)
    assert (err.value.field, err.value.code) == (field, code)


def test_categories_that_forbid_anonymity_need_a_contact():
    code = next(c.code for c in REF.categories.values() if not c.anonymous_allowed)
    with pytest.raises(ReportRejected) as err:
        _accept(ReportDraft(code, NODE, "help", None))
    assert err.value.field == "body.contact"

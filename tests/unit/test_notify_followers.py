"""Who besides the reporter hears of an issue's status change; the follow's contract, and
that consumers of ``issues.reported`` without a handler for it skip it (no dead letter)."""

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.notify.domain import follower_recipients
from shared.events import PAYLOADS_BY_TYPE, Envelope, IssueReportedV1, derived_event_id
from shared.events.follow import IssueFollowedV1
from shared.kafka.consumer import decode

pytestmark = pytest.mark.unit

REPORTER = "res_" + "r" * 20
A, B = "res_" + "a" * 20, "res_" + "b" * 20
AT = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize("kind", ["issue.assigned", "issue.acknowledged", "issue.closed"])
def test_followers_hear_status_changes_once_each_in_the_order_they_followed(kind):
    assert follower_recipients(kind, [B, A, B], REPORTER) == [B, A]


def test_the_reporter_is_never_told_twice_and_blanks_are_nobody():
    assert follower_recipients("issue.resolved", [A, REPORTER, ""], REPORTER) == [A]


def test_an_anonymous_reports_followers_all_hear():
    assert follower_recipients("issue.resolved", [A, B], None) == [A, B]


@pytest.mark.parametrize("kind", ["issue.return-visit", "issue.received"])
def test_the_rating_request_and_the_receipt_are_the_reporters_alone(kind):
    assert follower_recipients(kind, [A, B], REPORTER) == []


def _followed(**fields) -> IssueFollowedV1:
    return IssueFollowedV1(
        **{"issue_id": "iss_0123456789ab", "resident_ref": A, "followed_at": AT, **fields}
    )


def test_the_follow_is_a_registered_platform_type_about_its_issue():
    event = _followed(language="en", reporter_ref=REPORTER)
    assert PAYLOADS_BY_TYPE["linli.issues.followed.v1"] is IssueFollowedV1
    assert event.subject() == "iss_0123456789ab"
    assert derived_event_id("followed", event.issue_id, A) == derived_event_id(
        "followed", event.issue_id, A
    )
    assert derived_event_id("followed", event.issue_id, A) != derived_event_id(
        "followed", event.issue_id, B
    )


@pytest.mark.parametrize(
    "fields",
    [{"resident_ref": "13800000000"}, {"language": "fr"}, {"issue_id": "x"}],
)
def test_the_follow_carries_no_contact_and_only_known_languages(fields):
    with pytest.raises(ValidationError):
        _followed(**fields)


def test_a_consumer_of_reports_alone_skips_the_follow_instead_of_dead_lettering_it():
    event = _followed()
    envelope = Envelope(type=event.event_type, source="/test", subject=event.issue_id)
    headers = envelope.record_headers()
    body = event.model_dump_json().encode()
    assert decode(headers, body, {IssueReportedV1.event_type: IssueReportedV1}) is None
    _, decoded = decode(headers, body, {IssueFollowedV1.event_type: IssueFollowedV1})
    assert decoded == event

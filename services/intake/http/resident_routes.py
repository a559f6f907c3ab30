"""What residents do with reports already filed, over the native API: follow one, read one
(``Authorization: Bearer <report_token>`` of that report, or a signed-in resident's
``<resident_token>``), list their own (the resident token alone, from notify's sign-in)."""

from __future__ import annotations

from fastapi import APIRouter, Header, Request

from services.intake.application import Intake
from services.intake.http.filing_routes import client_of, contact_of
from services.intake.http.limits import RateLimiter
from services.intake.http.models import FollowIn, IssueList, IssueView, ReportAccepted
from shared.http.schema import error_responses


def _bearer(authorization: str) -> str:
    return authorization.removeprefix("Bearer ").strip()


def resident_routes(intake: Intake, limiter: RateLimiter) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["reports"])

    @router.post(
        "/issues/{issue_id}/followers",
        status_code=201,
        response_model=ReportAccepted,
        responses=error_responses(400, 404, 422, 429, 503),
    )
    async def follow_issue(issue_id: str, body: FollowIn, request: Request) -> ReportAccepted:
        """Follow an open report instead of filing a duplicate; you get the token that reads
        this report."""
        limiter.check(client_of(request))
        followed = await intake.filing.follow(issue_id, contact_of(body.contact))
        return ReportAccepted(**followed.answer())

    @router.get(
        "/issues/{issue_id}", response_model=IssueView, responses=error_responses(404, 422, 503)
    )
    async def read_issue(issue_id: str, authorization: str = Header("")) -> IssueView:
        """The reporter's (or a follower's) view with the full history and public notes
        (Authorization: Bearer <report_token> of this report, or the resident token of its
        reporter or a follower). 404 alike for an absent report and one not yours."""
        return IssueView(**await intake.reading.issue(issue_id, _bearer(authorization)))

    @router.get(
        "/residents/{resident_ref}/issues",
        response_model=IssueList,
        responses=error_responses(401, 422, 503),
    )
    async def my_issues(resident_ref: str, authorization: str = Header("")) -> IssueList:
        """Every report a resident filed or follows, newest first, with history and notes
        (Authorization: Bearer <resident_token>, from notify's phone sign-in)."""
        found = await intake.reading.of_resident(resident_ref, _bearer(authorization))
        return IssueList(issues=[IssueView(**doc) for doc in found])

    return router

"""Return-visit ratings: what a signed link is about, and the resident's answer."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from services.notify.ratings import RateVisit, Ratings


class RatingLink(BaseModel):
    issue_id: str
    answered: bool


class RatingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rating: int = Field(ge=1, le=5)
    comment: str | None = Field(None, max_length=1000)


class RatingOut(BaseModel):
    issue_id: str
    rating: int
    status: Literal["accepted"]


BAD_LINK = {404: {"description": "Bad link"}, 410: {"description": "Expired"}}


def routes(ratings: Ratings) -> APIRouter:
    api = APIRouter()

    @api.get("/ratings/{token}", response_model=RatingLink, tags=["ratings"], responses=BAD_LINK)
    async def rating_link(token: str) -> RatingLink:
        """What a signed return-visit link is about, and whether it was answered."""
        state = await ratings.link(token)
        return RatingLink(issue_id=state.issue_id, answered=state.answered)

    @api.post(
        "/ratings/{token}",
        status_code=202,
        response_model=RatingOut,
        tags=["ratings"],
        responses={
            404: BAD_LINK[404],
            409: {"description": "Already rated"},
            410: BAD_LINK[410],
            503: {"description": "Kafka or the database is down; nothing was accepted"},
        },
    )
    async def rate(token: str, answer: RatingIn) -> RatingOut:
        """The resident's 1-5 rating and comment; published as IssueRatedV1 on issues.feedback."""
        accepted = await ratings.rate(RateVisit(token, answer.rating, answer.comment))
        return RatingOut(issue_id=accepted.issue_id, rating=accepted.rating, status="accepted")

    return api

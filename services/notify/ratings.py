"""Return-visit ratings (回访): what a signed link is about, and a resident's answer to it,
published once as ``IssueRatedV1`` on ``issues.feedback``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from services.notify.domain import open_rating_token
from services.notify.domain.refusals import AlreadyDone
from services.notify.store import NotifyStore
from shared.events import derived_event_id
from shared.events.lifecycle import IssueRatedV1
from shared.kafka.publisher import EventPublisher
from shared.topics import ISSUES_FEEDBACK


@dataclass(frozen=True)
class RateVisit:
    """The command: the link's token, the 1-5 rating and an optional comment."""

    token: str
    rating: int
    comment: str | None = None


@dataclass(frozen=True)
class RatingAccepted:
    issue_id: str
    rating: int


@dataclass(frozen=True)
class LinkState:
    issue_id: str
    answered: bool


class Ratings:
    """A bad link raises ``BadRatingToken`` (``expired`` says which kind); a visit rated and
    published before, ``AlreadyDone``."""

    def __init__(
        self,
        store: NotifyStore,
        publisher: EventPublisher,
        *,
        secret: str,
        clock: Callable[[], datetime],
    ):
        self._store = store
        self._publisher = publisher
        self._secret = secret
        self._clock = clock
        publisher.declare(ISSUES_FEEDBACK, IssueRatedV1)

    async def link(self, token: str) -> LinkState:
        issue_id, _ref, visit = open_rating_token(self._secret, token, self._clock())
        doc = await self._store.rating(_key(issue_id, visit))
        return LinkState(issue_id, answered=bool(doc and doc.get("published")))

    async def rate(self, command: RateVisit) -> RatingAccepted:
        """Store the answer first (the link's key makes it once), publish, mark it published:
        an answer stored but not published (a crash, Kafka away) is the one published when
        the link is used again."""
        issue_id, ref, visit = open_rating_token(self._secret, command.token, self._clock())
        key = _key(issue_id, visit)
        rating, comment, now = command.rating, command.comment, self._clock()
        stored = await self._store.record_rating(
            key, {"rating": rating, "comment": comment, "ref": ref, "at": now}
        )
        if stored is not None and stored.get("published"):
            raise AlreadyDone("already_rated", "this visit was already rated")
        if stored is not None:
            rating, comment, now = stored["rating"], stored.get("comment"), stored["at"]
        event = IssueRatedV1(
            issue_id=issue_id, rating=rating, comment=comment, resident_ref=ref, rated_at=now
        )
        await self._publisher.publish(
            ISSUES_FEEDBACK, event, key=issue_id, event_id=derived_event_id("rated", key)
        )
        await self._store.rating_published(key)
        return RatingAccepted(issue_id, rating)


def _key(issue_id: str, visit: int) -> str:
    return f"{issue_id}:{visit}"

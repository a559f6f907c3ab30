"""Consult's application object: every use case, for HTTP, the timer and the CLI alike."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from services.consult.access import Principal, principal
from services.consult.consultations import Consultations
from services.consult.domain.polls import Refused
from services.consult.notices import Notices
from services.consult.polls import Polls
from services.consult.resolutions import Resolutions
from services.consult.rolls import Rolls
from services.consult.store import ConsultStore
from services.consult.voting import Voting
from shared.kafka.publisher import EventPublisher
from shared.reference.tree import Tree
from shared.residents import token_matches


@dataclass
class Consult:
    store: ConsultStore
    tree: Tree
    polls: Polls
    voting: Voting
    rolls: Rolls
    consultations: Consultations
    resolutions: Resolutions
    resident_secret: str
    staff_secret: str | None = None  # the web console's staff tokens, when accepted

    async def principal(self, authorization: str | None) -> Principal:
        """An office or a compound's party: its key, or the web console's staff token."""
        return await principal(self.store, authorization, self.staff_secret)

    async def resident(self, ref: str | None, authorization: str | None) -> list[str]:
        """The households of a resident who proved who they are (reference and token)."""
        token = (authorization or "")[7:].strip() if authorization else ""
        if not ref or not token or not token_matches(self.resident_secret, ref, token):
            raise Refused(
                "unauthenticated", "resident_ref and its token are needed", "header.authorization"
            )
        return await self.store.households_of(ref)

    async def voter(
        self, poll_id: str, ref: str | None, authorization: str | None, household: str | None
    ) -> str:
        """The one household of this resident on the poll's roll (``household`` picks one
        when they are on two)."""
        households = await self.resident(ref, authorization)
        if household:
            households = [h for h in households if h == household]
        on_roll = [h for h in households if await self.polls.household_on_roll(poll_id, h)]
        if not on_roll:
            raise Refused("not_on_roll", "not on this poll's roll", "body.household")
        if len(on_roll) > 1:
            raise Refused("invalid", "you are on two rolls: name your household", "body.household")
        return on_roll[0]

    async def tick(self) -> None:
        """What the timer finishes: polls' announcements, reminders, closes, results, and
        resolutions left unannounced."""
        await self.polls.tick()
        await self.resolutions.tick()


def build_consult(
    store: ConsultStore,
    publisher: EventPublisher,
    tree: Tree,
    *,
    server_key: str,
    resident_secret: str,
    settle_s: float,
    clock: Callable[[], datetime],
    staff_secret: str | None = None,
) -> Consult:
    notices = Notices(publisher, tree)
    voting = Voting(store, server_key, clock, poll_ttl_s=settle_s / 2)
    return Consult(
        store=store,
        tree=tree,
        polls=Polls(store, voting, notices, tree, clock, settle_s),
        voting=voting,
        rolls=Rolls(store, tree, resident_secret),
        consultations=Consultations(store, tree, clock),
        resolutions=Resolutions(store, notices, tree, clock),
        resident_secret=resident_secret,
        staff_secret=staff_secret,
    )

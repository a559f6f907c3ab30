"""Consult's application object: every use case, for HTTP, the timer and the CLI alike."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from services.consult.consultations import Consultations
from services.consult.notices import Notices
from services.consult.polls import Polls
from services.consult.resolutions import Resolutions
from services.consult.rolls import Rolls
from services.consult.store import ConsultStore
from services.consult.voting import Voting
from shared.kafka.publisher import EventPublisher
from shared.reference.tree import Tree


@dataclass
class Consult:
    store: ConsultStore
    tree: Tree
    polls: Polls
    voting: Voting
    rolls: Rolls
    consultations: Consultations
    resolutions: Resolutions

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
    )

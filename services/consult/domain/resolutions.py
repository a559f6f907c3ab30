"""Three-party resolutions (三方联动) of a compound's non-money matters: the party branch,
the owners' committee and the property company each approve or refuse, with a reason. All
three approve: passed. Any one refuses: refused. A compound without a property company
decides with a self-management committee in its place (the article's rule)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from services.consult.domain.polls import Refused

PARTIES_WITH_COMPANY = ("party-branch", "owners-committee", "property-company")
PARTIES_WITHOUT_COMPANY = ("party-branch", "owners-committee", "self-management")
ALL_PARTIES = tuple(dict.fromkeys(PARTIES_WITH_COMPANY + PARTIES_WITHOUT_COMPANY))

Verdict = Literal["approve", "refuse"]


@dataclass(frozen=True)
class Vote:
    party: str
    verdict: Verdict
    reason: str
    actor: str
    at: datetime


@dataclass(frozen=True)
class Resolution:
    id: str
    compound: str
    title: str
    text: str
    parties: tuple[str, ...]
    status: Literal["pending", "passed", "refused"] = "pending"
    votes: tuple[Vote, ...] = ()
    poll_id: str | None = None  # a poll whose result the motion follows
    disbursement_id: str | None = None  # a ledger disbursement request it authorises
    decided_at: datetime | None = None
    version: int = 0


def parties_for(has_property_company: bool) -> tuple[str, ...]:
    return PARTIES_WITH_COMPANY if has_property_company else PARTIES_WITHOUT_COMPANY


@dataclass(frozen=True)
class Decide:
    party: str
    verdict: Verdict
    reason: str
    actor: str


def decide(resolution: Resolution, cmd: Decide, now: datetime) -> Resolution:
    """One party's verdict; the resolution passes when every party approved."""
    if resolution.status != "pending":
        raise Refused("decided", f"the resolution is already {resolution.status}", "path")
    if cmd.party not in resolution.parties:
        raise Refused("not_a_party", f"{cmd.party} is not a party to this resolution", "header")
    if any(v.party == cmd.party for v in resolution.votes):
        raise Refused("already_voted", f"{cmd.party} has already decided", "header")
    if not cmd.reason.strip():
        raise Refused("invalid", "a decision needs a reason", "body.reason")
    votes = (*resolution.votes, Vote(cmd.party, cmd.verdict, cmd.reason, cmd.actor, now))
    status = resolution.status
    if cmd.verdict == "refuse":
        status = "refused"
    elif {v.party for v in votes} == set(resolution.parties):
        status = "passed"
    decided_at = now if status != "pending" else None
    return replace(
        resolution,
        votes=votes,
        status=status,
        decided_at=decided_at,
        version=resolution.version + 1,
    )

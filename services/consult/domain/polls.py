"""A poll's life: drafted, opened (rules and roll frozen), closed, counted. Pure: each
command is applied by ``decide(poll, command, now)`` from the command table at the bottom,
and refused with ``Refused`` (a code, the field at fault, a reason) when the rules say no."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

Kind = Literal["single", "multiple", "ranked"]
Status = Literal["draft", "open", "closed"]
KINDS: tuple[str, ...] = ("single", "multiple", "ranked")


class Refused(Exception):
    """A command the rules do not allow: ``code`` for programs, ``field`` names the input."""

    def __init__(self, code: str, reason: str, field: str | None = None):
        super().__init__(reason)
        self.code, self.reason, self.field = code, reason, field


@dataclass(frozen=True)
class Option:
    id: str
    label: str


@dataclass(frozen=True)
class Rules:
    """What is frozen when the poll opens."""

    kind: Kind
    options: tuple[Option, ...]
    max_choices: int = 1  # multiple choice: at most this many; ranked: at most this many ranked
    quorum_percent: int = 0  # share of the roll frozen at opening that must vote; 0: none
    opens_at: datetime | None = None
    closes_at: datetime | None = None

    @property
    def option_ids(self) -> tuple[str, ...]:
        return tuple(o.id for o in self.options)


@dataclass(frozen=True)
class Poll:
    id: str
    node_id: str
    office: str
    question: str
    rules: Rules
    status: Status = "draft"
    consultation_id: str | None = None
    roll_size: int = 0
    opened_at: datetime | None = None
    closed_at: datetime | None = None
    version: int = 0


def check_rules(rules: Rules) -> None:
    """A poll's rules are sound: options distinct, limits within the options, a close after
    the open, a quorum between 0 and 100 %."""
    ids = rules.option_ids
    if rules.kind not in KINDS:
        raise Refused("invalid", f"kind must be one of {', '.join(KINDS)}", "body.kind")
    if not 2 <= len(ids) <= 20:
        raise Refused("invalid", "a poll has 2 to 20 options", "body.options")
    if len(set(ids)) != len(ids):
        raise Refused("invalid", "option ids must be distinct", "body.options")
    if rules.kind != "single" and not 1 <= rules.max_choices <= len(ids):
        raise Refused(
            "invalid", "max_choices must be 1 to the number of options", "body.max_choices"
        )
    if not 0 <= rules.quorum_percent <= 100:
        raise Refused("invalid", "quorum_percent must be 0 to 100", "body.quorum_percent")
    if rules.opens_at and rules.closes_at and rules.closes_at <= rules.opens_at:
        raise Refused("invalid", "closes_at must be after opens_at", "body.closes_at")


def check_choice(rules: Rules, choice: tuple[str, ...]) -> None:
    """A ballot's choice fits the rules; the reason names what is wrong."""
    known = set(rules.option_ids)
    for option in choice:
        if option not in known:
            raise Refused("unknown_option", f"no option {option!r} in this poll", "body.choice")
    if len(set(choice)) != len(choice):
        raise Refused("invalid", "an option may appear once", "body.choice")
    if not choice:
        raise Refused("invalid", "choose at least one option", "body.choice")
    most = 1 if rules.kind == "single" else rules.max_choices
    if len(choice) > most:
        raise Refused("invalid", f"at most {most} option(s) in this poll", "body.choice")


def accepting(poll: Poll, now: datetime) -> None:
    """Ballots are accepted only while the poll is open and before its closing time."""
    if poll.status != "open":
        raise Refused("poll_not_open", f"the poll is {poll.status}", "path.poll_id")
    if poll.rules.closes_at and now >= poll.rules.closes_at:
        raise Refused("poll_closed", "the poll closed at its closing time", "path.poll_id")


def quorum_needed(poll: Poll) -> int:
    return math.ceil(poll.roll_size * poll.rules.quorum_percent / 100)


# -- commands -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Amend:
    """Change the rules of a draft."""

    rules: Rules
    question: str | None = None


@dataclass(frozen=True)
class Open:
    """Open with the roll as it is now: ``roll_size`` households become eligible."""

    roll_size: int


@dataclass(frozen=True)
class Close:
    """Close the poll: no more ballots; the count follows."""


Command = Amend | Open | Close


def _amend(poll: Poll, cmd: Amend, now: datetime) -> Poll:
    if poll.status != "draft":
        raise Refused("rules_frozen", "the rules are frozen once the poll opens", "body")
    check_rules(cmd.rules)
    return replace(poll, rules=cmd.rules, question=cmd.question or poll.question)


def _open(poll: Poll, cmd: Open, now: datetime) -> Poll:
    if poll.status != "draft":
        raise Refused("not_draft", f"the poll is already {poll.status}", "path.poll_id")
    if cmd.roll_size < 1:
        raise Refused("empty_roll", "no household is on the roll under this node", "path.poll_id")
    if poll.rules.closes_at and poll.rules.closes_at <= now:
        raise Refused("invalid", "closes_at is already past", "body.closes_at")
    return replace(poll, status="open", roll_size=cmd.roll_size, opened_at=now)


def _close(poll: Poll, cmd: Close, now: datetime) -> Poll:
    if poll.status != "open":
        raise Refused("poll_not_open", f"the poll is {poll.status}", "path.poll_id")
    return replace(poll, status="closed", closed_at=now)


_HANDLERS = {Amend: _amend, Open: _open, Close: _close}


def decide(poll: Poll, command: Command, now: datetime) -> Poll:
    """Apply ``command`` at ``now``; ``Refused`` if the rules do not allow it."""
    changed = _HANDLERS[type(command)](poll, command, now)
    return replace(changed, version=poll.version + 1)


def results_visible(poll: Poll) -> bool:
    """Results stay hidden until the poll is closed."""
    return poll.status == "closed"

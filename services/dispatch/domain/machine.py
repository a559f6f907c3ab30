"""The case lifecycle as an explicit state machine. Pure: no I/O, time is an argument.

A case has an owner (who answers for it as a whole, 首接负责) and duties: the offices or
departments that must act on it, each with its own deadlines and escalation ladder. The
community office resolves a case itself or calls the street (社区呼叫); the street summons
departments (街道吹哨), each with its own duty; departments acknowledge, work and resolve
(部门报到). ``decide`` applies one command and answers the new case and what happened, or
raises ``Refused`` with a stable code and a reason for people.

Statuses: assigned, called_up, whistled, acknowledged, in_progress, resolved, return_visit,
reopened, rejected, closed, merged (the last two are final).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from services.dispatch.domain.calendar import WorkingCalendar
from services.dispatch.domain.policy import DeadlinePolicy
from shared.reference.tree import Tree


class CaseStatus(StrEnum):
    """Where a case stands (its ``status``; stored and published as the plain string)."""

    ASSIGNED = "assigned"
    CALLED_UP = "called_up"
    WHISTLED = "whistled"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    RETURN_VISIT = "return_visit"
    REOPENED = "reopened"
    REJECTED = "rejected"
    CLOSED = "closed"
    MERGED = "merged"


class DutyStatus(StrEnum):
    """Where one holder's duty stands."""

    SUMMONED = "summoned"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"


FINAL = frozenset({CaseStatus.CLOSED, CaseStatus.MERGED})
ACTIVE = frozenset({DutyStatus.SUMMONED, DutyStatus.ACKNOWLEDGED, DutyStatus.IN_PROGRESS})
OFFICE_LEVELS = ("compound", "community", "street", "district")


class Refused(Exception):
    """An illegal transition: ``code`` for programs, ``reason`` for people, and ``field`` the
    input it is about (an action's field name), when it is about one."""

    def __init__(self, code: str, reason: str, field: str | None = None):
        super().__init__(f"{code}: {reason}")
        self.code, self.reason, self.field = code, reason, field


# refusals about something that does not exist (or that the actor may not see): not found
NOT_FOUND = frozenset({"unknown_case"})
# a deadline may be extended by at most this many resolution windows of its category and
# priority, counted from the deadline in force
MAX_EXTENSION_WINDOWS = 2
# a reminder comes no earlier than this long after the duty started, nor before half its window
REMIND_NOT_BEFORE = timedelta(hours=1)


@dataclass(frozen=True)
class Holder:
    kind: Literal["office", "department"]
    code: str  # node id of an office, or a department code


SYSTEM = Holder("office", "system")


@dataclass(frozen=True)
class Duty:
    holder: Holder
    status: str  # a DutyStatus (a plain string when read back from the store)
    since: datetime
    ack_due: datetime
    resolve_due: datetime
    acked_at: datetime | None = None
    resolved_at: datetime | None = None
    extension_until: datetime | None = None  # a pending extension request
    stage: int = 0  # ladder for the current deadline: 0 none, 1 reminded, 2 formally reminded
    missed_at: datetime | None = None  # the first deadline missed (the reprimand clock)
    reprimanded: bool = False
    escalations: int = 0

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def deadline(self) -> datetime:
        return self.ack_due if self.status == DutyStatus.SUMMONED else self.resolve_due


@dataclass(frozen=True)
class Case:
    issue_id: str
    category: str
    priority: str
    node_id: str
    status: str
    owner: Holder
    duties: tuple[Duty, ...]
    supervisor: str  # office watching the case; escalation moves it up the tree
    version: int = 1
    resolved_at: datetime | None = None
    visit_at: datetime | None = None
    rating: int | None = None  # the latest rating
    merged_into: str | None = None
    closed_reason: str | None = None
    ratings: tuple[int, ...] = ()  # every rating, in order (each counts in the rates)

    def duty(self, code: str) -> Duty | None:
        return next((d for d in self.duties if d.holder.code == code), None)

    @property
    def active_duties(self) -> tuple[Duty, ...]:
        return tuple(d for d in self.duties if d.active)

    @property
    def departments(self) -> tuple[str, ...]:
        return tuple(d.holder.code for d in self.duties if d.holder.kind == "department")


@dataclass(frozen=True)
class Effect:
    """One transition to publish: its name (the lifecycle type), who acted, and the task
    messages it sends to departments as (department, action) pairs."""

    name: str
    actor: str | None = None
    reason: str | None = None
    note: str | None = None
    photo_url: str | None = None
    tasks: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Rules:
    """What the machine needs to know about the world: the tree, the departments, the
    working calendar and the deadline policy."""

    tree: Tree
    departments: frozenset[str]
    calendar: WorkingCalendar
    policy: DeadlinePolicy

    def level(self, node_id: str) -> str | None:
        node = self.tree.get(node_id)
        return None if node is None else str(node.level)

    def office_above(self, node_id: str) -> str | None:
        """The nearest office strictly above ``node_id`` (buildings have no office)."""
        node = self.tree.get(node_id)
        if node is None:
            return None
        for ancestor in reversed(node.ancestors):
            if self.level(ancestor) in OFFICE_LEVELS:
                return ancestor
        return None

    def office_at(self, node_id: str, level: str) -> str | None:
        node = self.tree.ancestor_at(node_id, level) if node_id in self.tree else None
        return None if node is None else node.id

    @property
    def dispatcher(self) -> str:
        return self.tree.root.id


# -- commands -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Acknowledge:
    actor: Holder


@dataclass(frozen=True)
class Progress:
    actor: Holder
    note: str


@dataclass(frozen=True)
class Resolve:
    actor: Holder
    note: str
    photo_url: str | None = None


@dataclass(frozen=True)
class Reject:
    actor: Holder
    reason: str


@dataclass(frozen=True)
class Transfer:
    actor: Holder
    to: Holder
    reason: str


@dataclass(frozen=True)
class CallUp:
    actor: Holder
    reason: str = ""


@dataclass(frozen=True)
class Whistle:
    actor: Holder
    departments: tuple[str, ...]
    reason: str = ""


@dataclass(frozen=True)
class RequestExtension:
    actor: Holder
    until: datetime
    reason: str


@dataclass(frozen=True)
class DecideExtension:
    actor: Holder
    holder: str
    approve: bool
    reason: str = ""


@dataclass(frozen=True)
class Urge:
    """An office above the case presses a holder of an open duty (催办)."""

    actor: Holder
    holder: str
    reason: str = ""


@dataclass(frozen=True)
class Reprimand:
    """A street or the district office flags a holder whose deadline has passed (通报)."""

    actor: Holder
    holder: str
    reason: str


@dataclass(frozen=True)
class MergeTarget:
    """What the machine needs to know of the case merged into (looked up by the caller)."""

    issue_id: str
    node_id: str
    status: str


@dataclass(frozen=True)
class Merge:
    actor: Holder
    into: str
    reason: str = ""
    target: MergeTarget | None = None  # None: no such case


@dataclass(frozen=True)
class Rate:
    rating: int
    comment: str | None = None


@dataclass(frozen=True)
class TimerFired:
    """A durable timer came due: ``kind`` of ``target`` (a duty holder, or "case")."""

    target: str
    kind: str  # remind, urge, escalate, reprimand, visit, unanswered
    due: datetime


Command = (
    Acknowledge
    | Progress
    | Resolve
    | Reject
    | Transfer
    | CallUp
    | Whistle
    | RequestExtension
    | DecideExtension
    | Urge
    | Reprimand
    | Merge
    | Rate
    | TimerFired
)


@dataclass(frozen=True)
class Timer:
    target: str
    kind: str
    due: datetime

    @property
    def key(self) -> str:
        """One timer per lane: a duty's ladder, its reprimand clock, the case's return visit."""
        lane = (
            "case"
            if self.target == "case"
            else "reprimand"
            if self.kind == "reprimand"
            else "ladder"
        )
        return f"{self.target}:{lane}"


@dataclass(frozen=True)
class Decision:
    case: Case
    effects: tuple[Effect, ...] = field(default_factory=tuple)


# -- opening ------------------------------------------------------------------------------------
def new_duty(
    case_category: str, priority: str, holder: Holder, now: datetime, rules: Rules
) -> Duty:
    ack_due, resolve_due = rules.policy.dues(case_category, priority, now, rules.calendar)
    return Duty(holder, DutyStatus.SUMMONED, now, ack_due, resolve_due)


def open_case(
    *,
    issue_id: str,
    category: str,
    priority: str,
    node_id: str,
    first: Holder,
    now: datetime,
    rules: Rules,
) -> Case:
    """A new case with its first owner (首接负责) holding the first duty."""
    duty = new_duty(category, priority, first, now, rules)
    if first.kind == "office":
        supervisor = rules.office_above(first.code) or first.code
    else:
        supervisor = (
            rules.office_at(node_id, "street") or rules.office_above(node_id) or rules.dispatcher
        )
    return Case(
        issue_id, category, priority, node_id, CaseStatus.ASSIGNED, first, (duty,), supervisor
    )


# -- the machine --------------------------------------------------------------------------------
def _refuse_final(case: Case) -> None:
    if case.status in FINAL:
        raise Refused("case_final", f"the case is {case.status}")


def _own_duty(case: Case, actor: Holder) -> Duty:
    _refuse_final(case)
    duty = case.duty(actor.code)
    if duty is None or duty.holder != actor or not duty.active:
        raise Refused("not_holder", f"{actor.code} holds no open duty on this case")
    return duty


def _with(case: Case, old: Duty, new: Duty | None, *extra: Duty) -> tuple[Duty, ...]:
    duties = [d for d in case.duties if d is not old]
    if new is not None:
        duties.insert(case.duties.index(old), new)
    return (*duties, *extra)


def _task(holder: Holder, action: str) -> tuple[tuple[str, str], ...]:
    return ((holder.code, action),) if holder.kind == "department" else ()


def _within_case(case: Case, office: Holder, rules: Rules) -> bool:
    return office.kind == "office" and rules.tree.is_within(case.node_id, office.code)


def decide(case: Case, command: Command, now: datetime, rules: Rules) -> Decision:
    """Apply ``command`` to ``case`` at ``now``; ``Refused`` if it is not allowed."""
    handler = _HANDLERS[type(command)]
    decision = handler(case, command, now, rules)
    return Decision(replace(decision.case, version=case.version + 1), decision.effects)


def _acknowledge(case: Case, cmd: Acknowledge, now: datetime, rules: Rules) -> Decision:
    duty = _own_duty(case, cmd.actor)
    if duty.status != DutyStatus.SUMMONED:
        raise Refused("already_acknowledged", f"{cmd.actor.code} already acknowledged")
    new = replace(duty, status=DutyStatus.ACKNOWLEDGED, acked_at=now, stage=0)
    status = (
        case.status
        if case.status in (CaseStatus.IN_PROGRESS, CaseStatus.REOPENED)
        else CaseStatus.ACKNOWLEDGED
    )
    return Decision(
        replace(case, duties=_with(case, duty, new), status=status),
        (Effect("acknowledged", cmd.actor.code),),
    )


def _progress(case: Case, cmd: Progress, now: datetime, rules: Rules) -> Decision:
    duty = _own_duty(case, cmd.actor)
    if duty.status == DutyStatus.SUMMONED:
        raise Refused("not_acknowledged", "acknowledge the case before reporting progress")
    new = replace(duty, status=DutyStatus.IN_PROGRESS)
    return Decision(
        replace(case, duties=_with(case, duty, new), status=CaseStatus.IN_PROGRESS),
        (Effect("progressed", cmd.actor.code, note=cmd.note),),
    )


def _resolve(case: Case, cmd: Resolve, now: datetime, rules: Rules) -> Decision:
    """A duty resolved; the case is resolved when its last active duty is. A department's
    part of a case others still work on is announced as progress, not as the resolution."""
    duty = _own_duty(case, cmd.actor)
    if duty.status == DutyStatus.SUMMONED:
        raise Refused("not_acknowledged", "acknowledge the case before resolving it")
    new = replace(duty, status=DutyStatus.RESOLVED, resolved_at=now, extension_until=None)
    duties = _with(case, duty, new)
    waiting = [d.holder.code for d in duties if d.active]
    if waiting:
        reason = f"{cmd.actor.code} resolved its part; waiting for {', '.join(waiting)}"
        return Decision(
            replace(case, duties=duties),
            (Effect("progressed", cmd.actor.code, reason, cmd.note, cmd.photo_url),),
        )
    updated = replace(case, duties=duties, status=CaseStatus.RESOLVED, resolved_at=now)
    return Decision(
        updated, (Effect("resolved", cmd.actor.code, note=cmd.note, photo_url=cmd.photo_url),)
    )


def _reject(case: Case, cmd: Reject, now: datetime, rules: Rules) -> Decision:
    duty = _own_duty(case, cmd.actor)
    if cmd.actor.kind != "department":
        raise Refused("offices_cannot_reject", "an office calls up or transfers instead")
    if not cmd.reason.strip():
        raise Refused("reason_required", "a rejection needs a reason", "reason")
    duties = _with(case, duty, None)
    if any(d.active for d in duties):
        return Decision(
            replace(case, duties=duties), (Effect("rejected", cmd.actor.code, cmd.reason),)
        )
    # back to the office that summoned it, or to the dispatcher (退单)
    back = case.owner if case.owner.kind == "office" else Holder("office", rules.dispatcher)
    office_duty = replace(
        new_duty(case.category, case.priority, back, now, rules),
        status=DutyStatus.ACKNOWLEDGED,
        acked_at=now,
    )
    duties = (*(d for d in duties if d.holder != back), office_duty)
    return Decision(
        replace(case, duties=duties, status=CaseStatus.REJECTED, owner=back),
        (Effect("rejected", cmd.actor.code, cmd.reason),),
    )


def _transfer(case: Case, cmd: Transfer, now: datetime, rules: Rules) -> Decision:
    duty = _own_duty(case, cmd.actor)
    if not cmd.reason.strip():
        raise Refused("reason_required", "a transfer needs a reason", "reason")
    target = cmd.to
    if target == cmd.actor:
        raise Refused("same_holder", "cannot transfer a case to its holder", "to")
    if target.kind == "department" and target.code not in rules.departments:
        raise Refused("unknown_department", f"no department {target.code!r}", "to")
    if target.kind == "office" and (
        rules.level(target.code) not in OFFICE_LEVELS
        or not rules.tree.is_within(case.node_id, target.code)
    ):
        raise Refused("office_not_on_path", f"{target.code} is not an office above the place", "to")
    existing = case.duty(target.code)
    if existing is not None and existing.active:
        raise Refused("already_on_case", f"{target.code} already holds a duty on this case")
    fresh = new_duty(case.category, case.priority, target, now, rules)
    duties = _with(case, duty, None, fresh)
    duties = tuple(d for d in duties if d is fresh or d.holder != target)
    owner = target if case.owner == cmd.actor else case.owner
    return Decision(
        replace(case, duties=duties, status=CaseStatus.ASSIGNED, owner=owner),
        (Effect("transferred", cmd.actor.code, cmd.reason, tasks=_task(target, "new")),),
    )


def _call_up(case: Case, cmd: CallUp, now: datetime, rules: Rules) -> Decision:
    duty = _own_duty(case, cmd.actor)
    if cmd.actor.kind != "office" or rules.level(cmd.actor.code) not in ("compound", "community"):
        raise Refused("not_community", "only a compound or community office calls up")
    above = rules.office_above(cmd.actor.code)
    assert above is not None  # compounds and communities always have a street above
    fresh = new_duty(case.category, case.priority, Holder("office", above), now, rules)
    duties = tuple(
        d for d in _with(case, duty, None, fresh) if d is fresh or d.holder.code != above
    )
    return Decision(
        replace(
            case,
            duties=duties,
            status=CaseStatus.CALLED_UP,
            owner=fresh.holder,
            supervisor=rules.office_above(above) or above,
        ),
        (Effect("called-up", cmd.actor.code, cmd.reason or None),),
    )


def _whistle(case: Case, cmd: Whistle, now: datetime, rules: Rules) -> Decision:
    _refuse_final(case)
    actor = cmd.actor
    if actor.kind != "office" or rules.level(actor.code) not in ("street", "district"):
        raise Refused("not_street", "only a street (or the district) office blows the whistle")
    own = case.duty(actor.code)
    holds = own is not None and own.active
    if not holds and case.owner != actor:
        raise Refused("not_holder", f"{actor.code} neither holds nor owns this case")
    if case.status in (CaseStatus.RESOLVED, CaseStatus.RETURN_VISIT):
        raise Refused("already_resolved", "the case is resolved")
    wanted = tuple(dict.fromkeys(cmd.departments))
    if not wanted:
        raise Refused("no_departments", "name at least one department", "departments")
    unknown = [d for d in wanted if d not in rules.departments]
    if unknown:
        raise Refused("unknown_department", f"no department {', '.join(unknown)}", "departments")
    busy = [d for d in wanted if (x := case.duty(d)) is not None and x.active]
    if busy:
        raise Refused("already_on_case", f"{', '.join(busy)} already hold a duty")
    summoned = tuple(
        new_duty(case.category, case.priority, Holder("department", d), now, rules) for d in wanted
    )
    keep = tuple(d for d in case.duties if d is not own and d.holder.code not in wanted)
    return Decision(
        replace(
            case,
            duties=keep + summoned,
            status=CaseStatus.WHISTLED,
            owner=actor,
            supervisor=rules.office_above(actor.code) or actor.code,
        ),
        (
            Effect(
                "whistled",
                actor.code,
                cmd.reason or None,
                tasks=tuple((d, "new") for d in wanted),
            ),
        ),
    )


def extension_limit(case: Case, duty: Duty, rules: Rules) -> datetime:
    """The latest deadline an extension may set: ``MAX_EXTENSION_WINDOWS`` resolution
    windows of the case's category and priority after the deadline in force."""
    window = rules.policy.deadlines(case.category, case.priority).resolve
    limit = duty.resolve_due
    for _ in range(MAX_EXTENSION_WINDOWS):
        limit = window.after(limit, rules.calendar)
    return limit


def _request_extension(case: Case, cmd: RequestExtension, now: datetime, rules: Rules) -> Decision:
    duty = _own_duty(case, cmd.actor)
    if duty.status == DutyStatus.SUMMONED:
        raise Refused("not_acknowledged", "acknowledge the case before asking for more time")
    if now >= duty.resolve_due:
        raise Refused("deadline_passed", "an extension must be asked before the deadline")
    if duty.extension_until is not None:
        raise Refused("extension_pending", "an extension request is already waiting")
    if cmd.until <= duty.resolve_due:
        raise Refused("not_later", "the new deadline must be after the current one", "until")
    limit = extension_limit(case, duty, rules)
    if cmd.until > limit:
        raise Refused(
            "extension_too_long",
            f"until may be at most {limit.isoformat()} ({MAX_EXTENSION_WINDOWS} resolution "
            "windows after the deadline in force)",
            "until",
        )
    if not cmd.reason.strip():
        raise Refused("reason_required", "an extension request needs a reason", "reason")
    new = replace(duty, extension_until=cmd.until)
    return Decision(
        replace(case, duties=_with(case, duty, new)),
        (Effect("extension-requested", cmd.actor.code, cmd.reason),),
    )


def _decide_extension(case: Case, cmd: DecideExtension, now: datetime, rules: Rules) -> Decision:
    """Only the case's supervisor decides (the office watching it), not any office above."""
    _refuse_final(case)
    if cmd.actor.kind != "office" or cmd.actor.code != case.supervisor:
        raise Refused(
            "not_supervisor", f"only {case.supervisor}, the supervisor, decides extensions"
        )
    duty = case.duty(cmd.holder)
    if duty is None or not duty.active or duty.extension_until is None:
        raise Refused(
            "no_extension_pending", f"{cmd.holder} has no pending extension request", "holder"
        )
    approve = cmd.approve and duty.extension_until <= extension_limit(case, duty, rules)
    if approve:
        new = replace(duty, resolve_due=duty.extension_until, extension_until=None, stage=0)
    else:
        new = replace(duty, extension_until=None)
    outcome = "approved" if approve else "refused"
    return Decision(
        replace(case, duties=_with(case, duty, new)),
        (
            Effect(
                "extension-decided",
                cmd.actor.code,
                outcome + (f": {cmd.reason}" if cmd.reason else ""),
                tasks=_task(duty.holder, "extension"),
            ),
        ),
    )


def _pressed_duty(case: Case, actor: Holder, holder: str, rules: Rules) -> Duty:
    """The open duty of ``holder`` that office ``actor`` (the case in its subtree) presses."""
    _refuse_final(case)
    if not _within_case(case, actor, rules):
        raise Refused("not_supervisor", f"{actor.code} is not an office above this case")
    duty = case.duty(holder)
    if duty is None or not duty.active:
        raise Refused("not_on_case", f"{holder} holds no open duty on this case", "holder")
    if duty.holder == actor:
        raise Refused("same_holder", f"{actor.code} holds this duty itself", "holder")
    return duty


def _urge(case: Case, cmd: Urge, now: datetime, rules: Rules) -> Decision:
    duty = _pressed_duty(case, cmd.actor, cmd.holder, rules)
    reason = f"formal reminder (催办) to {duty.holder.code} by {cmd.actor.code}"
    return Decision(
        case,
        (Effect("reminded", cmd.actor.code, cmd.reason or reason,
                tasks=_task(duty.holder, "reminder")),),
    )  # fmt: skip


def _reprimand(case: Case, cmd: Reprimand, now: datetime, rules: Rules) -> Decision:
    duty = _pressed_duty(case, cmd.actor, cmd.holder, rules)
    if rules.level(cmd.actor.code) not in ("street", "district"):
        raise Refused("not_street", "only a street (or the district) office reprimands")
    if duty.reprimanded:
        raise Refused("already_reprimanded", f"{duty.holder.code} was reprimanded already")
    if duty.missed_at is None and now <= duty.deadline:
        raise Refused("not_overdue", f"{duty.holder.code} is within its deadline")
    new = replace(duty, reprimanded=True, missed_at=duty.missed_at or now)
    return Decision(
        replace(case, duties=_with(case, duty, new)),
        (Effect("reprimanded", cmd.actor.code, cmd.reason,
                tasks=_task(duty.holder, "escalation")),),
    )  # fmt: skip


def _closure_tasks(case: Case) -> tuple[tuple[str, str], ...]:
    return tuple((d, "closure") for d in dict.fromkeys(case.departments))


def _merge(case: Case, cmd: Merge, now: datetime, rules: Rules) -> Decision:
    """An office whose subtree holds both cases merges a duplicate into an open case."""
    _refuse_final(case)
    if not _within_case(case, cmd.actor, rules):
        raise Refused("not_supervisor", f"{cmd.actor.code} does not supervise this case")
    if cmd.into == case.issue_id:
        raise Refused("merge_into_itself", "a case cannot be merged into itself", "into")
    target = cmd.target
    if target is None or not rules.tree.is_within(target.node_id, cmd.actor.code):
        raise Refused("unknown_case", f"no case {cmd.into} for {cmd.actor.code}", "into")
    if target.status in FINAL:
        raise Refused("target_final", f"{cmd.into} is {target.status}", "into")
    return Decision(
        replace(case, status=CaseStatus.MERGED, merged_into=cmd.into, duties=()),
        (
            Effect(
                "merged",
                cmd.actor.code,
                cmd.reason or f"duplicate of {cmd.into}",
                tasks=_closure_tasks(case),
            ),
        ),
    )


def _rate(case: Case, cmd: Rate, now: datetime, rules: Rules) -> Decision:
    _refuse_final(case)
    if case.status not in (CaseStatus.RESOLVED, CaseStatus.RETURN_VISIT):
        raise Refused("not_resolved", "only a resolved case can be rated")
    if cmd.rating > rules.policy.ladder.reopen_at_or_below:
        closed = replace(
            case,
            status=CaseStatus.CLOSED,
            rating=cmd.rating,
            ratings=(*case.ratings, cmd.rating),
            closed_reason="rated",
        )
        return Decision(
            closed, (Effect("closed", None, f"rated {cmd.rating}", tasks=_closure_tasks(case)),)
        )
    resolve = rules.policy.deadlines(case.category, case.priority).resolve
    due = resolve.after(now, rules.calendar)
    reopened = tuple(
        replace(
            d, status=DutyStatus.IN_PROGRESS, resolved_at=None, resolve_due=due, stage=0, since=now
        )
        if d.status == DutyStatus.RESOLVED
        else d
        for d in case.duties
    )
    tasks = tuple((d.holder.code, "new") for d in reopened if d.holder.kind == "department")
    return Decision(
        replace(
            case,
            duties=reopened,
            status=CaseStatus.REOPENED,
            rating=cmd.rating,
            ratings=(*case.ratings, cmd.rating),
            resolved_at=None,
        ),
        (
            Effect(
                "reopened", None, f"rated {cmd.rating}: {cmd.comment or 'unsatisfied'}", tasks=tasks
            ),
        ),
    )


# -- timers -------------------------------------------------------------------------------------
def remind_at(duty: Duty, rules: Rules) -> datetime:
    """The reminder ahead of a duty's deadline: ``remind_before`` it, but never before the
    duty is ``REMIND_NOT_BEFORE`` old nor before half its window has passed (a window too
    short for that has no reminder: 催办 at the deadline comes first)."""
    deadline = duty.deadline
    ahead = rules.policy.ladder.remind_before.before(deadline, duty.since, rules.calendar)
    return max(ahead, duty.since + REMIND_NOT_BEFORE, duty.since + (deadline - duty.since) / 2)


def timers(case: Case, rules: Rules) -> tuple[Timer, ...]:
    """Every timer the case wants now; a fired timer is valid only if it is still wanted."""
    if case.status in FINAL:
        return ()
    ladder = rules.policy.ladder
    cal = rules.calendar
    if case.status == CaseStatus.RESOLVED and case.resolved_at is not None:
        return (Timer("case", "visit", ladder.return_visit_after.after(case.resolved_at, cal)),)
    if case.status == CaseStatus.RETURN_VISIT and case.visit_at is not None:
        return (
            Timer("case", "unanswered", ladder.close_unanswered_after.after(case.visit_at, cal)),
        )
    wanted: list[Timer] = []
    for duty in case.active_duties:
        code, deadline = duty.holder.code, duty.deadline
        if duty.stage == 0:
            remind = remind_at(duty, rules)
            wanted.append(
                Timer(code, "remind", remind)
                if remind < deadline
                else Timer(code, "urge", deadline)
            )
        elif duty.stage == 1:
            wanted.append(Timer(code, "urge", deadline))
        else:
            wanted.append(Timer(code, "escalate", ladder.escalate_after.after(deadline, cal)))
        if duty.missed_at is not None and not duty.reprimanded:
            wanted.append(
                Timer(code, "reprimand", ladder.reprimand_after.after(duty.missed_at, cal))
            )
    return tuple(wanted)


def _fired(case: Case, cmd: TimerFired, now: datetime, rules: Rules) -> Decision:
    wanted = Timer(cmd.target, cmd.kind, cmd.due)
    if wanted not in timers(case, rules):
        raise Refused("stale_timer", f"{cmd.kind} of {cmd.target} is no longer due")
    if now < cmd.due:
        raise Refused("not_due", f"{cmd.kind} of {cmd.target} is due at {cmd.due.isoformat()}")
    if cmd.target == "case":
        if cmd.kind == "visit":
            return Decision(
                replace(case, status=CaseStatus.RETURN_VISIT, visit_at=now),
                (Effect("return-visit"),),
            )
        return Decision(
            replace(case, status=CaseStatus.CLOSED, closed_reason="unanswered"),
            (Effect("closed", None, "no rating in time", tasks=_closure_tasks(case)),),
        )
    duty = case.duty(cmd.target)
    assert duty is not None
    if cmd.kind == "remind":
        new = replace(duty, stage=1)
        effect = Effect(
            "reminded", None, "reminder: the deadline is near", tasks=_task(duty.holder, "reminder")
        )
    elif cmd.kind == "urge":
        new = replace(duty, stage=2, missed_at=duty.missed_at or now)
        effect = Effect(
            "reminded",
            None,
            f"formal reminder (催办) to {duty.holder.code} and {case.supervisor}",
            tasks=_task(duty.holder, "reminder"),
        )
    elif cmd.kind == "reprimand":
        new = replace(duty, reprimanded=True)
        effect = Effect(
            "reprimanded",
            None,
            f"{duty.holder.code} long overdue: flagged at {rules.dispatcher} (通报)",
            tasks=_task(duty.holder, "escalation"),
        )
    else:
        return _escalate(case, duty, now, rules)
    return Decision(replace(case, duties=_with(case, duty, new)), (effect,))


def _escalate(case: Case, duty: Duty, now: datetime, rules: Rules) -> Decision:
    """One level up the tree (compound → community → street → district) with a new deadline:
    an office's duty moves to the office above; a department stays on it and the office
    above its supervisor takes over supervision."""
    ack_due, resolve_due = rules.policy.dues(case.category, case.priority, now, rules.calendar)
    if duty.holder.kind == "office":
        above = rules.office_above(duty.holder.code)
        holder = Holder("office", above) if above else duty.holder
        new = replace(
            duty,
            holder=holder,
            status=DutyStatus.SUMMONED if above else duty.status,
            since=now,
            ack_due=ack_due,
            resolve_due=resolve_due,
            stage=0,
            escalations=duty.escalations + 1,
            extension_until=None,
        )
        duties = tuple(d for d in _with(case, duty, new) if d is new or d.holder != holder)
        owner = holder if case.owner == duty.holder else case.owner
        supervisor = rules.office_above(holder.code) or holder.code
        target = holder.code
    else:
        new = replace(
            duty,
            since=now,
            ack_due=ack_due if duty.status == DutyStatus.SUMMONED else duty.ack_due,
            resolve_due=resolve_due,
            stage=0,
            escalations=duty.escalations + 1,
            extension_until=None,
        )
        duties, owner = _with(case, duty, new), case.owner
        supervisor = rules.office_above(case.supervisor) or case.supervisor
        target = supervisor
    return Decision(
        replace(case, duties=duties, owner=owner, supervisor=supervisor),
        (
            Effect(
                "escalated",
                None,
                f"{duty.holder.code} missed its deadline: escalated to {target}",
                tasks=_task(duty.holder, "escalation"),
            ),
        ),
    )


_HANDLERS = {
    Acknowledge: _acknowledge,
    Progress: _progress,
    Resolve: _resolve,
    Reject: _reject,
    Transfer: _transfer,
    CallUp: _call_up,
    Whistle: _whistle,
    RequestExtension: _request_extension,
    DecideExtension: _decide_extension,
    Urge: _urge,
    Reprimand: _reprimand,
    Merge: _merge,
    Rate: _rate,
    TimerFired: _fired,
}

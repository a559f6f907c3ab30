"""The case state machine: examples of each transition and a stateful property test."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from services.dispatch.domain.machine import (
    FINAL,
    Acknowledge,
    CallUp,
    Case,
    DecideExtension,
    Holder,
    Merge,
    MergeTarget,
    Progress,
    Rate,
    Refused,
    Reject,
    RequestExtension,
    Resolve,
    Rules,
    TimerFired,
    Transfer,
    Whistle,
    decide,
    extension_limit,
    open_case,
    remind_at,
    timers,
)
from services.dispatch.rule_files import load_calendar, load_policy
from shared.reference import load_reference
from shared.settings import Settings

pytestmark = pytest.mark.unit
REF = load_reference()
CONFIG = Settings().config_dir
RULES = Rules(
    REF.tree,
    frozenset(REF.departments),
    load_calendar(CONFIG / "holidays.yaml"),
    load_policy(CONFIG / "routing.yaml", set(REF.categories)),
)
PLACE = "sz.tongjiang.niuerqiao.hongqi"
COMPOUND = Holder("office", PLACE)
COMMUNITY = Holder("office", "sz.tongjiang.niuerqiao")
STREET = Holder("office", "sz.tongjiang")
DISTRICT = Holder("office", "sz")
OTHER_STREET = Holder(
    "office", next(n.id for n in REF.tree.at_level("street") if n.id != STREET.code)
)
URBAN = Holder("department", "urban-mgmt")
WATER = Holder("department", "water")
POWER = Holder("department", "power")
T0 = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai
STATUSES = {
    "assigned", "called_up", "whistled", "acknowledged", "in_progress", "resolved",
    "return_visit", "reopened", "rejected", "closed", "merged",
}  # fmt: skip


def new(first=URBAN, category="streetlight-out", priority="normal"):
    return open_case(
        issue_id="iss_0000000001", category=category, priority=priority, node_id=PLACE,
        first=first, now=T0, rules=RULES,
    )  # fmt: skip


def step(case, command, at=T0):
    return decide(case, command, at, RULES)


def test_a_department_acknowledges_works_resolves_and_a_good_rating_closes():
    case = new()
    assert case.status == "assigned" and case.supervisor == STREET.code
    case = step(case, Acknowledge(URBAN)).case
    case = step(case, Progress(URBAN, "lamp ordered")).case
    decision = step(case, Resolve(URBAN, "lamp replaced", "https://x/p.jpg"))
    assert decision.case.status == "resolved" and decision.case.version == 4
    [visit] = timers(decision.case, RULES)
    case = step(decision.case, TimerFired("case", "visit", visit.due), visit.due).case
    assert case.status == "return_visit"
    closed = step(case, Rate(4))
    assert closed.case.status == "closed"
    assert closed.effects[0].tasks == (("urban-mgmt", "closure"),)
    assert timers(closed.case, RULES) == ()


def test_an_unsatisfied_rating_reopens_with_the_same_owner():
    case = step(step(new(), Acknowledge(URBAN)).case, Resolve(URBAN, "done")).case
    reopened = step(case, Rate(2, "still dark")).case
    assert reopened.status == "reopened" and reopened.owner == URBAN
    assert reopened.duty("urban-mgmt").status == "in_progress"


def test_another_department_or_office_cannot_act_on_a_duty():
    case = new()
    for actor in (WATER, COMMUNITY):
        with pytest.raises(Refused) as refused:
            step(case, Acknowledge(actor))
        assert refused.value.code == "not_holder"


def test_the_community_calls_the_street_which_whistles_two_departments():
    case = new(COMMUNITY, "neighbour-conflict")
    case = step(case, CallUp(COMMUNITY, "needs the police")).case
    assert case.status == "called_up" and case.owner == STREET
    with pytest.raises(Refused):
        step(case, Whistle(COMMUNITY, ("water",)))
    decision = step(case, Whistle(STREET, ("water", "power")))
    case = decision.case
    assert case.status == "whistled" and decision.effects[0].tasks == (
        ("water", "new"),
        ("power", "new"),
    )
    assert [d.holder for d in case.active_duties] == [WATER, POWER]
    case = step(step(case, Acknowledge(WATER)).case, Resolve(WATER, "fixed")).case
    assert case.status != "resolved"  # power has not reported yet
    case = step(step(case, Acknowledge(POWER)).case, Resolve(POWER, "fixed")).case
    assert case.status == "resolved"


def test_a_rejection_goes_back_to_the_dispatcher_who_transfers():
    case = step(new(), Reject(URBAN, "not a street light: a private lamp")).case
    assert case.status == "rejected" and case.owner == DISTRICT
    with pytest.raises(Refused) as refused:
        step(case, Reject(URBAN, "again"))
    assert refused.value.code == "not_holder"
    moved = step(case, Transfer(DISTRICT, POWER, "the power company owns it"))
    assert moved.case.status == "assigned" and moved.effects[0].tasks == (("power", "new"),)


def test_extensions_are_asked_before_the_deadline_and_decided_by_a_supervisor():
    case = step(new(), Acknowledge(URBAN)).case
    due = case.duty("urban-mgmt").resolve_due
    with pytest.raises(Refused) as late:
        step(case, RequestExtension(URBAN, due + timedelta(days=3), "parts"), due)
    assert late.value.code == "deadline_passed"
    case = step(case, RequestExtension(URBAN, due + timedelta(days=3), "parts")).case
    with pytest.raises(Refused):
        step(case, DecideExtension(OTHER_STREET, "urban-mgmt", True))
    case = step(case, DecideExtension(STREET, "urban-mgmt", True)).case
    assert case.duty("urban-mgmt").resolve_due == due + timedelta(days=3)


def test_the_ladder_reminds_urges_escalates_and_reprimands_once():
    case = new(COMPOUND)
    fired = []
    for _ in range(6):
        ladder = [t for t in timers(case, RULES) if t.kind != "reprimand"] or timers(case, RULES)
        timer = min(timers(case, RULES), key=lambda t: t.due)
        decision = step(case, TimerFired(timer.target, timer.kind, timer.due), timer.due)
        with pytest.raises(Refused) as again:  # exactly once
            step(decision.case, TimerFired(timer.target, timer.kind, timer.due), timer.due)
        assert again.value.code == "stale_timer"
        fired.append((timer.kind, decision.effects[0].name, decision.case.owner.code))
        case = decision.case
        assert ladder
    assert fired[:3] == [
        ("remind", "reminded", COMPOUND.code),
        ("urge", "reminded", COMPOUND.code),
        ("escalate", "escalated", COMMUNITY.code),
    ]
    assert ("reprimand", "reprimanded") in [(k, n) for k, n, _ in fired] or case.duties[0].missed_at


TARGET = MergeTarget("iss_0000000002", PLACE, "assigned")


def test_merge_and_final_states_refuse_everything():
    case = step(new(), Merge(COMMUNITY, "iss_0000000002", target=TARGET)).case
    assert case.status == "merged"
    with pytest.raises(Refused) as refused:
        step(case, Acknowledge(URBAN))
    assert refused.value.code == "case_final"
    with pytest.raises(Refused):
        step(new(), Merge(COMMUNITY, "iss_0000000001"))


def test_a_merge_into_an_unknown_final_or_foreign_case_is_refused_naming_into():
    """The IndexError of issue 12: a merge refuses cleanly when its target is missing."""
    for target, code in [
        (None, "unknown_case"),
        (MergeTarget("iss_0000000002", "sz.haitang", "assigned"), "unknown_case"),
        (MergeTarget("iss_0000000002", PLACE, "merged"), "target_final"),
    ]:
        with pytest.raises(Refused) as refused:
            step(new(), Merge(STREET, "iss_0000000002", target=target))
        assert (refused.value.code, refused.value.field) == (code, "into")
    case = step(new(), Acknowledge(URBAN)).case
    merged = step(case, Merge(STREET, "iss_0000000002", "same lamp", target=TARGET))
    assert merged.case.status == "merged" and merged.case.merged_into == "iss_0000000002"
    assert merged.effects[0].tasks == (("urban-mgmt", "closure"),)


def test_only_the_supervisor_decides_an_extension_within_the_bound():
    case = step(new(), Acknowledge(URBAN)).case
    duty = case.duty("urban-mgmt")
    limit = extension_limit(case, duty, RULES)
    assert duty.resolve_due < limit <= duty.resolve_due + timedelta(days=30)
    with pytest.raises(Refused) as too_long:
        step(case, RequestExtension(URBAN, datetime(2046, 1, 1, tzinfo=UTC), "ten years"))
    assert (too_long.value.code, too_long.value.field) == ("extension_too_long", "until")
    case = step(case, RequestExtension(URBAN, limit, "parts on order")).case
    for office in (COMPOUND, COMMUNITY, DISTRICT, OTHER_STREET):
        with pytest.raises(Refused) as refused:
            step(case, DecideExtension(office, "urban-mgmt", True))
        assert refused.value.code == "not_supervisor"
    decided = step(case, DecideExtension(STREET, "urban-mgmt", True))
    assert decided.case.duty("urban-mgmt").resolve_due == limit
    assert decided.effects[0].tasks == (("urban-mgmt", "extension"),)  # the department hears it


def test_a_partial_resolution_is_progress_and_the_last_one_resolves_once():
    case = new(STREET, "neighbour-conflict")
    case = step(case, Whistle(STREET, ("water", "power"))).case
    case = step(step(case, Acknowledge(WATER)).case, Acknowledge(POWER)).case
    first = step(case, Resolve(WATER, "pipe fixed"))
    assert [e.name for e in first.effects] == ["progressed"]
    assert first.case.status == "acknowledged" and first.case.resolved_at is None
    assert "waiting for power" in first.effects[0].reason
    last = step(first.case, Resolve(POWER, "cable fixed"))
    assert [e.name for e in last.effects] == ["resolved"] and last.case.status == "resolved"


def test_no_reminder_before_an_hour_or_half_the_window():
    """Urgent: acknowledge within 30 minutes; remind_before 2wh is longer than that, so no
    reminder at assignment: 催办 at the deadline is the first step."""
    urgent = new(priority="urgent")
    duty = urgent.duties[0]
    [first] = timers(urgent, RULES)
    assert (first.kind, first.due) == ("urge", duty.ack_due)
    normal = new()
    duty = normal.duties[0]
    [first] = timers(normal, RULES)
    assert first.kind == "remind" and first.due == remind_at(duty, RULES)
    assert first.due >= max(
        duty.since + timedelta(hours=1), duty.since + (duty.ack_due - duty.since) / 2
    )
    assert first.due < duty.ack_due


ACTORS = [COMPOUND, COMMUNITY, STREET, DISTRICT, OTHER_STREET, URBAN, WATER, POWER]
actors = st.sampled_from(ACTORS)
departments = st.lists(st.sampled_from(["urban-mgmt", "water", "power", "zhengfa"]), max_size=3)


class CaseMachine(RuleBasedStateMachine):
    """Random commands by random actors: every accepted one moves the version by one, keeps
    the case consistent; refusals leave it as it was; final states stay final."""

    def __init__(self):
        super().__init__()
        self.case: Case = new()
        self.now = T0
        self.accepted = 0

    def apply(self, command):
        before = self.case
        try:
            decision = decide(self.case, command, self.now, RULES)
        except Refused as refused:
            assert refused.code and refused.reason
            assert self.case is before
            return None
        assert decision.case.version == before.version + 1
        assert decision.effects and all(e.name for e in decision.effects)
        assert before.status not in FINAL
        for department, action in (t for e in decision.effects for t in e.tasks):
            assert department in RULES.departments and action in {
                "new",
                "reminder",
                "escalation",
                "closure",
                "extension",
            }
        self.case = decision.case
        return decision

    @rule(minutes=st.integers(0, 3 * 24 * 60))
    def time_passes(self, minutes):
        self.now += timedelta(minutes=minutes)

    @rule(actor=actors)
    def acknowledge(self, actor):
        self.apply(Acknowledge(actor))

    @rule(actor=actors)
    def progress(self, actor):
        self.apply(Progress(actor, "working"))

    @rule(actor=actors)
    def resolve(self, actor):
        self.apply(Resolve(actor, "done"))

    @rule(actor=actors, reason=st.sampled_from(["", "not ours"]))
    def reject(self, actor, reason):
        if self.apply(Reject(actor, reason)) is not None:
            assert actor.kind == "department" and reason

    @rule(actor=actors, to=actors)
    def transfer(self, actor, to):
        self.apply(Transfer(actor, to, "better placed"))

    @rule(actor=actors)
    def call_up(self, actor):
        self.apply(CallUp(actor))

    @rule(actor=actors, wanted=departments)
    def whistle(self, actor, wanted):
        if self.apply(Whistle(actor, tuple(wanted))) is not None:
            assert actor in (STREET, DISTRICT)

    @rule(actor=actors, days=st.integers(1, 10))
    def ask_extension(self, actor, days):
        self.apply(RequestExtension(actor, self.now + timedelta(days=days + 20), "parts"))

    @rule(actor=actors, holder=actors, approve=st.booleans())
    def decide_extension(self, actor, holder, approve):
        self.apply(DecideExtension(actor, holder.code, approve))

    @rule(actor=actors)
    def merge(self, actor):
        target = MergeTarget("iss_0000000009", PLACE, "assigned")
        self.apply(Merge(actor, "iss_0000000009", target=target))

    @rule(rating=st.integers(1, 5))
    def rate(self, rating):
        status = self.case.status
        if self.apply(Rate(rating)) is not None:
            assert status in ("resolved", "return_visit")
            expected = "reopened" if rating <= 2 else "closed"
            assert self.case.status == expected

    @precondition(lambda self: timers(self.case, RULES))
    @rule(data=st.data())
    def a_timer_fires(self, data):
        timer = data.draw(st.sampled_from(timers(self.case, RULES)))
        self.now = max(self.now, timer.due)
        command = TimerFired(timer.target, timer.kind, timer.due)
        assert self.apply(command) is not None
        try:
            decide(self.case, command, self.now, RULES)
            fired_twice = True
        except Refused:
            fired_twice = False
        assert not fired_twice

    @invariant()
    def consistent(self):
        case = self.case
        assert case.status in STATUSES
        if case.status in FINAL:
            assert timers(case, RULES) == ()
            return
        if case.status not in ("resolved", "return_visit"):
            assert case.active_duties, case
        holders = [d.holder.code for d in case.active_duties]
        assert len(holders) == len(set(holders))
        for duty in case.active_duties:
            assert duty.resolve_due >= duty.since
            if duty.holder.kind == "office":
                assert REF.tree.is_within(case.node_id, duty.holder.code)
        ladders = [t for t in timers(case, RULES) if t.key.endswith(":ladder")]
        assert len(ladders) == len(case.active_duties)


CaseMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)  # fmt: skip
TestCaseMachine = CaseMachine.TestCase

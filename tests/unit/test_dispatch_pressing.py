"""Offices press a duty by hand: an urge (催办) from any office above the case, a reprimand
(通报) from a street or the district once a deadline has passed, once per duty."""

from datetime import timedelta

import pytest

from services.dispatch.actions import refusal_status, to_command
from services.dispatch.domain.machine import Refused, Reprimand, Urge, timers
from shared.events import utcnow
from shared.events.dispatch import DepartmentActionV1
from tests.unit.test_dispatch_machine import (
    COMMUNITY,
    DISTRICT,
    OTHER_STREET,
    RULES,
    STREET,
    URBAN,
    WATER,
    new,
    step,
)

pytestmark = pytest.mark.unit


def test_an_office_above_urges_a_holder_and_the_department_gets_a_reminder():
    case = new()
    urged = step(case, Urge(COMMUNITY, URBAN.code, "路灯还没修"))
    [effect] = urged.effects
    assert effect.name == "reminded" and effect.actor == COMMUNITY.code
    assert effect.reason == "路灯还没修" and effect.tasks == ((URBAN.code, "reminder"),)
    assert urged.case.version == case.version + 1 and urged.case.duties == case.duties
    for refused, code in [
        (Urge(OTHER_STREET, URBAN.code), "not_supervisor"),
        (Urge(URBAN, URBAN.code), "not_supervisor"),
        (Urge(STREET, WATER.code), "not_on_case"),
    ]:
        with pytest.raises(Refused) as caught:
            step(case, refused)
        assert caught.value.code == code


def test_a_reprimand_needs_a_street_a_passed_deadline_and_comes_once():
    case = new()
    late = case.duties[0].ack_due + timedelta(minutes=1)
    with pytest.raises(Refused) as early:
        step(case, Reprimand(STREET, URBAN.code, "超时"))
    assert early.value.code == "not_overdue"
    with pytest.raises(Refused) as low:
        step(case, Reprimand(COMMUNITY, URBAN.code, "超时"), late)
    assert low.value.code == "not_street"
    flagged = step(case, Reprimand(DISTRICT, URBAN.code, "超时未签收"), late)
    assert flagged.effects[0].name == "reprimanded"
    assert flagged.effects[0].tasks == ((URBAN.code, "escalation"),)
    duty = flagged.case.duties[0]
    assert duty.reprimanded and duty.missed_at == late
    assert not any(t.kind == "reprimand" for t in timers(flagged.case, RULES))
    with pytest.raises(Refused) as again:
        step(flagged.case, Reprimand(STREET, URBAN.code, "again"), late)
    assert again.value.code == "already_reprimanded"


def test_the_actions_name_their_missing_fields():
    def action(**fields):
        return DepartmentActionV1(issue_id="iss_0000000001", actor_kind="office",
                                  actor=STREET.code, sent_at=utcnow(), action_id="a" * 8,
                                  **fields)  # fmt: skip

    assert to_command(STREET, action(action="urge", holder="water")) == Urge(STREET, "water", "")
    with pytest.raises(Refused) as missing:
        to_command(STREET, action(action="reprimand", holder="water"))
    assert missing.value.field == "reason" and refusal_status(missing.value) == 422

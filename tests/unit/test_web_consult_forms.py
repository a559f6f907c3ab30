"""The consult pages' forms as consult's requests (pure): a ballot by radio, checkboxes or a
rank per option; a poll's draft, paper codes' households and a decision from staff forms;
a receipt looked up in the published ballots."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.web.consult.ballots import BadChoice, choice_of, receipt_status, usable_key
from services.web.consult.drafts import BadForm, decision_body, households_of, poll_body

OPTIONS = [{"id": i, "label": i.upper()} for i in ("a", "b", "c")]
NOW = datetime(2026, 12, 5, 4, 0, tzinfo=UTC)


def poll(kind: str, most: int = 1) -> dict:
    return {"kind": kind, "options": OPTIONS, "max_choices": most}


def test_a_ranking_is_the_options_in_rank_order_and_skips_the_unranked():
    values = {"rank-a": ["2"], "rank-b": [""], "rank-c": ["1"]}
    assert choice_of(poll("ranked"), values) == ["c", "a"]


@pytest.mark.parametrize(
    "values, says",
    [
        ({"rank-a": ["1"], "rank-b": ["1"]}, "rank 1 is given twice"),
        ({"rank-a": ["4"]}, "a rank from 1 to 3"),
        ({"rank-a": ["x"]}, "a rank from 1 to 3"),
        ({"rank-a": [""]}, "rank at least one option"),
    ],
)
def test_a_bad_ranking_names_the_field(values, says):
    with pytest.raises(BadChoice, match=says):
        choice_of(poll("ranked"), values)


def test_single_and_multiple_choices_keep_to_the_rules():
    assert choice_of(poll("single"), {"choice": ["b"]}) == ["b"]
    assert choice_of(poll("multiple", 2), {"choice": ["a", "c"]}) == ["a", "c"]
    with pytest.raises(BadChoice, match="at most 1"):
        choice_of(poll("single"), {"choice": ["a", "b"]})
    with pytest.raises(BadChoice, match="at most 2"):
        choice_of(poll("multiple", 2), {"choice": ["a", "b", "c"]})
    with pytest.raises(BadChoice, match="no option z"):
        choice_of(poll("single"), {"choice": ["z"]})
    with pytest.raises(BadChoice, match="at least one"):
        choice_of(poll("single"), {})


def test_only_a_real_ballot_key_is_used():
    assert usable_key("k" * 40) == "k" * 40
    assert usable_key("short") is None and usable_key(None) is None
    assert usable_key("x" * 39 + "!") is None


def test_a_poll_draft_from_the_form():
    form = {"kind": "ranked", "node_id": "sz.x", "question": "Name?", "options": "甲\n\n乙\n丙 ",
            "quorum_percent": "50", "closes_at": "2026-12-31T18:00"}  # fmt: skip
    body = poll_body(form, NOW)
    assert [o["label"] for o in body["options"]] == ["甲", "乙", "丙"]
    assert body["quorum_percent"] == 50 and body["closes_at"] == "2026-12-31T18:00:00+08:00"
    for bad, says in (({"kind": "x"}, "kind"), ({"options": "only one"}, "options"),
                      ({"quorum_percent": "101"}, "quorum_percent"),
                      ({"quorum_percent": "5.5"}, "quorum_percent"),
                      ({"closes_at": "2026-12-01T08:00"}, "closes_at: a time still to come"),
                      ({"consultation_id": "x"}, "consultation_id")):  # fmt: skip
        with pytest.raises(BadForm, match=says):
            poll_body({**form, **bad}, NOW)


def test_households_and_decisions():
    assert households_of({"households": "b|1\n\nb|2\nb|1"}) == ["b|1", "b|2"]
    with pytest.raises(BadForm, match="households"):
        households_of({"households": " "})
    assert decision_body({"verdict": "refuse", "reason": " no "}) == {
        "verdict": "refuse",
        "reason": "no",
    }
    with pytest.raises(BadForm, match="reason"):
        decision_body({"verdict": "approve", "reason": ""})


def test_a_receipt_is_found_replaced_or_missing():
    ballots = [{"receipt": "r_2", "prev": "r_1"}, {"receipt": "r_3", "prev": None}]
    assert receipt_status("r_3", ballots) == "found"
    assert receipt_status("r_1", ballots) == "replaced"
    assert receipt_status("r_9", ballots) == "missing"

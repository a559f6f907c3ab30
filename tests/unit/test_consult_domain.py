"""Consult's pure rules: counting (IRV tie-breaking, Borda), poll life, moderation, the
three-party resolutions, and the ballot chain."""

from datetime import UTC, datetime, timedelta

import pytest

from services.consult.domain import ballots as chain
from services.consult.domain.consultations import Comment, hide, public_view
from services.consult.domain.counting import (
    count_approval,
    count_instant_runoff,
    count_plurality,
)
from services.consult.domain.polls import (
    Amend,
    Close,
    Open,
    Option,
    Poll,
    Refused,
    Rules,
    accepting,
    check_choice,
    decide,
    quorum_needed,
    results_visible,
)
from services.consult.domain.resolutions import Decide, Resolution
from services.consult.domain.resolutions import decide as resolve

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ABCDE = ("a", "b", "c", "d", "e")


def ballots(*spec: tuple[int, str]) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for times, ranking in spec:
        out += [tuple(ranking)] * times
    return out


# -- counting ------------------------------------------------------------------------------
def test_irv_majority_in_first_round() -> None:
    outcome = count_instant_runoff(ABCDE, ballots((3, "ab"), (1, "ba")))
    assert outcome.winners == ("a",)
    assert len(outcome.rounds) == 1


def test_irv_transfers_after_elimination() -> None:
    # a 4, b 3, c 2 (c's voters prefer b next): c out, b wins 5 to 4
    outcome = count_instant_runoff(("a", "b", "c"), ballots((4, "a"), (3, "b"), (2, "cb")))
    assert outcome.winners == ("b",)
    assert [r.eliminated for r in outcome.rounds] == ["c", None]
    assert outcome.totals == {"a": 4, "b": 3, "c": 2}


def test_irv_exhausted_ballots_leave_the_majority_base() -> None:
    # c's 2 voters ranked nobody else: after c goes, a has 4 of 7 live ballots
    outcome = count_instant_runoff(("a", "b", "c"), ballots((4, "a"), (3, "b"), (2, "c")))
    assert outcome.winners == ("a",)
    assert outcome.rounds[-1].exhausted == 2


def test_irv_tie_for_last_broken_by_earlier_round() -> None:
    # round 1: a 5, b 4, c 3, d 3 -> c and d tie; earlier rounds none, Borda decides:
    # the c-voters rank d second, so d's Borda is higher: c goes
    spec = ballots((5, "a"), (4, "b"), (3, "cd"), (3, "db"))
    outcome = count_instant_runoff(("a", "b", "c", "d"), spec)
    assert outcome.rounds[0].eliminated == "c"


def test_irv_backward_tie_break_uses_previous_round() -> None:
    # round 1: a 6, b 4, c 4, d 3 -> d out, d's 3 go to c(1) and b(2): b 6 c 5? make a tie:
    # d's ballots: 1 to b, 2 exhausted... so round 2: a 6, b 5, c 5 ->
    # tie b/c broken by round 1 (b 4, c 4 tie) -> Borda
    spec = ballots((6, "a"), (4, "bc"), (4, "cb"), (1, "db"), (1, "dc"), (1, "d"))
    outcome = count_instant_runoff(("a", "b", "c", "d"), spec)
    assert outcome.rounds[0].eliminated == "d"
    # round 2 b 5, c 5; round 1 b 4, c 4; Borda b = 4*3+4*2+1*2 = 22, c = 4*3+4*2+1*2 = 22;
    # still tied: the later-listed option (c) is eliminated
    assert outcome.rounds[1].eliminated == "c"
    assert outcome.winners == ("b",)


def test_irv_backward_tie_break_prefers_fewer_earlier_votes() -> None:
    # round 1: a 10, b 5, c 4, d 2 -> d out, one of its ballots goes to c
    # round 2: a 10, b 5, c 5 -> b and c tie; in round 1 c had fewer: c goes, although
    # c's Borda (a's voters rank it second) is higher than b's
    spec = ballots((10, "ac"), (5, "b"), (4, "c"), (1, "dc"), (1, "d"))
    outcome = count_instant_runoff(("a", "b", "c", "d"), spec)
    assert outcome.borda["c"] > outcome.borda["b"]
    assert [r.eliminated for r in outcome.rounds[:2]] == ["d", "c"]
    assert outcome.winners == ("a",)


def test_irv_the_same_ballots_in_any_order_give_the_same_result() -> None:
    spec = ballots((5, "abc"), (5, "bca"), (5, "cab"))
    first = count_instant_runoff(("a", "b", "c"), spec)
    again = count_instant_runoff(("a", "b", "c"), list(reversed(spec)))
    assert first == again
    # a perfect three-way cycle: every tie rule ties, the later-listed option goes first
    assert first.rounds[0].eliminated == "c"


def test_irv_no_ballots_no_winner() -> None:
    assert count_instant_runoff(ABCDE, []).winners == ()


def test_borda_scores() -> None:
    outcome = count_instant_runoff(("a", "b", "c"), ballots((2, "abc"), (1, "cb")))
    assert outcome.borda == {"a": 4, "b": 3, "c": 2}


def test_plurality_tie_names_every_leader() -> None:
    outcome = count_plurality(("a", "b", "c"), ballots((2, "a"), (2, "b"), (1, "c")))
    assert outcome.winners == ("a", "b")


def test_approval_counts_every_choice() -> None:
    outcome = count_approval(("a", "b", "c"), [("a", "b"), ("b",), ("c", "b")])
    assert outcome.totals == {"a": 1, "b": 3, "c": 1}
    assert outcome.winners == ("b",)


# -- poll life -----------------------------------------------------------------------------
def poll(kind: str = "ranked", **kw) -> Poll:
    options = tuple(Option(o, o.upper()) for o in ABCDE)
    rules = Rules(kind, options, kw.pop("max_choices", 5), kw.pop("quorum_percent", 0))
    return Poll("poll_x", "n", "n", "name?", rules, **kw)


def test_rules_frozen_once_open() -> None:
    opened = decide(poll(), Open(roll_size=10), NOW)
    assert opened.status == "open" and opened.roll_size == 10
    with pytest.raises(Refused) as refused:
        decide(opened, Amend(poll().rules), NOW)
    assert refused.value.code == "rules_frozen"


def test_draft_rules_can_change() -> None:
    single = Rules("single", poll().rules.options)
    assert decide(poll(), Amend(single), NOW).rules.kind == "single"


def test_quorum_is_a_share_of_the_roll_frozen_at_open() -> None:
    opened = decide(poll(quorum_percent=50), Open(roll_size=7), NOW)
    assert quorum_needed(opened) == 4


def test_results_hidden_until_closed() -> None:
    opened = decide(poll(), Open(roll_size=3), NOW)
    assert not results_visible(opened)
    closed = decide(opened, Close(), NOW + timedelta(days=1))
    assert results_visible(closed)
    with pytest.raises(Refused):
        accepting(closed, NOW)


def test_closing_time_stops_ballots() -> None:
    p = poll()
    p = Poll(p.id, p.node_id, p.office, p.question, Rules("single", p.rules.options, closes_at=NOW))
    opened = decide(p, Open(roll_size=3), NOW - timedelta(hours=1))
    with pytest.raises(Refused) as refused:
        accepting(opened, NOW)
    assert refused.value.code == "poll_closed"


@pytest.mark.parametrize(
    ("kind", "choice", "code"),
    [
        ("single", ("z",), "unknown_option"),
        ("single", ("a", "b"), "invalid"),
        ("multiple", ("a", "a"), "invalid"),
        ("ranked", (), "invalid"),
    ],
)
def test_choices_outside_the_rules_are_refused(kind: str, choice, code: str) -> None:
    with pytest.raises(Refused) as refused:
        check_choice(poll(kind, max_choices=2).rules, choice)
    assert refused.value.code == code and refused.value.field == "body.choice"


# -- consultations -------------------------------------------------------------------------
def test_hidden_comment_keeps_its_text_and_shows_the_reason() -> None:
    comment = Comment("c1", "k1", "hh", "rude words", NOW)
    hidden = hide(comment, reason="insult", by="office", now=NOW)
    assert hidden.text == "rude words" and hidden.hidden_by == "office"
    assert public_view(hidden) == {"id": "c1", "hidden": True, "reason": "insult", "at": NOW}
    with pytest.raises(Refused):
        hide(comment, reason=" ", by="office", now=NOW)


# -- resolutions ---------------------------------------------------------------------------
def motion() -> Resolution:
    parties = ("party-branch", "owners-committee", "property-company")
    return Resolution("res_1", "cmp", "parking", "rule", parties)


def test_resolution_passes_when_all_three_approve() -> None:
    r = motion()
    for party in r.parties:
        r = resolve(r, Decide(party, "approve", "ok", f"k_{party}"), NOW)
    assert r.status == "passed" and r.decided_at == NOW


def test_one_refusal_refuses_and_a_party_decides_once() -> None:
    r = resolve(motion(), Decide("party-branch", "approve", "ok", "k"), NOW)
    with pytest.raises(Refused) as again:
        resolve(r, Decide("party-branch", "approve", "ok", "k"), NOW)
    assert again.value.code == "already_voted"
    r = resolve(r, Decide("property-company", "refuse", "no budget", "k2"), NOW)
    assert r.status == "refused" and r.votes[-1].reason == "no budget"


# -- the ballot chain ----------------------------------------------------------------------
def test_chain_heads_count_the_last_ballot_of_each_household() -> None:
    first = {"receipt": "r1", "prev": None, "choice": ["a"]}
    second = {"receipt": "r2", "prev": "r1", "choice": ["b"]}
    other = {"receipt": "r3", "prev": None, "choice": ["a"]}
    assert chain.heads([first, second, other]) == [second, other]


def test_ballot_ids_depend_on_the_voters_key() -> None:
    token = chain.token_id("server", "poll_1", "b01:101")
    assert token != chain.token_id("server", "poll_1", "b01:102")
    assert chain.ballot_id("k" * 32, token, 1) != chain.ballot_id("j" * 32, token, 1)
    assert chain.ballot_id("k" * 32, token, 1) != chain.ballot_id("k" * 32, token, 2)


def _receipt(name: str) -> str:
    return "r_" + name.ljust(32, "0")


def test_packed_lines_count_each_ballot_once_and_each_chain_by_its_head() -> None:
    """A batch packs a change beside the ballot it replaces, and a retry packs a ballot
    again: the count takes each receipt once and the last ballot of every chain."""
    r1, r2, r3 = _receipt("1"), _receipt("2"), _receipt("3")
    first = chain.pack([(r1, None, ("a", "b")), (r3, None, ("c",))])
    again = chain.pack([(r1, None, ("a", "b")), (r2, r1, ("b",))])  # a change, and a retry
    lines = set(first.split("\n")) | set(again.split("\n"))
    assert chain.counted_choices(lines) == {"b": 1, "c": 1}
    rows = chain.published_rows(lines)
    assert [r["receipt"] for r in rows] == [r1, r2, r3] and rows[1]["prev"] == r1
    assert chain.lines_of(rows) == lines  # the published list gives back what was counted
    assert chain.digest(lines) == chain.digest(chain.lines_of(reversed(rows)))


def test_a_recount_of_the_published_list_is_the_services_count() -> None:
    from services.consult.voting import tally_lines, tally_published

    lines = {chain.line(_receipt(str(i)), None, ("a", "b") if i % 3 else ("b",)) for i in range(9)}
    rules = Rules("ranked", (Option("a", "A"), Option("b", "B")), 2, 50)
    poll = Poll("poll_x", "n", "o", "q", rules, status="closed", roll_size=12)
    results = tally_lines(poll, lines)
    assert results["turnout"] == 9 and results["quorum_met"] is True
    assert results["outcome"]["winners"] == ["a"]
    assert tally_published(poll, chain.published_rows(lines)) == results


# -- the roll CSV --------------------------------------------------------------------------
def test_roll_lines_are_accepted_or_rejected_with_their_reason() -> None:
    from services.consult.domain.rolls import parse_roll

    text = (
        "building,household,phone,language\n"
        "b1,101,13900000001,zh-CN\n"
        "b1,101,13900000002,zh-CN\n"  # a second phone of the same household
        "b1,102,,en\n"
        "bX,1,,zh-CN\n"
        "b1,10 1,,zh-CN\n"
        "b1,103,12ab,zh-CN\n"
        "b1,104,,fr\n"
        "b1,101,13900000001,zh-CN\n"
        "b1,105\n"
    )
    report = parse_roll(text, lambda b: None if b == "b1" else f"no building {b}")
    assert [(h.key, h.phones, h.language) for h in report.households] == [
        ("b1|101", ["13900000001", "13900000002"], "zh-CN"),
        ("b1|102", [], "en"),
    ]
    assert [r["line"] for r in report.rejected] == [5, 6, 7, 8, 9, 10]
    assert report.rejected[0]["reason"] == "no building bX"
    assert "earlier" in report.rejected[4]["reason"] and "4 columns" in report.rejected[5]["reason"]


def test_a_roll_without_the_header_is_refused_whole() -> None:
    from services.consult.domain.rolls import parse_roll

    report = parse_roll("b1,101,,zh-CN\n", lambda b: None)
    assert report.households == [] and report.rejected[0]["line"] == 1

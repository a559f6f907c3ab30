"""The ledger's pure rules: balanced entries, restricted funds, holds, approvals, idempotency,
the hash chain and the disclosure/hledger rendering."""

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.ledger.domain import approvals as A
from services.ledger.domain.accounts import BadAccount, in_kind_account
from services.ledger.domain.disclosure import disclosure_rows, hledger_entry, yuan
from services.ledger.domain.funds import (
    FundState,
    NoSuchGoods,
    Overspend,
    apply_entry,
    check_entry,
    check_unheld,
    place_hold,
    release_hold,
)
from services.ledger.domain.idempotency import ConflictingReplay, check_same, first_difference
from services.ledger.domain.journal import (
    GENESIS,
    Leg,
    UnbalancedEntry,
    check_balanced,
    digest,
    reversal_of,
    seal,
)
from services.ledger.domain.postings import disbursement_draft, donation_draft

pytestmark = pytest.mark.unit
AT = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)


def donation(n: int, fen: int, channel: str = "online", fund: str = "winter-warmth"):
    return donation_draft(
        donation_id=f"d{n}",
        fund=fund,
        channel=channel,
        amount_fen=fen,
        currency="CNY",
        at=AT,
        item="warm-packs" if channel == "in-kind" else None,
    )


def spend(n: int, fen: int, fund: str = "winter-warmth"):
    return disbursement_draft(
        disbursement_id=f"p{n}", fund=fund, project="packs", amount_fen=fen, currency="CNY", at=AT
    )


def post(state: FundState, draft):
    entry = seal(draft, state.seq + 1, state.head)
    return apply_entry(state, entry), entry


@pytest.mark.parametrize("channel", ["online", "offline", "in-kind"])
def test_donations_balance_and_fund_the_campaign(channel):
    draft = donation(1, 19_000, channel)
    check_balanced(draft.legs)
    accounts = {leg.account: leg.amount_fen for leg in draft.legs}
    assert accounts[f"income:donations:{channel}"] == -19_000
    assert accounts["funds:restricted:winter-warmth"] == -19_000
    state, _ = post(FundState("winter-warmth"), draft)
    assert state.balance_fen == 19_000 and state.raised == {channel: 19_000}


def test_an_unbalanced_or_malformed_entry_is_refused():
    with pytest.raises(UnbalancedEntry):
        check_balanced([Leg("assets:bank:main", 100), Leg("income:donations:online", -99)])
    with pytest.raises(UnbalancedEntry):
        check_balanced([Leg("assets:bank:main", 0)])
    with pytest.raises(UnbalancedEntry):  # balanced in sum but not per currency
        check_balanced([Leg("assets:bank:main", 100, "CNY"), Leg("assets:bank:main", -100, "USD")])
    with pytest.raises(BadAccount):
        check_balanced([Leg("cash", 100), Leg("income:donations:online", -100)])


@given(st.lists(st.integers(min_value=1, max_value=10**9), min_size=1, max_size=20))
def test_assets_equal_net_assets_and_flows_close(amounts):
    state, totals = FundState("winter-warmth"), {}
    for i, fen in enumerate(amounts):
        for draft in (donation(i, fen), spend(i, fen // 2)):
            state, entry = post(state, draft)
            for leg in entry.draft.legs:
                totals[leg.account.split(":")[0]] = totals.get(leg.account.split(":")[0], 0) + (
                    leg.amount_fen
                )
    assert totals["assets"] + totals["funds"] == 0
    assert totals["income"] + totals["expenses"] + totals["equity"] == 0
    assert (
        state.balance_fen
        == -totals["funds"]
        == sum(state.raised.values()) - sum(state.spent.values())
    )


def test_a_restricted_fund_never_goes_below_zero():
    state, _ = post(FundState("winter-warmth"), donation(1, 10_000))
    with pytest.raises(Overspend) as refused:
        check_entry(state, "winter-warmth", spend(1, 12_000).legs, "disbursement")
    assert refused.value.would_leave_fen == -2_000
    check_entry(state, "winter-warmth", spend(2, 10_000).legs, "disbursement")


def test_holds_reserve_money_so_two_requests_cannot_spend_it_twice():
    state, _ = post(FundState("winter-warmth"), donation(1, 10_000))
    state = place_hold(state, "p1", 7_000)
    assert (state.held_fen, state.available_fen) == (7_000, 3_000)
    with pytest.raises(Overspend) as refused:
        place_hold(state, "p2", 5_000)
    assert refused.value.would_leave_fen == -2_000
    assert place_hold(state, "p1", 7_000) == state  # a replay changes nothing
    state, _ = post(state, spend(1, 7_000))  # posting releases its own hold
    assert (state.balance_fen, state.held_fen, state.spent) == (3_000, 0, {"packs": 7_000})
    assert release_hold(place_hold(state, "p3", 1_000), "p3").held_fen == 0


def test_goods_and_cash_are_different_assets_of_a_fund():
    state, gift = post(FundState("winter-warmth"), donation(1, 50_000, "in-kind"))
    assert (state.balance_fen, state.cash_fen, state.goods) == (50_000, 0, {"warm-packs": 50_000})
    with pytest.raises(Overspend) as refused:  # the packs are not cash
        place_hold(state, "cash", 50_000)
    assert refused.value.would_leave_fen == -50_000 and "cash" in str(refused.value)
    with pytest.raises(NoSuchGoods):  # never received
        place_hold(state, "rice", 100, "rice")
    with pytest.raises(Overspend):  # more than was given
        place_hold(state, "more", 50_001, "warm-packs")
    with pytest.raises(Overspend):  # a cash payment posted without a hold
        check_entry(state, "winter-warmth", spend(9, 100).legs, "disbursement")
    state = place_hold(state, "p1", 30_000, "warm-packs")
    with pytest.raises(Overspend) as refused:  # 20,000 of packs are not held
        place_hold(state, "p2", 30_000, "warm-packs")
    assert refused.value.would_leave_fen == -10_000
    packs = disbursement_draft(
        disbursement_id="p1", fund="winter-warmth", project="packs", amount_fen=30_000,
        currency="CNY", at=AT, source_account=in_kind_account("warm-packs"),
    )  # fmt: skip
    check_entry(state, "winter-warmth", packs.legs, "disbursement", "p1")
    state, _ = post(state, packs)
    assert (state.balance_fen, state.goods, state.holds) == (20_000, {"warm-packs": 20_000}, {})
    import json

    undo = reversal_of(json.loads(gift.body), "r1", AT, "valued twice")
    with pytest.raises(Overspend):  # 30,000 of the packs were handed out already
        check_unheld(state, "winter-warmth", undo.legs, "reversal")
    state, _ = post(state, donation(2, 5_000))
    assert (state.cash_fen, state.balance_fen) == (5_000, 25_000)
    assert FundState.from_doc({"_id": "winter-warmth", **state.to_doc()}) == state


def test_a_reversal_negates_every_leg_and_points_to_the_original():
    state, original = post(FundState("winter-warmth"), donation(1, 5_000, "offline"))
    import json

    draft = reversal_of(json.loads(original.body), "r1", AT, "typo in amount")
    assert draft.reverses == "donation:d1"
    assert [leg.amount_fen for leg in draft.legs] == [
        -leg.amount_fen for leg in original.draft.legs
    ]
    state, _ = post(state, draft)
    assert state.balance_fen == 0 and state.raised == {"offline": 0}
    with pytest.raises(UnbalancedEntry):
        reversal_of(json.loads(seal(draft, 2, original.hash).body), "r2", AT, "again")


def test_the_chain_links_each_entry_to_the_previous_hash():
    state = FundState("winter-warmth")
    state, first = post(state, donation(1, 100))
    state, second = post(state, donation(2, 200))
    assert first.prev_hash == GENESIS and second.prev_hash == first.hash
    assert digest(second.body) == second.hash
    assert '"donation:d2"' in second.body
    assert digest(second.body.replace('"donation:d2"', '"donation:d3"')) != second.hash


@pytest.mark.parametrize(
    ("required", "approvals", "status"),
    [
        (3, ["party-branch", "owners-committee"], "requested"),
        (3, ["party-branch", "owners-committee", "property-company"], "approved"),
        (2, ["party-branch", "property-company"], "approved"),
    ],
)
def test_n_of_m_parties_approve(required, approvals, status):
    d = A.Disbursement(A.REQUESTED, A.ApprovalRule(A.DEFAULT_PARTIES, required))
    for party in approvals:
        d = d.approve(party)
        d = d.approve(party)  # the same party twice counts once
    assert d.status == status


def test_approval_transitions_are_guarded():
    d = A.Disbursement(A.REQUESTED, A.ApprovalRule())
    with pytest.raises(A.NotAllowed):
        d.approve("residents")
    with pytest.raises(A.NotAllowed):
        d.post()
    assert d.reject("owners-committee").status == A.REJECTED
    assert d.void().status == A.VOIDED
    with pytest.raises(A.NotAllowed):
        d.void().approve("party-branch")
    with pytest.raises(ValueError):
        A.ApprovalRule(("a", "b"), 3)


def test_a_replay_with_other_content_names_the_field():
    stored = {"fund": "w", "legs": [["assets:bank:main", 100, "CNY"]], "meta": {"channel": "x"}}
    check_same("entry", "e1", stored, dict(stored))
    with pytest.raises(ConflictingReplay) as conflict:
        check_same("entry", "e1", stored, {**stored, "legs": [["assets:bank:main", 101, "CNY"]]})
    assert conflict.value.field == "legs[0][1]"
    assert first_difference(stored, {**stored, "meta": {"channel": "y"}}) == "meta.channel"


def test_hledger_and_disclosure_rendering():
    import json

    entry = seal(donation(1, 12_345, "offline"), 1, GENESIS)
    text = hledger_entry(json.loads(entry.body), entry.hash)
    assert text.startswith("2026-11-28 * donation winter-warmth offline")
    assert "income:donations:offline" in text and "CNY -123.45" in text
    assert yuan(-5) == "-0.05" and yuan(100) == "1.00"
    [row] = disclosure_rows([json.loads(entry.body)])
    assert row[4] == "123.45" and row[6] == "匿名 anonymous"

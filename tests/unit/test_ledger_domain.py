import pytest

from services.ledger.domain import Leg, UnbalancedEntry, check_balanced, donation_legs

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("channel", ["online", "offline", "in-kind"])
def test_donations_balance(channel):
    legs = donation_legs(channel, "winter-warmth", 19_000, "CNY")
    assert sum(leg.amount_fen for leg in legs) == 0
    assert any(leg.account.startswith("income:donations:") for leg in legs)


def test_an_unbalanced_entry_is_refused():
    with pytest.raises(UnbalancedEntry):
        check_balanced([Leg("assets:bank:main", 100), Leg("income:donations:online", -99)])
    with pytest.raises(UnbalancedEntry):
        check_balanced([Leg("assets:bank:main", 0)])

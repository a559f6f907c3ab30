"""The chart of accounts, and how a restricted fund is accounted for.

Accounts are colon-separated paths. Five roots:

- ``assets:bank:main``, ``assets:in-kind:<item>`` - what the charity holds (debit-normal);
- ``income:donations:online|offline|in-kind`` - what came in, by channel (a flow);
- ``expenses:programs:<project>`` - what was spent, by project (a flow);
- ``funds:restricted:<campaign>``, ``funds:unrestricted`` - the net assets, split by the
  donors' restriction (credit-normal: a fund holding 100 yuan has a balance of -100 yuan);
- ``equity:closing`` - the income-summary account of continuous closing (below).

Restricted-fund (net-asset) accounting. The law and the donors ask two questions of the books:
what came in and went out (income and expenses, by channel and project), and how much of what
the charity holds is still owed to each campaign (net assets with donor restrictions). A
classic ledger answers the second only after a period-end closing entry moves income and
expenses into net assets, so in between nobody can tell what a campaign may still spend. Here
every entry closes itself: next to its flow pair (asset against income, or expense against
asset) it carries a net-asset pair, the fund against ``equity:closing``, for the same amount.
A donation of X to campaign C therefore posts

    assets:bank:main          +X     income:donations:online   -X    (the flow)
    funds:restricted:C        -X     equity:closing            +X    (the restriction)

and spending Y of C on project P posts the mirror image (expense +Y, asset -Y, fund +Y,
closing -Y). Two identities then hold at every instant and are checked by tests: the assets
equal the net assets (``assets + funds = 0``: every yuan held belongs to exactly one fund),
and ``income + expenses + equity:closing = 0`` (the flows are fully closed). A fund's balance is
what its campaign may still spend; a restricted fund can never go below zero. At a year end the
flows and ``equity:closing`` are closed against each other without touching any fund.
"""

from __future__ import annotations

import re

BANK = "assets:bank:main"
CLOSING = "equity:closing"
UNRESTRICTED = "unrestricted"
CHANNELS = ("online", "offline", "in-kind")
ROOTS = ("assets", "income", "expenses", "funds", "equity")

_SEGMENT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_:-]{0,99}$"
SLUG_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class BadAccount(ValueError):
    """Not an account path (an ``UnbalancedEntry`` names it when a leg carries it)."""


_CHECKED: set[str] = set()


def check_account(path: str) -> str:
    if path in _CHECKED:
        return path
    parts = path.split(":")
    if parts[0] not in ROOTS or len(parts) < 2 or not all(_SEGMENT.match(p) for p in parts[1:]):
        raise BadAccount(f"not an account path: {path!r}")
    if len(_CHECKED) < 100_000:  # every posting checks its legs: remember the good paths
        _CHECKED.add(path)
    return path


def fund_account(fund: str) -> str:
    return "funds:unrestricted" if fund == UNRESTRICTED else f"funds:restricted:{fund}"


def income_account(channel: str) -> str:
    return f"income:donations:{channel}"


def expense_account(project: str) -> str:
    return f"expenses:programs:{project}"


def in_kind_account(item: str) -> str:
    return f"assets:in-kind:{item}"
